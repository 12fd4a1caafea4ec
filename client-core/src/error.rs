//! The one error type of client-core.
//!
//! Every public call returns `Result<_, Error>`. The variants are detailed so a caller can act
//! on them (show "unknown customer", ask for another file); the ffi and server crates map them
//! once each to their own small error at their boundary.

use std::path::PathBuf;

/// Everything that can go wrong in client-core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An identifier that does not parse.
    #[error("invalid {what}: {value:?}")]
    InvalidId {
        /// What kind of identifier.
        what: &'static str,
        /// The text given.
        value: String,
    },
    /// A record that breaks a rule (a visit that ends before it starts, an empty name…).
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field at fault.
        field: String,
        /// Why it was refused.
        reason: String,
    },
    /// A customer this home does not hold.
    #[error("unknown customer {0}")]
    UnknownCustomer(String),
    /// A policy, visit, problem or other record that does not exist.
    #[error("unknown {what} {id}")]
    NotFound {
        /// What was looked for.
        what: &'static str,
        /// Its identifier.
        id: String,
    },
    /// The caller's role may not do this (an agent answering an escalated problem…).
    #[error("not allowed: {0}")]
    Forbidden(String),
    /// A playbook file that cannot be used.
    #[error("playbook {source_name}: {reason}")]
    Playbook {
        /// The file (or "built-in").
        source_name: String,
        /// What is wrong, with the line when known.
        reason: String,
    },
    /// The file is not a Doorstep home database (another application's, or not SQLite).
    #[error("{path} is not a Doorstep database: {reason}")]
    NotADoorstepDatabase {
        /// The file.
        path: PathBuf,
        /// What gave it away.
        reason: String,
    },
    /// The home database is encrypted and the key given does not open it (or a key was given
    /// for a file that is not an encrypted Doorstep home).
    #[error("{path} cannot be opened with this key: wrong key, or not an encrypted Doorstep home")]
    WrongKey {
        /// The file.
        path: PathBuf,
    },
    /// A Doorstep home whose file is damaged (cut short, overwritten): SQLite reads it as
    /// malformed. Its documents may be recoverable from a backup or from the server.
    #[error("{path} is damaged: {reason}")]
    CorruptDatabase {
        /// The file.
        path: PathBuf,
        /// SQLite's verdict.
        reason: String,
    },
    /// The database was written by a newer Doorstep.
    #[error("database schema version {found} is newer than this build understands ({supported})")]
    SchemaTooNew {
        /// The version in the file.
        found: i64,
        /// The newest this build knows.
        supported: i64,
    },
    /// The home directory has not been initialised (no user bound to it).
    #[error("home {0} is not initialised: run `doorstep agent init` first")]
    NotInitialised(PathBuf),
    /// A stored or received Automerge document or sync message that does not decode.
    #[error("corrupt document {doc}: {reason}")]
    CorruptDocument {
        /// The document.
        doc: String,
        /// The decoder's message.
        reason: String,
    },
    /// SQLite failed (disk full, I/O error, locked, corrupt file…).
    #[error("storage: {0}")]
    Storage(#[from] rusqlite::Error),
    /// Automerge refused an operation.
    #[error("document: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl Error {
    /// Shorthand for a validation error.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// A short stable code for the error's kind, for JSON output and other languages.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidId { .. } | Error::Invalid { .. } => "invalid",
            Error::UnknownCustomer(_) | Error::NotFound { .. } => "not_found",
            Error::Forbidden(_) => "forbidden",
            Error::Playbook { .. } => "playbook",
            Error::NotADoorstepDatabase { .. } | Error::SchemaTooNew { .. } => "foreign_database",
            Error::WrongKey { .. } => "wrong_key",
            Error::NotInitialised(_) => "not_initialised",
            Error::CorruptDocument { .. } | Error::CorruptDatabase { .. } => "corrupt",
            Error::Storage(_) | Error::Io { .. } => "storage",
            Error::Automerge(_) => "document",
        }
    }
}

/// Results of client-core.
pub type Result<T, E = Error> = std::result::Result<T, E>;
