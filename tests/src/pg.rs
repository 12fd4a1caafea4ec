//! A PostgreSQL database of its own for one test or benchmark run, on the server at
//! `DOORSTEP_TEST_PG` (default `postgres://postgres@127.0.0.1:5432/postgres`: every machine
//! here, CI's too, runs one), dropped when the value is dropped — also when the test fails. A
//! PostgreSQL that cannot be reached fails the test: it is never skipped.

use postgres::{Client, NoTls};

const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database made for one test, dropped with the value.
pub struct TestDatabase {
    admin_url: String,
    name: String,
}

impl TestDatabase {
    /// Creates a database with a fresh random name.
    pub fn new() -> TestDatabase {
        let admin_url = std::env::var("DOORSTEP_TEST_PG").unwrap_or_else(|_| DEFAULT_PG.into());
        let mut admin = Client::connect(&admin_url, NoTls).unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {admin_url} ({e}): these tests need it \
                 (set DOORSTEP_TEST_PG to a server where the user may create databases)"
            )
        });
        let name = format!("doorstep_e2e_{}_{:08x}", std::process::id(), rand_suffix());
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("CREATE DATABASE");
        TestDatabase { admin_url, name }
    }

    /// The database's URL, for `doorstep serve --database-url` and `doorstep admin`.
    pub fn url(&self) -> String {
        let base = self
            .admin_url
            .rsplit_once('/')
            .map_or(self.admin_url.as_str(), |(b, _)| b);
        format!("{base}/{}", self.name)
    }
}

impl Default for TestDatabase {
    fn default() -> Self {
        TestDatabase::new()
    }
}

/// A few random bits without another dependency: the clock's nanoseconds and a counter.
fn rand_suffix() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    nanos ^ N.fetch_add(1, Ordering::Relaxed).wrapping_mul(0x9e37_79b9)
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match Client::connect(&self.admin_url, NoTls) {
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
