//! `DirectoryCache`: the default `ObjectCache`, one file per key in a directory.
//!
//! - An entry is `<key in hex>.o`: the object and a trailer with its key and checksum
//!   (`entry`). Reads check the trailer, so a truncated or corrupt entry is reported once,
//!   removed, and compiled again; it is never loaded.
//! - A store writes a temporary file of its own and renames it into place. Readers see the
//!   old entry or the new one, never part of one, and two processes storing one key at once
//!   each rename a whole file (equal keys mean equal objects, so either may win). No `fsync`:
//!   a crash that loses the data leaves a short file, which the checksum catches.
//! - A size bound, kept by evicting the least recently used entries (`eviction`).
//! - A directory that cannot be created or written to (read-only, full) turns the cache off
//!   with one warning: the program runs on, making everything afresh.

use super::entry::{self, TRAILER_LEN};
use super::eviction::{self, TEMP_PREFIX};
use super::{CacheKey, ObjectCache};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// Where warnings go: one line each, without a prefix.
pub type WarningSink = Arc<dyn Fn(&str) + Send + Sync>;

/// What a cache did, for `--stats`.
#[derive(Default, Debug)]
pub struct CacheStats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub stored: AtomicU64,
    /// Entries found truncated or corrupt (and compiled again).
    pub rejected: AtomicU64,
    pub evicted: AtomicU64,
}

