//! One function per subcommand; each parses nothing and decides nothing that
//! belongs in the library.

pub mod checkpoint;
pub mod exec;
pub mod lifecycle;
pub mod query;
pub mod spec;
pub mod update;
