//! Where a container's cgroup lives inside one hierarchy: `cgroupsPath`
//! resolved against the hierarchy root or the caller's own cgroup, lexically,
//! refusing anything that would climb out of the hierarchy.

use crate::error::{Error, Result};
use std::path::Path;

/// The container's cgroup relative to a hierarchy's mounted root, as
/// "/a/b". `own` is the caller's cgroup in that hierarchy.
///
/// Absolute `cgroups_path`: relative to the hierarchy root; relative: to
/// `own`; none: `own/<id>`.
pub fn resolve(cgroups_path: Option<&Path>, id: &str, own: &str) -> Result<String> {
    let (base, rel) = match cgroups_path {
        Some(p) => {
            let s = p
                .to_str()
                .ok_or_else(|| Error::Cgroup(format!("cgroupsPath {p:?} is not valid UTF-8")))?;
            if s.starts_with('/') {
                ("/", s)
            } else {
                (own, s)
            }
        }
        None => (own, id),
    };
    let mut parts: Vec<&str> = Vec::new();
    for c in base.split('/').chain(rel.split('/')) {
        match c {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(escape_error(cgroups_path, id));
                }
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return Err(Error::Cgroup(format!(
            "cgroupsPath {:?} resolves to the root of a cgroup hierarchy; a container needs its own cgroup",
            cgroups_path.map(|p| p.display().to_string()).unwrap_or_else(|| id.to_string())
        )));
    }
    Ok(format!("/{}", parts.join("/")))
}

fn escape_error(cgroups_path: Option<&Path>, id: &str) -> Error {
    match cgroups_path {
        Some(p) => Error::Cgroup(format!(
            "cgroupsPath {:?} escapes the cgroup hierarchy root with '..'",
            p.display().to_string()
        )),
        None => Error::Cgroup(format!(
            "container id {id:?} escapes the cgroup hierarchy root"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(p: Option<&str>, own: &str) -> Result<String> {
        resolve(p.map(Path::new), "ctr", own)
    }

    #[test]
    fn absolute_ignores_own() {
        assert_eq!(r(Some("/a/b"), "/x/y").unwrap(), "/a/b");
        assert_eq!(r(Some("/a//./b/"), "/x").unwrap(), "/a/b");
        assert_eq!(r(Some("/a/../b"), "/x").unwrap(), "/b");
    }

    #[test]
    fn relative_and_default() {
        assert_eq!(r(Some("a/b"), "/x/y").unwrap(), "/x/y/a/b");
        assert_eq!(r(Some("../z"), "/x/y").unwrap(), "/x/z");
        assert_eq!(r(None, "/x").unwrap(), "/x/ctr");
        assert_eq!(r(None, "/").unwrap(), "/ctr");
        assert_eq!(
            r(Some("system.slice:docker:abc"), "/").unwrap(),
            "/system.slice:docker:abc"
        );
    }

    #[test]
    fn escapes_rejected() {
        for (p, own) in [
            ("/../etc", "/"),
            ("../../..", "/x/y"),
            ("..", "/"),
            ("/a/../../b", "/"),
        ] {
            let e = r(Some(p), own).unwrap_err().to_string();
            assert!(e.contains("escapes"), "{p}: {e}");
        }
        assert!(r(Some("/"), "/x").unwrap_err().to_string().contains("root"));
        assert!(r(Some("x/.."), "/")
            .unwrap_err()
            .to_string()
            .contains("root"));
    }
}
