//! Precompiled objects kept between runs.
//!
//! - `ObjectCache` (ORC's object cache): a layer that compiles something to an object asks
//!   the cache first, with a key it computes (`CacheKey::builder`: the source and everything
//!   else that changes the output), and stores what it compiles. `DirectoryCache` is the
//!   default: one checksummed file per key in a directory, bounded in size.
//! - `ObjectDir`: a directory of objects (a cache directory, or a build's `.o` files) used
//!   as a library, its symbols indexed once and the index kept in the directory; the
//!   generator that links its objects on demand is `generators::ObjectDirGenerator`.

mod directory;
pub mod entry;
mod eviction;
pub mod image;
mod key;
pub mod maintenance;
mod object_dir;
mod object_dir_index;
pub mod sha256;

pub use directory::{CacheStats, DirectoryCache, WarningSink};
pub use key::{CacheKey, KeyBuilder};
pub use object_dir::ObjectDir;

/// Replaces `path` with `bytes` whole, through `temp` and a rename, so that a reader sees
/// the old file or the new one, never part of one; a failed write leaves no `temp` behind.
fn replace_file(temp: &std::path::Path, path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let replaced = std::fs::write(temp, bytes).and_then(|()| std::fs::rename(temp, path));
    if replaced.is_err() {
        let _ = std::fs::remove_file(temp);
    }
    replaced
}

/// Objects compiled before, by key. A layer that compiles calls `get_object` before
/// compiling, and `notify_object_compiled` with what it compiled after a miss.
///
/// A cache never fails its caller: a problem (a bad entry, a directory that cannot be
/// written) is the cache's to report, and the answer is then "not cached".
pub trait ObjectCache: Send + Sync {
    /// The object stored under `key`, if there is a whole one.
    fn get_object(&self, key: &CacheKey) -> Option<Vec<u8>>;

    /// `object` was just compiled for `key`: keep it for later runs.
    fn notify_object_compiled(&self, key: &CacheKey, object: &[u8]);
}
