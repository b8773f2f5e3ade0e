//! `jitld cache stats` and `jitld cache clear`: what a cache directory holds, and emptying
//! it. Only entries and temporary files of stores are touched, never other files.

use super::eviction::{is_entry_name, TEMP_PREFIX};
use std::io::Read;
use std::path::{Path, PathBuf};

/// What a directory's entries are.
#[derive(Default, Debug, PartialEq, Eq)]
pub struct Usage {
    /// Prelinked images (`jitld run --cache`).
    pub images: u64,
    /// Compiled objects (a compiling layer's `ObjectCache`).
    pub objects: u64,
    pub bytes: u64,
}

/// The cache directory `jitld` uses when none is named: `$XDG_CACHE_HOME/jitld`, else
/// `~/.cache/jitld`.
pub fn default_dir() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()).map(PathBuf::from);
    let home = || std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".cache"));
    xdg.filter(|p| p.is_absolute()).or_else(home).map(|base| base.join("jitld"))
}

fn entries(dir: &Path) -> std::io::Result<Vec<(PathBuf, u64)>> {
    let mut found = Vec::new();
    for item in std::fs::read_dir(dir)? {
        let Ok(item) = item else { continue };
        let name = item.file_name();
        let Some(name) = name.to_str() else { continue };
        if is_entry_name(name) {
            let len = item.metadata().map_or(0, |m| m.len());
            found.push((item.path(), len));
        }
    }
    Ok(found)
}

pub fn usage(dir: &Path) -> std::io::Result<Usage> {
    let mut usage = Usage::default();
    for (path, len) in entries(dir)? {
        usage.bytes += len;
        if starts_as_image(&path) {
            usage.images += 1;
        } else {
            usage.objects += 1;
        }
    }
    Ok(usage)
}

fn starts_as_image(path: &Path) -> bool {
    let mut head = [0u8; 8];
    let read = std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut head));
    read.is_ok() && super::image::codec::is_image(&head)
}

/// Removes every entry, leftover temporary file, remembered digest and manifest; returns how many
/// entries went.
pub fn clear(dir: &Path) -> std::io::Result<u64> {
    let mut removed = 0;
    for (path, _) in entries(dir)? {
        if std::fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    for item in std::fs::read_dir(dir)?.flatten() {
        let name = item.file_name();
        let Some(name) = name.to_str() else { continue };
        let remembered = [super::image::digests::DIGEST_PREFIX, super::image::manifest::MANIFEST_PREFIX];
        if name.starts_with(TEMP_PREFIX) || remembered.iter().any(|prefix| name.starts_with(prefix)) {
            let _ = std::fs::remove_file(item.path());
        }
    }
    Ok(removed)
}
