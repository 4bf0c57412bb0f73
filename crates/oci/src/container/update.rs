//! `update`: change a live container's resources; the stored config follows
//! so later reads (and `state`) see the new values.

use super::Container;
use crate::error::{Error, Result};
use crate::state::Status;
use oci_spec::runtime::LinuxResources;
use serde_json::Value;

impl Container {
    pub fn update(&mut self, r: &LinuxResources) -> Result<()> {
        let status = self.status();
        if status == Status::Stopped {
            return Err(self.bad_status(status, "cannot update a stopped container"));
        }
        self.state.cgroup.update(r)?;
        let mut spec =
            serde_json::to_value(&self.state.spec).map_err(|e| Error::Other(e.to_string()))?;
        let new = serde_json::to_value(r).map_err(|e| Error::Other(e.to_string()))?;
        merge(&mut spec["linux"]["resources"], new);
        self.state.spec = serde_json::from_value(spec)
            .map_err(|e| Error::Other(format!("updating the stored config: {e}")))?;
        self.state.save(&self.dir)
    }

    pub fn stats(&self) -> Result<crate::cgroups::Stats> {
        self.state.cgroup.stats()
    }
}

/// Overlays `new` on `base`: objects merge key by key, anything else replaces.
fn merge(base: &mut Value, new: Value) {
    match (base, new) {
        (Value::Object(b), Value::Object(n)) => {
            for (k, v) in n {
                if v.is_null() {
                    continue;
                }
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

#[cfg(test)]
mod tests {
    use super::merge;
    use serde_json::json;

    #[test]
    fn merge_keeps_unset_fields() {
        let mut base = json!({"memory": {"limit": 1, "swap": 2}, "pids": {"limit": 5}});
        merge(
            &mut base,
            json!({"memory": {"limit": 10}, "cpu": {"shares": 3}}),
        );
        assert_eq!(
            base,
            json!({"memory": {"limit": 10, "swap": 2}, "pids": {"limit": 5}, "cpu": {"shares": 3}})
        );
    }
}
