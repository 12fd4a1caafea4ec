//! Fuzzing the sync request decoder and the application of sync messages, in process against
//! a real store (the server's SQLite files and a phone's home in a temporary directory).
//!
//! Each case is one sync message: random bytes, or a real message (of a phone and the server
//! converging, or from the corpus in `tests/corpus/sync/`) with random edits — flipped bits,
//! bytes set, inserted, removed, a cut, a LEB128 number spliced in (huge counts, lengths and
//! bloom parameters) — or with bytes edited inside its change and document chunks only and
//! their checksums recomputed, which passes the wire check and reaches Automerge's decoders
//! (where it found panics: `hostile.rs::messages_that_make_automerge_panic_…`). It goes through the request decoder (`http::sync::parse`, as JSON, and
//! its JSON text mutated too), the server's `sync` (which must answer: a refusal is a
//! per-message rejection, never an error that would be a `5xx`, never a panic) and a phone's
//! receive (what a server could send). A refused message changes nothing on the server, and
//! every so often the honest phone syncs and must still converge with no refusal.
//!
//! A bounded run is part of the test suite: up to 10,000 cases, stopping after 10 s once 300
//! ran (the host's speed varies several-fold); a longer one, with no time limit:
//! `DOORSTEP_FUZZ_CASES=100000 cargo test -p doorstep-server --release --test hostile_fuzz -- --nocapture`.
//! `DOORSTEP_WRITE_CORPUS=1` rewrites the corpus's real and hostile seeds (`write_corpus`).

use client_core::wire::encode_uleb as leb;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use client_core::model::{CustomerPatch, NewCustomer, Role};
use client_core::protocol::{DocMessage, SyncRequest, PROTOCOL_VERSION};
use client_core::{DocId, Durability, Identity, Options, Store};
use doorstep_server::accounts::{Device, NewMember};
use doorstep_server::http::sync::parse;
use doorstep_server::store::{Accounts, Documents, SqliteStore};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use tempfile::TempDir;

/// Cases of the bounded run, unless its time runs out first.
const DEFAULT_CASES: u32 = 10_000;
/// The bounded run's time, once [`MIN_CASES`] ran.
const DEFAULT_TIME: Duration = Duration::from_secs(10);
/// The bounded run's cases whatever the time.
const MIN_CASES: u32 = 300;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/sync")
}

