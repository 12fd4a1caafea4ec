//! The store's loaded documents, bounded by an estimate of the memory they take.
//!
//! Loading a document (reading its chunks, `AutoCommit::load`) is the costliest step of a
//! write or a sync message, so the store keeps documents loaded between calls. A bound in
//! documents says nothing about memory (a customer's document ranges from a few KiB to
//! megabytes once loaded), and evicting an arbitrary document reloads the busiest ones: this
//! cache is bounded by bytes and evicts the least recently used document first. Every
//! operation is O(1) (a hash map threaded by a linked list, `hashlink::LinkedHashMap`).
//!
//! Everything in the cache is on disk already, so dropping an entry costs a reload only; the
//! cache never decides what is durable.

use hashlink::LinkedHashMap;

use crate::ids::DocId;

/// How full the cache is (for a metric or a log line).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheUsage {
    /// The estimated memory of the documents held, in bytes.
    pub bytes: usize,
    /// How many documents are held.
    pub documents: usize,
    /// The bound on `bytes`.
    pub limit: usize,
}

/// Documents (`V`) by id, least recently used first, at most `limit` estimated bytes.
pub struct DocCache<V> {
    entries: LinkedHashMap<DocId, (V, usize)>,
    bytes: usize,
    limit: usize,
}

impl<V> DocCache<V> {
    /// An empty cache holding at most `limit` estimated bytes.
    pub fn new(limit: usize) -> DocCache<V> {
        DocCache {
            entries: LinkedHashMap::new(),
            bytes: 0,
            limit,
        }
    }

    /// Takes a document out (the caller puts it back with [`DocCache::put`] when done).
    pub fn take(&mut self, id: &DocId) -> Option<V> {
        let (v, size) = self.entries.remove(id)?;
        self.bytes -= size;
        Some(v)
    }

    /// Puts a document in as the most recently used, with its estimated size, then evicts
    /// the least recently used ones until the cache is within its bound. A document larger
    /// than the whole bound is not kept.
    pub fn put(&mut self, id: DocId, value: V, size: usize) {
        if let Some((_, old)) = self.entries.remove(&id) {
            self.bytes -= old;
        }
        if size > self.limit {
            return;
        }
        self.entries.insert(id, (value, size));
        self.bytes += size;
        while self.bytes > self.limit {
            match self.entries.pop_front() {
                Some((_, (_, s))) => self.bytes -= s,
                None => break,
            }
        }
    }

    /// Forgets a document (it was dropped, or its disk copy changed underneath).
    pub fn remove(&mut self, id: &DocId) {
        if let Some((_, size)) = self.entries.remove(id) {
            self.bytes -= size;
        }
    }

    /// Forgets every document.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    /// Changes the bound, evicting at once what no longer fits.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
        while self.bytes > self.limit {
            match self.entries.pop_front() {
                Some((_, (_, s))) => self.bytes -= s,
                None => break,
            }
        }
    }

    /// How full the cache is.
    pub fn usage(&self) -> CacheUsage {
        CacheUsage {
            bytes: self.bytes,
            documents: self.entries.len(),
            limit: self.limit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(n: u32) -> DocId {
        format!("day:a1:2026-06-{n:02}").parse().unwrap()
    }

    #[test]
    fn the_least_recently_used_document_goes_first_and_the_bound_holds() {
        let mut c = DocCache::new(100);
        for n in 1..=4 {
            c.put(day(n), n, 30);
        }
        // 4 × 30 > 100: day 1, the oldest, went.
        assert_eq!(c.usage().documents, 3);
        assert_eq!(c.usage().bytes, 90);
        assert!(c.take(&day(1)).is_none());
        // Using day 2 makes day 3 the oldest.
        let v = c.take(&day(2)).unwrap();
        c.put(day(2), v, 30);
        c.put(day(5), 5, 30);
        assert!(c.take(&day(3)).is_none());
        assert_eq!(c.take(&day(2)), Some(2));
        assert!(c.usage().bytes <= 100);
    }

    #[test]
    fn a_document_larger_than_the_bound_is_not_kept_and_put_replaces() {
        let mut c = DocCache::new(100);
        c.put(day(1), 1, 40);
        c.put(day(2), 2, 101);
        assert!(c.take(&day(2)).is_none());
        c.put(day(1), 11, 60);
        assert_eq!(
            c.usage(),
            CacheUsage {
                bytes: 60,
                documents: 1,
                limit: 100
            }
        );
        c.set_limit(50);
        assert_eq!(c.usage().documents, 0);
        assert_eq!(c.usage().bytes, 0);
    }
}
