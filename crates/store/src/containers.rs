//! Containers: metadata only (id, image, runtime, spec, snapshot, labels, extensions); the
//! store treats the spec and extensions as opaque typed blobs.

use std::collections::BTreeMap;

use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use crate::db::{self, encode, Store, CONTAINERS};
use crate::error::{Error, Result};
use crate::filters::{label_field, Adaptor, Filter};
use crate::{labels, namespaces, time};

/// A protobuf `Any` kept as bytes: the store never looks inside.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TypedBlob {
    pub type_url: String,
    pub value: Vec<u8>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Container {
    #[serde(skip)]
    pub id: String,
    pub labels: BTreeMap<String, String>,
    pub image: String,
    pub runtime_name: String,
    pub runtime_options: Option<TypedBlob>,
    pub spec: Option<TypedBlob>,
    pub snapshotter: String,
    pub snapshot_key: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub extensions: BTreeMap<String, TypedBlob>,
    pub sandbox: String,
}

impl Adaptor for Container {
    fn field(&self, path: &[String]) -> Option<String> {
        let rest = &path[1.min(path.len())..];
        let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
        match path.first().map(String::as_str) {
            Some("id") => Some(self.id.clone()),
            Some("image") => non_empty(&self.image),
            Some("runtime") => match rest.first().map(String::as_str) {
                Some("name") => non_empty(&self.runtime_name),
                _ => None,
            },
            Some("snapshotter") => non_empty(&self.snapshotter),
            Some("labels") => label_field(&self.labels, rest),
            _ => None,
        }
    }
}

fn validate(c: &Container) -> Result<()> {
    namespaces::validate_identifier("container id", &c.id)?;
    labels::validate(&c.labels)?;
    if c.runtime_name.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "container {:?}: Runtime.Name must be set",
            c.id
        )));
    }
    if c.spec.is_none() {
        return Err(Error::InvalidArgument(format!(
            "container {:?}: Spec must be set",
            c.id
        )));
    }
    if c.snapshot_key.is_empty() != c.snapshotter.is_empty() && !c.snapshot_key.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "container {:?}: Snapshotter must be set with SnapshotKey",
            c.id
        )));
    }
    for k in c.extensions.keys() {
        if k.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "container {:?}: extension key must not be empty",
                c.id
            )));
        }
    }
    Ok(())
}

impl Store {
    pub fn container_get(&self, ns: &str, id: &str) -> Result<Container> {
        let txn = self.read_txn()?;
        let t = txn.open_table(CONTAINERS)?;
        let mut c: Container = db::get(&t, ns, id)?
            .ok_or_else(|| Error::NotFound(format!("container {id:?} in namespace {ns:?}")))?;
        c.id = id.to_string();
        Ok(c)
    }

    pub fn container_list(&self, ns: &str, filter: &Filter) -> Result<Vec<Container>> {
        let txn = self.read_txn()?;
        let t = txn.open_table(CONTAINERS)?;
        Ok(db::list::<Container>(&t, ns)?
            .into_iter()
            .map(|(id, mut c)| {
                c.id = id;
                c
            })
            .filter(|c| filter.matches(c))
            .collect())
    }

    pub fn container_create(&self, ns: &str, c: &Container) -> Result<Container> {
        validate(c)?;
        let txn = self.db.begin_write()?;
        let out = {
            namespaces::ensure(&txn, ns)?;
            let mut t = txn.open_table(CONTAINERS)?;
            if t.get((ns, c.id.as_str()))?.is_some() {
                return Err(Error::AlreadyExists(format!("container {:?}", c.id)));
            }
            let now = time::now();
            let mut out = c.clone();
            out.created_at = now;
            out.updated_at = now;
            t.insert((ns, c.id.as_str()), encode(&out).as_slice())?;
            out
        };
        txn.commit()?;
        self.mutated(false);
        Ok(out)
    }

    /// Updates by field paths as containerd does: `labels[.KEY]`, `extensions[.KEY]`, `spec`,
    /// `image`, `snapshotkey`; with no paths all of them, and runtime and snapshotter must
    /// not change.
    pub fn container_update(
        &self,
        ns: &str,
        new: &Container,
        paths: &[String],
    ) -> Result<Container> {
        if new.id.is_empty() {
            return Err(Error::InvalidArgument("container id must be set".into()));
        }
        let txn = self.db.begin_write()?;
        let out = {
            let mut t = txn.open_table(CONTAINERS)?;
            let mut cur: Container = db::get(&t, ns, &new.id)?
                .ok_or_else(|| Error::NotFound(format!("container {:?}", new.id)))?;
            cur.id = new.id.clone();
            let all: Vec<String> = ["labels", "spec", "extensions", "image", "snapshotkey"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            let paths = if paths.is_empty() {
                if new.runtime_name != cur.runtime_name {
                    return Err(Error::InvalidArgument(format!(
                        "container {:?}: Runtime.Name field is immutable",
                        new.id
                    )));
                }
                if new.snapshotter != cur.snapshotter {
                    return Err(Error::InvalidArgument(format!(
                        "container {:?}: Snapshotter field is immutable",
                        new.id
                    )));
                }
                &all
            } else {
                paths
            };
            for p in paths {
                if labels::apply_path(p, &mut cur.labels, &new.labels) {
                    continue;
                }
                if let Some(k) = p.strip_prefix("extensions.") {
                    match new.extensions.get(k) {
                        Some(v) => cur.extensions.insert(k.to_string(), v.clone()),
                        None => cur.extensions.remove(k),
                    };
                    continue;
                }
                match p.as_str() {
                    "spec" => cur.spec = new.spec.clone(),
                    "extensions" => cur.extensions = new.extensions.clone(),
                    "image" => cur.image = new.image.clone(),
                    "snapshotkey" => cur.snapshot_key = new.snapshot_key.clone(),
                    _ => {
                        return Err(Error::InvalidArgument(format!(
                            "cannot update {p:?} field on container {:?}",
                            new.id
                        )))
                    }
                }
            }
            validate(&cur)?;
            cur.updated_at = time::now();
            t.insert((ns, new.id.as_str()), encode(&cur).as_slice())?;
            cur
        };
        txn.commit()?;
        self.mutated(false);
        Ok(out)
    }

    pub fn container_delete(&self, ns: &str, id: &str) -> Result<()> {
        let txn = self.db.begin_write()?;
        {
            let mut t = txn.open_table(CONTAINERS)?;
            if t.remove((ns, id))?.is_none() {
                return Err(Error::NotFound(format!("container {id:?}")));
            }
        }
        txn.commit()?;
        self.mutated(true);
        Ok(())
    }
}
