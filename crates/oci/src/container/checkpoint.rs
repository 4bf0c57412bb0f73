//! `checkpoint`: dump the container's process tree to images with criu.
//! Unless asked to leave it running, the container is then gone: criu
//! killed its processes and, as runc does, we remove its cgroup and state so
//! that `restore` can bring it back under the same id.

use super::{destroy, Container};
use crate::criu::{self, CriuOpts, Invocation};
use crate::error::{Error, Result};
use crate::state::Status;
use oci_spec::runtime::{Mount, Spec};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, Clone, Default)]
pub struct CheckpointOpts {
    pub criu: CriuOpts,
    pub leave_running: bool,
    /// Dump memory only, to shorten a later dump's freeze (`--pre-dump`).
    pub pre_dump: bool,
    /// A previous (pre-)dump's images, relative to the image path.
    pub parent_path: Option<PathBuf>,
}

/// The file runc writes beside the images: the init's stdio at dump time.
pub const DESCRIPTORS: &str = "descriptors.json";

impl Container {
    pub fn checkpoint(self, opts: &CheckpointOpts) -> Result<()> {
        let status = self.status();
        if !matches!(status, Status::Running | Status::Paused) {
            return Err(self.bad_status(
                status,
                "only a running or paused container can be checkpointed",
            ));
        }
        refuse_unsupported(&self.state.spec, "checkpoint")?;
        let pid = self.state.init_pid;
        let c = &opts.criu;
        make_dir(&c.image_path, "checkpoint image path")?;
        if let Some(w) = &c.work_path {
            make_dir(w, "checkpoint work path")?;
        }
        let action = if opts.pre_dump { "pre-dump" } else { "dump" };
        let mut inv = Invocation::new(action, c);
        inv.arg("--tree").arg(pid.to_string());
        if let Some(freezer) = freezer_dir(&self) {
            // The freezer stops every task at once; ptrace-seizing them one
            // by one would let a forking loop race criu.
            inv.arg("--freeze-cgroup").arg(freezer);
        }
        if opts.leave_running {
            inv.arg("--leave-running");
        }
        if opts.pre_dump {
            inv.arg("--track-mem");
        }
        if let Some(parent) = &opts.parent_path {
            inv.arg("--prev-images-dir").arg(parent).arg("--track-mem");
        }
        if !opts.pre_dump {
            for dest in external_mounts(&self.state.spec, pid)? {
                // Recorded under its own mount point; restore maps it back.
                inv.ext_mount(&dest, &dest);
            }
            let links = serde_json::to_vec(&criu::stdio_links(pid))
                .map_err(|e| Error::Other(format!("encoding {DESCRIPTORS}: {e}")))?;
            let path = c.image_path.join(DESCRIPTORS);
            std::fs::write(&path, links).map_err(|e| Error::path("writing", &path, e))?;
        }
        inv.run(&format!("checkpoint of container {:?}", self.id()))?;
        if opts.leave_running || opts.pre_dump {
            return Ok(());
        }
        let id = self.id().to_string();
        destroy(self).map_err(|e| {
            Error::Other(format!(
                "container {id:?} was checkpointed to {}, but removing it failed: {e}",
                c.image_path.display()
            ))
        })
    }
}

/// What neither command supports yet, refused before criu runs: a terminal
/// (criu's CLI cannot hand the pty master back to a console socket) and
/// namespaces joined by path (they would need criu's --external/--join-ns).
pub(super) fn refuse_unsupported(spec: &Spec, what: &str) -> Result<()> {
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    if terminal {
        return Err(Error::Unsupported(format!(
            "{what}: process.terminal containers are not supported (the terminal cannot be handed back through criu's command line)"
        )));
    }
    let joined = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
        .find(|n| n.path().is_some());
    if let Some(ns) = joined {
        return Err(Error::Unsupported(format!(
            "{what}: linux.namespaces: joining the {:?} namespace by path is not supported",
            ns.typ()
        )));
    }
    Ok(())
}

fn make_dir(path: &Path, what: &'static str) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| Error::path(what, path, e))
}

fn freezer_dir(c: &Container) -> Option<PathBuf> {
    let cg = &c.state.cgroup;
    cg.v1_dir("freezer")
        .or_else(|| cg.unified_dir())
        .map(Path::to_path_buf)
}

/// Mount points criu cannot rebuild by itself: the spec's bind mounts (their
/// source is a host path) and the cgroup hierarchies (bound from the host's
/// cgroup tree, often from a directory the container cannot see).
fn external_mounts(spec: &Spec, pid: i32) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = spec
        .mounts()
        .iter()
        .flatten()
        .filter(|m| is_bind(m))
        .map(|m| clean(m.destination()))
        .collect();
    let path = format!("/proc/{pid}/mountinfo");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::path("reading", &path, e))?;
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let fs_type = right.split(' ').next().unwrap_or_default();
        if fs_type != "cgroup" && fs_type != "cgroup2" {
            continue;
        }
        if let Some(mp) = left.split(' ').nth(4) {
            out.push(PathBuf::from(unescape(mp)));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

pub(super) fn is_bind(m: &Mount) -> bool {
    m.typ().as_deref() == Some("bind")
        || m.options()
            .iter()
            .flatten()
            .any(|o| o == "bind" || o == "rbind")
}

/// A destination as the kernel shows it: no `.`, no trailing slash.
pub(super) fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        if let Component::Normal(n) = c {
            out.push(n);
        }
    }
    out
}

/// mountinfo escapes space, tab, newline and backslash as \ooo.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let code = rest
            .get(i + 1..i + 4)
            .and_then(|o| u8::from_str_radix(o, 8).ok());
        match code {
            Some(b) => {
                out.push(b as char);
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_cleaned_and_binds_recognised() {
        assert_eq!(clean(Path::new("/data/./x/")), Path::new("/data/x"));
        let m: Mount = serde_json::from_value(serde_json::json!({
            "destination": "/d", "type": "none", "source": "/s", "options": ["rbind", "ro"]
        }))
        .unwrap();
        assert!(is_bind(&m));
        let t: Mount = serde_json::from_value(serde_json::json!({
            "destination": "/t", "type": "tmpfs", "source": "tmpfs"
        }))
        .unwrap();
        assert!(!is_bind(&t));
    }

    #[test]
    fn mountinfo_paths_unescape() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }
}
