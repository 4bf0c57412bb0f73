//! Garbage collection with containerd's label semantics: mark from the roots (images, leases,
//! content labelled `containerd.io/gc.root`, `containerd.io/gc.ref.content*` labels of
//! containers), follow `containerd.io/gc.ref.content*` labels of content, sweep unmarked
//! content records per namespace, then delete blob files that no namespace records.
//! Expired leases (`containerd.io/gc.expire`) are removed first; a lease labelled
//! `containerd.io/gc.flat` protects only what it names, not what that references.

use std::collections::{BTreeSet, HashSet};

use redb::ReadableTable;

use crate::containers::Container;
use crate::content::Info;
use crate::db::{self, Store, CONTAINERS, CONTENT, IMAGES, LEASES, NAMESPACES};
use crate::error::Result;
use crate::images::Image;
use crate::leases::Lease;

pub const LABEL_ROOT: &str = "containerd.io/gc.root";
pub const LABEL_REF_CONTENT: &str = "containerd.io/gc.ref.content";
pub const LABEL_EXPIRE: &str = "containerd.io/gc.expire";
pub const LABEL_FLAT: &str = "containerd.io/gc.flat";

/// What one collection removed.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Stats {
    pub content_records: usize,
    pub blobs: usize,
    pub leases: usize,
    /// Ingests removed because no lease holds them and their unleased lifetime is over.
    pub ingests: usize,
}

fn content_refs(
    labels: &std::collections::BTreeMap<String, String>,
) -> impl Iterator<Item = &String> {
    labels
        .iter()
        .filter(|(k, _)| {
            k.strip_prefix(LABEL_REF_CONTENT)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
        })
        .map(|(_, v)| v)
}

impl Store {
    /// Runs one full collection.
    pub fn garbage_collect(&self) -> Result<Stats> {
        let _gc = self.gc_lock.lock().expect("gc lock");
        let mut stats = Stats::default();
        let now = crate::time::now();
        let txn = self.db.begin_write()?;
        let mut live_blobs: HashSet<String> = HashSet::new();
        let mut leased_ingests: HashSet<(String, String)> = HashSet::new();
        let mut next_expiry = i64::MAX;
        {
            let namespaces: Vec<String> = {
                let t = txn.open_table(NAMESPACES)?;
                let mut v = Vec::new();
                for item in t.iter()? {
                    v.push(item?.0.value().to_string());
                }
                v
            };
            let mut content_t = txn.open_table(CONTENT)?;
            let mut leases_t = txn.open_table(LEASES)?;
            let images_t = txn.open_table(IMAGES)?;
            let containers_t = txn.open_table(CONTAINERS)?;
            for ns in &namespaces {
                let mut roots: Vec<String> = Vec::new();
                let mut flat: BTreeSet<String> = BTreeSet::new();
                for (id, lease) in db::list::<Lease>(&leases_t, ns)? {
                    match crate::leases::expiry(&lease.labels) {
                        Some(t) if t < now => {
                            leases_t.remove((ns.as_str(), id.as_str()))?;
                            stats.leases += 1;
                            continue;
                        }
                        Some(t) => next_expiry = next_expiry.min(t),
                        None => {}
                    }
                    leased_ingests.extend(
                        lease
                            .resources
                            .iter()
                            .filter(|r| r.r#type == "ingests")
                            .map(|r| (ns.clone(), r.id.clone())),
                    );
                    let is_flat = lease.labels.contains_key(LABEL_FLAT);
                    for r in lease.resources.iter().filter(|r| r.r#type == "content") {
                        if is_flat {
                            flat.insert(r.id.clone());
                        } else {
                            roots.push(r.id.clone());
                        }
                    }
                }
                for (_, img) in db::list::<Image>(&images_t, ns)? {
                    roots.push(img.target.digest.clone());
                    roots.extend(content_refs(&img.labels).cloned());
                }
                for (_, c) in db::list::<Container>(&containers_t, ns)? {
                    roots.extend(content_refs(&c.labels).cloned());
                }
                let content = db::list::<Info>(&content_t, ns)?;
                let by_digest: std::collections::HashMap<&str, &Info> =
                    content.iter().map(|(d, i)| (d.as_str(), i)).collect();
                roots.extend(
                    content
                        .iter()
                        .filter(|(_, i)| i.labels.contains_key(LABEL_ROOT))
                        .map(|(d, _)| d.clone()),
                );
                let mut marked: HashSet<String> = HashSet::new();
                while let Some(d) = roots.pop() {
                    if !marked.insert(d.clone()) {
                        continue;
                    }
                    if let Some(info) = by_digest.get(d.as_str()) {
                        roots.extend(content_refs(&info.labels).cloned());
                    }
                }
                marked.extend(flat);
                if ns == crate::namespaces::PLAIN {
                    // A plain content store has no collector of its own: the daemon in front
                    // of it keeps the references and deletes what it no longer needs.
                    marked.extend(content.iter().map(|(d, _)| d.clone()));
                }
                for (d, _) in &content {
                    if marked.contains(d) {
                        live_blobs.insert(d.clone());
                    } else {
                        content_t.remove((ns.as_str(), d.as_str()))?;
                        stats.content_records += 1;
                    }
                }
            }
        }
        txn.commit()?;
        // Leases created during this collection lowered the value already; keep the lower.
        self.next_lease_expiry
            .store(i64::MAX, std::sync::atomic::Ordering::Relaxed);
        self.note_lease_expiry(next_expiry);
        stats.ingests = self.remove_stale_ingests(&leased_ingests, now)?;
        for d in self.blobs.list()? {
            if !live_blobs.contains(&d) {
                self.blobs.delete(&d)?;
                stats.blobs += 1;
            }
        }
        Ok(stats)
    }
}

/// Parses an RFC 3339 time (`2006-01-02T15:04:05.999Z07:00`) into Unix nanoseconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut i = 19;
    let mut nanos = 0i64;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let frac = &s[start..i];
        let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
        nanos = digits.parse().ok()?;
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' => 0,
        b'+' | b'-' => {
            let sign = if b[i] == b'+' { 1 } else { -1 };
            sign * (num(i + 1..i + 3)? * 3600 + num(i + 4..i + 6)? * 60)
        }
        _ => return None,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let secs = days * 86400 + h * 3600 + mi * 60 + sec - offset;
    Some(secs * 1_000_000_000 + nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2001-09-09T01:46:40Z"),
            Some(1_000_000_000 * 1_000_000_000)
        );
        assert_eq!(
            parse_rfc3339("1970-01-01T01:00:00.5+01:00"),
            Some(500_000_000)
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
