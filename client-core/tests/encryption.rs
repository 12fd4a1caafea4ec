//! Encryption at rest: a home created with a `DatabaseKey` is a SQLCipher file that shows
//! neither SQLite's header nor its records' text, opens with its key only, and refuses a
//! wrong key with a typed error (the ffi's `WrongKey`), never a crash or a silent plain file.

use client_core::model::{CustomerStatus, NewCustomer, Role};
use client_core::{DatabaseKey, Error, Identity, Options, Store};
use tempfile::TempDir;

const NAME: &str = "Zhang Secretname";

fn options(key: Option<[u8; 32]>) -> Options {
    Options {
        key: key.map(|k| DatabaseKey::from_bytes(&k).unwrap()),
        ..Options::default()
    }
}

fn home(dir: &TempDir, file: &str, key: Option<[u8; 32]>) -> std::path::PathBuf {
    let path = dir.path().join(file);
    let identity = Identity {
        user: "A-0001".parse().unwrap(),
        role: Role::Agent,
    };
    let mut s = Store::create(&path, identity, options(key)).unwrap();
    s.add_customer(NewCustomer {
        name: NAME.into(),
        status: CustomerStatus::Closed,
        ..NewCustomer::default()
    })
    .unwrap();
    path
}

/// Every byte of the database and its side files (WAL, shared memory).
fn bytes_of(path: &std::path::Path) -> Vec<u8> {
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let mut all = vec![];
    for e in std::fs::read_dir(path.parent().unwrap()).unwrap() {
        let e = e.unwrap();
        if e.file_name().to_string_lossy().starts_with(&name) {
            all.extend(std::fs::read(e.path()).unwrap());
        }
    }
    all
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn an_encrypted_home_hides_its_records_and_opens_with_its_key_only() {
    let dir = TempDir::new().unwrap();
    let key = [7u8; 32];
    let enc = home(&dir, "enc.db", Some(key));
    let plain = home(&dir, "plain.db", None);

    // The control shows what the check would catch.
    assert!(std::fs::read(&plain)
        .unwrap()
        .starts_with(b"SQLite format 3\0"));
    assert!(contains(&bytes_of(&plain), NAME.as_bytes()));
    assert!(!std::fs::read(&enc)
        .unwrap()
        .starts_with(b"SQLite format 3\0"));
    assert!(!contains(&bytes_of(&enc), NAME.as_bytes()));

    let err = Store::open(&enc, options(None))
        .err()
        .expect("opened without its key");
    assert!(matches!(err, Error::NotADoorstepDatabase { .. }), "{err:?}");
    let err = Store::open(&enc, options(Some([8u8; 32])))
        .err()
        .expect("opened with a wrong key");
    assert!(matches!(err, Error::WrongKey { .. }), "{err:?}");
    assert_eq!(err.code(), "wrong_key");
    let err = Store::open(&plain, options(Some(key)))
        .err()
        .expect("a plain home opened with a key");
    assert!(matches!(err, Error::WrongKey { .. }), "{err:?}");

    let s = Store::open(&enc, options(Some(key))).unwrap();
    let names: Vec<String> = s.customers().unwrap().into_iter().map(|c| c.name).collect();
    assert_eq!(names, [NAME]);
}

#[test]
fn a_key_must_be_32_bytes_and_never_shows_in_debug_output() {
    assert!(DatabaseKey::from_bytes(&[1; 16]).is_err());
    let k = DatabaseKey::from_bytes(&[0xAB; 32]).unwrap();
    let shown = format!("{:?}", options(Some([0xAB; 32])));
    assert!(
        !shown.contains("171") && !shown.to_lowercase().contains("abab"),
        "{shown}"
    );
    assert_eq!(format!("{k:?}"), "DatabaseKey(..)");
}
