//! Where the shim puts things. Everything is derived from containerd's `-address`: for the
//! default `/run/containerd/containerd.sock` that is `/run/containerd/s/<hash>` (the stock
//! shims' place) and `/run/containerd/runc/<ns>`; a containerd on a private address gets
//! private directories next to its socket, so a test never touches the host's.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

fn state_dir(address: &str) -> PathBuf {
    let path = address.strip_prefix("unix://").unwrap_or(address);
    Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("/run/containerd"))
        .to_path_buf()
}

/// The shim socket's path for a namespace and grouping id (container or pod id), in
/// the directory containerd 2.3+ names (`socket_dir`) or else next to its socket.
pub fn socket_path(
    address: &str,
    namespace: &str,
    group: &str,
    socket_dir: Option<&str>,
) -> PathBuf {
    let digest = Sha256::digest(format!("{address}/{namespace}/{group}").as_bytes());
    let name: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    match socket_dir {
        Some(dir) => Path::new(dir).join(name),
        None => state_dir(address).join("s").join(name),
    }
}

/// The runtime's state root when the options name none: `<state>/<kind>/<namespace>`,
/// kind `runc` for a runc-compatible binary (the stock shim's place) or `gantry`.
pub fn default_runtime_root(address: &str, kind: &str, namespace: &str) -> PathBuf {
    state_dir(address).join(kind).join(namespace)
}

/// The file in the bundle that remembers which backend and root created it, so
/// `delete` after a dead shim drives the same one.
pub const RUNTIME_FILE: &str = "gantry-runtime";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_address_matches_containerd_layout() {
        let p = socket_path("/run/containerd/containerd.sock", "default", "c1", None);
        assert!(p.starts_with("/run/containerd/s/"), "{}", p.display());
        assert_eq!(p.file_name().unwrap().len(), 64);
        assert_eq!(
            default_runtime_root("/run/containerd/containerd.sock", "runc", "k8s.io"),
            Path::new("/run/containerd/runc/k8s.io")
        );
    }

    #[test]
    fn private_address_gets_private_dirs() {
        let p = socket_path("/tmp/t1/containerd.sock", "default", "c1", None);
        assert!(p.starts_with("/tmp/t1/s/"), "{}", p.display());
        assert_ne!(
            p,
            socket_path("/tmp/t1/containerd.sock", "other", "c1", None)
        );
        let q = socket_path("/tmp/t1/containerd.sock", "default", "c1", Some("/tmp/s2"));
        assert_eq!(q.parent(), Some(Path::new("/tmp/s2")));
        assert_eq!(q.file_name(), p.file_name());
    }
}
