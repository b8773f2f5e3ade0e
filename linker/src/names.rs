//! Interned symbol names, shared by every graph and by the session.
//!
//! A `SymbolName` is a `u32` index into one `NamePool`: comparing or hashing names is comparing
//! integers, and the string is only looked at for messages and dumps.

use indexmap::IndexSet;
use std::hash::BuildHasherDefault;
use std::ptr::NonNull;
use std::sync::{Arc, RwLock, RwLockReadGuard};

/// An interned symbol name. Only meaningful together with the pool that produced it.
///
/// Stored one above its index, so that an `Option<SymbolName>` (every graph symbol has one)
/// takes four bytes, not eight.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct SymbolName(std::num::NonZeroU32);

impl SymbolName {
    fn new(index: u32) -> Self {
        // Saturates only past 2^32 - 2 names, which no pool reaches.
        SymbolName(std::num::NonZeroU32::MIN.saturating_add(index))
    }

    fn index(self) -> u32 {
        self.0.get() - 1
    }
}

/// The string pool. Interning takes a write lock only the first time a name is seen.
#[derive(Default)]
pub struct NamePool {
    names: RwLock<Names>,
}

#[derive(Default)]
struct Names {
    index: IndexSet<Text, BuildHasherDefault<NameHasher>>,
    /// Names nobody looks up by their text (a graph's local symbols, for messages and
    /// backtraces only): stored, never hashed. Their `SymbolName`s carry `UNLISTED`.
    unlisted: Vec<Text>,
    /// The text of every name, back to back, in chunks that are never reallocated or freed
    /// while the pool lives: each `Text` points into one. (A name of its own allocation
    /// each was thousands of allocations per link, and as many frees.)
    chunks: Vec<Vec<u8>>,
}

/// Bytes of text per chunk (a longer name gets a chunk of its own size).
const CHUNK: usize = 64 << 10;

/// The bit of a `SymbolName` that marks an unlisted name (an index into `Names::unlisted`).
const UNLISTED: u32 = 1 << 31;

impl NamePool {
    pub fn new() -> Arc<NamePool> {
        Arc::new(NamePool::default())
    }

    pub fn intern(&self, name: &str) -> SymbolName {
        self.intern_bytes(name.as_bytes())
    }

    /// Interns a name as it appears in an object file: bytes, nearly always UTF-8 (anything
    /// else is interned in its lossy form). A name seen before is found by its bytes, so
    /// only a new name is checked for UTF-8.
    pub fn intern_bytes(&self, name: &[u8]) -> SymbolName {
        if let Some(index) = self.read().index.get_index_of(&NameBytes(name)) {
            return SymbolName::new(index as u32);
        }
        self.write().add(name)
    }

