//! Switching to process.user (uid, gid, additional groups, umask) and the
//! environment defaults that depend on it (HOME).

use crate::error::{Context, Result};
use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
use oci_spec::runtime::User;

/// Sets groups, gid and uid, in that order (after setuid we could no longer
/// change groups). `allow_setgroups` is false in a user namespace whose
/// setgroups file says deny.
pub fn switch(user: &User, allow_setgroups: bool) -> Result<()> {
    if allow_setgroups {
        let groups: Vec<Gid> = user
            .additional_gids()
            .iter()
            .flatten()
            .map(|g| Gid::from_raw(*g))
            .collect();
        setgroups(&groups).ctx(|| format!("process.user.additionalGids: setgroups {groups:?}"))?;
    }
    let gid = Gid::from_raw(user.gid());
    setresgid(gid, gid, gid).ctx(|| format!("process.user.gid: setresgid {gid}"))?;
    let uid = Uid::from_raw(user.uid());
    setresuid(uid, uid, uid).ctx(|| format!("process.user.uid: setresuid {uid}"))?;
    if let Some(mask) = user.umask() {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
    } else {
        // runc's default umask for the container process.
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    }
    Ok(())
}

/// Home directory of `uid` from the container's /etc/passwd, "/" if unknown.
pub fn home_of(uid: u32) -> String {
    let Ok(passwd) = std::fs::read_to_string("/etc/passwd") else {
        return "/".into();
    };
    passwd
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 6 && f[2].parse() == Ok(uid)).then(|| f[5].to_string())
        })
        .next()
        .unwrap_or_else(|| "/".into())
}
