//! The shape of an Automerge sync message, read with bounds before Automerge sees it.
//!
//! Automerge's decoder takes a message's parameters from the wire and trusts them: a bloom
//! filter announcing 2^32 probes makes it allocate 16 GiB when it answers, one with 0 bits per
//! entry divides by zero, and a compressed change chunk inflates without limit. So every
//! message a home or the server receives is read here first, by a small reader of the
//! documented wire format that allocates nothing, and refused (`corrupt`) unless it has the
//! shape Automerge itself produces: first byte `0x42` (v1) or `0x43` (v2); bounded lists of
//! heads and needs; at most one `have`, whose bloom filter uses Automerge's own parameters (10
//! bits per entry, 7 probes) and exactly the bytes its entry count needs; change entries made
//! of whole change or document chunks; nothing after the flags. A document chunk (a v2
//! message carries the whole document) may hold DEFLATE-compressed columns, which Automerge
//! inflates without a limit: they are inflated here first, into nothing, up to
//! [`MAX_INFLATED_BYTES`] per message. The same check runs on the phone (what a server sends)
//! and on the server (what a phone sends): one definition.
//!
//! The format, as Automerge 0.12 writes it (`Message::encode`), with `uleb` an unsigned
//! LEB128 number and `hashes` a `uleb` count followed by that many 32-byte change hashes:
//! `version heads:hashes need:hashes have:uleb×(last_sync:hashes bloom:uleb+bytes)
//! changes:uleb×(uleb+bytes) [flags:uleb+bytes]`; a non-empty bloom is `entries:uleb
//! bits_per_entry:uleb probes:uleb bits:ceil(entries×bits_per_entry/8) bytes`; a chunk is
//! `magic:85 6f 4a 83 checksum:4 bytes type:1 byte length:uleb data:length bytes`; a
//! document chunk's data is `actors:uleb×(uleb+bytes) heads:hashes change_columns:columns
//! op_columns:columns` then the columns' bytes in that order (and head indexes), where
//! `columns` is a `uleb` count of `(spec:uleb length:uleb)` and a spec with bit 3 set is a
//! DEFLATE-compressed column.

use std::io::Read as _;

use crate::error::{Error, Result};
use crate::ids::DocId;

/// The largest message accepted (the server's request body limit).
pub const MAX_MESSAGE_BYTES: usize = 16 << 20;
/// The most hashes in one list (heads, need, a have's `last_sync`). A document's heads are its
/// concurrent branches: a handful in practice.
pub const MAX_HASHES: u64 = 4_096;
/// The most `have` entries: Automerge sends none or one.
pub const MAX_HAVES: u64 = 1;
/// The bloom filter's bits per entry, as Automerge makes it.
pub const BLOOM_BITS_PER_ENTRY: u64 = 10;
/// The bloom filter's probes per hash, as Automerge makes it.
pub const BLOOM_PROBES: u64 = 7;
/// The most entries in a bloom filter: changes since the last sync (2^20 is a million
/// changes, far beyond a Doorstep document).
pub const MAX_BLOOM_ENTRIES: u64 = 1 << 20;
/// The most chunks (changes, or a document and its orphans) in one message.
pub const MAX_CHUNKS: u64 = 100_000;
/// The most bytes the compressed columns of a message's document chunks may inflate to.
/// Automerge's columns compress a few times over; a customer's or a day's document is tens of
/// kilobytes.
pub const MAX_INFLATED_BYTES: u64 = 64 << 20;
/// The most columns in a document chunk's change or op column list (Automerge writes about
/// a dozen of each).
const MAX_COLUMNS: u64 = 256;
/// The most bytes of flags (Automerge writes 2).
const MAX_FLAG_BYTES: u64 = 16;
/// Every Automerge chunk starts with these bytes.
const CHUNK_MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// A change hash's length.
const HASH_BYTES: u64 = 32;

