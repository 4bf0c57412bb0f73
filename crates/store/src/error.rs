//! The error kinds of containerd's `errdefs`, each carrying a message naming the object.

/// Errors of the store; the variant says which containerd error kind (and gRPC code) it is.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}: not found")]
    NotFound(String),
    #[error("{0}: already exists")]
    AlreadyExists(String),
    #[error("{0}: failed precondition")]
    FailedPrecondition(String),
    #[error("{0}: invalid argument")]
    InvalidArgument(String),
    #[error("{0}: unavailable")]
    Unavailable(String),
    #[error("{0}: not implemented")]
    NotImplemented(String),
    #[error("{0}: out of range")]
    OutOfRange(String),
    #[error("metadata database: {0}")]
    Db(#[from] redb::Error),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("corrupt metadata record {0}")]
    Corrupt(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Wraps an I/O error with the thing (usually a path) it happened to.
pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error::Db(e.into())
            }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);
