//! Leases: named holds on resources (content, ingests, snapshots) that protect them from
//! garbage collection until the lease is deleted or expires (`containerd.io/gc.expire`).

use std::collections::BTreeMap;

use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use crate::db::{self, encode, Store, LEASES};
use crate::error::{Error, Result};
use crate::filters::{label_field, Adaptor, Filter};
use crate::{labels, namespaces, time};

/// One resource a lease holds, as containerd names it (`content`, `snapshots/overlayfs`, ...).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Resource {
    pub id: String,
    pub r#type: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Lease {
    #[serde(skip)]
    pub id: String,
    pub created_at: i64,
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub resources: Vec<Resource>,
}

impl Adaptor for Lease {
    fn field(&self, path: &[String]) -> Option<String> {
        match path.first().map(String::as_str) {
            Some("id") => Some(self.id.clone()),
            Some("labels") => label_field(&self.labels, &path[1..]),
            _ => None,
        }
    }
}

fn check_resource(r: &Resource) -> Result<()> {
    if r.id.is_empty() {
        return Err(Error::InvalidArgument(
            "lease resource id must not be empty".into(),
        ));
    }
    let ok = r.r#type == "content"
        || r.r#type == "ingests"
        || r.r#type
            .strip_prefix("snapshots/")
            .is_some_and(|s| !s.is_empty());
    if !ok {
        return Err(Error::NotImplemented(format!(
            "lease resource type {:?}",
            r.r#type
        )));
    }
    if r.r#type == "content" {
        crate::digest::validate(&r.id)?;
    }
    Ok(())
}

/// Adds a resource to a lease inside a caller's transaction.
pub(crate) fn add_in_txn(
    txn: &redb::WriteTransaction,
    ns: &str,
    id: &str,
    r: &Resource,
) -> Result<()> {
    let mut t = txn.open_table(LEASES)?;
    let mut l: Lease =
        db::get(&t, ns, id)?.ok_or_else(|| Error::NotFound(format!("lease {id:?}")))?;
    if !l.resources.contains(r) {
        l.resources.push(r.clone());
        l.resources.sort();
    }
    t.insert((ns, id), encode(&l).as_slice())?;
    Ok(())
}

/// Removes a resource from a lease inside a caller's transaction; a missing lease is ignored.
pub(crate) fn remove_in_txn(
    txn: &redb::WriteTransaction,
    ns: &str,
    id: &str,
    r: &Resource,
) -> Result<()> {
    let mut t = txn.open_table(LEASES)?;
    let Some(mut l) = db::get::<Lease>(&t, ns, id)? else {
        return Ok(());
    };
    let before = l.resources.len();
    l.resources.retain(|x| x != r);
    if l.resources.len() != before {
        t.insert((ns, id), encode(&l).as_slice())?;
    }
    Ok(())
}

/// The expiry (Unix nanoseconds) a lease's `containerd.io/gc.expire` label sets, if any.
pub(crate) fn expiry(labels: &BTreeMap<String, String>) -> Option<i64> {
    labels
        .get(crate::gc::LABEL_EXPIRE)
        .and_then(|v| crate::gc::parse_rfc3339(v))
}

impl Store {
    /// Adds the ingest `r` to lease `id` (NotFound if the lease does not exist).
    pub(crate) fn lease_ingest(&self, ns: &str, id: &str, r: &str) -> Result<()> {
        let txn = self.db.begin_write()?;
        add_in_txn(
            &txn,
            ns,
            id,
            &Resource {
                id: r.to_string(),
                r#type: "ingests".into(),
            },
        )?;
        txn.commit()?;
        self.mutated(false);
        Ok(())
    }

    /// Whether some lease has passed its `containerd.io/gc.expire` time, so that a collection
    /// is due even though nothing was deleted.
    pub fn lease_expiry_due(&self, now: i64) -> bool {
        self.next_lease_expiry
            .load(std::sync::atomic::Ordering::Relaxed)
            <= now
    }

    pub(crate) fn note_lease_expiry(&self, at: i64) {
        self.next_lease_expiry
            .fetch_min(at, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn lease_create(
        &self,
        ns: &str,
        id: &str,
        lbls: &BTreeMap<String, String>,
    ) -> Result<Lease> {
        // containerd accepts any non-empty lease id (its client generates ones like
        // "872515661-Blc_"), unlike container ids.
        if id.is_empty() {
            return Err(Error::InvalidArgument("lease id must be provided".into()));
        }
        labels::validate(lbls)?;
        let txn = self.db.begin_write()?;
        let lease = {
            namespaces::ensure(&txn, ns)?;
            let mut t = txn.open_table(LEASES)?;
            if t.get((ns, id))?.is_some() {
                return Err(Error::AlreadyExists(format!("lease {id:?}")));
            }
            let lease = Lease {
                id: id.to_string(),
                created_at: time::now(),
                labels: lbls.clone(),
                resources: Vec::new(),
            };
            t.insert((ns, id), encode(&lease).as_slice())?;
            lease
        };
        txn.commit()?;
        if let Some(at) = expiry(lbls) {
            self.note_lease_expiry(at);
        }
        self.mutated(false);
        Ok(lease)
    }

    pub fn lease_delete(&self, ns: &str, id: &str) -> Result<()> {
        let txn = self.db.begin_write()?;
        {
            let mut t = txn.open_table(LEASES)?;
            if t.remove((ns, id))?.is_none() {
                return Err(Error::NotFound(format!("lease {id:?}")));
            }
        }
        txn.commit()?;
        self.mutated(true);
        Ok(())
    }

    pub fn lease_get(&self, ns: &str, id: &str) -> Result<Lease> {
        let txn = self.read_txn()?;
        let t = txn.open_table(LEASES)?;
        let mut l: Lease =
            db::get(&t, ns, id)?.ok_or_else(|| Error::NotFound(format!("lease {id:?}")))?;
        l.id = id.to_string();
        Ok(l)
    }

    pub fn lease_list(&self, ns: &str, filter: &Filter) -> Result<Vec<Lease>> {
        let txn = self.read_txn()?;
        let t = txn.open_table(LEASES)?;
        Ok(db::list::<Lease>(&t, ns)?
            .into_iter()
            .map(|(id, mut l)| {
                l.id = id;
                l
            })
            .filter(|l| filter.matches(l))
            .collect())
    }

    fn lease_modify(&self, ns: &str, id: &str, f: impl FnOnce(&mut Lease)) -> Result<()> {
        let txn = self.db.begin_write()?;
        {
            let mut t = txn.open_table(LEASES)?;
            let mut l: Lease =
                db::get(&t, ns, id)?.ok_or_else(|| Error::NotFound(format!("lease {id:?}")))?;
            f(&mut l);
            t.insert((ns, id), encode(&l).as_slice())?;
        }
        txn.commit()?;
        self.mutated(true);
        Ok(())
    }

    pub fn lease_add_resource(&self, ns: &str, id: &str, r: &Resource) -> Result<()> {
        check_resource(r)?;
        let txn = self.db.begin_write()?;
        add_in_txn(&txn, ns, id, r)?;
        txn.commit()?;
        self.mutated(false);
        Ok(())
    }

    pub fn lease_delete_resource(&self, ns: &str, id: &str, r: &Resource) -> Result<()> {
        check_resource(r)?;
        self.lease_modify(ns, id, |l| l.resources.retain(|x| x != r))
    }

    pub fn lease_list_resources(&self, ns: &str, id: &str) -> Result<Vec<Resource>> {
        Ok(self.lease_get(ns, id)?.resources)
    }
}
