//! Label validation as containerd does it (key and value together at most 4096 bytes).

use std::collections::BTreeMap;

use crate::error::{Error, Result};

/// containerd's limit on the size of one label, key and value together.
pub const MAX_LABEL_SIZE: usize = 4096;

/// Checks every label of an object.
pub fn validate(labels: &BTreeMap<String, String>) -> Result<()> {
    for (k, v) in labels {
        validate_one(k, v)?;
    }
    Ok(())
}

/// Checks one label.
pub fn validate_one(k: &str, v: &str) -> Result<()> {
    if k.is_empty() {
        return Err(Error::InvalidArgument("label key must not be empty".into()));
    }
    if k.len() + v.len() > MAX_LABEL_SIZE {
        let shown: String = k.chars().take(10).collect();
        return Err(Error::InvalidArgument(format!(
            "label key and value greater than maximum size ({MAX_LABEL_SIZE} bytes), key: {shown}"
        )));
    }
    Ok(())
}

/// Applies update field paths (`labels`, `labels.KEY`) from `new` onto `cur`, as containerd's
/// services do for Update requests. Returns false if `path` is not a label path.
pub fn apply_path(
    path: &str,
    cur: &mut BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> bool {
    if path == "labels" {
        *cur = new.clone();
        return true;
    }
    if let Some(key) = path.strip_prefix("labels.") {
        match new.get(key) {
            Some(v) => {
                cur.insert(key.to_string(), v.clone());
            }
            None => {
                cur.remove(key);
            }
        }
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_limit() {
        assert!(validate_one("k", &"v".repeat(4095)).is_ok());
        assert!(matches!(
            validate_one("k", &"v".repeat(4096)),
            Err(Error::InvalidArgument(_))
        ));
    }

    #[test]
    fn paths() {
        let mut cur = BTreeMap::from([("a".to_string(), "1".to_string())]);
        let new = BTreeMap::from([("b".to_string(), "2".to_string())]);
        assert!(apply_path("labels.b", &mut cur, &new));
        assert!(apply_path("labels.a", &mut cur, &new));
        assert_eq!(cur, new);
        assert!(!apply_path("name", &mut cur, &new));
    }
}
