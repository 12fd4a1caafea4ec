//! A hostile peer cannot hurt a home through sync messages (issue 10 §2): a message with a
//! bloom filter Automerge would choke on is refused `corrupt` before Automerge sees it, and a
//! panic inside Automerge — while receiving a message or answering one — is contained to that
//! document: refused `corrupt`, with the document, its cache and the sync state untouched and
//! the next message working. The same code serves the phone and the server.

use automerge::sync::{self, BloomFilter, Have};
use client_core::model::{NewCustomer, Role};
use client_core::wire::encode_uleb as leb;
use client_core::{DocId, Identity, Options, Store};
use tempfile::TempDir;

fn home(dir: &TempDir, name: &str) -> Store {
    Store::create(
        dir.path().join(format!("{name}.db")),
        Identity {
            user: name.parse().unwrap(),
            role: Role::Agent,
        },
        Options::default(),
    )
    .unwrap()
}

/// A home holding one customer, and that customer's document id.
fn with_customer(dir: &TempDir, name: &str) -> (Store, DocId) {
    let mut s = home(dir, name);
    let c = s
        .add_customer(NewCustomer {
            name: "Mrs Tan".into(),
            agent: Some(name.parse().unwrap()),
            ..Default::default()
        })
        .unwrap();
    (s, DocId::Customer(c.id))
}

#[test]
fn a_panic_while_receiving_is_refused_corrupt_and_the_same_message_applies_later() {
    let dir = TempDir::new().unwrap();
    let (mut a, doc) = with_customer(&dir, "A-0001");
    let mut b = home(&dir, "A-0002");
    let (mut sa, mut sb) = (sync::State::new(), sync::State::new());
    let first = a.generate_sync_message(&doc, &mut sa).unwrap().unwrap();
    b.receive_sync_message(&doc, &mut sb, &first).unwrap();
    let reply = b.generate_sync_message(&doc, &mut sb).unwrap().unwrap();
    a.receive_sync_message(&doc, &mut sa, &reply).unwrap();
    let changes = a.generate_sync_message(&doc, &mut sa).unwrap().unwrap();

    let state_before = sb.clone();
    let err = b
        .receive_sync_message_verified(&doc, &mut sb, &changes, &mut |_| {
            panic!("a bug deep inside the merge")
        })
        .unwrap_err();
    assert_eq!(err.code(), "corrupt");
    assert!(
        err.to_string().contains("a bug deep inside the merge"),
        "{err}"
    );
    assert_eq!(sb.shared_heads, state_before.shared_heads);
    assert!(b.customers().unwrap().is_empty());
    assert!(b.heads(&doc).unwrap().is_empty());

    // The same message, without the panic, applies.
    b.receive_sync_message(&doc, &mut sb, &changes).unwrap();
    assert_eq!(b.customers().unwrap().len(), 1);
    assert_eq!(b.heads(&doc).unwrap(), a.heads(&doc).unwrap());
}

#[test]
fn a_panic_while_answering_is_refused_corrupt_and_leaves_the_document_usable() {
    let dir = TempDir::new().unwrap();
    let (mut a, doc) = with_customer(&dir, "A-0001");
    // What a peer's `have` with 0 bits per entry leaves in the sync state if it ever got past
    // the check: Automerge divides by zero while answering.
    let mut hostile = sync::State::new();
    hostile.their_heads = Some(vec![]);
    hostile.their_need = Some(vec![]);
    hostile.their_have = Some(vec![Have {
        last_sync: vec![],
        bloom: BloomFilter::try_from(&[1u8, 0, 7][..]).unwrap(),
    }]);
    let err = a.generate_sync_message(&doc, &mut hostile).unwrap_err();
    assert_eq!(err.code(), "corrupt");
    assert!(err.to_string().contains("Automerge failed"), "{err}");

    // The document is intact and answers an honest peer.
    assert_eq!(a.customers().unwrap().len(), 1);
    let mut honest = sync::State::new();
    assert!(a
        .generate_sync_message(&doc, &mut honest)
        .unwrap()
        .is_some());
}