pub struct DirectoryCache {
    dir: PathBuf,
    /// Bytes the entries may take in all.
    limit: u64,
    warn: WarningSink,
    /// Why the cache is off, once it is: nothing is read or stored after that.
    off: Mutex<Option<String>>,
    /// Entries already reported as bad by this process.
    reported: Mutex<HashSet<CacheKey>>,
    stats: CacheStats,
    /// Makes this process's temporary file names unique.
    next_temp: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl DirectoryCache {
    /// A cache in `dir` (created if missing) of at most `limit` bytes; warnings go to stderr.
    pub fn open(dir: impl Into<PathBuf>, limit: u64) -> DirectoryCache {
        let stderr: WarningSink = Arc::new(|line: &str| eprintln!("jitld: warning: {line}"));
        Self::open_with_warnings(dir, limit, stderr)
    }

    /// As `open`, with warnings sent to `warn`.
    pub fn open_with_warnings(dir: impl Into<PathBuf>, limit: u64, warn: WarningSink) -> DirectoryCache {
        let cache = DirectoryCache {
            dir: dir.into(),
            limit,
            warn,
            off: Mutex::new(None),
            reported: Mutex::new(HashSet::new()),
            stats: CacheStats::default(),
            next_temp: AtomicU64::new(0),
        };
        if let Err(e) = std::fs::create_dir_all(&cache.dir) {
            cache.turn_off(format!("cannot create it ({e})"));
        } else if let Err(e) = cache.probe() {
            cache.turn_off(format!("it is not writable ({e})"));
        }
        cache
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn stats(&self) -> &CacheStats {
        &self.stats
    }

    /// Why the cache is off, if it is.
    pub fn disabled(&self) -> Option<String> {
        lock(&self.off).clone()
    }

    /// The file that holds `key`'s entry.
    pub fn entry_path(&self, key: &CacheKey) -> PathBuf {
        self.dir.join(format!("{}.o", key.to_hex()))
    }

    /// Writing a file and removing it: a read-only directory (or file system) says no here,
    /// once, rather than at every store.
    fn probe(&self) -> std::io::Result<()> {
        let path = self.temp_path("probe");
        std::fs::OpenOptions::new().write(true).create_new(true).open(&path)?.write_all(b"probe")?;
        std::fs::remove_file(&path)
    }

    fn temp_path(&self, what: &str) -> PathBuf {
        let n = self.next_temp.fetch_add(1, Relaxed);
        self.dir.join(format!("{TEMP_PREFIX}{}-{n}-{what}", std::process::id()))
    }

    fn turn_off(&self, why: String) {
        let mut off = lock(&self.off);
        if off.is_none() {
            (self.warn)(&format!("cache directory {}: {why}; running without caching", self.dir.display()));
            *off = Some(why);
        }
    }

    fn is_off(&self) -> bool {
        lock(&self.off).is_some()
    }

    /// Reports a bad entry once, and removes it so that the next store replaces it.
    fn reject(&self, key: &CacheKey, path: &Path, defect: &entry::Defect) {
        self.stats.rejected.fetch_add(1, Relaxed);
        if lock(&self.reported).insert(*key) {
            (self.warn)(&format!("cache entry {} is {defect}; ignoring it and making it again", path.display()));
        }
        let _ = std::fs::remove_file(path);
    }

    /// Writes the entry's bytes under a temporary name and renames it into place.
    fn store(&self, key: &CacheKey, sealed: &[u8]) -> std::io::Result<()> {
        let temp = self.temp_path(&key.to_hex());
        let written = (|| {
            let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(&temp)?;
            file.write_all(sealed)?;
            // Nanosecond precision: the file system's own clock ticks too coarsely to order
            // stores made in quick succession.
            file.set_modified(SystemTime::now())?;
            drop(file);
            std::fs::rename(&temp, self.entry_path(key))
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        written
    }
}

impl ObjectCache for DirectoryCache {
    fn get_object(&self, key: &CacheKey) -> Option<Vec<u8>> {
        if self.is_off() {
            return None;
        }
        let path = self.entry_path(key);
        let mut bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) => {
                if e.kind() != std::io::ErrorKind::NotFound && lock(&self.reported).insert(*key) {
                    (self.warn)(&format!("cache entry {}: cannot read it ({e})", path.display()));
                }
                self.stats.misses.fetch_add(1, Relaxed);
                return None;
            }
        };
        match entry::unseal_for(key, &bytes).map(<[u8]>::len) {
            Ok(len) => {
                self.stats.hits.fetch_add(1, Relaxed);
                // A use: the entry moves to the young end of the eviction order.
                if let Ok(file) = std::fs::OpenOptions::new().append(true).open(&path) {
                    let _ = file.set_modified(SystemTime::now());
                }
                // The object is the entry's start: dropping the trailer saves copying it
                // (megabytes, for a prelinked image).
                bytes.truncate(len);
                Some(bytes)
            }
            Err(defect) => {
                self.reject(key, &path, &defect);
                self.stats.misses.fetch_add(1, Relaxed);
                None
            }
        }
    }

    fn notify_object_compiled(&self, key: &CacheKey, object: &[u8]) {
        if self.is_off() {
            return;
        }
        // An object bigger than the whole bound would only evict everything, itself last.
        if (object.len() + TRAILER_LEN) as u64 > self.limit {
            return;
        }
        self.store_and_evict(key, &entry::seal(key, object));
    }
}

impl DirectoryCache {
    /// Stores `bytes` as `key`'s entry as they are: for entries of a format with checks of
    /// its own (prelinked images, `image::file`). Written and bounded as every entry is.
    pub fn store_entry(&self, key: &CacheKey, bytes: &[u8]) {
        if self.is_off() || bytes.len() as u64 > self.limit {
            return;
        }
        self.store_and_evict(key, bytes);
    }

    fn store_and_evict(&self, key: &CacheKey, bytes: &[u8]) {
        if let Err(e) = self.store(key, bytes) {
            return self.turn_off(format!("cannot store an entry ({e})"));
        }
        self.stats.stored.fetch_add(1, Relaxed);
        let keep = format!("{}.o", key.to_hex());
        match eviction::evict(&self.dir, self.limit, &keep) {
            Ok(removed) => {
                self.stats.evicted.fetch_add(removed, Relaxed);
            }
            Err(e) => (self.warn)(&format!("cache directory {}: cannot evict ({e})", self.dir.display())),
        }
    }
}
