//! Error and debug output in runc's shapes: logrus text on stderr, and JSON
//! lines in the --log file when --log-format json (containerd's go-runc reads
//! the last error from there).

use crate::cli::LogFormat;
use std::io::Write;
use std::path::PathBuf;

pub struct Logger {
    pub file: Option<PathBuf>,
    pub format: LogFormat,
    pub debug: bool,
}

impl Logger {
    pub fn error(&self, msg: &str) {
        self.write("error", msg);
        if self.file.is_some() {
            // runc prints errors on stderr too when logging to a file.
            let _ = writeln!(std::io::stderr(), "{}", text_line("error", msg));
        }
    }

    pub fn debug(&self, msg: &str) {
        if self.debug {
            self.write("debug", msg);
        }
    }

    fn write(&self, level: &str, msg: &str) {
        let line = match self.format {
            LogFormat::Json => {
                serde_json::json!({ "level": level, "msg": msg, "time": now() }).to_string()
            }
            LogFormat::Text => text_line(level, msg),
        };
        match &self.file {
            Some(p) => {
                if let Ok(mut f) = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                {
                    let _ = writeln!(f, "{line}");
                }
            }
            None => {
                let _ = writeln!(std::io::stderr(), "{line}");
            }
        }
    }
}

fn text_line(level: &str, msg: &str) -> String {
    format!("time={:?} level={level} msg={:?}", now(), msg)
}

fn now() -> String {
    gantry_oci::state::now_rfc3339()
}
