//! Where the PostgreSQL database is ([`PgTarget`]): the URL given on the command line
//! (`--database-url`), checked and given a connect timeout, described for the log without its
//! password. The server's other modules name the database through this type only: the
//! PostgreSQL client stays inside `store/postgres`.

use std::time::Duration;

use super::{PgOptions, PgStore};
use crate::error::{Error, Result};

/// How long a connection attempt may take unless the URL says (`connect_timeout=`).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A PostgreSQL database's connection settings.
#[derive(Clone, Debug)]
pub struct PgTarget {
    config: postgres::Config,
}

impl PgTarget {
    /// The database at `url` (`postgres://user:password@host:5432/database`, or PostgreSQL's
    /// `key=value` form). A URL that does not parse is refused without being repeated (it may
    /// hold a password).
    pub fn parse(url: &str) -> Result<PgTarget> {
        let config: postgres::Config = url.parse().map_err(|e: postgres::Error| {
            Error::invalid(
                "--database-url",
                format!("not a PostgreSQL URL (postgres://user@host:port/database): {e}"),
            )
        })?;
        Ok(PgTarget::from_config(config))
    }

    /// The database of parsed settings (given [`CONNECT_TIMEOUT`] unless they set one).
    pub fn from_config(mut config: postgres::Config) -> PgTarget {
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        PgTarget { config }
    }

    /// The connection settings.
    pub fn config(&self) -> &postgres::Config {
        &self.config
    }

    /// `host:port database name`, for the log (never the user or the password).
    pub fn describe(&self) -> String {
        let host = self
            .config
            .get_hosts()
            .first()
            .map(|h| match h {
                postgres::config::Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                postgres::config::Host::Unix(path) => path.display().to_string(),
            })
            .unwrap_or_default();
        format!(
            "{host}:{} database {}",
            self.config.get_ports().first().copied().unwrap_or(5432),
            self.config.get_dbname().unwrap_or("(default)")
        )
    }

    /// Connects, migrates the database to this build's schema, and opens the store.
    pub fn open(&self, options: PgOptions) -> Result<PgStore> {
        PgStore::open_config(self.config.clone(), options)
    }
}
