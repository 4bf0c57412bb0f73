//! Keeps an idle shim's resident set small. The kernel maps a binary's code in 64 KiB
//! windows around each fault (fault-around), and creating a container runs a large part
//! of gantry-oci once; left alone, most of the 2-3 MiB of text stays mapped in every
//! shim for its whole life. Once the shim has been idle for a while, the code pages are
//! unmapped from this process (they stay in the page cache, shared, and fault back in
//! when a request needs them), so a shim that only waits for its container holds the
//! code of its loop and little else.

use std::time::{Duration, Instant};

/// How long the shim must have been quiet before its code is unmapped.
pub const IDLE: Duration = Duration::from_secs(1);

/// The read-only, never-written mappings of our own executable.
pub struct Text {
    ranges: Vec<(usize, usize)>,
    /// Something ran since the last trim (set by the loop).
    dirty_since: Option<Instant>,
}

impl Text {
    /// Finds the executable's clean mappings in /proc/self/smaps. Mappings that hold
    /// anonymous (copied-on-write) pages, such as the relocated RELRO segment, are left
    /// out: dropping those pages would lose data, not just a mapping.
    pub fn find() -> Text {
        let exe = std::fs::read_link("/proc/self/exe").ok();
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
        let mut ranges = Vec::new();
        let mut current: Option<(usize, usize)> = None;
        for line in smaps.lines() {
            let mut words = line.split_whitespace();
            let first = words.next().unwrap_or_default();
            if let Some((lo, hi)) = first.split_once('-') {
                if let (Ok(lo), Ok(hi)) =
                    (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
                {
                    let perms = words.next().unwrap_or_default();
                    let path = words.nth(3).map(std::path::Path::new);
                    let ours = exe.is_some() && path == exe.as_deref();
                    current = (ours && !perms.contains('w')).then_some((lo, hi));
                    continue;
                }
            }
            if first == "Anonymous:" {
                let anon = words.next().unwrap_or("1");
                if let Some(range) = current.take() {
                    if anon == "0" {
                        ranges.push(range);
                    }
                }
            }
        }
        Text {
            ranges,
            dirty_since: Some(Instant::now()),
        }
    }

    /// Notes that the shim did some work.
    pub fn touched(&mut self) {
        self.dirty_since = Some(Instant::now());
    }

    /// Milliseconds the loop may sleep before `trim_if_idle` is due (-1: not due).
    pub fn timeout_ms(&self) -> i32 {
        match self.dirty_since {
            Some(at) => (at + IDLE)
                .saturating_duration_since(Instant::now())
                .as_millis() as i32,
            None => -1,
        }
    }

    /// Unmaps the code pages once the shim has been quiet for `IDLE`.
    pub fn trim_if_idle(&mut self) {
        if self.dirty_since.is_none_or(|at| at.elapsed() < IDLE) {
            return;
        }
        self.dirty_since = None;
        for &(lo, hi) in &self.ranges {
            // SAFETY: [lo, hi) is a read-only private mapping of our executable with no
            // anonymous pages, so MADV_DONTNEED only drops page-table entries; the next
            // access faults the same file contents back in (the code running this call
            // included).
            unsafe {
                libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_DONTNEED);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Text, IDLE};
    use std::time::Instant;

    fn resident_kib(lo: usize, hi: usize) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let head = format!("{lo:x}-{hi:x} ");
        let mut lines = smaps.lines().skip_while(|l| !l.starts_with(&head));
        lines
            .find_map(|l| l.strip_prefix("Rss:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap()
    }

    #[test]
    fn trimming_unmaps_code_and_the_code_still_runs() {
        let mut text = Text::find();
        assert!(
            !text.ranges.is_empty(),
            "no clean mapping of the test binary"
        );
        let (lo, hi) = *text.ranges.iter().max_by_key(|(lo, hi)| hi - lo).unwrap();
        let before = resident_kib(lo, hi);
        // Not idle yet: nothing happens.
        text.touched();
        text.trim_if_idle();
        assert!(text.timeout_ms() > 0);
        text.dirty_since = Some(Instant::now() - IDLE);
        text.trim_if_idle();
        assert_eq!(text.timeout_ms(), -1);
        let after = resident_kib(lo, hi);
        assert!(
            after < before,
            "resident {before} KiB before, {after} KiB after"
        );
        // The code faults back in: a second scan gives the same mappings.
        assert_eq!(Text::find().ranges, text.ranges);
    }
}