/// What a message holds, as counted by [`check_sync_message`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shape {
    /// The sender's heads.
    pub heads: usize,
    /// Hashes the sender asks for.
    pub need: usize,
    /// `have` entries (0 or 1).
    pub haves: usize,
    /// Entries of the bloom filter (changes the sender summarises).
    pub bloom_entries: u64,
    /// Change and document chunks.
    pub chunks: usize,
    /// Of those, document chunks (a v2 message's whole document).
    pub documents: usize,
    /// Bytes the document chunks' compressed columns inflate to.
    pub inflated_bytes: u64,
    /// Bytes of those chunks.
    pub chunk_bytes: usize,
}

/// Reads `bytes` as a sync message for `doc` without decoding it, and refuses it
/// (`Error::CorruptDocument`, code `corrupt`) unless it has the shape Automerge produces. Takes
/// time linear in the message's length and allocates nothing.
pub fn check_sync_message(doc: &DocId, bytes: &[u8]) -> Result<Shape> {
    read_message(bytes).map_err(|reason| Error::CorruptDocument {
        doc: doc.to_string(),
        reason: format!("sync message refused unread: {reason}"),
    })
}

type Read<T> = std::result::Result<T, String>;

/// A cursor over bytes that never reads past them and never allocates.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, at: 0 }
    }

    fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn byte(&mut self, what: &str) -> Read<u8> {
        let b = *self
            .bytes
            .get(self.at)
            .ok_or_else(|| format!("{what}: the message ends early"))?;
        self.at += 1;
        Ok(b)
    }

    fn take(&mut self, n: u64, what: &str) -> Read<&'a [u8]> {
        let left = self.left();
        if n > left as u64 {
            return Err(format!("{what}: {n} bytes announced, {left} left"));
        }
        let n = n as usize;
        let out = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(out)
    }

    /// An unsigned LEB128 number of at most 64 bits, in its shortest form.
    fn uleb(&mut self, what: &str) -> Read<u64> {
        let mut value = 0u64;
        for i in 0..10 {
            let b = self.byte(what)?;
            let low = u64::from(b & 0x7f);
            if i == 9 && low > 1 {
                return Err(format!("{what}: a number over 64 bits"));
            }
            value |= low << (7 * i);
            if b & 0x80 == 0 {
                if i > 0 && b == 0 {
                    return Err(format!("{what}: a number in an overlong form"));
                }
                return Ok(value);
            }
        }
        Err(format!("{what}: a number over 64 bits"))
    }

    fn count(&mut self, max: u64, what: &str) -> Read<u64> {
        let n = self.uleb(what)?;
        if n > max {
            return Err(format!("{n} {what}: at most {max}"));
        }
        Ok(n)
    }

    /// A list of change hashes; returns how many.
    fn hashes(&mut self, what: &str) -> Read<usize> {
        let n = self.count(MAX_HASHES, what)?;
        self.take(n * HASH_BYTES, what)?;
        Ok(n as usize)
    }

    /// A length-prefixed byte string.
    fn prefixed(&mut self, what: &str) -> Read<&'a [u8]> {
        let n = self.uleb(what)?;
        self.take(n, what)
    }
}

