//! A command line's manifest: what its key was computed from, so that the next start with
//! the same command line checks a handful of `stat`s instead of computing the key again
//! (ccache's "direct mode", make's timestamps, done strictly).
//!
//! The key reads inputs, sniffs their kinds, searches library directories, expands linker
//! scripts and hashes contents. Its manifest, `.manifest-<hash of the command line>` in the
//! cache directory, lists the key and the identity (device, inode, size, modification and
//! change times to the nanosecond) of every file the key was computed from, of every
//! directory a library was searched in (a library appearing earlier in the search changes
//! its directory's times), of jitld's executable and of the libraries loaded in the
//! process. (Which shared libraries a warm start loads is the entry's to say: the ones its
//! cold link loaded.) If every identity is still the same, so is the key; any difference
//! computes the key again from the files. A file changed less than two seconds before the
//! manifest would be written could change again within the same clock tick unseen, so then
//! no manifest is written (git's "racily clean" entries).
//!
//! The manifest also remembers an entry whose pages were checked in full, by the entry's
//! identity: a start whose entry has the same identity checks its description but not its
//! pages again. Whatever writes to an entry changes its change time (which no one can set)
//! and a truncation its size, so a damaged entry never passes for the checked one; entries
//! are checked only once their change time is two seconds old, as above.

use crate::cache::sha256::hex;
use crate::cache::CacheKey;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

pub const MANIFEST_PREFIX: &str = ".manifest-";
const MAGIC: &str = "jitld image manifest 2";
/// How old a file must be for its identity to vouch for its contents.
pub const SETTLED: Duration = Duration::from_secs(2);

/// What identifies a file's contents without reading them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Identity {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Identity {
    pub fn of(meta: &std::fs::Metadata) -> Identity {
        Identity {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    fn at(path: &Path) -> Option<Identity> {
        std::fs::metadata(path).ok().map(|m| Identity::of(&m))
    }

    /// Whether it was last changed at least `SETTLED` before `now`.
    pub fn settled(&self, now: SystemTime) -> bool {
        let (secs, nanos) = self.mtime.max(self.ctime);
        let changed = match u64::try_from(secs) {
            Ok(secs) => SystemTime::UNIX_EPOCH + Duration::new(secs, nanos.clamp(0, 999_999_999) as u32),
            Err(_) => SystemTime::UNIX_EPOCH,
        };
        now.duration_since(changed).is_ok_and(|age| age >= SETTLED)
    }

    fn text(&self) -> String {
        let Identity { dev, ino, size, mtime, ctime } = self;
        format!("{dev} {ino} {size} {} {} {} {}", mtime.0, mtime.1, ctime.0, ctime.1)
    }

    fn parse(words: &mut std::str::SplitN<'_, char>) -> Option<Identity> {
        let mut unsigned = || words.next()?.parse::<u64>().ok();
        let (dev, ino, size) = (unsigned()?, unsigned()?, unsigned()?);
        let mut next = || words.next()?.parse::<i64>().ok();
        Some(Identity { dev, ino, size, mtime: (next()?, next()?), ctime: (next()?, next()?) })
    }
}

/// A manifest's contents.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub key: Option<CacheKey>,
    /// What the key was computed from; `None`: a path that did not exist (a library
    /// directory), which must not exist still.
    pub files: Vec<(PathBuf, Option<Identity>)>,
    /// The entry whose pages were checked in full.
    pub checked: Option<Identity>,
}

/// Where the manifest of the command line described by `parts` lives in `dir`.
pub fn path_for(dir: &Path, parts: crate::cache::KeyBuilder) -> PathBuf {
    dir.join(format!("{MANIFEST_PREFIX}{}", hex(&parts.finish().0)))
}

impl Manifest {
    /// The manifest at `path`, if it is one and everything it lists is as it was.
    pub fn read_valid(path: &Path) -> Option<Manifest> {
        let text = std::fs::read_to_string(path).ok()?;
        let manifest = Manifest::parse(&text)?;
        let same = manifest.files.iter().all(|(file, identity)| Identity::at(file) == *identity);
        (same && manifest.key.is_some()).then_some(manifest)
    }

