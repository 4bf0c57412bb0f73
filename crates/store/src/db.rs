//! The [`Store`]: one redb database for all metadata plus the content directory.
//!
//! Tables mirror containerd's bbolt layout (`v1/<namespace>/<kind>/<id>`): one table per kind,
//! keyed by `(namespace, id)`, values JSON records. Every change is one redb transaction, so a
//! crash leaves either the old or the new state, never half of one.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex, OnceLock};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{io, Error, Result};

pub(crate) type NsTable = TableDefinition<'static, (&'static str, &'static str), &'static [u8]>;

/// Namespace name → namespace record.
pub(crate) const NAMESPACES: TableDefinition<&str, &[u8]> = TableDefinition::new("namespaces");
/// (namespace, digest) → content record.
pub(crate) const CONTENT: NsTable = TableDefinition::new("content");
/// (namespace, image name) → image record.
pub(crate) const IMAGES: NsTable = TableDefinition::new("images");
/// (namespace, lease id) → lease record (with its resources).
pub(crate) const LEASES: NsTable = TableDefinition::new("leases");
/// (namespace, container id) → container record.
pub(crate) const CONTAINERS: NsTable = TableDefinition::new("containers");
/// Daemon-wide values such as the server uuid.
pub(crate) const META: TableDefinition<&str, &str> = TableDefinition::new("meta");

/// Every namespaced table, for emptiness checks and GC.
pub(crate) const NS_TABLES: [(&str, NsTable); 4] = [
    ("images", IMAGES),
    ("blobs", CONTENT),
    ("leases", LEASES),
    ("containers", CONTAINERS),
];

/// redb's page cache. Its default (1 GiB) lets the cache grow with every page ever touched;
/// metadata records are small and the kernel's page cache keeps the file warm anyway.
const METADATA_CACHE_BYTES: usize = 4 << 20;

/// gantryd's persistent state: metadata and content.
pub struct Store {
    pub(crate) db: Database,
    pub(crate) content_root: PathBuf,
    /// Where committed blobs live (local files or a proxy plugin's store).
    pub(crate) blobs: Arc<dyn crate::content::Blobs>,
    /// Ingest keys (`namespace/ref`) that have a live writer: one writer per ref.
    pub(crate) active_writers: Arc<Mutex<HashSet<String>>>,
    /// Serialises garbage collection against commits that publish new blobs.
    pub(crate) gc_lock: Mutex<()>,
    /// Told of every committed change (`true` when something was removed), as containerd's
    /// metadata DB tells its GC scheduler.
    mutation_hook: OnceLock<MutationHook>,
    /// The earliest `containerd.io/gc.expire` of any lease (i64::MAX when none), so that the
    /// GC scheduler knows when expired leases need a collection.
    pub(crate) next_lease_expiry: AtomicI64,
}

/// Called after each committed metadata change; the flag says whether it removed anything.
pub type MutationHook = Box<dyn Fn(bool) + Send + Sync>;

impl Store {
    /// Opens (creating if needed) the metadata database at `meta_path` and the content store
    /// under `content_root`; directories are created 0700.
    pub fn open(meta_path: &Path, content_root: &Path) -> Result<Store> {
        let blobs = Arc::new(crate::content::LocalBlobs::new(content_root));
        Store::open_with_blobs(meta_path, content_root, blobs)
    }

    /// [`Store::open`] with committed blobs kept by `blobs` (ingests stay under
    /// `content_root`).
    pub fn open_with_blobs(
        meta_path: &Path,
        content_root: &Path,
        blobs: Arc<dyn crate::content::Blobs>,
    ) -> Result<Store> {
        if let Some(dir) = meta_path.parent() {
            mkdir_private(dir)?;
        }
        mkdir_private(content_root)?;
        mkdir_private(&content_root.join("blobs").join("sha256"))?;
        mkdir_private(&content_root.join("ingest"))?;
        let db = Database::builder()
            .set_cache_size(METADATA_CACHE_BYTES)
            .create(meta_path)?;
        let txn = db.begin_write()?;
        {
            txn.open_table(NAMESPACES)?;
            txn.open_table(META)?;
            for (_, t) in NS_TABLES {
                txn.open_table(t)?;
            }
        }
        txn.commit()?;
        Ok(Store {
            db,
            content_root: content_root.to_path_buf(),
            blobs,
            active_writers: Arc::default(),
            gc_lock: Mutex::new(()),
            mutation_hook: OnceLock::new(),
            // Unknown until the first collection scans the leases: make it due at once.
            next_lease_expiry: AtomicI64::new(i64::MIN),
        })
    }

    /// Installs the hook told of every committed change (only the first call has effect).
    pub fn set_mutation_hook(&self, hook: MutationHook) {
        let _ = self.mutation_hook.set(hook);
    }

    pub(crate) fn mutated(&self, dirty: bool) {
        if let Some(h) = self.mutation_hook.get() {
            h(dirty);
        }
    }

    /// Returns the value stored under `key` in the daemon-wide table, creating it with `init`
    /// on first use (the server uuid survives restarts this way).
    pub fn meta_get_or_init(&self, key: &str, init: impl FnOnce() -> String) -> Result<String> {
        let txn = self.db.begin_write()?;
        let value = {
            let mut t = txn.open_table(META)?;
            let existing = t.get(key)?.map(|v| v.value().to_string());
            match existing {
                Some(v) => v,
                None => {
                    let v = init();
                    t.insert(key, v.as_str())?;
                    v
                }
            }
        };
        txn.commit()?;
        Ok(value)
    }

    pub(crate) fn read_txn(&self) -> Result<redb::ReadTransaction> {
        Ok(self.db.begin_read()?)
    }
}

/// Creates `dir` and its parents with mode 0700 (containerd's CVE-2024-25621 fix).
pub fn mkdir_private(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(format!("creating {}", dir.display())))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(io(format!("chmod 0700 {}", dir.display())))
}

pub(crate) fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("metadata records always serialise")
}

pub(crate) fn decode<T: DeserializeOwned>(what: &str, b: &[u8]) -> Result<T> {
    serde_json::from_slice(b).map_err(|e| Error::Corrupt(format!("{what}: {e}")))
}

/// Reads one record of a namespaced table.
pub(crate) fn get<T: DeserializeOwned>(
    t: &impl ReadableTable<(&'static str, &'static str), &'static [u8]>,
    ns: &str,
    id: &str,
) -> Result<Option<T>> {
    match t.get((ns, id))? {
        Some(v) => Ok(Some(decode(id, v.value())?)),
        None => Ok(None),
    }
}

/// All records of one namespace in a namespaced table, ordered by id.
pub(crate) fn list<T: DeserializeOwned>(
    t: &impl ReadableTable<(&'static str, &'static str), &'static [u8]>,
    ns: &str,
) -> Result<Vec<(String, T)>> {
    let mut out = Vec::new();
    for item in t.range((ns, "")..)? {
        let (k, v) = item?;
        let (kns, id) = k.value();
        if kns != ns {
            break;
        }
        out.push((id.to_string(), decode(id, v.value())?));
    }
    Ok(out)
}

/// Whether a namespaced table holds anything in `ns`.
pub(crate) fn any_in_ns(
    t: &impl ReadableTable<(&'static str, &'static str), &'static [u8]>,
    ns: &str,
) -> Result<bool> {
    if let Some(item) = t.range((ns, "")..)?.next() {
        let (k, _) = item?;
        return Ok(k.value().0 == ns);
    }
    Ok(false)
}
