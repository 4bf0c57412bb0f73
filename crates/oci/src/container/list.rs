//! `list`: every container under the runtime root.

use crate::error::{Error, Result};
use crate::state::{State, Status};
use std::path::Path;

/// (state, status) of every container, sorted by id. Directories without a
/// state file (a create in progress) are skipped.
pub fn list(root: &Path) -> Result<Vec<(State, Status)>> {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(Error::path("listing", root, e)),
    };
    let mut out = vec![];
    for entry in entries.flatten() {
        let dir = entry.path();
        let Some(id) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if let Ok(state) = State::load(&dir, &id) {
            let status = state.status(&dir);
            out.push((state, status));
        }
    }
    out.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    Ok(out)
}
