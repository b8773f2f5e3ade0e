//! Cache keys: a digest of everything that decides what a compiler produces.

use super::sha256::{hex, Sha256};
use std::fmt;

/// Names one compiled object: the SHA-256 of its source and of everything else that changes
/// the compiler's output (its version, options, target). Equal keys mean equal objects.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey(pub [u8; 32]);

impl CacheKey {
    pub fn builder() -> KeyBuilder {
        KeyBuilder::default()
    }

    /// 64 hexadecimal digits: the entry's file name in a directory cache.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheKey({})", self.to_hex())
    }
}

/// Collects the parts of a key. Each part is labelled and length-prefixed, so no two
/// different lists of parts hash the same bytes (`("ab", "c")` is not `("a", "bc")`).
#[derive(Clone, Default)]
pub struct KeyBuilder {
    hasher: Sha256,
}

impl KeyBuilder {
    /// Adds one thing the output depends on: `label` says what it is (`"source"`,
    /// `"compiler"`, `"options"`, `"target"`).
    pub fn part(mut self, label: &str, value: impl AsRef<[u8]>) -> Self {
        let value = value.as_ref();
        self.hasher.update(&(label.len() as u64).to_le_bytes());
        self.hasher.update(label.as_bytes());
        self.hasher.update(&(value.len() as u64).to_le_bytes());
        self.hasher.update(value);
        self
    }

    pub fn finish(self) -> CacheKey {
        CacheKey(self.hasher.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_do_not_run_together() {
        let ab_c = CacheKey::builder().part("x", "ab").part("x", "c").finish();
        let a_bc = CacheKey::builder().part("x", "a").part("x", "bc").finish();
        assert_ne!(ab_c, a_bc);
        let same = CacheKey::builder().part("x", "ab").part("x", "c").finish();
        assert_eq!(ab_c, same);
        assert_eq!(ab_c.to_hex().len(), 64);
    }
}
