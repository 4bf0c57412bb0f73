//! `restore`: bring a checkpointed container back with criu. The container
//! is re-created from the bundle (state dir, cgroup with its resources), then
//! criu rebuilds the process tree and its namespaces inside the rootfs, as a
//! child of ours (`--restore-sibling`), so a foreground restore can wait for
//! it as `run` waits for its init. On any failure nothing is left behind.

use super::checkpoint::{clean, is_bind, refuse_unsupported, DESCRIPTORS};
use super::foreground::{block_signals, supervise};
use super::{destroy, validate_id, Container, Undo};
use crate::cgroups::{CgroupManager, Mode};
use crate::criu::{CriuOpts, Invocation};
use crate::error::{Context, Error, Result};
use crate::spec::{load_bundle, Bundle};
use crate::state::{now_rfc3339, proc_stat, State};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default)]
pub struct RestoreOpts {
    pub id: String,
    pub bundle: PathBuf,
    pub root: PathBuf,
    pub criu: CriuOpts,
    pub pid_file: Option<PathBuf>,
    /// Accepted for runc compatibility: criu sets up the root itself.
    pub no_pivot: bool,
}

/// The rootfs bound on `<state dir>/criu-root`: criu wants its root to be a
/// mount point whose parent is not overmounted. Unmounted on drop, always.
struct CriuRoot {
    path: PathBuf,
}

