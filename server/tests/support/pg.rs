//! A PostgreSQL database of its own for one test, on the server at `DOORSTEP_TEST_PG`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`), dropped when the test ends, failed
//! or not. A PostgreSQL that cannot be reached fails the test: it is never skipped.

use doorstep_server::store::postgres::{PgDatabase, PgOptions, PgStore};
use postgres::NoTls;

pub const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database of its own for one test, dropped when the test ends (also when it fails).
pub struct TestDb {
    admin_url: String,
    name: String,
    /// The connection settings of the test's database.
    pub config: postgres::Config,
}

impl TestDb {
    pub fn new() -> TestDb {
        let admin_url = std::env::var("DOORSTEP_TEST_PG").unwrap_or_else(|_| DEFAULT_PG.into());
        let mut admin = postgres::Client::connect(&admin_url, NoTls).unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {admin_url} ({e}): these tests need it \
                 (set DOORSTEP_TEST_PG to a server where user may create databases)"
            )
        });
        let name = format!("doorstep_test_{}", uuid::Uuid::new_v4().simple());
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        let mut config: postgres::Config = admin_url.parse().unwrap();
        config.dbname(&name);
        TestDb {
            admin_url,
            name,
            config,
        }
    }

    pub fn open(&self) -> PgDatabase {
        PgDatabase::open_config(self.config.clone(), PgOptions::default()).unwrap()
    }

    pub fn open_with(&self, options: PgOptions) -> PgDatabase {
        PgDatabase::open_config(self.config.clone(), options).unwrap()
    }

    /// The database's URL (`postgres://…/doorstep_test_…`), for a `doorstep serve` process.
    pub fn url(&self) -> String {
        let base = self
            .admin_url
            .rsplit_once('/')
            .map(|(b, _)| b)
            .unwrap_or(&self.admin_url);
        format!("{base}/{}", self.name)
    }

    /// The server's whole store on this database.
    pub fn store(&self) -> PgStore {
        PgStore::open_config(self.config.clone(), PgOptions::default()).unwrap()
    }

    pub fn client(&self) -> postgres::Client {
        self.config.connect(NoTls).unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match postgres::Client::connect(&self.admin_url, NoTls) {
            Ok(mut admin) => {
                if let Err(e) = admin.batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                )) {
                    eprintln!("could not drop test database {}: {e}", self.name);
                }
            }
            Err(e) => eprintln!("could not drop test database {}: {e}", self.name),
        }
    }
}