fn read_message(bytes: &[u8]) -> Read<Shape> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(format!(
            "{} bytes: at most {MAX_MESSAGE_BYTES}",
            bytes.len()
        ));
    }
    let mut r = Reader::new(bytes);
    let mut shape = Shape::default();
    match r.byte("message type")? {
        0x42 | 0x43 => {}
        b => return Err(format!("first byte {b:#04x}: not a sync message")),
    }
    shape.heads = r.hashes("heads")?;
    shape.need = r.hashes("needed hashes")?;
    let haves = r.count(MAX_HAVES, "have entries")?;
    for _ in 0..haves {
        r.hashes("last-sync hashes")?;
        let bloom = r.prefixed("bloom filter")?;
        shape.bloom_entries = shape.bloom_entries.max(read_bloom(bloom)?);
        shape.haves += 1;
    }
    let entries = r.count(MAX_CHUNKS, "change entries")?;
    let mut chunks = 0u64;
    let mut inflate_left = MAX_INFLATED_BYTES;
    let mut documents = 0;
    for _ in 0..entries {
        let entry = r.prefixed("change entry")?;
        chunks += read_chunks(entry, &mut inflate_left, &mut documents)?;
        if chunks > MAX_CHUNKS {
            return Err(format!("more than {MAX_CHUNKS} chunks"));
        }
        shape.chunk_bytes += entry.len();
    }
    shape.chunks = chunks as usize;
    shape.documents = documents;
    shape.inflated_bytes = MAX_INFLATED_BYTES - inflate_left;
    if r.left() > 0 {
        let n = r.count(MAX_FLAG_BYTES, "bytes of flags")?;
        r.take(n, "flags")?;
        if r.left() > 0 {
            return Err(format!("{} bytes after the flags", r.left()));
        }
    }
    Ok(shape)
}

/// A bloom filter's bytes; returns its entry count. Empty means "no changes summarised".
fn read_bloom(bytes: &[u8]) -> Read<u64> {
    if bytes.is_empty() {
        return Ok(0);
    }
    let mut r = Reader::new(bytes);
    let entries = r.uleb("bloom entries")?;
    let bits = r.uleb("bloom bits per entry")?;
    let probes = r.uleb("bloom probes")?;
    if entries == 0 || entries > MAX_BLOOM_ENTRIES {
        return Err(format!(
            "a bloom filter of {entries} entries: 1 to {MAX_BLOOM_ENTRIES}"
        ));
    }
    if probes != BLOOM_PROBES {
        return Err(format!(
            "a bloom filter of {probes} probes: Automerge uses {BLOOM_PROBES}"
        ));
    }
    if bits != BLOOM_BITS_PER_ENTRY {
        return Err(format!(
            "a bloom filter of {bits} bits per entry: Automerge uses {BLOOM_BITS_PER_ENTRY}"
        ));
    }
    let want = (entries * BLOOM_BITS_PER_ENTRY).div_ceil(8);
    if r.left() as u64 != want {
        return Err(format!(
            "a bloom filter of {entries} entries with {} bytes of bits: it needs {want}",
            r.left()
        ));
    }
    Ok(entries)
}

/// One change entry: whole chunks, each a change (type 1) or a document (type 0: a v2
/// message's whole document, possibly followed by changes). Returns how many.
fn read_chunks(entry: &[u8], inflate_left: &mut u64, documents: &mut usize) -> Read<u64> {
    if entry.is_empty() {
        return Err("an empty change entry".into());
    }
    let mut r = Reader::new(entry);
    let mut n = 0;
    while r.left() > 0 {
        if r.take(4, "chunk magic")? != CHUNK_MAGIC {
            return Err("a change entry that is not an Automerge chunk".into());
        }
        r.take(4, "chunk checksum")?;
        let kind = r.byte("chunk type")?;
        match kind {
            0 | 1 => {}
            2 => return Err("a compressed change chunk: Automerge never sends one".into()),
            t => {
                return Err(format!(
                    "chunk type {t}: Automerge sends changes and documents"
                ))
            }
        }
        let len = r.uleb("chunk length")?;
        let data = r.take(len, "chunk")?;
        if kind == 0 {
            read_document(data, inflate_left)?;
            *documents += 1;
        }
        n += 1;
    }
    Ok(n)
}