impl CriuRoot {
    fn new(dir: &Path, rootfs: &Path) -> Result<Self> {
        let path = dir.join("criu-root");
        std::fs::DirBuilder::new()
            .mode(0o755)
            .create(&path)
            .map_err(|e| Error::path("creating", &path, e))?;
        mount(
            Some(rootfs),
            &path,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .ctx(|| format!("binding the rootfs {} for criu", rootfs.display()))?;
        let root = CriuRoot { path };
        // Keep it out of the host's other mount namespaces.
        mount(
            None::<&str>,
            &root.path,
            None::<&str>,
            MsFlags::MS_PRIVATE | MsFlags::MS_REC,
            None::<&str>,
        )
        .ctx(|| format!("making {} private", root.path.display()))?;
        Ok(root)
    }
}

impl Drop for CriuRoot {
    fn drop(&mut self) {
        let _ = umount2(&self.path, MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// Restores container `opts.id` and returns it running (detached).
pub fn restore(opts: &RestoreOpts) -> Result<Container> {
    validate_id(&opts.id)?;
    let bundle = load_bundle(&opts.bundle)?;
    crate::rootfs::validate(&bundle.spec, &bundle.dir)?;
    refuse_unsupported(&bundle.spec, "restore")?;
    let images = &opts.criu.image_path;
    if !images.join("inventory.img").is_file() {
        return Err(Error::Other(format!(
            "restore: checkpoint image path {}: no checkpoint there (inventory.img is missing)",
            images.display()
        )));
    }
    let linux = bundle
        .spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::Spec("linux: missing".into()))?;
    let cgroup = CgroupManager::new(linux.cgroups_path().as_deref(), &opts.id)?;
    if let Some(w) = &opts.criu.work_path {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(w)
            .map_err(|e| Error::path("restore work path", w, e))?;
    }

    let dir = super::make_state_dir(&opts.root, &opts.id)?;
    let mut undo = Undo::new(&dir);
    let lock = super::lock_dir(&dir, &opts.id)?;
    undo.cgroup = Some(cgroup.clone());
    super::make_cgroup(&cgroup, linux)?;

    let pid_path = dir.join("restore.pid");
    crate::rootfs::make_mountpoints(&bundle.spec, &bundle.dir, &bundle.rootfs)?;
    {
        let root = CriuRoot::new(&dir, &bundle.rootfs)?;
        let mut inv = Invocation::new("restore", &opts.criu);
        inv.arg("--root")
            .arg(&root.path)
            .arg("--restore-detached")
            .arg("--restore-sibling")
            .arg("--pidfile")
            .arg(&pid_path);
        for (name, host) in external_mounts(&bundle, &cgroup)? {
            inv.ext_mount(&name, &host);
        }
        for root in cgroup_roots(&cgroup) {
            inv.arg("--cgroup-root").arg(root);
        }
        for (fd, key) in inherited_pipes(images)? {
            inv.arg("--inherit-fd").arg(format!("fd[{fd}]:{key}"));
        }
        inv.run(&format!("restore of container {:?}", opts.id))?;
    }
    let text =
        std::fs::read_to_string(&pid_path).map_err(|e| Error::path("reading", &pid_path, e))?;
    let pid: i32 = text.trim().parse().map_err(|_| {
        Error::Other(format!(
            "{}: criu wrote no pid ({text:?})",
            pid_path.display()
        ))
    })?;
    undo.pid = Some(pid);
    let _ = std::fs::remove_file(&pid_path);
    let start_time = proc_stat(pid)
        .map(|(_, t)| t)
        .ok_or_else(|| Error::Other(format!("restored init {pid} exited right away")))?;
    let state = State {
        id: opts.id.clone(),
        init_pid: pid,
        init_start_time: start_time,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: now_rfc3339(),
        owner: String::new(),
        cgroup,
        spec: bundle.spec.clone(),
    };
    state.save(&dir)?;
    if let Some(pf) = &opts.pid_file {
        write_pid_file(pf, pid)?;
    }
    undo.armed = false;
    drop(undo);
    Ok(Container {
        state,
        dir,
        _lock: lock,
    })
}

/// Restores and stays in the foreground as the restored init's parent,
/// forwarding signals; returns its exit code and removes the container.
pub fn restore_foreground(opts: &RestoreOpts) -> Result<i32> {
    let sfd = block_signals()?;
    let c = restore(opts)?;
    let pid = c.state.init_pid;
    let id = c.id().to_string();
    // Unlock while it runs so that state/kill from others work.
    drop(c);
    let code = supervise(pid, &sfd, None)?;
    match Container::load(&opts.root, &id) {
        Ok(c) => destroy(c)?,
        Err(Error::NotFound(_)) => {}
        Err(e) => return Err(e),
    }
    Ok(code)
}

fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let tmp = path.with_extension("gantry-tmp");
    std::fs::write(&tmp, pid.to_string())
        .map_err(|e| Error::path("writing the pid file", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::path("writing the pid file", path, e))
}

/// (name recorded at dump, host path now) for every mount the dump marked
/// external: the bind mounts (their sources, relative to the bundle when
/// relative) and the cgroup hierarchies (the new container's own cgroup).
fn external_mounts(bundle: &Bundle, cgroup: &CgroupManager) -> Result<Vec<(PathBuf, PathBuf)>> {
    let mut out = Vec::new();
    for m in bundle.spec.mounts().iter().flatten() {
        let dest = clean(m.destination());
        let typ = m.typ().as_deref().unwrap_or_default();
        if is_bind(m) {
            let src = m
                .source()
                .clone()
                .filter(|s| !s.as_os_str().is_empty())
                .ok_or_else(|| {
                    Error::Spec(format!(
                        "mount {}: a bind mount needs a source",
                        dest.display()
                    ))
                })?;
            let src = if src.is_relative() {
                bundle.dir.join(src)
            } else {
                src
            };
            out.push((dest, src));
        } else if typ == "cgroup" || typ == "cgroup2" {
            out.extend(cgroup_mounts(&dest, cgroup, typ == "cgroup2"));
        }
    }
    Ok(out)
}

/// Where the cgroup mount at `dest` showed each hierarchy, as create lays
/// them out: cgroup2 on `dest` itself on a unified host (or for `cgroup2`),
/// else one directory per hierarchy named as on the host.
fn cgroup_mounts(dest: &Path, cg: &CgroupManager, v2_only: bool) -> Vec<(PathBuf, PathBuf)> {
    if cg.mode == Mode::Unified || v2_only || cg.v1.is_empty() {
        return cg
            .unified
            .iter()
            .map(|u| (dest.to_path_buf(), u.path.clone()))
            .collect();
    }
    cg.v1
        .iter()
        .chain(cg.unified.iter())
        .filter_map(|d| {
            let name = d.mount.file_name()?;
            Some((dest.join(name), d.path.clone()))
        })
        .collect()
}

/// `--cgroup-root` values putting the restored tasks into the new
/// container's cgroup (the dump recorded the old one): per v1 controller,
/// and one without a controller for cgroup2.
fn cgroup_roots(cg: &CgroupManager) -> Vec<String> {
    let rel = |mount: &Path, path: &Path| {
        let r = path.strip_prefix(mount).unwrap_or(path);
        format!("/{}", r.display())
    };
    let mut out = Vec::new();
    for d in &cg.v1 {
        for c in &d.controllers {
            out.push(format!("{c}:{}", rel(&d.mount, &d.path)));
        }
    }
    if let Some(u) = &cg.unified {
        out.push(rel(&u.mount, &u.path));
    }
    out
}

/// (descriptor, criu key) for each of the dumped init's stdio that was a
/// pipe: criu reconnects it to the same descriptor of ours (runc's rule).
fn inherited_pipes(images: &Path) -> Result<Vec<(usize, String)>> {
    let path = images.join(DESCRIPTORS);
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::path("reading", &path, e)),
    };
    let links: Vec<String> = serde_json::from_slice(&text)
        .map_err(|e| Error::Other(format!("{}: {e}", path.display())))?;
    Ok(links
        .into_iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("pipe:"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::CgroupDir;

    fn hybrid() -> CgroupManager {
        CgroupManager {
            mode: Mode::Hybrid,
            v1: vec![
                CgroupDir {
                    controllers: vec!["cpu".into(), "cpuacct".into()],
                    mount: "/sys/fs/cgroup/cpu,cpuacct".into(),
                    path: "/sys/fs/cgroup/cpu,cpuacct/c1".into(),
                },
                CgroupDir {
                    controllers: vec!["name=systemd".into()],
                    mount: "/sys/fs/cgroup/systemd".into(),
                    path: "/sys/fs/cgroup/systemd/a/c1".into(),
                },
            ],
            unified: Some(CgroupDir {
                controllers: vec![],
                mount: "/sys/fs/cgroup/unified".into(),
                path: "/sys/fs/cgroup/unified/c1".into(),
            }),
        }
    }

    #[test]
    fn cgroup_roots_per_controller_and_v2() {
        assert_eq!(
            cgroup_roots(&hybrid()),
            vec!["cpu:/c1", "cpuacct:/c1", "name=systemd:/a/c1", "/c1"]
        );
    }

    #[test]
    fn cgroup_mounts_follow_the_host_layout() {
        let m = cgroup_mounts(Path::new("/sys/fs/cgroup"), &hybrid(), false);
        assert_eq!(
            m,
            vec![
                (
                    PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"),
                    PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/c1")
                ),
                (
                    PathBuf::from("/sys/fs/cgroup/systemd"),
                    PathBuf::from("/sys/fs/cgroup/systemd/a/c1")
                ),
                (
                    PathBuf::from("/sys/fs/cgroup/unified"),
                    PathBuf::from("/sys/fs/cgroup/unified/c1")
                ),
            ]
        );
        let v2 = cgroup_mounts(Path::new("/sys/fs/cgroup"), &hybrid(), true);
        assert_eq!(v2.len(), 1);
    }

    #[test]
    fn only_pipes_are_inherited() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(DESCRIPTORS),
            r#"["/dev/null","pipe:[123]","pipe:[456]"]"#,
        )
        .unwrap();
        assert_eq!(
            inherited_pipes(dir.path()).unwrap(),
            vec![(1, "pipe:[123]".to_string()), (2, "pipe:[456]".to_string())]
        );
        assert!(inherited_pipes(&dir.path().join("none"))
            .unwrap()
            .is_empty());
    }
}