/// The corpus: every `*.bin` file, sorted by name.
fn corpus() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(corpus_dir())
        .expect("tests/corpus/sync exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

/// A server store with one agent's device, and that agent's phone holding a few customers,
/// synced.
struct World {
    _dir: TempDir,
    server: SqliteStore,
    device: Device,
    phone: Store,
    /// A second phone of the agent, on which the fuzzed messages land as if a hostile server
    /// sent them (it never syncs again: what it accepted does not matter, only that it
    /// answered).
    victim: Store,
    docs: Vec<DocId>,
    /// Real messages seen in both directions while converging.
    real: Vec<Vec<u8>>,
}

fn world() -> World {
    let dir = TempDir::new().unwrap();
    let server = SqliteStore::open(&dir.path().join("data")).unwrap();
    let team = "north".parse().unwrap();
    server.create_team(&team).unwrap();
    let user: client_core::UserId = "A-0001".parse().unwrap();
    server
        .add_member(NewMember {
            user: user.clone(),
            name: String::new(),
            role: Role::Agent,
            team,
            reports_to: None,
        })
        .unwrap();
    let issued = server.issue_device(&user).unwrap();
    let device = server.authenticate(&issued.token).unwrap().unwrap();
    let mut phone = home(&dir, "phone.db", &user);
    let ids: Vec<_> = (0..3)
        .map(|i| {
            phone
                .add_customer(NewCustomer {
                    name: format!("Customer {i}"),
                    agent: Some(user.clone()),
                    ..Default::default()
                })
                .unwrap()
                .id
        })
        .collect();
    let victim = home(&dir, "placeholder.db", &user);
    let mut w = World {
        _dir: dir,
        server,
        device,
        phone,
        victim,
        docs: ids.iter().map(|c| DocId::Customer(*c)).collect(),
        real: vec![],
    };
    w.real = converge(&mut w);
    w.phone
        .edit_customer(
            ids[0],
            CustomerPatch {
                notes: Some(Some("gate code 1234".into())),
                ..Default::default()
            },
        )
        .unwrap();
    let more = converge(&mut w);
    w.real.extend(more);
    // A second phone of the same agent gets the documents pushed whole (v2 messages).
    let issued = w.server.issue_device(&user).unwrap();
    let second = w.server.authenticate(&issued.token).unwrap().unwrap();
    let mut phone = home(&w._dir, "second.db", &user);
    let more = converge_phone(&w.server, &second, &mut phone);
    w.real.extend(more);
    w.victim = phone;
    w
}

fn home(dir: &TempDir, file: &str, user: &client_core::UserId) -> Store {
    Store::create(
        dir.path().join(file),
        Identity {
            user: user.clone(),
            role: Role::Agent,
        },
        Options {
            durability: Durability::Process,
            ..Options::default()
        },
    )
    .unwrap()
}

/// The honest phone syncs with the server until neither has anything to say; returns every
/// message exchanged. Panics on a refusal or without convergence.
fn converge(w: &mut World) -> Vec<Vec<u8>> {
    converge_phone(&w.server, &w.device, &mut w.phone)
}

fn converge_phone(server: &SqliteStore, device: &Device, phone: &mut Store) -> Vec<Vec<u8>> {
    let mut session = phone.start_sync("server");
    let mut seen = vec![];
    for _ in 0..20 {
        let out = phone.sync_outgoing(&mut session).unwrap();
        seen.extend(out.iter().map(|m| m.data.clone()));
        let req = SyncRequest {
            protocol: PROTOCOL_VERSION,
            actor: phone.actor_hex(),
            playbook: None,
            messages: out,
        };
        let resp = server.sync(device, &req).unwrap();
        assert!(resp.rejected.is_empty(), "{:?}", resp.rejected);
        for m in &resp.messages {
            seen.push(m.data.clone());
            phone
                .sync_receive(&mut session, m, &mut |_| Ok(()))
                .unwrap();
        }
        if resp.messages.is_empty() && !resp.more {
            return seen;
        }
    }
    panic!("the honest phone did not converge in 20 rounds");
}

/// One edit of a message's bytes (positions are taken modulo the length).
#[derive(Clone, Debug)]
enum Edit {
    Flip(usize, u8),
    Set(usize, u8),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
    Cut(usize),
    /// Replaces the byte at the position with a LEB128 number.
    Leb(usize, u64),
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let n = bytes.len();
        match e {
            Edit::Flip(p, b) if n > 0 => bytes[p % n] ^= 1 << (b % 8),
            Edit::Set(p, v) if n > 0 => bytes[p % n] = *v,
            Edit::Insert(p, v) => {
                let at = p % (n + 1);
                bytes.splice(at..at, v.iter().copied());
            }
            Edit::Remove(p, len) => {
                let at = p % (n + 1);
                bytes.drain(at..(at + len).min(n));
            }
            Edit::Cut(p) => bytes.truncate(p % (n + 1)),
            Edit::Leb(p, v) if n > 0 => {
                let at = p % n;
                bytes.splice(at..at + 1, leb(*v));
            }
            _ => {}
        }
    }
    bytes
}

fn edit() -> impl Strategy<Value = Edit> {
    let number = prop_oneof![
        Just(0u64),
        Just(1),
        Just(7),
        Just(10),
        Just(32),
        Just(1 << 28),
        Just(u64::from(u32::MAX)),
        Just(u64::MAX),
        any::<u64>(),
    ];
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Edit::Flip(p, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Edit::Set(p, b)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..40))
            .prop_map(|(p, v)| Edit::Insert(p, v)),
        (any::<usize>(), 1usize..64).prop_map(|(p, l)| Edit::Remove(p, l)),
        any::<usize>().prop_map(Edit::Cut),
        (any::<usize>(), number).prop_map(|(p, v)| Edit::Leb(p, v)),
    ]
}

