//! stdout that tolerates a closed pipe (`gantry-runc list | head`): SIGPIPE
//! stays ignored (a hook that exits without reading its stdin must not kill
//! us), so a broken pipe ends the command quietly instead.

use std::io::Write;

pub fn line(s: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{s}").and_then(|_| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}
