//! Interned symbol names, shared by every graph and by the session.
//!
//! A `SymbolName` is a `u32` index into one `NamePool`: comparing or hashing names is comparing
//! integers, and the string is only looked at for messages and dumps.

use indexmap::IndexSet;
use std::hash::BuildHasherDefault;
use std::sync::{Arc, RwLock};

/// An interned symbol name. Only meaningful together with the pool that produced it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct SymbolName(u32);

/// The string pool. Interning takes a write lock only the first time a name is seen.
#[derive(Default)]
pub struct NamePool {
    names: RwLock<IndexSet<Arc<str>, BuildHasherDefault<NameHasher>>>,
}

impl NamePool {
    pub fn new() -> Arc<NamePool> {
        Arc::new(NamePool::default())
    }

    pub fn intern(&self, name: &str) -> SymbolName {
        if let Some(index) = self.read().get_index_of(name) {
            return SymbolName(index as u32);
        }
        self.insert(Arc::from(name))
    }

    /// Interns a name as it appears in an object file: bytes, nearly always UTF-8 (anything
    /// else is interned in its lossy form). A name seen before is found by its bytes, so
    /// only a new name is checked for UTF-8.
    pub fn intern_bytes(&self, name: &[u8]) -> SymbolName {
        if let Some(index) = self.read().get_index_of(&NameBytes(name)) {
            return SymbolName(index as u32);
        }
        self.insert(text_of(name))
    }

    /// Interns every name of `names` under one lock (an archive's symbol index: thousands
    /// of names, nearly all new), in order.
    pub fn intern_all_bytes<'a>(&self, names: impl IntoIterator<Item = &'a [u8]>) -> Vec<SymbolName> {
        let names = names.into_iter();
        let mut pool = self.names.write().unwrap_or_else(|e| e.into_inner());
        pool.reserve(names.size_hint().0);
        names
            .map(|name| match pool.get_index_of(&NameBytes(name)) {
                Some(index) => SymbolName(index as u32),
                None => SymbolName(pool.insert_full(text_of(name)).0 as u32),
            })
            .collect()
    }

    /// Adds a name not found under the read lock (another thread may have added it since:
    /// `insert_full` then finds it).
    fn insert(&self, text: Arc<str>) -> SymbolName {
        let mut names = self.names.write().unwrap_or_else(|e| e.into_inner());
        SymbolName(names.insert_full(text).0 as u32)
    }

    /// The name if it was ever interned, without interning it.
    pub fn get(&self, name: &str) -> Option<SymbolName> {
        self.read().get_index_of(name).map(|i| SymbolName(i as u32))
    }

    pub fn resolve(&self, name: SymbolName) -> Arc<str> {
        self.read().get_index(name.0 as usize).cloned().unwrap_or_else(|| Arc::from("<unknown name>"))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, IndexSet<Arc<str>, BuildHasherDefault<NameHasher>>> {
        self.names.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// A name's text: its bytes if they are UTF-8, else their lossy form.
fn text_of(name: &[u8]) -> Arc<str> {
    match std::str::from_utf8(name) {
        Ok(text) => Arc::from(text),
        Err(_) => Arc::from(String::from_utf8_lossy(name).as_ref()),
    }
}

/// A name's bytes, found in the pool as the `str` with those bytes would be: hashed as
/// `str` hashes (its bytes, then `0xff`), equal to the entry with the same bytes. Bytes
/// that are not UTF-8 equal no entry, since every entry is a `str`.
struct NameBytes<'a>(&'a [u8]);

impl std::hash::Hash for NameBytes<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write(self.0);
        state.write_u8(0xff);
    }
}

impl indexmap::Equivalent<Arc<str>> for NameBytes<'_> {
    fn equivalent(&self, key: &Arc<str>) -> bool {
        key.as_bytes() == self.0
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
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf));
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
        assert_eq!(&*pool.resolve(lossy), "bad\u{fffd}name");
        let all = pool.intern_all_bytes([&b"only_as_bytes"[..], b"fresh", b"fresh", b"bad\xffname"]);
        assert_eq!(all, [new, pool.intern("fresh"), pool.intern("fresh"), lossy]);
    }
}
