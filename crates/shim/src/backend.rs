//! What the shim needs from an OCI runtime, and how a container's backend is chosen:
//! the gantry-oci library in process by default, or any runc-compatible binary when
//! the runtime options name one (BinaryName). The choice is recorded in the bundle so
//! `delete` after a dead shim uses the same backend.

use crate::paths;
use crate::proto::RuncOptions;
use std::fs::File;
use std::path::{Path, PathBuf};

/// The container's stdio as handed to `create`/`exec`; `None` is /dev/null.
pub struct ProcessIo {
    pub stdin: Option<File>,
    pub stdout: Option<File>,
    pub stderr: Option<File>,
}

impl ProcessIo {
    pub fn null() -> ProcessIo {
        ProcessIo {
            stdin: None,
            stdout: None,
            stderr: None,
        }
    }
}

/// A checkpoint request, in runc's terms (`runc checkpoint` flags).
#[derive(Debug, Clone, Default)]
pub struct CheckpointSpec {
    pub image_path: PathBuf,
    pub work_path: Option<PathBuf>,
    /// Stop the container after the dump (otherwise `--leave-running`).
    pub exit: bool,
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub shell_job: bool,
    pub file_locks: bool,
    pub empty_namespaces: Vec<String>,
    pub cgroups_mode: Option<String>,
    /// The runtime options' CriuPath; otherwise `criu` is looked up in PATH.
    pub criu: Option<PathBuf>,
}

/// The operations of runc's command line the shim uses. `console_socket` is a path
/// the runtime connects to and sends the pty master over.
pub trait Backend {
    fn create(
        &self,
        id: &str,
        bundle: &Path,
        pid_file: &Path,
        console_socket: Option<&Path>,
        io: ProcessIo,
    ) -> Result<(), String>;
    fn start(&self, id: &str) -> Result<(), String>;
    fn kill(&self, id: &str, signal: u32, all: bool) -> Result<(), String>;
    fn delete(&self, id: &str, force: bool) -> Result<(), String>;
    fn pause(&self, id: &str) -> Result<(), String>;
    fn resume(&self, id: &str) -> Result<(), String>;
    fn ps(&self, id: &str) -> Result<Vec<u32>, String>;
    /// Applies new resources (an OCI LinuxResources JSON document).
    fn update(&self, id: &str, resources: &[u8]) -> Result<(), String>;
    /// cgroup statistics, shaped as the `data` of `runc events --stats`.
    fn stats(&self, id: &str) -> Result<serde_json::Value, String>;
    /// Dumps the container with criu (found through PATH unless the runtime knows better).
    fn checkpoint(&self, id: &str, spec: &CheckpointSpec) -> Result<(), String>;
    /// Brings a dumped container back, detached (`runc restore --detach`): its init
    /// becomes the shim's to reap and its pid goes to `pid_file`. `io` replaces the
    /// stdio pipes the dump recorded. `spec.exit` has no meaning here.
    fn restore(
        &self,
        id: &str,
        bundle: &Path,
        pid_file: &Path,
        spec: &CheckpointSpec,
        io: ProcessIo,
    ) -> Result<(), String>;
    fn exec(
        &self,
        id: &str,
        process_json: &Path,
        pid_file: &Path,
        console_socket: Option<&Path>,
        io: ProcessIo,
    ) -> Result<(), String>;
}

/// A container's backend settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// The runc-compatible binary; `None` runs gantry-oci in process.
    pub binary: Option<String>,
    pub root: String,
    pub systemd_cgroup: bool,
    /// MS_MOVE + chroot instead of pivot_root (`--no-pivot`).
    pub no_pivot: bool,
    /// Keep the caller's session keyring (`--no-new-keyring`).
    pub no_new_keyring: bool,
}

impl Choice {
    /// Settings from the runtime options; the root defaults to a directory next to
    /// containerd's socket (one per backend kind and namespace).
    pub fn new(options: &RuncOptions, address: &str, namespace: &str) -> Choice {
        let binary = (!options.binary_name.is_empty()).then(|| options.binary_name.clone());
        let root = if options.root.is_empty() {
            let kind = if binary.is_some() { "runc" } else { "gantry" };
            paths::default_runtime_root(address, kind, namespace)
                .display()
                .to_string()
        } else {
            options.root.clone()
        };
        Choice {
            binary,
            root,
            systemd_cgroup: options.systemd_cgroup,
            no_pivot: options.no_pivot_root,
            no_new_keyring: options.no_new_keyring,
        }
    }

    pub fn open(&self, bundle: &Path) -> Box<dyn Backend> {
        match &self.binary {
            Some(b) => Box::new(crate::runtime::Runtime::new(b.clone(), self, bundle)),
            None => Box::new(crate::inproc::InProcess::new(self)),
        }
    }

    /// Records the choice in the bundle.
    pub fn save(&self, bundle: &Path) -> Result<(), String> {
        let path = bundle.join(paths::RUNTIME_FILE);
        let text = format!(
            "{}\n{}\n{}\n{}\n{}\n",
            self.binary.as_deref().unwrap_or(""),
            self.root,
            self.systemd_cgroup,
            self.no_pivot,
            self.no_new_keyring
        );
        std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))
    }

    /// The choice recorded in the bundle, if any.
    pub fn load(bundle: &Path) -> Option<Choice> {
        let text = std::fs::read_to_string(bundle.join(paths::RUNTIME_FILE)).ok()?;
        let mut lines = text.lines();
        let binary = lines.next()?.to_string();
        let root = lines.next()?.to_string();
        let mut flag = || lines.next() == Some("true");
        Some(Choice {
            binary: (!binary.is_empty()).then_some(binary),
            root,
            systemd_cgroup: flag(),
            no_pivot: flag(),
            no_new_keyring: flag(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Choice;
    use crate::proto::RuncOptions;

    fn options(binary: &str) -> RuncOptions {
        RuncOptions {
            binary_name: binary.into(),
            ..RuncOptions::default()
        }
    }

    #[test]
    fn saved_choice_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        for binary in ["", "/usr/sbin/runc"] {
            let mut o = options(binary);
            o.systemd_cgroup = true;
            o.no_pivot_root = true;
            let c = Choice::new(&o, "/tmp/x/c.sock", "ns");
            c.save(dir.path()).unwrap();
            assert_eq!(Choice::load(dir.path()), Some(c));
        }
    }

    #[test]
    fn in_process_and_binary_roots_differ() {
        let a = Choice::new(&options(""), "/tmp/x/c.sock", "ns");
        let b = Choice::new(&options("runc"), "/tmp/x/c.sock", "ns");
        assert_eq!(a.binary, None);
        assert_ne!(a.root, b.root);
    }
}
