//! The store's document cache: bounded by its estimate of the documents' memory, an evicted
//! document reloads identical, and eviction changes nothing on disk. The estimate itself
//! (`client_core::store::loaded_size`) is checked against the heap a counting allocator sees
//! when the store loads customer documents like the benchmarks' (a card and visits).
//!
//! One test binary of its own: the counting allocator counts every thread, so the measuring
//! test holds `SERIAL` and the others too.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, Duration, FixedOffset};
use client_core::model::{NewCustomer, NewVisit, Outcome, Role};
use client_core::store::loaded_size;
use client_core::{CustomerId, DocId, Identity, Options, Store};
use tempfile::TempDir;

/// The system allocator, counting the bytes live on the heap.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static SERIAL: Mutex<()> = Mutex::new(());

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn t(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

fn home(dir: &TempDir, cache_bytes: usize) -> Store {
    let path = dir.path().join("home.db");
    let opts = Options {
        cache_bytes,
        ..Options::default()
    };
    let mut s = if path.exists() {
        Store::open(&path, opts).unwrap()
    } else {
        Store::create(
            &path,
            Identity {
                user: "agent-1".parse().unwrap(),
                role: Role::Agent,
            },
            opts,
        )
        .unwrap()
    };
    s.set_clock(Box::new(|| t("2026-06-16T18:00:00+08:00")));
    s
}

fn visit(n: i64) -> NewVisit {
    let end = t("2026-06-16T17:00:00+08:00") - Duration::minutes(40 * n);
    NewVisit {
        kind: "sales".into(),
        purposes: vec!["needs_discovery".into()],
        outcome: Some(Outcome {
            code: "appointment".into(),
            amount_cents: None,
            date: None,
            detail: None,
        }),
        policies: vec![],
        start: end - Duration::minutes(30),
        end,
        location: None,
        notes: format!("visit {n}, talked about the renewal and the children's plan"),
    }
}

/// `n` customers with `visits` visits each, as the benchmarks write them.
fn fill(s: &mut Store, n: usize, visits: i64) -> Vec<CustomerId> {
    (0..n)
        .map(|j| {
            let c = s
                .add_customer(NewCustomer {
                    name: format!("Customer {j}"),
                    phones: vec![format!("1380000{j:04}")],
                    postcode: Some(format!("2000{:02}", j % 40)),
                    ..Default::default()
                })
                .unwrap()
                .id;
            for v in 0..visits {
                s.record_visit(c, visit(v)).unwrap();
            }
            c
        })
        .collect()
}

/// Loads every customer's document into a fresh store's cache; returns the live heap it
/// added, the cache's estimate, and the documents' saved bytes.
fn measure(dir: &TempDir, ids: &[CustomerId]) -> (isize, usize, i64) {
    let mut s = home(dir, 1 << 30);
    let heads: Vec<_> = ids
        .iter()
        .map(|c| s.heads(&DocId::Customer(*c)).unwrap())
        .collect();
    let before = LIVE.load(Ordering::Relaxed);
    for (c, h) in ids.iter().zip(&heads) {
        // Loads the document into the cache and returns nothing (no change after its heads).
        assert!(s.changes_since(&DocId::Customer(*c), h).unwrap().is_empty());
    }
    let heap = LIVE.load(Ordering::Relaxed) - before;
    let usage = s.cache_usage();
    assert_eq!(usage.documents, ids.len());
    let (_, _, saved) = s.storage_stats().unwrap();
    (heap, usage.bytes, saved)
}

#[test]
fn the_estimate_of_a_loaded_document_follows_its_measured_heap() {
    let _g = serial();
    for (docs, visits, compact) in [
        (200, 3, false),
        (200, 3, true),
        (50, 30, false),
        (50, 30, true),
    ] {
        let dir = TempDir::new().unwrap();
        let ids = {
            let mut s = home(&dir, 1 << 30);
            let ids = fill(&mut s, docs, visits);
            if compact {
                for c in &ids {
                    s.compact(&DocId::Customer(*c)).unwrap();
                }
            }
            ids
        };
        let (heap, estimate, saved) = measure(&dir, &ids);
        let n = ids.len() as f64;
        println!(
            "{visits} visits, compacted {compact}: saved {:.0} B/doc, heap {:.0} B/doc \
             ({:.1}× saved), estimate {:.0} B/doc",
            saved as f64 / n,
            heap as f64 / n,
            heap as f64 / saved as f64,
            estimate as f64 / n,
        );
        // The bound is only as good as the estimate: within a factor of two of the heap.
        let ratio = estimate as f64 / heap as f64;
        assert!(
            (0.5..=2.0).contains(&ratio),
            "{visits} visits, compacted {compact}: estimate {estimate} B, heap {heap} B"
        );
        // The cache adds up `loaded_size` of each document's saved bytes.
        let summed = ids.len() * loaded_size(saved as usize / ids.len());
        assert!(
            estimate.abs_diff(summed) <= 10 * ids.len(),
            "{estimate} vs {summed}"
        );
    }
}

#[test]
fn the_cache_never_holds_more_than_its_bound() {
    let _g = serial();
    let dir = TempDir::new().unwrap();
    let bound = 40 * loaded_size(2_000);
    let mut s = home(&dir, bound);
    for j in 0..300 {
        let c = fill(&mut s, 1, 0)[0];
        s.record_visit(c, visit(j % 5)).unwrap();
        let u = s.cache_usage();
        assert!(u.bytes <= bound, "{u:?} after {j} customers");
        assert_eq!(u.limit, bound);
    }
    let u = s.cache_usage();
    assert!(u.documents > 0 && u.documents < 300, "{u:?}");
    // A smaller bound evicts at once.
    s.set_cache_bytes(bound / 4);
    assert!(s.cache_usage().bytes <= bound / 4);
}

#[test]
fn an_evicted_document_reloads_identical_and_eviction_loses_nothing() {
    let _g = serial();
    let dir = TempDir::new().unwrap();
    let (first, saved, view, visits) = {
        let mut s = home(&dir, 1 << 30);
        let ids = fill(&mut s, 50, 3);
        let first = ids[0];
        let doc = DocId::Customer(first);
        let saved = s.save_document(&doc).unwrap().unwrap();
        let view = s.customer_view(first).unwrap();
        // Nothing fits any more: every document goes.
        s.set_cache_bytes(0);
        assert_eq!(s.cache_usage().documents, 0);
        assert_eq!(s.save_document(&doc).unwrap().unwrap(), saved);
        assert_eq!(s.cache_usage().documents, 0, "a bound of 0 keeps nothing");
        // Writing to an evicted document loads it from disk and appends to it.
        s.record_visit(first, visit(4)).unwrap();
        let visits = s.visits_of(first).unwrap();
        assert_eq!(visits.len(), 4);
        for c in &ids[1..] {
            assert_eq!(s.visits_of(*c).unwrap().len(), 3);
        }
        (first, saved, view, visits)
    };
    // Reopened: the write made while nothing was cached is on disk, and the old history is
    // still a prefix of the document.
    let mut s = home(&dir, 1 << 20);
    assert_eq!(s.visits_of(first).unwrap(), visits);
    let now = s.save_document(&DocId::Customer(first)).unwrap().unwrap();
    assert_ne!(now, saved);
    let mut old = automerge::AutoCommit::load(&saved).unwrap();
    let mut new = automerge::AutoCommit::load(&now).unwrap();
    for h in old.get_heads() {
        assert!(new.get_change_by_hash(&h).is_some());
    }
    assert_eq!(s.customer_view(first).unwrap().customer, view.customer);
}
