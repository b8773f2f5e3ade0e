//! Interned symbol names, shared by every graph and by the session.
//!
//! A `SymbolName` is a `u32` index into one `NamePool`: comparing or hashing names is comparing
//! integers, and the string is only looked at for messages and dumps.

use indexmap::IndexSet;
use std::sync::{Arc, RwLock};

/// An interned symbol name. Only meaningful together with the pool that produced it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct SymbolName(u32);

/// The string pool. Interning takes a write lock only the first time a name is seen.
#[derive(Default)]
pub struct NamePool {
    names: RwLock<IndexSet<Arc<str>>>,
}

impl NamePool {
    pub fn new() -> Arc<NamePool> {
        Arc::new(NamePool::default())
    }

    pub fn intern(&self, name: &str) -> SymbolName {
        if let Some(index) = self.read().get_index_of(name) {
            return SymbolName(index as u32);
        }
        let mut names = self.names.write().unwrap_or_else(|e| e.into_inner());
        let (index, _) = names.insert_full(Arc::from(name));
        SymbolName(index as u32)
    }

    /// The name if it was ever interned, without interning it.
    pub fn get(&self, name: &str) -> Option<SymbolName> {
        self.read().get_index_of(name).map(|i| SymbolName(i as u32))
    }

    pub fn resolve(&self, name: SymbolName) -> Arc<str> {
        self.read().get_index(name.0 as usize).cloned().unwrap_or_else(|| Arc::from("<unknown name>"))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, IndexSet<Arc<str>>> {
        self.names.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// A map keyed by interned names. Names are small integers handed out by one pool, not
/// attacker-chosen strings, so a multiplicative hash is enough and SipHash is wasted work.
pub type NameMap<V> = std::collections::HashMap<SymbolName, V, std::hash::BuildHasherDefault<NameHasher>>;

/// A set of interned names (see `NameMap`).
pub type NameSet = std::collections::HashSet<SymbolName, std::hash::BuildHasherDefault<NameHasher>>;

/// Hashes one `u32` (a `SymbolName`, or any small integer id) by a Fibonacci multiply.
#[derive(Default, Clone, Copy)]
pub struct NameHasher(u64);

impl std::hash::Hasher for NameHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u32(&mut self, value: u32) {
        self.0 = (self.0 ^ u64::from(value)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}
