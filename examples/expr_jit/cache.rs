//! Where the layer's object cache fits: between the source and the object bytes. A
//! function's key covers everything its object depends on: the function itself (its parsed
//! form, so whitespace and comments do not count), the compiler that turns it into an
//! object (this example's code generator, object writer and parser, by their source), and
//! the target. A change to any of them is a new key, so a stale object is never loaded.

use super::lang::Function;
use jitld::cache::sha256::{hex, Sha256};
use jitld::cache::{CacheKey, ObjectCache};
use std::sync::Arc;

/// The source of the code that decides a function's object bytes.
const COMPILER_SOURCES: [&str; 3] =
    [include_str!("lang.rs"), include_str!("x86.rs"), include_str!("../../tests/common/elfgen.rs")];

/// Objects are x86-64 ELF for the System V ABI, whatever machine runs the example.
const TARGET: &str = "x86_64-unknown-elf (System V ABI)";

/// This compiler's identity: a digest of its sources. A compiler with a release number
/// would use that (and its options) instead.
pub fn compiler_identity() -> String {
    let mut hasher = Sha256::default();
    for source in COMPILER_SOURCES {
        hasher.update(&(source.len() as u64).to_le_bytes());
        hasher.update(source.as_bytes());
    }
    format!("expr_jit compiler {}", hex(&hasher.finish()))
}

/// An object cache and the compiler identity that goes into its keys.
#[derive(Clone)]
pub struct Caching {
    pub cache: Arc<dyn ObjectCache>,
    pub compiler: String,
}

impl Caching {
    pub fn new(cache: Arc<dyn ObjectCache>) -> Caching {
        Caching { cache, compiler: compiler_identity() }
    }

    pub fn key(&self, function: &Function) -> CacheKey {
        CacheKey::builder()
            .part("source", format!("{function:?}"))
            .part("compiler", &self.compiler)
            .part("target", TARGET)
            .finish()
    }
}