/// Reads a LEB128 number at `*at` (no checks beyond the bytes' end).
fn read_leb(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for i in 0..10 {
        let b = *bytes.get(*at)?;
        *at += 1;
        v |= u64::from(b & 0x7f).checked_shl(7 * i)?;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The chunks in a message's change entries: (where the chunk starts, its data's range).
/// `None` for a message it cannot walk.
fn chunks_of(m: &[u8]) -> Option<Vec<(usize, std::ops::Range<usize>)>> {
    let mut at = 1;
    for _ in 0..2 {
        let n = read_leb(m, &mut at)?;
        at = at.checked_add(usize::try_from(n.checked_mul(32)?).ok()?)?;
    }
    let haves = read_leb(m, &mut at)?;
    for _ in 0..haves.min(16) {
        let n = read_leb(m, &mut at)?;
        at = at.checked_add(usize::try_from(n.checked_mul(32)?).ok()?)?;
        let len = read_leb(m, &mut at)?;
        at = at.checked_add(usize::try_from(len).ok()?)?;
    }
    let entries = read_leb(m, &mut at)?;
    let mut out = vec![];
    for _ in 0..entries.min(10_000) {
        let len = usize::try_from(read_leb(m, &mut at)?).ok()?;
        let end = at.checked_add(len)?.min(m.len());
        while at + 9 <= end {
            let start = at;
            let mut p = at + 9;
            let data_len = usize::try_from(read_leb(m, &mut p)?).ok()?;
            let data_end = p.checked_add(data_len)?;
            if data_end > end {
                return None;
            }
            out.push((start, p..data_end));
            at = data_end;
        }
        at = end;
    }
    Some(out)
}

/// Recomputes the checksum of every chunk in a message's change entries (Automerge's: the
/// first 4 bytes of SHA-256 over the type, the LEB128 length and the data), so that edited
/// chunks get past Automerge's checksum test and into its deeper decoding. Leaves a message
/// it cannot walk as it is.
fn fix_checksums(m: &mut [u8]) {
    use sha2::{Digest, Sha256};
    for (start, data) in chunks_of(m).unwrap_or_default() {
        let mut hasher = Sha256::new();
        hasher.update([m[start + 8]]);
        hasher.update(leb(data.len() as u64));
        hasher.update(&m[data]);
        let sum = hasher.finalize();
        m[start + 4..start + 8].copy_from_slice(&sum[..4]);
    }
}

/// Edits the bytes inside a message's chunks only (same length: the message keeps its
/// shape and passes the wire check), then fixes the checksums: what reaches Automerge's
/// change and document decoders. An edit sets a byte, flips a bit, or (`v >= 0xf0` and not
/// a flip) writes a 2- to 9-byte LEB128 number with every bit set over the bytes there: a
/// huge run length or count in a column.
fn edit_inside_chunks(mut m: Vec<u8>, edits: &[(usize, u8, bool)]) -> Vec<u8> {
    let ranges: Vec<usize> = chunks_of(&m)
        .unwrap_or_default()
        .into_iter()
        .flat_map(|(_, r)| r)
        .collect();
    if ranges.is_empty() {
        return m;
    }
    for (p, v, flip) in edits {
        let i = p % ranges.len();
        let at = ranges[i];
        if *flip {
            m[at] ^= 1 << (v % 8);
        } else if *v >= 0xf0 {
            // Consecutive positions inside one chunk only.
            let len = usize::from(v - 0xf0) % 8 + 2;
            let run = (i..ranges.len().min(i + len))
                .take_while(|&j| ranges[j] == at + (j - i))
                .count();
            for (k, j) in (i..i + run).enumerate() {
                m[ranges[j]] = if k + 1 == run { 0x3f } else { 0xff };
            }
        } else {
            m[at] = *v;
        }
    }
    fix_checksums(&mut m);
    m
}

/// Where a case's bytes come from.
#[derive(Clone, Debug)]
enum Source {
    /// A real or corpus message (index modulo their number), edited, and with its chunks'
    /// checksums recomputed or not.
    Seed(usize, Vec<Edit>, bool),
    /// A real or corpus message with bytes inside its chunks edited and checksums fixed.
    Deep(usize, Vec<(usize, u8, bool)>),
    /// Random bytes after a sync message's first byte.
    Raw(u8, Vec<u8>),
}

fn source() -> impl Strategy<Value = Source> {
    prop_oneof![
        4 => (any::<usize>(), prop::collection::vec(edit(), 1..6), any::<bool>())
            .prop_map(|(i, e, fix)| Source::Seed(i, e, fix)),
        4 => (any::<usize>(), prop::collection::vec((any::<usize>(), any::<u8>(), any::<bool>()), 1..8))
            .prop_map(|(i, e)| Source::Deep(i, e)),
        1 => (prop_oneof![Just(0x42u8), Just(0x43), any::<u8>()],
              prop::collection::vec(any::<u8>(), 0..200))
            .prop_map(|(b, v)| Source::Raw(b, v)),
    ]
}

/// What the fuzz saw.
#[derive(Debug, Default)]
struct Tally {
    cases: u32,
    accepted: u32,
    refused: u32,
    /// Cases where Automerge panicked (contained: refused `corrupt`), on the server or phone.
    automerge_panics: u32,
    slowest: Duration,
}

/// Runs one message through the decoder, the server and a phone; checks the invariants.
fn one_case(
    w: &mut World,
    doc: &DocId,
    data: &[u8],
    json_edits: &[Edit],
    tally: &mut Tally,
) -> Result<(), TestCaseError> {
    let started = Instant::now();
    // The request decoder: the message as JSON, and that JSON text edited.
    let body = format!(
        r#"{{"protocol":1,"actor":"{}","messages":[{{"doc":"{doc}","data":"{}"}}]}}"#,
        w.phone.actor_hex(),
        STANDARD.encode(data)
    );
    let req = parse(body.as_bytes(), false).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&req.messages[0].data[..], data);
    let mangled = apply(body.into_bytes(), json_edits);
    if let Err(e) = parse(&mangled, false) {
        prop_assert!(
            ["malformed", "too_large"].contains(&e.code()),
            "the decoder answered {} ({e})",
            e.code()
        );
    }
    prop_assert_eq!(parse(data, true).unwrap_err().code(), "malformed");

    // The server: an answer, never an error; a refusal changes nothing.
    let before = w.server.change_seq().unwrap();
    let resp = w
        .server
        .sync(&w.device, &req)
        .map_err(|e| TestCaseError::fail(format!("the server failed ({}): {e}", e.code())))?;
    if let Some(r) = resp.rejected.iter().find(|r| &r.doc == doc) {
        tally.refused += 1;
        tally.automerge_panics += u32::from(r.message.contains("Automerge failed"));
        prop_assert_eq!(w.server.change_seq().unwrap(), before);
    } else {
        tally.accepted += 1;
    }

    // A phone receiving it (as if from a hostile server): applied or refused per document.
    let mut session = w.victim.start_sync("fuzz");
    let msg = DocMessage {
        doc: doc.clone(),
        data: data.to_vec(),
    };
    if let Err(e) = w.victim.sync_receive(&mut session, &msg, &mut |_| Ok(())) {
        tally.automerge_panics += u32::from(e.to_string().contains("Automerge failed"));
        prop_assert!(
            ["corrupt", "invalid", "document"].contains(&e.code()),
            "the phone failed with {} ({e})",
            e.code()
        );
    }
    tally.cases += 1;
    tally.slowest = tally.slowest.max(started.elapsed());
    Ok(())
}