/// A document chunk's data: its column lists, and every compressed column inflated (into
/// nothing) within what is left of the message's allowance.
fn read_document(data: &[u8], inflate_left: &mut u64) -> Read<()> {
    let mut r = Reader::new(data);
    let actors = r.uleb("document actors")?;
    for _ in 0..actors {
        r.prefixed("document actor")?;
    }
    r.hashes("document heads")?;
    let mut columns = vec![];
    for what in ["document change columns", "document op columns"] {
        let n = r.count(MAX_COLUMNS, what)?;
        for _ in 0..n {
            let spec = r.uleb(what)?;
            let len = r.uleb(what)?;
            columns.push((spec, len));
        }
    }
    for (spec, len) in columns {
        let bytes = r.take(len, "document column")?;
        if spec & 0b1000 != 0 {
            let inflated = std::io::copy(
                &mut flate2::read::DeflateDecoder::new(bytes).take(*inflate_left + 1),
                &mut std::io::sink(),
            )
            .map_err(|e| format!("a compressed document column that does not inflate: {e}"))?;
            if inflated > *inflate_left {
                return Err(format!(
                    "compressed document columns inflating to more than {MAX_INFLATED_BYTES} bytes"
                ));
            }
            *inflate_left -= inflated;
        }
    }
    Ok(())
}

