//! The content store: blobs on disk shared by all namespaces, made visible to a namespace by a
//! metadata record there (as containerd's metadata layer does over its local store).
//!
//! A blob is handed to the backend ([`Blobs`]: `blobs/sha256/<hex>` locally, or a proxy
//! plugin's store) before its record is committed, so a crash in between leaves only an
//! unreferenced blob, which garbage collection removes.

mod backend;
mod ingest;

use std::collections::BTreeMap;

use redb::ReadableTable;
use serde::{Deserialize, Serialize};

pub use backend::{BlobReader, Blobs, LocalBlobs};
pub use ingest::{IngestStatus, Writer};

use crate::db::{self, encode, Store, CONTENT};
use crate::digest;
use crate::error::{Error, Result};
use crate::filters::{label_field, Adaptor, Filter};
use crate::{labels, namespaces, time};

/// What the metadata knows of a blob in one namespace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Info {
    #[serde(skip)]
    pub digest: String,
    pub size: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub labels: BTreeMap<String, String>,
}

impl Adaptor for Info {
    fn field(&self, path: &[String]) -> Option<String> {
        match path.first().map(String::as_str) {
            Some("digest") => Some(self.digest.clone()),
            Some("size") => Some(self.size.to_string()),
            Some("labels") => label_field(&self.labels, &path[1..]),
            _ => None,
        }
    }
}

impl Store {
    pub fn content_info(&self, ns: &str, dgst: &str) -> Result<Info> {
        digest::validate(dgst)?;
        let txn = self.read_txn()?;
        let t = txn.open_table(CONTENT)?;
        let mut info: Info = db::get(&t, ns, dgst)?
            .ok_or_else(|| Error::NotFound(format!("content digest {dgst}")))?;
        info.digest = dgst.to_string();
        Ok(info)
    }

    pub fn content_list(&self, ns: &str, filter: &Filter) -> Result<Vec<Info>> {
        let txn = self.read_txn()?;
        let t = txn.open_table(CONTENT)?;
        Ok(db::list::<Info>(&t, ns)?
            .into_iter()
            .map(|(d, mut i)| {
                i.digest = d;
                i
            })
            .filter(|i| filter.matches(i))
            .collect())
    }

    /// Updates labels by field paths (`labels`, `labels.KEY`; none means all labels).
    pub fn content_update(&self, ns: &str, new: &Info, paths: &[String]) -> Result<Info> {
        digest::validate(&new.digest)?;
        let txn = self.db.begin_write()?;
        let info = {
            let mut t = txn.open_table(CONTENT)?;
            let mut info: Info = db::get(&t, ns, &new.digest)?
                .ok_or_else(|| Error::NotFound(format!("content digest {}", new.digest)))?;
            if paths.is_empty() {
                info.labels = new.labels.clone();
            }
            for p in paths {
                if !labels::apply_path(p, &mut info.labels, &new.labels) {
                    return Err(Error::InvalidArgument(format!(
                        "cannot update {p:?} field on content info {:?}",
                        new.digest
                    )));
                }
            }
            labels::validate(&info.labels)?;
            info.updated_at = time::now();
            t.insert((ns, new.digest.as_str()), encode(&info).as_slice())?;
            info.digest = new.digest.clone();
            info
        };
        txn.commit()?;
        self.mutated(true);
        Ok(info)
    }

    /// Removes the blob from the namespace; the file goes at the next garbage collection.
    pub fn content_delete(&self, ns: &str, dgst: &str) -> Result<()> {
        digest::validate(dgst)?;
        let txn = self.db.begin_write()?;
        {
            let mut t = txn.open_table(CONTENT)?;
            if t.remove((ns, dgst))?.is_none() {
                return Err(Error::NotFound(format!("content digest {dgst}")));
            }
        }
        txn.commit()?;
        self.mutated(true);
        Ok(())
    }

    /// Opens a blob visible in `ns` for reading from `offset`; returns the reader and the
    /// blob's size. An offset past the end is OutOfRange.
    pub fn content_open_at(&self, ns: &str, dgst: &str, offset: i64) -> Result<(BlobReader, i64)> {
        let info = self.content_info(ns, dgst)?;
        if offset < 0 || offset > info.size {
            return Err(Error::OutOfRange(format!(
                "read offset {offset} of content {dgst} out of range (size {})",
                info.size
            )));
        }
        let r = self.blobs.open_at(dgst, offset as u64)?;
        Ok((r, info.size))
    }

    /// Records a blob already on disk in `ns` (used by commit), held by `lease` if given,
    /// in one transaction so that GC never sees the record without its lease.
    pub(crate) fn content_record(
        &self,
        ns: &str,
        dgst: &str,
        size: i64,
        labels: &BTreeMap<String, String>,
        lease: Option<&str>,
        ingest_lease: Option<(&str, &str)>,
    ) -> Result<()> {
        labels::validate(labels)?;
        let txn = self.db.begin_write()?;
        {
            namespaces::ensure(&txn, ns)?;
            if let Some((l, r)) = ingest_lease {
                // The ingest is gone once committed; a lease deleted meanwhile is no error.
                crate::leases::remove_in_txn(
                    &txn,
                    ns,
                    l,
                    &crate::leases::Resource {
                        id: r.to_string(),
                        r#type: "ingests".into(),
                    },
                )?;
            }
            if let Some(l) = lease {
                crate::leases::add_in_txn(
                    &txn,
                    ns,
                    l,
                    &crate::leases::Resource {
                        id: dgst.to_string(),
                        r#type: "content".into(),
                    },
                )?;
            }
            let mut t = txn.open_table(CONTENT)?;
            if t.get((ns, dgst))?.is_some() {
                return Err(Error::AlreadyExists(format!("content {dgst}")));
            }
            let now = time::now();
            let info = Info {
                digest: String::new(),
                size,
                created_at: now,
                updated_at: now,
                labels: labels.clone(),
            };
            t.insert((ns, dgst), encode(&info).as_slice())?;
        }
        txn.commit()?;
        self.mutated(false);
        Ok(())
    }
}
