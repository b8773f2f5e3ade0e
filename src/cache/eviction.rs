//! Keeping a directory cache within its size bound: the least recently used entries go
//! first. An entry's modification time is its last use (stores set it, hits refresh it),
//! so the order survives across processes without a shared index to keep consistent.

use std::ffi::OsString;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Temporary files older than this were left by a process that died while storing.
const ABANDONED: Duration = Duration::from_secs(600);

/// Whether `name` is an entry's file name: 64 hexadecimal digits and `.o`.
pub fn is_entry_name(name: &str) -> bool {
    name.strip_suffix(".o").is_some_and(|stem| stem.len() == 64 && stem.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Prefix of the files a store writes before renaming them into place.
pub const TEMP_PREFIX: &str = ".tmp-";

/// Removes the least recently used entries of `dir` until its entries total at most `limit`
/// bytes, never the one named `keep` (just stored). Returns how many were removed.
///
/// Two processes may evict at once: an entry the other one removed first is simply gone,
/// and a process still reading an entry keeps its open file.
pub fn evict(dir: &Path, limit: u64, keep: &str) -> std::io::Result<u64> {
    let now = SystemTime::now();
    let mut entries: Vec<(SystemTime, OsString, u64)> = Vec::new();
    let mut total = 0u64;
    for item in std::fs::read_dir(dir)? {
        let Ok(item) = item else { continue };
        let name = item.file_name();
        let text = name.to_string_lossy();
        let Ok(meta) = item.metadata() else { continue };
        let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        if text.starts_with(TEMP_PREFIX) {
            if now.duration_since(modified).is_ok_and(|age| age > ABANDONED) {
                let _ = std::fs::remove_file(item.path());
            }
            continue;
        }
        if !meta.is_file() || !is_entry_name(&text) {
            continue;
        }
        total += meta.len();
        if text != keep {
            entries.push((modified, name, meta.len()));
        }
    }
    entries.sort();
    let mut removed = 0;
    for (_, name, size) in entries {
        if total <= limit {
            break;
        }
        match std::fs::remove_file(dir.join(&name)) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        total = total.saturating_sub(size);
    }
    Ok(removed)
}