#[test]
fn the_corpus_replays_without_a_failure() {
    let mut w = world();
    let mut tally = Tally::default();
    let corpus = corpus();
    assert!(corpus.len() >= 10, "{} corpus files", corpus.len());
    for (name, data) in &corpus {
        for doc in w.docs.clone() {
            one_case(&mut w, &doc, data, &[], &mut tally)
                .unwrap_or_else(|e| panic!("{name} on {doc}: {e}"));
        }
    }
    assert!(tally.refused > 0 && tally.accepted > 0, "{tally:?}");
    converge(&mut w);
}

#[test]
fn fuzzed_messages_never_fail_the_server_or_the_phone() {
    let asked: Option<u32> = std::env::var("DOORSTEP_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok());
    let cases = asked.unwrap_or(DEFAULT_CASES);
    let time_limit = asked.is_none().then_some(DEFAULT_TIME);
    let w = world();
    let mut seeds: Vec<Vec<u8>> = w.real.clone();
    seeds.extend(corpus().into_iter().map(|(_, d)| d));
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let started = Instant::now();
    // The runner takes a `Fn`: the world and the tally are borrowed per case.
    let cell = std::cell::RefCell::new((w, Tally::default()));
    let strategy = (
        source(),
        any::<usize>(),
        prop::collection::vec(edit(), 1..3),
    );
    let result = runner.run(&strategy, |(src, doc, json_edits)| {
        let (w, tally) = &mut *cell.borrow_mut();
        if time_limit.is_some_and(|t| tally.cases >= MIN_CASES && started.elapsed() > t) {
            return Ok(());
        }
        let data = match &src {
            Source::Seed(i, edits, fix) => {
                let mut m = apply(seeds[i % seeds.len()].clone(), edits);
                if *fix {
                    fix_checksums(&mut m);
                }
                m
            }
            Source::Deep(i, edits) => edit_inside_chunks(seeds[i % seeds.len()].clone(), edits),
            Source::Raw(first, rest) => {
                let mut v = vec![*first];
                v.extend_from_slice(rest);
                v
            }
        };
        let doc = w.docs[doc % w.docs.len()].clone();
        one_case(w, &doc, &data, &json_edits, tally)?;
        if tally.cases % 250 == 0 {
            converge(w);
        }
        Ok(())
    });
    let elapsed = started.elapsed();
    let (w, tally) = cell.into_inner();
    eprintln!(
        "fuzz: {} cases in {:.1} s ({} accepted, {} refused; Automerge panicked, contained, {} \
         times), slowest case {} ms",
        tally.cases,
        elapsed.as_secs_f64(),
        tally.accepted,
        tally.refused,
        tally.automerge_panics,
        tally.slowest.as_millis()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(tally.refused > 0 && tally.accepted > 0, "{tally:?}");
    let mut w = w;
    converge(&mut w);
}

/// `DOORSTEP_WRITE_CORPUS=1`: rewrites the corpus's seeds — real messages of a phone and the
/// server converging (first messages with heads and bloom filters, changes, the server's
/// whole-document v2 message) and the hostile ones of issue 10.
#[test]
fn write_corpus() {
    if std::env::var_os("DOORSTEP_WRITE_CORPUS").is_none() {
        return;
    }
    let w = world();
    let dir = corpus_dir();
    std::fs::create_dir_all(&dir).unwrap();
    for (i, m) in w.real.iter().enumerate() {
        std::fs::write(dir.join(format!("real-{i:02}.bin")), m).unwrap();
    }
    for (name, m) in hostile_seeds() {
        std::fs::write(dir.join(format!("hostile-{name}.bin")), m).unwrap();
    }
}

/// `0x42`, no heads, no need, one have without last-sync hashes and with `bloom`, no changes.
fn with_bloom(bloom: &[u8]) -> Vec<u8> {
    let mut m = vec![0x42, 0, 0, 1, 0];
    m.extend(leb(bloom.len() as u64));
    m.extend_from_slice(bloom);
    m.push(0);
    m
}

fn hostile_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let chunk = |kind: u8, body: &[u8]| {
        let mut c = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, kind];
        c.extend(leb(body.len() as u64));
        c.extend_from_slice(body);
        c
    };
    let in_message = |c: Vec<u8>| {
        let mut m = vec![0x42, 0, 0, 0, 1];
        m.extend(leb(c.len() as u64));
        m.extend(c);
        m
    };
    vec![
        (
            "probes-2p28",
            with_bloom(&[1, 1, 0x80, 0x80, 0x80, 0x80, 0x01, 0]),
        ),
        (
            "probes-u32-max",
            with_bloom(&[1, 10, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0]),
        ),
        ("bits-per-entry-0", with_bloom(&[1, 0, 7])),
        (
            "bloom-entries-without-bits",
            with_bloom(&[0xff, 0xff, 0x3f, 10, 7]),
        ),
        ("two-haves", vec![0x42, 0, 0, 2, 0, 0, 0, 0, 0]),
        ("heads-2p60", {
            let mut m = vec![0x42];
            m.extend(leb(1 << 60));
            m
        }),
        ("compressed-change", in_message(chunk(2, &[0x63, 0, 0]))),
        ("bundle-chunk", in_message(chunk(3, &[0]))),
        ("change-chunk-garbage", in_message(chunk(1, &[0xff; 40]))),
        ("document-chunk-garbage", in_message(chunk(0, &[0x01; 40]))),
        ("trailing-after-flags", vec![0x42, 0, 0, 0, 0, 1, 2, 9]),
    ]
}
