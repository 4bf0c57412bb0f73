//! Pausing and resuming every process of a cgroup: the v1 freezer
//! controller's freezer.state, or v2's cgroup.freeze. Both freeze
//! asynchronously, so we wait (bounded) for the kernel to report it done.

use super::fs;
use crate::error::{Error, Result};
use std::path::Path;
use std::thread::sleep;
use std::time::Duration;

/// v1: FROZEN, and wait for it. A task in an uninterruptible sleep can keep
/// the cgroup in FREEZING; thawing briefly and trying again lets it move on.
pub fn v1_freeze(dir: &Path) -> Result<()> {
    for i in 0..1000u32 {
        if i % 50 == 49 {
            fs::write(dir, "freezer.state", "THAWED")?;
            sleep(Duration::from_millis(10));
        }
        fs::write(dir, "freezer.state", "FROZEN")?;
        if i % 25 == 24 {
            sleep(Duration::from_micros(100));
        }
        match fs::read(dir, "freezer.state")?.as_str() {
            "FROZEN" => return Ok(()),
            "FREEZING" => continue,
            other => {
                return Err(Error::Cgroup(format!(
                    "{}: unexpected freezer state {other:?}",
                    dir.display()
                )));
            }
        }
    }
    // Leave it usable rather than half frozen.
    let _ = fs::write(dir, "freezer.state", "THAWED");
    Err(Error::Cgroup(format!(
        "{}: the cgroup did not freeze (stuck in FREEZING)",
        dir.display()
    )))
}

pub fn v1_thaw(dir: &Path) -> Result<()> {
    for _ in 0..1000 {
        fs::write(dir, "freezer.state", "THAWED")?;
        if fs::read(dir, "freezer.state")? == "THAWED" {
            return Ok(());
        }
        sleep(Duration::from_millis(1));
    }
    Err(Error::Cgroup(format!(
        "{}: the cgroup did not thaw",
        dir.display()
    )))
}

pub fn v1_is_frozen(dir: &Path) -> Result<bool> {
    Ok(fs::read_opt(dir, "freezer.state")?.is_some_and(|s| s == "FROZEN"))
}

/// v2: cgroup.freeze, then wait for "frozen 1" in cgroup.events.
pub fn v2_set(dir: &Path, frozen: bool) -> Result<()> {
    let want = u64::from(frozen);
    fs::write(dir, "cgroup.freeze", if frozen { "1" } else { "0" })?;
    let mut delay = Duration::from_micros(100);
    for _ in 0..200 {
        let events = fs::read(dir, "cgroup.events")?;
        if fs::keyed(&events).any(|(k, v)| k == "frozen" && v == want) {
            return Ok(());
        }
        sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(20));
    }
    if frozen {
        let _ = fs::write(dir, "cgroup.freeze", "0");
    }
    Err(Error::Cgroup(format!(
        "{}: cgroup.events did not report frozen {want} in time",
        dir.display()
    )))
}

pub fn v2_is_frozen(dir: &Path) -> Result<bool> {
    Ok(fs::read_opt(dir, "cgroup.freeze")?.is_some_and(|s| s == "1"))
}
