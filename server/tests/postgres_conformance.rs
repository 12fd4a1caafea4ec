//! The store conformance suite (`doorstep_server::store::conformance`) run against the
//! PostgreSQL store, each check on a database of its own on the real PostgreSQL at
//! `DOORSTEP_TEST_PG` (dropped when the check ends). The same checks as the SQLite store's
//! `store_conformance.rs`: one suite, every store.

mod support;

use doorstep_server::store::postgres::{PgOptions, PgStore};

doorstep_server::store_conformance!(guarded |_dir: &std::path::Path| {
    let db = support::pg::TestDb::new();
    let store = PgStore::open_config(db.config.clone(), PgOptions::default()).unwrap();
    (db, store)
});
