//! One cache entry's bytes: the object, then a trailer that says which key it was stored
//! for, how long it is and what its SHA-256 is.
//!
//! The trailer goes after the object, not before it, so an entry is still a relocatable
//! object that every tool reads (object formats find their parts by offsets from the start,
//! and ignore bytes after them): a cache directory can be loaded as a library of objects.
//! A write cut short loses the trailer's end, so a truncated entry never passes for whole.

use super::key::CacheKey;
use super::sha256::Sha256;
use std::fmt;

const MAGIC: &[u8; 8] = b"jitldC\x00\x01";
/// key, checksum, length, magic.
pub const TRAILER_LEN: usize = 32 + 32 + 8 + 8;

/// Why an entry's bytes cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Defect {
    /// No trailer at the end: the write was cut short (or the file is not an entry).
    Truncated { len: u64 },
    /// The trailer states another length than the file has.
    WrongLength { stated: u64, actual: u64 },
    /// The object's bytes are not the ones the checksum was taken of.
    Checksum,
    /// A whole entry, stored for another key (a file renamed by hand).
    OtherKey(CacheKey),
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Defect::Truncated { len } => write!(f, "truncated: {len} bytes and no complete trailer"),
            Defect::WrongLength { stated, actual } => {
                write!(f, "truncated or padded: its trailer says {stated} bytes of object, it has {actual}")
            }
            Defect::Checksum => f.write_str("corrupt: the object's checksum does not match"),
            Defect::OtherKey(key) => write!(f, "stored for another key ({key})"),
        }
    }
}

/// The bytes to store for `object` under `key`.
pub fn seal(key: &CacheKey, object: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(object.len() + TRAILER_LEN);
    out.extend_from_slice(object);
    out.extend_from_slice(&key.0);
    out.extend_from_slice(&Sha256::digest(object));
    out.extend_from_slice(&(object.len() as u64).to_le_bytes());
    out.extend_from_slice(MAGIC);
    out
}

/// Whether `bytes` end as an entry does (whole or not, they were meant to be one).
pub fn looks_sealed(bytes: &[u8]) -> bool {
    bytes.ends_with(MAGIC)
}

/// The key and object of a whole entry.
pub fn unseal(bytes: &[u8]) -> Result<(CacheKey, &[u8]), Defect> {
    let len = bytes.len() as u64;
    if bytes.len() < TRAILER_LEN || !looks_sealed(bytes) {
        return Err(Defect::Truncated { len });
    }
    let (object, trailer) = bytes.split_at(bytes.len() - TRAILER_LEN);
    let (key, rest) = trailer.split_at(32);
    let (checksum, rest) = rest.split_at(32);
    let stated = u64::from_le_bytes(rest[..8].try_into().unwrap_or([0; 8]));
    if stated != object.len() as u64 {
        return Err(Defect::WrongLength { stated, actual: object.len() as u64 });
    }
    if Sha256::digest(object)[..] != *checksum {
        return Err(Defect::Checksum);
    }
    let key = CacheKey(key.try_into().unwrap_or([0; 32]));
    Ok((key, object))
}

/// The object stored under `key`, if `bytes` are a whole entry for it.
pub fn unseal_for<'a>(key: &CacheKey, bytes: &'a [u8]) -> Result<&'a [u8], Defect> {
    let (stored, object) = unseal(bytes)?;
    if stored != *key {
        return Err(Defect::OtherKey(stored));
    }
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cut_and_every_flipped_bit_is_caught() {
        let key = CacheKey::builder().part("source", "x").finish();
        let object: Vec<u8> = (0..200u32).map(|i| (i * 7) as u8).collect();
        let sealed = seal(&key, &object);
        assert_eq!(unseal_for(&key, &sealed), Ok(&object[..]));
        for cut in 0..sealed.len() {
            assert!(unseal(&sealed[..cut]).is_err(), "cut at {cut}");
        }
        for byte in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[byte] ^= 0x10;
            assert!(unseal_for(&key, &bad).is_err(), "flipped a bit of byte {byte}");
        }
        let other = CacheKey::builder().part("source", "y").finish();
        assert_eq!(unseal_for(&other, &sealed), Err(Defect::OtherKey(key)));
    }
}