    fn parse(text: &str) -> Option<Manifest> {
        let mut lines = text.lines();
        if lines.next()? != MAGIC {
            return None;
        }
        let mut manifest = Manifest::default();
        for line in lines {
            let mut words = line.splitn(9, ' ');
            match words.next()? {
                "key" => {
                    let hex = words.next()?;
                    let mut key = [0u8; 32];
                    for (i, byte) in key.iter_mut().enumerate() {
                        *byte = u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok()?;
                    }
                    manifest.key = Some(CacheKey(key));
                }
                "file" => {
                    let identity = Identity::parse(&mut words)?;
                    manifest.files.push((PathBuf::from(words.next()?), Some(identity)));
                }
                "absent" => manifest.files.push((PathBuf::from(line.strip_prefix("absent ")?), None)),
                "checked" => manifest.checked = Some(Identity::parse(&mut words)?),
                "end" => return Some(manifest),
                _ => return None,
            }
        }
        // No "end": cut short.
        None
    }

    fn text(&self) -> Option<String> {
        let mut out = format!("{MAGIC}\nkey {}\n", self.key?.to_hex());
        for (file, identity) in &self.files {
            match identity {
                Some(identity) => out.push_str(&format!("file {} {}\n", identity.text(), file.to_str()?)),
                None => out.push_str(&format!("absent {}\n", file.to_str()?)),
            }
        }
        if let Some(checked) = &self.checked {
            out.push_str(&format!("checked {}\n", checked.text()));
        }
        out.push_str("end\n");
        // A path with a line break in it would not read back: no manifest then.
        (out.lines().count() == 3 + self.files.len() + self.checked.is_some() as usize).then_some(out)
    }

    /// A manifest for `key` computed from `files` since `began`, if they all are settled and
    /// unchanged since then.
    pub fn new(key: CacheKey, files: &[PathBuf], began: SystemTime) -> Option<Manifest> {
        let mut listed = Vec::with_capacity(files.len());
        for file in files {
            let identity = match std::fs::metadata(file) {
                Ok(meta) => Some(Identity::of(&meta)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(_) => return None,
            };
            if identity.is_some_and(|i| !i.settled(began)) {
                return None;
            }
            listed.push((file.clone(), identity));
        }
        listed.sort_by(|a, b| a.0.cmp(&b.0));
        listed.dedup_by(|a, b| a.0 == b.0);
        Some(Manifest { key: Some(key), files: listed, checked: None })
    }

    /// Writes it (best effort: a directory that cannot be written only means computing the
    /// key again next time), by rename, so a reader sees a whole manifest or none.
    pub fn write(&self, path: &Path) {
        let Some(text) = self.text() else { return };
        let temp = path.with_extension(format!("tmp{}", std::process::id()));
        let _ = crate::cache::replace_file(&temp, path, text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_invalidation() {
        let dir = std::env::temp_dir().join(format!("jitld-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let input = dir.join("input with spaces.o");
        std::fs::write(&input, b"object").unwrap();
        let old = SystemTime::now() - Duration::from_secs(60);
        std::fs::File::options().write(true).open(&input).unwrap().set_modified(old).unwrap();
        let key = CacheKey::builder().part("x", "y").finish();
        // Not in `dir`: writing it changes its directory's times.
        let path = std::env::temp_dir().join(format!(".manifest-test-{}", std::process::id()));
        // The change time is now: not settled yet.
        assert_eq!(Manifest::new(key, std::slice::from_ref(&input), SystemTime::now()), None);
        let later = SystemTime::now() + SETTLED;
        let files = [input.clone(), dir.clone(), dir.join("absent")];
        let mut manifest = Manifest::new(key, &files, later).expect("settled");
        assert_eq!(manifest.files.iter().filter(|f| f.1.is_none()).count(), 1);
        manifest.checked = manifest.files.first().and_then(|f| f.1);
        manifest.write(&path);
        assert_eq!(Manifest::read_valid(&path).as_ref(), Some(&manifest));
        // Cut short: not a manifest.
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, &text[..text.len() - 4]).unwrap();
        assert_eq!(Manifest::read_valid(&path), None);
        manifest.write(&path);
        // What was absent appears.
        std::fs::write(dir.join("absent"), b"").unwrap();
        assert_eq!(Manifest::read_valid(&path), None);
        std::fs::remove_file(dir.join("absent")).unwrap();
        let files = [input.clone(), dir.join("absent")];
        let manifest = Manifest::new(key, &files, SystemTime::now() + SETTLED).unwrap();
        manifest.write(&path);
        assert!(Manifest::read_valid(&path).is_some());
        // Rewritten with the same length and times: the change time moves.
        std::fs::write(&input, b"OBJECT").unwrap();
        std::fs::File::options().write(true).open(&input).unwrap().set_modified(old).unwrap();
        assert_eq!(Manifest::read_valid(&path), None);
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_file(&path);
    }
}
