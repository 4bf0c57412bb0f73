//! Where committed blobs live, behind a small trait: the namespaced metadata (records,
//! labels, leases, GC) sits on top and uses every backend the same way, as containerd's
//! metadata layer sits over its local store or a proxy plugin's.
//!
//! A backend knows nothing of namespaces: it holds blobs by digest. Ingests stay in the
//! store's own `ingest/` directory and a verified one is handed over whole at commit.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::{io, Error, Result};

/// A blob opened for reading at some offset.
pub type BlobReader = Box<dyn Read + Send>;

pub trait Blobs: Send + Sync {
    /// Whether the backend holds the blob.
    fn exists(&self, dgst: &str) -> Result<bool>;
    /// The blob's bytes from `offset` on; NotFound if it is absent.
    fn open_at(&self, dgst: &str, offset: u64) -> Result<BlobReader>;
    /// Takes over the verified ingest data at `data` as blob `dgst` of `size` bytes; the
    /// caller removes what is left of the ingest afterwards.
    fn adopt(&self, dgst: &str, size: i64, data: &Path) -> Result<()>;
    /// Removes a blob (absent is no error: a collection may race another).
    fn delete(&self, dgst: &str) -> Result<()>;
    /// Every blob digest the backend holds.
    fn list(&self) -> Result<Vec<String>>;
}

/// Blobs as files `blobs/sha256/<hex>` under the content root.
pub struct LocalBlobs {
    dir: PathBuf,
}

impl LocalBlobs {
    pub fn new(content_root: &Path) -> LocalBlobs {
        LocalBlobs {
            dir: content_root.join("blobs").join("sha256"),
        }
    }

    fn path(&self, dgst: &str) -> PathBuf {
        self.dir.join(dgst.strip_prefix("sha256:").unwrap_or(dgst))
    }
}

impl Blobs for LocalBlobs {
    fn exists(&self, dgst: &str) -> Result<bool> {
        let p = self.path(dgst);
        match fs::metadata(&p) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io(format!("stat {}", p.display()))(e)),
        }
    }

    fn open_at(&self, dgst: &str, offset: u64) -> Result<BlobReader> {
        let path = self.path(dgst);
        let mut f = File::open(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::NotFound(format!(
                    "content digest {dgst}: blob file {}",
                    path.display()
                ))
            } else {
                io(format!("opening {}", path.display()))(e)
            }
        })?;
        f.seek(SeekFrom::Start(offset))
            .map_err(io(format!("seeking {}", path.display())))?;
        Ok(Box::new(f))
    }

    fn adopt(&self, dgst: &str, _size: i64, data: &Path) -> Result<()> {
        let target = self.path(dgst);
        fs::rename(data, &target).map_err(io(format!(
            "moving {} to {}",
            data.display(),
            target.display()
        )))
    }

    fn delete(&self, dgst: &str) -> Result<()> {
        let p = self.path(dgst);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(format!("removing {}", p.display()))(e)),
        }
    }

    fn list(&self) -> Result<Vec<String>> {
        let rd = fs::read_dir(&self.dir).map_err(io(format!("listing {}", self.dir.display())))?;
        Ok(rd
            .flatten()
            .map(|e| format!("sha256:{}", e.file_name().to_string_lossy()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::filters::Filter;
    use crate::Store;

    /// A backend in memory: the metadata layer must use it exactly as the local one.
    #[derive(Default)]
    struct MemBlobs(Mutex<BTreeMap<String, Vec<u8>>>);

    impl Blobs for MemBlobs {
        fn exists(&self, dgst: &str) -> Result<bool> {
            Ok(self.0.lock().unwrap().contains_key(dgst))
        }
        fn open_at(&self, dgst: &str, offset: u64) -> Result<BlobReader> {
            let m = self.0.lock().unwrap();
            let b = m
                .get(dgst)
                .ok_or_else(|| Error::NotFound(dgst.to_string()))?;
            Ok(Box::new(std::io::Cursor::new(
                b[offset as usize..].to_vec(),
            )))
        }
        fn adopt(&self, dgst: &str, size: i64, data: &Path) -> Result<()> {
            let b = fs::read(data).unwrap();
            assert_eq!(b.len() as i64, size);
            self.0.lock().unwrap().insert(dgst.to_string(), b);
            Ok(())
        }
        fn delete(&self, dgst: &str) -> Result<()> {
            self.0.lock().unwrap().remove(dgst);
            Ok(())
        }
        fn list(&self) -> Result<Vec<String>> {
            Ok(self.0.lock().unwrap().keys().cloned().collect())
        }
    }

    #[test]
    fn metadata_over_another_backend() {
        let dir = tempfile::tempdir().unwrap();
        let mem = Arc::new(MemBlobs::default());
        let s =
            Store::open_with_blobs(&dir.path().join("meta.redb"), dir.path(), mem.clone()).unwrap();
        let mut w = s.content_writer("a", "r", 0, "").unwrap();
        w.write(b"backend bytes").unwrap();
        let root = BTreeMap::from([(crate::gc::LABEL_ROOT.to_string(), "x".to_string())]);
        let d = s.content_commit("a", w, 13, "", &root, None).unwrap();
        // The bytes went to the backend, not to blobs/ on disk.
        assert!(mem.exists(&d).unwrap());
        assert_eq!(
            LocalBlobs::new(dir.path()).list().unwrap(),
            Vec::<String>::new()
        );
        let (mut r, size) = s.content_open_at("a", &d, 8).unwrap();
        let mut tail = String::new();
        r.read_to_string(&mut tail).unwrap();
        assert_eq!((size, tail.as_str()), (13, "bytes"));
        // Namespaces stay the metadata's: another one sees nothing.
        assert!(s.content_list("b", &Filter::default()).unwrap().is_empty());
        assert!(matches!(s.content_info("b", &d), Err(Error::NotFound(_))));
        // Rooted content survives a collection; once deleted, the collector removes it
        // from the backend.
        s.garbage_collect().unwrap();
        assert!(mem.exists(&d).unwrap());
        s.content_delete("a", &d).unwrap();
        let stats = s.garbage_collect().unwrap();
        assert_eq!(stats.blobs, 1);
        assert!(!mem.exists(&d).unwrap());
    }
}
