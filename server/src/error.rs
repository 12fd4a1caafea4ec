//! The server crate's error type, mapped once at each boundary.
//!
//! One enum for the whole crate: the command line maps it to a message (or a JSON object with
//! `--json`) and an exit status (`Error::exit_code`); the HTTP layer maps it to a status and the
//! JSON body `{"error": {"code", "message"}}` in one place (`http::error`). The variants say
//! what a caller can act on (a bad token, a revoked device, a request too large); storage
//! failures stay detailed here for the logs and are hidden behind a plain 500 over HTTP.

use serde::Serialize;

/// Everything the `doorstep` binary and the server can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// client-core refused or failed.
    #[error(transparent)]
    Core(#[from] client_core::Error),
    /// An argument that does not parse (a date, an amount, a time).
    #[error("invalid {what}: {value:?} ({expected})")]
    Argument {
        /// Which argument.
        what: &'static str,
        /// What was given.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The server's own tables (accounts, devices, logs) failed.
    #[error("server database: {0}")]
    Database(#[from] rusqlite::Error),
    /// The PostgreSQL store's database failed (a query, a lost connection, a deadlock that
    /// outlived its retries).
    #[error("postgresql: {0}")]
    Postgres(#[from] postgres::Error),
    /// No PostgreSQL connection could be had from the pool in time.
    #[error("postgresql pool: {0}")]
    Pool(#[from] r2d2::Error),
    /// The PostgreSQL schema's migrations failed (or the database is newer than this build).
    #[error("postgresql migrations: {0}")]
    Migration(#[from] refinery::Error),
    /// A team, user or device that does not exist (or that the caller may not know about).
    #[error("unknown {what} {id}")]
    NotFound {
        /// What was looked for.
        what: &'static str,
        /// Its identifier.
        id: String,
    },
    /// Something that exists already (a team, a user).
    #[error("{what} {id} exists already")]
    Exists {
        /// What.
        what: &'static str,
        /// Its identifier.
        id: String,
    },
    /// A request or an import that breaks a rule of the server (a user in no team, an agent
    /// of another team in an import).
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field or line at fault.
        field: String,
        /// Why.
        reason: String,
    },
    /// No device token, or one the server does not know.
    #[error("missing or unknown device token")]
    Unauthorized,
    /// A dashboard login with a wrong user, password or link.
    #[error("wrong user or password, or a used or expired login link")]
    LoginFailed,
    /// Too many failed logins for this account or from this address: wait and try again.
    #[error("too many failed logins: try again in {retry_after_secs} s")]
    TooManyAttempts {
        /// Seconds until the next attempt is heard.
        retry_after_secs: u64,
    },
    /// The server is at its limit for this kind of work (password checks): try again soon.
    #[error("the server is busy: try again in {retry_after_secs} s")]
    Busy {
        /// Seconds to wait.
        retry_after_secs: u64,
    },
    /// The database does not answer (`GET /ready`): a load balancer should send the request
    /// elsewhere. The cause is logged, not told.
    #[error("not ready: the database does not answer")]
    NotReady,
    /// The device's token was revoked: it must wipe its local data.
    #[error("this device was revoked: wipe its local data")]
    Revoked,
    /// The request's actor is not the one bound to the device's token.
    #[error("actor {given} is not the actor bound to this device")]
    ActorMismatch {
        /// The actor the request named.
        given: String,
    },
    /// The caller's role may not use this endpoint.
    #[error("not allowed: {0}")]
    Forbidden(String),
    /// A protocol version this server does not speak.
    #[error("protocol version {0} is not supported (this server speaks {supported})", supported = client_core::protocol::PROTOCOL_VERSION)]
    UnsupportedProtocol(u32),
    /// A body that does not decode (bad JSON, bad base64, a bad document id, bad gzip).
    #[error("malformed request: {0}")]
    Malformed(String),
    /// A body over the size limit (before or after decompression).
    #[error("request too large: {0}")]
    TooLarge(String),
    /// A content type or content encoding the endpoint does not accept.
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    /// An import plan written after another import changed what it was planned from (a
    /// customer key it creates, or a policy number it creates, exists now): nothing was
    /// written; plan it again (`matching::import_policies` does, a few times).
    #[error("stale import plan: {0}")]
    StaleImport(String),
    /// A bug or a failure nobody outside can act on (a panicked task).
    #[error("internal: {0}")]
    Internal(String),
    /// The device's sync with its server failed (`doorstep agent login`, `sync`); the code
    /// is client-sync's (`network`, `unauthorized`, `revoked`, `not_logged_in`, …).
    #[error(transparent)]
    Sync(#[from] client_sync::SyncError),
}

/// The JSON body of an error, as printed with `--json` and answered over HTTP.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    /// A stable code (`invalid`, `not_found`, `storage`, …).
    pub code: &'static str,
    /// A sentence for people.
    pub message: String,
}

impl Error {
    /// Shorthand for a validation error.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for an unknown object.
    pub fn not_found(what: &'static str, id: impl ToString) -> Self {
        Error::NotFound {
            what,
            id: id.to_string(),
        }
    }

    /// The stable code of the error's kind.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Core(e) => e.code(),
            Error::Argument { .. } | Error::Invalid { .. } => "invalid",
            Error::Io { .. }
            | Error::Database(_)
            | Error::Postgres(_)
            | Error::Pool(_)
            | Error::Migration(_) => "storage",
            Error::NotFound { .. } => "not_found",
            Error::Exists { .. } => "exists",
            Error::Unauthorized | Error::LoginFailed => "unauthorized",
            Error::Revoked => "revoked",
            Error::TooManyAttempts { .. } => "too_many_attempts",
            Error::Busy { .. } => "busy",
            Error::NotReady => "not_ready",
            Error::ActorMismatch { .. } => "actor_mismatch",
            Error::Forbidden(_) => "forbidden",
            Error::UnsupportedProtocol(_) => "unsupported_protocol",
            Error::Malformed(_) => "malformed",
            Error::TooLarge(_) => "too_large",
            Error::UnsupportedMediaType(_) => "unsupported_media_type",
            Error::StaleImport(_) => "stale_import",
            Error::Internal(_) => "internal",
            Error::Sync(e) => e.code(),
        }
    }

    /// The process exit status for this error: 2 for bad input, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self.code() {
            "invalid" | "not_found" | "forbidden" | "playbook" | "exists" | "malformed" => 2,
            _ => 1,
        }
    }

    /// Seconds the caller should wait before trying again (`Retry-After`), if any.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Error::TooManyAttempts { retry_after_secs } | Error::Busy { retry_after_secs } => {
                Some(*retry_after_secs)
            }
            _ => None,
        }
    }

    /// The error as a JSON body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code(),
            message: self.to_string(),
        }
    }
}

/// Results of the server crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
