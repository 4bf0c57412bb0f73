//! The library's error type: every failure names the thing that was wrong.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// config.json could not be read, parsed or failed validation.
    #[error("config.json: {0}")]
    Spec(String),
    #[error("container id {id:?}: {reason}")]
    InvalidId { id: String, reason: &'static str },
    #[error("container {0:?} does not exist")]
    NotFound(String),
    #[error("container {0:?} already exists")]
    AlreadyExists(String),
    /// An operation that the container's current status does not allow.
    #[error("container {id:?} is {status}: {what}")]
    BadStatus {
        id: String,
        status: String,
        what: String,
    },
    #[error("{what} {}: {source}", path.display())]
    Path {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Sys {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cgroup: {0}")]
    Cgroup(String),
    #[error("mount: {0}")]
    Mount(String),
    #[error("hook {kind} {path}: {reason}")]
    Hook {
        kind: &'static str,
        path: String,
        reason: String,
    },
    /// The container's init reported a failure while setting itself up.
    #[error("container init: {0}")]
    Init(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn path(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Path {
            what,
            path: path.into(),
            source,
        }
    }

    pub fn sys(what: impl Into<String>, source: impl Into<std::io::Error>) -> Self {
        Error::Sys {
            what: what.into(),
            source: source.into(),
        }
    }
}

impl From<nix::Error> for Error {
    fn from(e: nix::Error) -> Self {
        Error::Sys {
            what: "system call".into(),
            source: e.into(),
        }
    }
}

/// Attaches "what was being done" to a nix/io result.
pub trait Context<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Into<std::io::Error>> Context<T> for std::result::Result<T, E> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::Sys {
            what: what(),
            source: e.into(),
        })
    }
}