/// `v` as an unsigned LEB128 number, the encoding of every count and length this module reads:
/// for tools and tests that build sync messages by hand (hostile ones included).
pub fn encode_uleb(mut v: u64) -> Vec<u8> {
    let mut out = vec![];
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use automerge::sync::{self, SyncDoc};
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};

    use super::encode_uleb as leb;
    use super::*;

    fn doc_id() -> DocId {
        "day:A-0001:2026-06-15".parse().unwrap()
    }

    /// Real messages of two peers syncing a document with a few changes: the first (heads and
    /// a bloom filter), a reply with changes, a v2 whole-document message.
    fn real_messages() -> Vec<Vec<u8>> {
        let mut a = AutoCommit::new();
        for i in 0..200 {
            a.put(ROOT, format!("key {}", i % 30), format!("value number {i}"))
                .unwrap();
            a.commit();
        }
        let mut b = AutoCommit::new();
        let (mut sa, mut sb) = (sync::State::new(), sync::State::new());
        let mut out = vec![];
        for _ in 0..6 {
            if let Some(m) = a.sync().generate_sync_message(&mut sa) {
                out.push(m.clone().encode());
                b.sync().receive_sync_message(&mut sb, m).unwrap();
            }
            if let Some(m) = b.sync().generate_sync_message(&mut sb) {
                out.push(m.clone().encode());
                a.sync().receive_sync_message(&mut sa, m).unwrap();
            }
        }
        out
    }

    #[test]
    fn what_automerge_produces_passes() {
        let msgs = real_messages();
        assert!(msgs.len() >= 3);
        let shapes: Vec<Shape> = msgs
            .iter()
            .map(|m| check_sync_message(&doc_id(), m).unwrap())
            .collect();
        assert!(shapes.iter().any(|s| s.chunks > 0), "{shapes:?}");
        assert!(shapes.iter().any(|s| s.bloom_entries > 0), "{shapes:?}");
        // A v2 message with the whole document and compressed columns.
        assert!(
            shapes
                .iter()
                .any(|s| s.documents == 1 && s.inflated_bytes > 0),
            "{shapes:?}"
        );
        // A reply carrying single changes (v1).
        let mut a = AutoCommit::new();
        for i in 0..30 {
            a.put(ROOT, "x", i).unwrap();
            a.commit();
        }
        let mut b = a.fork();
        b.put(ROOT, "y", 2).unwrap();
        b.commit();
        let (mut sa, mut sb) = (sync::State::new(), sync::State::new());
        let mut changes = 0;
        for _ in 0..4 {
            if let Some(m) = a.sync().generate_sync_message(&mut sa) {
                changes += check_sync_message(&doc_id(), &m.clone().encode())
                    .unwrap()
                    .chunks;
                b.sync().receive_sync_message(&mut sb, m).unwrap();
            }
            if let Some(m) = b.sync().generate_sync_message(&mut sb) {
                changes += check_sync_message(&doc_id(), &m.clone().encode())
                    .unwrap()
                    .chunks;
                a.sync().receive_sync_message(&mut sa, m).unwrap();
            }
        }
        assert!(changes > 0);
    }

    /// `0x42`, no heads, no need, one have with no last sync and `bloom`, no changes.
    fn with_bloom(bloom: &[u8]) -> Vec<u8> {
        let mut m = vec![0x42, 0, 0, 1, 0, bloom.len() as u8];
        m.extend_from_slice(bloom);
        m.push(0);
        m
    }

    fn refused(bytes: &[u8]) -> String {
        let e = check_sync_message(&doc_id(), bytes).unwrap_err();
        assert_eq!(e.code(), "corrupt");
        e.to_string()
    }

    #[test]
    fn hostile_bloom_filters_are_refused() {
        // 2^28 probes (leb128 80 80 80 80 01): the 15-byte message of the issue.
        let m = with_bloom(&[1, 1, 0x80, 0x80, 0x80, 0x80, 0x01, 0]);
        assert_eq!(m.len(), 15);
        assert!(refused(&m).contains("probes"));
        // 0 bits per entry: Automerge divides by zero.
        assert!(refused(&with_bloom(&[1, 0, 7])).contains("bits per entry"));
        // Entries without the bits they need, or with extra bytes.
        assert!(refused(&with_bloom(&[8, 10, 7, 0])).contains("needs 10"));
        assert!(refused(&with_bloom(&[1, 10, 7, 0, 0, 0])).contains("needs 2"));
        assert!(refused(&with_bloom(&[0, 10, 7])).contains("entries"));
        // Automerge's own parameters pass.
        check_sync_message(&doc_id(), &with_bloom(&[1, 10, 7, 0, 0])).unwrap();
        check_sync_message(&doc_id(), &with_bloom(&[])).unwrap();
    }

    #[test]
    fn a_compressed_column_that_inflates_beyond_the_bound_is_refused() {
        use std::io::Write;
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..(MAX_INFLATED_BYTES >> 20) + 1 {
            enc.write_all(&zeros).unwrap();
        }
        let column = enc.finish().unwrap();
        assert!(column.len() < 100_000, "{}", column.len());
        // A document: no actors, no heads, one compressed change column (spec 0b1000).
        let mut doc = vec![0, 0, 1, 0b1000];
        doc.extend(leb(column.len() as u64));
        doc.push(0);
        doc.extend(&column);
        let mut chunk = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 0];
        chunk.extend(leb(doc.len() as u64));
        chunk.extend(doc);
        let mut m = vec![0x43, 0, 0, 0, 1];
        m.extend(leb(chunk.len() as u64));
        m.extend(chunk);
        let started = std::time::Instant::now();
        assert!(refused(&m).contains("inflating"));
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn counts_and_lengths_are_bounded() {
        // 2^60 heads announced in 10 bytes.
        let mut m = vec![0x42];
        m.extend([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]);
        assert!(refused(&m).contains("heads"));
        // Two haves.
        assert!(refused(&[0x42, 0, 0, 2, 0, 0, 0, 0, 0]).contains("have"));
        // A change entry longer than the message.
        assert!(refused(&[0x42, 0, 0, 0, 1, 0x7f, 1]).contains("announced"));
        // A change entry that is not a chunk, an empty one, a compressed one.
        assert!(refused(&[0x42, 0, 0, 0, 1, 1, 9]).contains("chunk"));
        assert!(refused(&[0x42, 0, 0, 0, 1, 0]).contains("empty"));
        let compressed = [
            0x42, 0, 0, 0, 1, 10, 0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 2, 0,
        ];
        assert!(refused(&compressed).contains("compressed"));
        // Overlong numbers, numbers over 64 bits, trailing bytes, a wrong first byte.
        assert!(refused(&[0x42, 0x80, 0]).contains("overlong"));
        assert!(
            refused(&[0x42, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02])
                .contains("64 bits")
        );
        assert!(refused(&[0x42, 0, 0, 0, 0, 1, 2, 9]).contains("after the flags"));
        assert!(refused(&[0x44, 0, 0, 0, 0]).contains("not a sync message"));
        assert!(refused(&[]).contains("ends early"));
    }
}
