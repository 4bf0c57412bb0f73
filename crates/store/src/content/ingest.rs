//! Resumable writes: each ref has a directory under `ingest/` holding the partial data and its
//! bookkeeping, so a client can reconnect and continue from the offset it reached. One writer
//! per ref at a time; a second one gets Unavailable.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::db::Store;
use crate::digest;
use crate::error::{io, Error, Result};
use crate::filters::{Adaptor, Filter};
use crate::time;

/// The state of an ingest, as Status and ListStatuses report it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngestStatus {
    pub r#ref: String,
    pub offset: i64,
    pub total: i64,
    pub expected: String,
    pub started_at: i64,
    pub updated_at: i64,
}

impl Adaptor for IngestStatus {
    fn field(&self, path: &[String]) -> Option<String> {
        match path.first().map(String::as_str) {
            Some("ref") => Some(self.r#ref.clone()),
            _ => None,
        }
    }
}

/// A live writer on one ref; dropping it keeps the partial data for a later resume.
pub struct Writer {
    key: String,
    dir: PathBuf,
    data: File,
    hasher: Sha256,
    status: IngestStatus,
    active: Arc<Mutex<HashSet<String>>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Ok(mut a) = self.active.lock() {
            a.remove(&self.key);
        }
    }
}

/// How long an ingest opened without a lease is protected from collection (nanoseconds).
const UNLEASED_INGEST_LIFETIME: i64 = 24 * 3600 * 1_000_000_000;

fn ingest_key(ns: &str, r: &str) -> String {
    format!("{ns}/{r}")
}

fn write_small(path: PathBuf, v: &str) -> Result<()> {
    fs::write(&path, v).map_err(io(format!("writing {}", path.display())))
}

fn read_small(path: PathBuf) -> Option<String> {
    fs::read_to_string(path).ok()
}

impl Writer {
    pub fn status(&self) -> IngestStatus {
        self.status.clone()
    }

    /// The digest of the bytes written so far.
    pub fn digest(&self) -> String {
        digest::format_sha256(self.hasher.clone())
    }

