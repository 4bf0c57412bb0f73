//! Mounting the rootfs containerd hands to Create (`bundle/rootfs`) and taking it down.

use crate::proto::Mount;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::path::Path;

/// Splits mount options into flags and the data string the filesystem gets.
fn parse_options(options: &[String]) -> (MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for opt in options {
        let (set, clear) = match opt.as_str() {
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
            "defaults" | "async" => (MsFlags::empty(), MsFlags::empty()),
            _ => {
                data.push(opt.as_str());
                continue;
            }
        };
        flags = (flags | set) & !clear;
    }
    (flags, data.join(","))
}

/// Mounts each of `mounts` onto `target` in order.
pub fn mount_rootfs(mounts: &[Mount], target: &Path) -> Result<(), String> {
    for (i, m) in mounts.iter().enumerate() {
        let (flags, data) = parse_options(&m.options);
        let fstype = if flags.contains(MsFlags::MS_BIND) {
            None
        } else {
            Some(m.r#type.as_str())
        };
        let data = (!data.is_empty()).then_some(data.as_str());
        let result = mount(
            Some(m.source.as_str()),
            target,
            fstype,
            flags & !MsFlags::MS_RDONLY,
            data,
        )
        .and_then(|()| {
            // A bind mount ignores MS_RDONLY on the first call; apply it by remounting.
            if flags.contains(MsFlags::MS_BIND) && flags.contains(MsFlags::MS_RDONLY) {
                mount(
                    None::<&str>,
                    target,
                    None::<&str>,
                    flags | MsFlags::MS_REMOUNT,
                    None::<&str>,
                )
            } else if flags.contains(MsFlags::MS_RDONLY) {
                mount(
                    None::<&str>,
                    target,
                    None::<&str>,
                    MsFlags::MS_RDONLY | MsFlags::MS_REMOUNT,
                    data,
                )
            } else {
                Ok(())
            }
        });
        if let Err(e) = result {
            unmount_all(target);
            return Err(format!(
                "mounting rootfs {i} ({} {} options {:?}) on {}: {e}",
                m.r#type,
                m.source,
                m.options,
                target.display()
            ));
        }
    }
    Ok(())
}

/// Unmounts everything stacked on `target` (errors other than "not mounted" are logged).
pub fn unmount_all(target: &Path) {
    for _ in 0..64 {
        match umount2(target, MntFlags::MNT_DETACH) {
            Ok(()) => continue,
            Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => return,
            Err(e) => {
                crate::log::warn(&format!("unmounting {}: {e}", target.display()));
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_options;
    use nix::mount::MsFlags;

    #[test]
    fn overlay_options_split_into_flags_and_data() {
        let opts: Vec<String> = ["index=off", "ro", "lowerdir=/a:/b", "nosuid"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (flags, data) = parse_options(&opts);
        assert_eq!(flags, MsFlags::MS_RDONLY | MsFlags::MS_NOSUID);
        assert_eq!(data, "index=off,lowerdir=/a:/b");
    }

    #[test]
    fn rw_clears_an_earlier_ro() {
        let opts: Vec<String> = ["ro", "rbind", "rw"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (flags, data) = parse_options(&opts);
        assert_eq!(flags, MsFlags::MS_BIND | MsFlags::MS_REC);
        assert!(data.is_empty());
    }
}
