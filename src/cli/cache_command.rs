//! `jitld cache stats [DIR]` and `jitld cache clear [DIR]`.

use super::CacheAction;
use crate::cache::maintenance::{self, default_dir};
use crate::error::JitError;
use std::path::PathBuf;

pub fn run(action: &CacheAction) -> Result<i32, Vec<JitError>> {
    let (CacheAction::Stats { dir } | CacheAction::Clear { dir }) = action;
    let dir = directory(dir.as_deref()).map_err(|e| vec![e])?;
    let failed = |e: std::io::Error| vec![JitError::other(format!("{}: {e}", dir.display()))];
    let text = match action {
        CacheAction::Stats { .. } => match maintenance::usage(&dir) {
            Ok(usage) => format!(
                "{}: {} entries ({} prelinked images, {} compiled objects), {} bytes\n",
                dir.display(),
                usage.images + usage.objects,
                usage.images,
                usage.objects,
                usage.bytes
            ),
            // A cache never filled is an empty one.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => format!("{}: 0 entries, 0 bytes\n", dir.display()),
            Err(e) => return Err(failed(e)),
        },
        CacheAction::Clear { .. } => match maintenance::clear(&dir) {
            Ok(removed) => format!("{}: removed {removed} entries\n", dir.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => format!("{}: removed 0 entries\n", dir.display()),
            Err(e) => return Err(failed(e)),
        },
    };
    super::output::print(&text).map_err(|e| vec![e])?;
    Ok(0)
}

/// The directory named, or the default one.
pub fn directory(named: Option<&str>) -> Result<PathBuf, JitError> {
    match named.filter(|d| !d.is_empty()) {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => {
            default_dir().ok_or_else(|| JitError::other("no cache directory: set XDG_CACHE_HOME or HOME, or name one"))
        }
    }
}