    pub fn write(&mut self, buf: &[u8]) -> Result<()> {
        self.data
            .write_all(buf)
            .map_err(io(format!("writing ingest {}", self.status.r#ref)))?;
        self.hasher.update(buf);
        self.status.offset += buf.len() as i64;
        self.status.updated_at = time::now();
        Ok(())
    }

    /// Discards what was written so that the client can start again from offset 0.
    pub fn truncate_to_start(&mut self) -> Result<()> {
        self.data
            .set_len(0)
            .map_err(io(format!("truncating ingest {}", self.status.r#ref)))?;
        self.hasher = Sha256::new();
        self.status.offset = 0;
        Ok(())
    }

    /// Sets total/expected once the client tells them (containerd allows them on any message).
    pub fn set_expectations(&mut self, total: i64, expected: &str) -> Result<()> {
        if total > 0 && total != self.status.total {
            self.status.total = total;
            write_small(self.dir.join("total"), &total.to_string())?;
        }
        if !expected.is_empty() && expected != self.status.expected {
            digest::validate(expected)?;
            self.status.expected = expected.to_string();
            write_small(self.dir.join("expected"), expected)?;
        }
        Ok(())
    }
}

impl Store {
    fn ingest_dir(&self, key: &str) -> PathBuf {
        let mut h = Sha256::new();
        h.update(key.as_bytes());
        let d = digest::format_sha256(h);
        self.content_root.join("ingest").join(&d[7..])
    }

    /// Opens (or resumes) the writer for `r` in `ns`. Fails with AlreadyExists if `expected`
    /// is already stored in the namespace, Unavailable if another writer holds the ref.
    pub fn content_writer(&self, ns: &str, r: &str, total: i64, expected: &str) -> Result<Writer> {
        self.content_writer_leased(ns, r, total, expected, None)
    }

    /// [`Store::content_writer`] for a request carrying a lease: the ingest joins the lease
    /// (resource type `ingests`), so that it is removed once the lease is deleted or expires
    /// (containerd's `addIngestLease`). The lease must exist.
    pub fn content_writer_leased(
        &self,
        ns: &str,
        r: &str,
        total: i64,
        expected: &str,
        lease: Option<&str>,
    ) -> Result<Writer> {
        if r.is_empty() {
            return Err(Error::InvalidArgument("ref must not be empty".into()));
        }
        if ns != crate::namespaces::PLAIN {
            crate::namespaces::validate_identifier("namespace", ns)?;
        }
        if !expected.is_empty() {
            digest::validate(expected)?;
            if self.content_info(ns, expected).is_ok() {
                return Err(Error::AlreadyExists(format!("content {expected}")));
            }
        }
        let key = ingest_key(ns, r);
        {
            let mut a = self.active_writers.lock().expect("writer set lock");
            if !a.insert(key.clone()) {
                return Err(Error::Unavailable(format!("ref {r} locked")));
            }
        }
        // From here on the Writer's Drop releases the ref on every path.
        let dir = self.ingest_dir(&key);
        let result = self
            .open_writer(ns, r, &key, dir.clone(), total, expected)
            .and_then(|w| {
                match lease {
                    Some(l) => self.lease_ingest(ns, l, r)?,
                    // Unleased ingests are kept for a day after their last opening, then
                    // collected as stale (containerd's expireAt).
                    None => write_small(
                        dir.join("expireat"),
                        &(time::now() + UNLEASED_INGEST_LIFETIME).to_string(),
                    )?,
                }
                Ok(w)
            });
        if result.is_err() {
            // The Writer (if one was made) was dropped above and released the ref already.
            self.active_writers
                .lock()
                .expect("writer set lock")
                .remove(&key);
        }
        result
    }

    fn open_writer(
        &self,
        _ns: &str,
        r: &str,
        key: &str,
        dir: PathBuf,
        total: i64,
        expected: &str,
    ) -> Result<Writer> {
        let fresh = !dir.join("ref").exists();
        if fresh {
            fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
            write_small(dir.join("startedat"), &time::now().to_string())?;
            write_small(dir.join("ref"), key)?;
        }
        let data_path = dir.join("data");
        let mut data = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&data_path)
            .map_err(io(format!("opening {}", data_path.display())))?;
        // Resuming: the hash must cover what earlier connections wrote.
        let mut hasher = Sha256::new();
        let mut offset = 0i64;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = data
                .read(&mut buf)
                .map_err(io(format!("reading {}", data_path.display())))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            offset += n as i64;
        }
        let mut st = self.read_status(&dir).unwrap_or_default();
        st.r#ref = r.to_string();
        st.offset = offset;
        let mut w = Writer {
            key: key.to_string(),
            dir,
            data,
            hasher,
            status: st,
            active: self.active_writers.clone(),
        };
        w.set_expectations(total, expected)?;
        Ok(w)
    }

    fn read_status(&self, dir: &std::path::Path) -> Option<IngestStatus> {
        let key = read_small(dir.join("ref"))?;
        let (_, r) = key.split_once('/')?;
        let num = |f: &str| read_small(dir.join(f)).and_then(|s| s.trim().parse::<i64>().ok());
        let data = fs::metadata(dir.join("data")).ok();
        let updated_at = data
            .as_ref()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        Some(IngestStatus {
            r#ref: r.to_string(),
            offset: data.map(|m| m.len() as i64).unwrap_or(0),
            total: num("total").unwrap_or(0),
            expected: read_small(dir.join("expected")).unwrap_or_default(),
            started_at: num("startedat").unwrap_or(0),
            updated_at,
        })
    }

    /// Verifies size and digest, moves the data into the blob store and records it in `ns`.
    pub fn content_commit(
        &self,
        ns: &str,
        w: Writer,
        size: i64,
        expected: &str,
        labels: &BTreeMap<String, String>,
        lease: Option<&str>,
    ) -> Result<String> {
        let st = w.status();
        if size > 0 && size != st.offset {
            return Err(Error::FailedPrecondition(format!(
                "{:?} failed size validation: {} != {size}",
                st.r#ref, st.offset
            )));
        }
        if st.total > 0 && st.total != st.offset {
            return Err(Error::FailedPrecondition(format!(
                "{:?} failed size validation: {} != {}",
                st.r#ref, st.offset, st.total
            )));
        }
        let dgst = w.digest();
        let want = if expected.is_empty() {
            st.expected.as_str()
        } else {
            expected
        };
        if !want.is_empty() && want != dgst {
            return Err(Error::FailedPrecondition(format!(
                "unexpected commit digest {dgst}, expected {want}"
            )));
        }
        crate::labels::validate(labels)?;
        w.data
            .sync_all()
            .map_err(io(format!("syncing ingest {}", st.r#ref)))?;
        {
            // GC must not see the new blob file before its record exists.
            let _gc = self.gc_lock.lock().expect("gc lock");
            if !self.blobs.exists(&dgst)? {
                self.blobs.adopt(&dgst, st.offset, &w.dir.join("data"))?;
            }
            fs::remove_dir_all(&w.dir).map_err(io(format!("removing {}", w.dir.display())))?;
            self.content_record(
                ns,
                &dgst,
                st.offset,
                labels,
                lease,
                lease.map(|l| (l, st.r#ref.as_str())),
            )?;
        }
        Ok(dgst)
    }

    pub fn content_status(&self, ns: &str, r: &str) -> Result<IngestStatus> {
        let dir = self.ingest_dir(&ingest_key(ns, r));
        self.read_status(&dir)
            .ok_or_else(|| Error::NotFound(format!("ref {r}")))
    }

    pub fn content_list_statuses(&self, ns: &str, filter: &Filter) -> Result<Vec<IngestStatus>> {
        let mut out = Vec::new();
        for (key, st) in self.all_ingests() {
            if key.split_once('/').map(|(n, _)| n) == Some(ns) && filter.matches(&st) {
                out.push(st);
            }
        }
        out.sort_by(|a, b| a.r#ref.cmp(&b.r#ref));
        Ok(out)
    }

    pub fn content_abort(&self, ns: &str, r: &str) -> Result<()> {
        let dir = self.ingest_dir(&ingest_key(ns, r));
        if !dir.join("ref").exists() {
            return Err(Error::NotFound(format!("ref {r}")));
        }
        fs::remove_dir_all(&dir).map_err(io(format!("removing {}", dir.display())))
    }

    pub(crate) fn all_ingests(&self) -> Vec<(String, IngestStatus)> {
        let Ok(rd) = fs::read_dir(self.content_root.join("ingest")) else {
            return Vec::new();
        };
        rd.flatten()
            .filter_map(|e| {
                let key = read_small(e.path().join("ref"))?;
                Some((key, self.read_status(&e.path())?))
            })
            .collect()
    }

    /// Removes ingests that nothing protects any more: not held by a live lease (`leased`
    /// holds `(namespace, ref)` pairs), past their unleased lifetime, and without a live
    /// writer. Returns how many were removed.
    pub(crate) fn remove_stale_ingests(
        &self,
        leased: &HashSet<(String, String)>,
        now: i64,
    ) -> Result<usize> {
        let Ok(rd) = fs::read_dir(self.content_root.join("ingest")) else {
            return Ok(0);
        };
        let mut removed = 0;
        for e in rd.flatten() {
            let dir = e.path();
            let Some(key) = read_small(dir.join("ref")) else {
                continue;
            };
            let Some((ns, r)) = key.split_once('/') else {
                continue;
            };
            if leased.contains(&(ns.to_string(), r.to_string())) {
                continue;
            }
            let num = |f: &str| read_small(dir.join(f)).and_then(|s| s.trim().parse::<i64>().ok());
            // Never opened without a lease: only a lease protected it.
            let expire_at = num("expireat").unwrap_or(0);
            if expire_at > now {
                continue;
            }
            // Held while removing, so that no writer opens the ref meanwhile.
            let active = self.active_writers.lock().expect("writer set lock");
            if active.contains(&key) {
                continue;
            }
            fs::remove_dir_all(&dir).map_err(io(format!("removing {}", dir.display())))?;
            drop(active);
            removed += 1;
        }
        Ok(removed)
    }

    pub(crate) fn ingests_in_namespace(&self, ns: &str) -> bool {
        self.all_ingests()
            .iter()
            .any(|(k, _)| k.split_once('/').map(|(n, _)| n) == Some(ns))
    }
}
