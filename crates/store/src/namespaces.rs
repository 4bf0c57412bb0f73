//! Namespaces: created explicitly or implicitly by the first object stored in them; deleting
//! one that still holds objects fails, as in containerd.

use std::collections::BTreeMap;

use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use crate::db::{decode, encode, Store, NAMESPACES, NS_TABLES};
use crate::error::{Error, Result};
use crate::labels;

/// A namespace and its labels.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Namespace {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Default, Serialize, Deserialize)]
struct Record {
    labels: BTreeMap<String, String>,
}

/// containerd's identifier rule: alphanumerics separated by single `.`, `_` or `-`, at most 76.
pub fn validate_identifier(what: &str, s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.len() <= 76
        && s.split(['.', '_', '-'])
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric()));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "{what} {s:?} must match ^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$ and be at most 76 characters"
        )))
    }
}

/// The internal namespace holding content stored for callers that send no namespace (gantryd
/// serving as a plain content store behind another daemon's metadata). It is not a valid
/// identifier, so no client can name it, and it is never listed.
pub const PLAIN: &str = "#plain";

/// Creates the namespace record if absent, within a transaction that stores into it.
pub(crate) fn ensure(txn: &WriteTransaction, ns: &str) -> Result<()> {
    if ns != PLAIN {
        validate_identifier("namespace", ns)?;
    }
    let mut t = txn.open_table(NAMESPACES)?;
    if t.get(ns)?.is_none() {
        t.insert(ns, encode(&Record::default()).as_slice())?;
    }
    Ok(())
}

impl Store {
    pub fn namespace_create(&self, ns: &Namespace) -> Result<Namespace> {
        validate_identifier("namespace", &ns.name)?;
        labels::validate(&ns.labels)?;
        let txn = self.db.begin_write()?;
        {
            let mut t = txn.open_table(NAMESPACES)?;
            if t.get(ns.name.as_str())?.is_some() {
                return Err(Error::AlreadyExists(format!("namespace {}", ns.name)));
            }
            let rec = Record {
                labels: ns.labels.clone(),
            };
            t.insert(ns.name.as_str(), encode(&rec).as_slice())?;
        }
        txn.commit()?;
        self.mutated(false);
        Ok(ns.clone())
    }

    pub fn namespace_get(&self, name: &str) -> Result<Namespace> {
        let txn = self.read_txn()?;
        let t = txn.open_table(NAMESPACES)?;
        let v = t
            .get(name)?
            .ok_or_else(|| Error::NotFound(format!("namespace {name}")))?;
        let rec: Record = decode(name, v.value())?;
        Ok(Namespace {
            name: name.to_string(),
            labels: rec.labels,
        })
    }

    pub fn namespace_list(&self) -> Result<Vec<Namespace>> {
        let txn = self.read_txn()?;
        let t = txn.open_table(NAMESPACES)?;
        let mut out = Vec::new();
        for item in t.iter()? {
            let (k, v) = item?;
            if k.value() == PLAIN {
                continue;
            }
            let rec: Record = decode(k.value(), v.value())?;
            out.push(Namespace {
                name: k.value().to_string(),
                labels: rec.labels,
            });
        }
        Ok(out)
    }

    /// Updates labels by field paths (`labels`, `labels.KEY`); no paths means replace all.
    pub fn namespace_update(&self, ns: &Namespace, paths: &[String]) -> Result<Namespace> {
        let txn = self.db.begin_write()?;
        let updated = {
            let mut t = txn.open_table(NAMESPACES)?;
            // As in containerd, updating labels of an unknown namespace creates it (labels
            // live in its bucket); an update that sets nothing leaves nothing behind.
            validate_identifier("namespace", &ns.name)?;
            let existing = t
                .get(ns.name.as_str())?
                .map(|v| decode::<Record>(&ns.name, v.value()));
            let existed = existing.is_some();
            let mut rec: Record = existing.transpose()?.unwrap_or_default();
            if paths.is_empty() {
                rec.labels = ns.labels.clone();
            }
            for p in paths {
                if !labels::apply_path(p, &mut rec.labels, &ns.labels) {
                    return Err(Error::InvalidArgument(format!(
                        "cannot update {p:?} field on namespace {:?}",
                        ns.name
                    )));
                }
            }
            labels::validate(&rec.labels)?;
            if existed || !rec.labels.is_empty() {
                t.insert(ns.name.as_str(), encode(&rec).as_slice())?;
            }
            Namespace {
                name: ns.name.clone(),
                labels: rec.labels,
            }
        };
        txn.commit()?;
        self.mutated(false);
        Ok(updated)
    }

    /// Deletes an empty namespace; one still holding objects gives FailedPrecondition naming
    /// the kinds of objects left.
    pub fn namespace_delete(&self, name: &str) -> Result<()> {
        let txn = self.db.begin_write()?;
        {
            let mut t = txn.open_table(NAMESPACES)?;
            if t.get(name)?.is_none() {
                return Err(Error::NotFound(format!("namespace {name}")));
            }
            let mut kinds = Vec::new();
            for (kind, def) in NS_TABLES {
                if crate::db::any_in_ns(&txn.open_table(def)?, name)? {
                    kinds.push(kind);
                }
            }
            if self.ingests_in_namespace(name) {
                kinds.push("ingests");
            }
            if !kinds.is_empty() {
                return Err(Error::FailedPrecondition(format!(
                    "namespace {name} must be empty, but it still has {}",
                    kinds.join(", ")
                )));
            }
            t.remove(name)?;
        }
        txn.commit()?;
        self.mutated(true);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert!(validate_identifier("namespace", "default").is_ok());
        assert!(validate_identifier("namespace", "a.b-c_d").is_ok());
        for bad in ["", "a..b", "-a", "a b", "a/b", &"a".repeat(77)] {
            assert!(validate_identifier("namespace", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn crud() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(
            &dir.path().join("meta/meta.redb"),
            &dir.path().join("content"),
        )
        .unwrap();
        let ns = Namespace {
            name: "x".into(),
            labels: BTreeMap::from([("a".into(), "1".into())]),
        };
        s.namespace_create(&ns).unwrap();
        assert!(matches!(
            s.namespace_create(&ns),
            Err(Error::AlreadyExists(_))
        ));
        let upd = Namespace {
            name: "x".into(),
            labels: BTreeMap::from([("b".into(), "2".into())]),
        };
        let got = s.namespace_update(&upd, &["labels.b".into()]).unwrap();
        assert_eq!(got.labels.len(), 2);
        assert_eq!(s.namespace_list().unwrap().len(), 1);
        s.namespace_delete("x").unwrap();
        assert!(matches!(s.namespace_get("x"), Err(Error::NotFound(_))));
        assert!(matches!(s.namespace_delete("x"), Err(Error::NotFound(_))));
    }
}