#[test]
fn a_home_refuses_hostile_bloom_filters_before_automerge_sees_them() {
    let dir = TempDir::new().unwrap();
    let (mut a, doc) = with_customer(&dir, "A-0001");
    let heads = a.heads(&doc).unwrap();
    for (bloom, why) in [
        (vec![1u8, 0, 7], "0 bits per entry"),
        (
            vec![1, 1, 0x80, 0x80, 0x80, 0x80, 0x01, 0],
            "268435456 probes",
        ),
    ] {
        let mut m = vec![0x42, 0, 0, 1, 0, bloom.len() as u8];
        m.extend(bloom);
        m.push(0);
        let mut st = sync::State::new();
        let err = a.receive_sync_message(&doc, &mut st, &m).unwrap_err();
        assert_eq!(err.code(), "corrupt");
        assert!(err.to_string().contains(why), "{err}");
        assert!(st.their_have.is_none());
        // Had it been received, answering would have divided by zero or spun.
        assert!(a.generate_sync_message(&doc, &mut st).unwrap().is_some());
    }
    assert_eq!(a.heads(&doc).unwrap(), heads);
}

/// The largest inputs the check reads are refused in bounded time (figures for
/// docs/security.md: `cargo test -p doorstep-client-core --test hostile -- --nocapture`).
#[test]
fn the_largest_hostile_inputs_are_refused_in_bounded_time() {
    use std::io::Write;
    use std::time::{Duration, Instant};

    use client_core::wire::{check_sync_message, MAX_CHUNKS, MAX_INFLATED_BYTES};

    let doc: DocId = "day:A-0001:2026-06-15".parse().unwrap();
    let mut cases: Vec<(&str, Vec<u8>)> = vec![];
    // The 15-byte message: 2^28 probes.
    cases.push((
        "2^28 probes (15 bytes)",
        vec![
            0x42, 0, 0, 1, 0, 8, 1, 1, 0x80, 0x80, 0x80, 0x80, 0x01, 0, 0,
        ],
    ));
    cases.push(("0 bits per entry", vec![0x42, 0, 0, 1, 0, 3, 1, 0, 7, 0]));
    // 100,000 empty change chunks (the most the check reads one by one), then garbage.
    let chunk = [0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 1, 0];
    let mut m = vec![0x42, 0, 0, 0];
    m.extend(leb(MAX_CHUNKS));
    for _ in 0..MAX_CHUNKS {
        m.push(chunk.len() as u8);
        m.extend(chunk);
    }
    m.extend([1, 2, 9]);
    cases.push(("100,000 chunks then a trailing byte", m));
    // A whole document whose compressed column inflates past the bound (64 MiB + 1 MiB).
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..(MAX_INFLATED_BYTES >> 20) + 1 {
        enc.write_all(&zeros).unwrap();
    }
    let column = enc.finish().unwrap();
    let mut body = vec![0, 0, 1, 0b1000];
    body.extend(leb(column.len() as u64));
    body.push(0);
    body.extend(&column);
    let mut chunk = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 0];
    chunk.extend(leb(body.len() as u64));
    chunk.extend(body);
    let mut m = vec![0x43, 0, 0, 0, 1];
    m.extend(leb(chunk.len() as u64));
    m.extend(chunk);
    cases.push(("a document column inflating to 65 MiB", m));
    // A 16 MiB message of 4,096 heads, 4,096 needs and a 2^20-entry bloom filter with 8
    // probes, padded to the limit.
    let mut m = vec![0x42];
    for _ in 0..2 {
        m.extend(leb(4_096));
        m.extend(vec![7u8; 4_096 * 32]);
    }
    m.extend([1, 0]);
    let mut bloom = leb(1 << 20);
    bloom.extend([10, 8]);
    bloom.extend(vec![0u8; (1 << 20) * 10 / 8]);
    m.extend(leb(bloom.len() as u64));
    m.extend(bloom);
    m.push(0);
    m.resize(16 << 20, 0);
    cases.push((
        "16 MiB: 4,096 heads and needs, a 2^20-entry bloom filter",
        m,
    ));

    for (what, m) in &cases {
        let started = Instant::now();
        let err = check_sync_message(&doc, m).unwrap_err();
        let took = started.elapsed();
        eprintln!("refused in {took:?}: {what} ({} bytes): {err}", m.len());
        assert_eq!(err.code(), "corrupt");
        assert!(took < Duration::from_secs(2), "{what}: {took:?}");
    }
}
