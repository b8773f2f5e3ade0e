//! The symbol index an `ObjectDir` keeps in its directory, so that the next run reads only
//! the objects that changed: per file its stamp (size, times, inode) and the symbols it
//! defines. Sealed like a cache entry, so a torn or damaged index is noticed and rebuilt.

use super::entry;
use super::CacheKey;
use std::os::unix::fs::MetadataExt;

/// The index's file name; a leading dot keeps it out of the objects.
pub const INDEX_FILE: &str = ".jitld-object-index";
const VERSION: u32 = 1;

/// What tells one version of a file from another without reading it. The change time
/// moves on every write and cannot be set back, so a rewrite that keeps the size and
/// restores the modification time is still seen.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Stamp {
    pub size: u64,
    pub modified_ns: u64,
    pub changed_ns: u64,
    pub inode: u64,
}

impl Stamp {
    pub fn of(meta: &std::fs::Metadata) -> Stamp {
        let ns = |s: i64, n: i64| (s as u64).wrapping_mul(1_000_000_000).wrapping_add(n as u64);
        Stamp {
            size: meta.len(),
            modified_ns: ns(meta.mtime(), meta.mtime_nsec()),
            changed_ns: ns(meta.ctime(), meta.ctime_nsec()),
            inode: meta.ino(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexedSymbol {
    pub name: Vec<u8>,
    /// Weak or common: a strong definition elsewhere is preferred.
    pub weak: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexedObject {
    /// The file's name in the directory.
    pub file: Vec<u8>,
    pub stamp: Stamp,
    pub symbols: Vec<IndexedSymbol>,
}

/// The key an index is sealed under: says what the bytes are, and which layout.
fn index_key() -> CacheKey {
    CacheKey::builder().part("jitld object directory index", VERSION.to_le_bytes()).finish()
}

pub fn encode(objects: &[IndexedObject]) -> Vec<u8> {
    let mut out = Vec::new();
    let bytes = |out: &mut Vec<u8>, b: &[u8]| {
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        out.extend_from_slice(b);
    };
    out.extend_from_slice(&(objects.len() as u32).to_le_bytes());
    for object in objects {
        bytes(&mut out, &object.file);
        let Stamp { size, modified_ns, changed_ns, inode } = object.stamp;
        for word in [size, modified_ns, changed_ns, inode] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(&(object.symbols.len() as u32).to_le_bytes());
        for symbol in &object.symbols {
            out.push(u8::from(symbol.weak));
            bytes(&mut out, &symbol.name);
        }
    }
    entry::seal(&index_key(), &out)
}

/// The objects of a whole index of this version; `None` for anything else.
pub fn decode(sealed: &[u8]) -> Option<Vec<IndexedObject>> {
    let body = entry::unseal_for(&index_key(), sealed).ok()?;
    let mut reader = Reader(body);
    let mut objects = Vec::new();
    for _ in 0..reader.u32()? {
        let file = reader.bytes()?;
        let stamp =
            Stamp { size: reader.u64()?, modified_ns: reader.u64()?, changed_ns: reader.u64()?, inode: reader.u64()? };
        let mut symbols = Vec::new();
        for _ in 0..reader.u32()? {
            let weak = reader.take(1)?[0] != 0;
            symbols.push(IndexedSymbol { weak, name: reader.bytes()? });
        }
        objects.push(IndexedObject { file, stamp, symbols });
    }
    reader.0.is_empty().then_some(objects)
}

/// Bounds-checked little-endian reads.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn bytes(&mut self) -> Option<Vec<u8>> {
        let len = self.u32()? as usize;
        self.take(len).map(<[u8]>::to_vec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let stamp = Stamp { size: 10, modified_ns: 20, changed_ns: 30, inode: 40 };
        let objects = vec![IndexedObject {
            file: b"a.o".to_vec(),
            stamp,
            symbols: vec![
                IndexedSymbol { name: b"f".to_vec(), weak: false },
                IndexedSymbol { name: b"g".to_vec(), weak: true },
            ],
        }];
        let sealed = encode(&objects);
        assert_eq!(decode(&sealed), Some(objects));
        assert_eq!(decode(&sealed[..sealed.len() - 1]), None);
        let mut flipped = sealed.clone();
        flipped[5] ^= 1;
        assert_eq!(decode(&flipped), None);
    }
}
