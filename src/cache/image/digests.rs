//! Content digests of inputs, remembered by file identity: a warm start would otherwise
//! read and hash megabytes of archives each time. A remembered digest is used only while the
//! file's path, size, modification and change times (to the nanosecond), inode and device
//! are all as they were when it was taken; a file changed within the last seconds is not
//! remembered at all, since a second write within one clock tick could leave every field
//! the same (git's index does the same for its "racily clean" entries).
//!
//! Each digest is a small file `.digest-<hash of the identity>` in the cache directory,
//! written by rename as entries are; `jitld cache clear` removes them.

use crate::cache::sha256::{hex, Sha256};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

pub const DIGEST_PREFIX: &str = ".digest-";

/// How old a file must be before its digest is remembered.
const SETTLED: Duration = Duration::from_secs(2);

pub struct DigestMemo {
    /// `None`: remember nothing (no usable cache directory).
    dir: Option<PathBuf>,
}

impl DigestMemo {
    pub fn new(dir: Option<PathBuf>) -> Self {
        DigestMemo { dir }
    }

    /// The SHA-256 of the file's contents.
    pub fn digest(&self, path: &Path) -> std::io::Result<[u8; 32]> {
        let meta = std::fs::metadata(path)?;
        let memo = self.dir.as_ref().map(|dir| dir.join(format!("{DIGEST_PREFIX}{}", hex(&identity(path, &meta)))));
        if let Some(remembered) = memo.as_deref().and_then(read_digest) {
            return Ok(remembered);
        }
        let digest = Sha256::digest(&std::fs::read(path)?);
        let settled = meta.modified().ok().and_then(|m| SystemTime::now().duration_since(m).ok()) >= Some(SETTLED);
        if let (Some(memo), true) = (memo, settled) {
            remember(&memo, &digest);
        }
        Ok(digest)
    }
}

fn identity(path: &Path, meta: &std::fs::Metadata) -> [u8; 32] {
    let mut hasher = Sha256::default();
    hasher.update(path.as_os_str().as_encoded_bytes());
    let fields = [meta.len() as i64, meta.mtime(), meta.mtime_nsec(), meta.ctime(), meta.ctime_nsec()];
    for n in fields.into_iter().chain([meta.ino() as i64, meta.dev() as i64]) {
        hasher.update(&n.to_le_bytes());
    }
    hasher.finish()
}

fn read_digest(memo: &Path) -> Option<[u8; 32]> {
    let mut bytes = [0u8; 33];
    let mut file = std::fs::File::open(memo).ok()?;
    // Exactly 32 bytes: anything else is not a digest we wrote.
    let read = file.read(&mut bytes).ok()?;
    (read == 32).then(|| bytes[..32].try_into().ok()).flatten()
}

/// Best effort: a directory that cannot be written only means hashing again next time.
fn remember(memo: &Path, digest: &[u8; 32]) {
    let temp = memo.with_extension(format!("tmp{}", std::process::id()));
    let replace = || crate::cache::replace_file(&temp, memo, digest);
    // The first run keys its command line before the cache directory exists.
    let _ = replace().or_else(|e| match (e.kind(), memo.parent()) {
        (std::io::ErrorKind::NotFound, Some(dir)) => std::fs::create_dir_all(dir).and_then(|()| replace()),
        _ => Err(e),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_settled_files_and_notices_changes() {
        let dir = std::env::temp_dir().join(format!("jitld-digests-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let input = dir.join("input.a");
        std::fs::write(&input, b"first").unwrap();
        let old = SystemTime::now() - Duration::from_secs(60);
        std::fs::File::options().write(true).open(&input).unwrap().set_modified(old).unwrap();
        let memo = DigestMemo::new(Some(dir.clone()));
        assert_eq!(memo.digest(&input).unwrap(), Sha256::digest(b"first"));
        let remembered = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(DIGEST_PREFIX));
        assert_eq!(remembered.count(), 1);
        assert_eq!(memo.digest(&input).unwrap(), Sha256::digest(b"first"));
        // Same length, same old modification time: the change time still moves.
        std::fs::write(&input, b"other").unwrap();
        std::fs::File::options().write(true).open(&input).unwrap().set_modified(old).unwrap();
        assert_eq!(memo.digest(&input).unwrap(), Sha256::digest(b"other"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