    /// Interns every name of `names` under one lock (an archive's symbol index: thousands
    /// of names, nearly all new), in order.
    pub fn intern_all_bytes<'a>(&self, names: impl IntoIterator<Item = &'a [u8]>) -> Vec<SymbolName> {
        let names = names.into_iter();
        let mut pool = self.write();
        pool.index.reserve(names.size_hint().0);
        names.map(|name| pool.add(name)).collect()
    }

    /// Stores names that are only ever displayed, never looked up (a graph's local
    /// symbols), under one lock: their text is kept without hashing it, and `get` or
    /// `intern` of the same text never finds them. Returns their names, in order.
    pub fn store_unlisted<'a>(
        &self,
        names: impl ExactSizeIterator<Item = &'a [u8]>,
    ) -> impl Iterator<Item = SymbolName> {
        let mut pool = self.write();
        let first = pool.unlisted.len();
        pool.unlisted.reserve(names.len());
        for name in names {
            let text = pool.store_bytes(name);
            pool.unlisted.push(text);
        }
        let last = pool.unlisted.len();
        (first..last).map(|i| SymbolName::new(i as u32 | UNLISTED))
    }

    /// The name if it was ever interned, without interning it.
    pub fn get(&self, name: &str) -> Option<SymbolName> {
        self.read().index.get_index_of(&NameBytes(name.as_bytes())).map(|i| SymbolName::new(i as u32))
    }

    pub fn resolve(&self, name: SymbolName) -> &str {
        Self::text(&self.read(), name)
    }

    /// `resolve`, unless another thread is adding a name right now (for a signal handler,
    /// which must not wait for a lock the interrupted thread may hold).
    pub fn try_resolve(&self, name: SymbolName) -> Option<&str> {
        self.names.try_read().ok().map(|names| Self::text(&names, name))
    }

    fn text<'a>(names: &Names, name: SymbolName) -> &'a str {
        let index = name.index();
        let text = if index & UNLISTED != 0 {
            names.unlisted.get((index & !UNLISTED) as usize)
        } else {
            names.index.get_index(index as usize)
        };
        match text {
            // SAFETY: the text lives in a chunk of this pool, which outlives `'a` (the
            // pool's borrow), and was UTF-8 when it was stored.
            Some(text) => unsafe { std::str::from_utf8_unchecked(text.bytes()) },
            None => "<unknown name>",
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Names> {
        self.names.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Names> {
        self.names.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl Names {
    /// The name's index, adding it if it is new (another thread may have added it since a
    /// lookup under the read lock missed it). The text is stored first and taken back if
    /// the name was known: one hash and one probe, where most names are new.
    fn add(&mut self, name: &[u8]) -> SymbolName {
        let text = self.store_bytes(name);
        let (index, new) = self.index.insert_full(text);
        if !new {
            // The copy is the last thing in the last chunk.
            if let Some(chunk) = self.chunks.last_mut() {
                chunk.truncate(chunk.len() - text.len);
            }
        }
        SymbolName::new(index as u32)
    }

    /// Stores a name as read from a file: as it is when UTF-8, else in its lossy form.
    /// Names are nearly always ASCII, which is checked a word at a time (`from_utf8` costs
    /// several times as much on a short name).
    fn store_bytes(&mut self, name: &[u8]) -> Text {
        if name.is_ascii() {
            return self.store(name);
        }
        match std::str::from_utf8(name) {
            Ok(text) => self.store(text.as_bytes()),
            Err(_) => self.store(String::from_utf8_lossy(name).as_bytes()),
        }
    }

    /// Copies `text` (UTF-8) into a chunk with room for it.
    fn store(&mut self, text: &[u8]) -> Text {
        let room = self.chunks.last().is_some_and(|c| c.capacity() - c.len() >= text.len());
        if !room {
            self.chunks.push(Vec::with_capacity(CHUNK.max(text.len())));
        }
        let chunk = self.chunks.last_mut().expect("a chunk with room was just ensured");
        let start = chunk.len();
        // Within capacity: the chunk's buffer does not move.
        chunk.extend_from_slice(text);
        let ptr = NonNull::new(chunk[start..].as_mut_ptr()).expect("a vector's buffer is never null");
        Text { ptr, len: text.len() }
    }
}

/// A name's text in one of the pool's chunks.
#[derive(Clone, Copy)]
struct Text {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: a `Text` is a shared, immutable view of bytes the pool owns and never changes.
unsafe impl Send for Text {}
unsafe impl Sync for Text {}

impl Text {
    fn bytes<'a>(self) -> &'a [u8] {
        // SAFETY: `ptr..ptr + len` was written once, in a chunk that outlives the pool's
        // users (see `NamePool::text`).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl std::hash::Hash for Text {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        NameBytes(self.bytes()).hash(state)
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for Text {}

/// A name's bytes, to look an entry up by: hashed and compared as the entry's text is.
struct NameBytes<'a>(&'a [u8]);

impl std::hash::Hash for NameBytes<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write(self.0);
        state.write_u8(0xff);
    }
}

impl indexmap::Equivalent<Text> for NameBytes<'_> {
    fn equivalent(&self, key: &Text) -> bool {
        key.bytes() == self.0
    }
}

/// A map keyed by interned names. Names are small integers handed out by one pool, not
/// attacker-chosen strings, so a multiplicative hash is enough and SipHash is wasted work.
pub type NameMap<V> = std::collections::HashMap<SymbolName, V, std::hash::BuildHasherDefault<NameHasher>>;

/// A set of interned names (see `NameMap`).
pub type NameSet = std::collections::HashSet<SymbolName, std::hash::BuildHasherDefault<NameHasher>>;

/// A fast hash for names and small integer ids: eight bytes at a time, each folded in by a
/// rotate, xor and multiply (the scheme of rustc's FxHash). The inputs are symbol names from
/// the objects the user links, so there is no adversary to defend against with SipHash.
#[derive(Default, Clone, Copy)]
pub struct NameHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl NameHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl std::hash::Hasher for NameHasher {
    fn finish(&self) -> u64 {
        // The table uses the top bits as tags and the low bits as the bucket: mix both.
        self.0 ^ (self.0 >> 29)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut buf = [0u8; 8];
            buf.copy_from_slice(word);
            self.add(u64::from_le_bytes(buf));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            self.add(tail_word(rest));
        }
    }

    fn write_u8(&mut self, value: u8) {
        self.add(u64::from(value));
    }

    fn write_u32(&mut self, value: u32) {
        self.add(u64::from(value));
    }

    fn write_u64(&mut self, value: u64) {
        self.add(value);
    }

    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }
}

/// The last 1 to 7 bytes of a name as one word, read in fixed-size pieces (a copy of a
/// length known only at run time is a call to memcpy, on every name hashed): four bytes from
/// each end, overlapping, or the first, middle and last byte. Names that share a word still
/// differ in the table's comparison.
fn tail_word(rest: &[u8]) -> u64 {
    let n = rest.len();
    let four = |at: usize| rest.get(at..at + 4).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    if n >= 4 {
        u64::from(four(0)) | u64::from(four(n - 4)) << 32
    } else {
        let byte = |at: usize| u64::from(rest.get(at).copied().unwrap_or(0));
        byte(0) | byte(n / 2) << 8 | byte(n.saturating_sub(1)) << 16 | (n as u64) << 24
    }
}

#[cfg(test)]
mod tests {
    use super::NamePool;

    #[test]
    fn bytes_find_the_name_interned_as_text() {
        let pool = NamePool::new();
        let text = pool.intern("EVP_DigestInit_ex");
        assert_eq!(pool.intern_bytes(b"EVP_DigestInit_ex"), text);
        let new = pool.intern_bytes(b"only_as_bytes");
        assert_eq!(pool.intern("only_as_bytes"), new);
        assert_ne!(new, text);
        // Not UTF-8: interned in its lossy form, and found again by the same bytes.
        let lossy = pool.intern_bytes(b"bad\xffname");
        assert_eq!(pool.intern_bytes(b"bad\xffname"), lossy);
        assert_eq!(pool.resolve(lossy), "bad\u{fffd}name");
        let all = pool.intern_all_bytes([&b"only_as_bytes"[..], b"fresh", b"fresh", b"bad\xffname"]);
        assert_eq!(all, [new, pool.intern("fresh"), pool.intern("fresh"), lossy]);
        // Unlisted names read back, are never found by their text, and stay apart from listed ones.
        let unlisted: Vec<_> = pool.store_unlisted([&b"fresh"[..], b"local\xff"].into_iter()).collect();
        assert_eq!(pool.resolve(unlisted[0]), "fresh");
        assert_eq!(pool.resolve(unlisted[1]), "local\u{fffd}");
        assert_ne!(unlisted[0], pool.intern("fresh"));
        assert_eq!(pool.get("local\u{fffd}"), None);
    }
}
