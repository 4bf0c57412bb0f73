//! The last steps before the user's program runs: descriptor hygiene, path
//! lookup in the container, execve.

use crate::error::{Context, Error, Result};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Marks every descriptor from `first` up close-on-exec, so nothing the
/// runtime holds (state dirs, host directories, sockets) reaches the
/// container (CVE-2024-21626).
pub fn cloexec_from(first: u32) -> Result<()> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only flips flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if r == 0 {
        return Ok(());
    }
    // Old kernels (before 5.11): flag every possible descriptor. /proc may be
    // missing in the container, so do not list /proc/self/fd.
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    let max = lim.rlim_cur.clamp(1024, 1 << 20) as i32;
    for fd in first as i32..max {
        // SAFETY: F_SETFD on a number that may not be open just fails (EBADF).
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}

/// Finds `prog` as execvp would, using the container's PATH.
pub fn lookup(prog: &str, env: &[String]) -> Result<PathBuf> {
    if prog.contains('/') {
        let p = PathBuf::from(prog);
        return if is_executable(&p) {
            Ok(p)
        } else {
            Err(Error::Init(format!(
                "exec: {prog:?}: no such executable file"
            )))
        };
    }
    let path = env
        .iter()
        .find_map(|kv| kv.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    path.split(':')
        .map(|d| Path::new(if d.is_empty() { "." } else { d }).join(prog))
        .find(|p| is_executable(p))
        .ok_or_else(|| {
            Error::Init(format!(
                "exec: {prog:?}: executable file not found in $PATH"
            ))
        })
}

fn is_executable(p: &Path) -> bool {
    let Ok(c) = CString::new(p.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: access reads a valid C string.
    let ok = unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0;
    ok && std::fs::metadata(p).map(|m| m.is_file()).unwrap_or(false)
}

fn cstrings(items: &[String], what: &str) -> Result<Vec<CString>> {
    items
        .iter()
        .map(|s| {
            CString::new(s.as_bytes())
                .map_err(|_| Error::Spec(format!("{what}: {s:?} contains a NUL byte")))
        })
        .collect()
}

/// execve; returns only on failure.
pub fn exec(path: &Path, args: &[String], env: &[String]) -> Error {
    let run = || -> Result<std::convert::Infallible> {
        let p = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| Error::Spec("process.args[0]: NUL byte".into()))?;
        let argv = cstrings(args, "process.args")?;
        let envp = cstrings(env, "process.env")?;
        nix::unistd::execve(&p, &argv, &envp).ctx(|| format!("exec {}", path.display()))
    };
    match run() {
        Err(e) => e,
        Ok(never) => match never {},
    }
}
