//! `DirectoryCache`, the default `ObjectCache`, with objects gcc compiled: a hit gives back
//! the bytes stored (and they link and run), a changed key misses, two processes storing
//! one key at once leave one whole entry, truncated and corrupt entries are reported once
//! and never loaded, a read-only directory turns caching off with a warning, and the size
//! bound evicts the least recently used entries.

#[path = "common/harness.rs"]
mod harness;

use harness::{compile, scratch, write};
use jitld::cache::{CacheKey, DirectoryCache, ObjectCache, WarningSink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

/// A C function per test, so every object is a different one.
fn source(value: i32) -> String {
    format!("int answer(int x) {{ return x * 2 + {value}; }}\n")
}

/// What a compiling layer puts in its key: the source, the compiler's identity (its
/// `--version`), the options and the target.
fn key(source: &str, options: &str) -> CacheKey {
    let version = Command::new("gcc").arg("--version").output().expect("gcc --version").stdout;
    CacheKey::builder()
        .part("source", source)
        .part("compiler", version)
        .part("options", options)
        .part("target", "x86_64-linux-gnu")
        .finish()
}

/// Compiles `source` with `options` in `dir` and returns the object's bytes.
fn gcc(dir: &Path, name: &str, source: &str, options: &str) -> Vec<u8> {
    let c = write(dir, &format!("{name}.c"), source);
    let flags: Vec<&str> = options.split_whitespace().collect();
    let o = compile("gcc", &c, &dir.join(format!("{name}.o")), &flags);
    std::fs::read(o).unwrap()
}

/// A cache whose warnings are kept for the test to read.
fn cache(dir: &Path, limit: u64) -> (DirectoryCache, Arc<Mutex<Vec<String>>>) {
    let warnings = Arc::new(Mutex::new(Vec::new()));
    let sink = warnings.clone();
    let warn: WarningSink = Arc::new(move |line: &str| sink.lock().unwrap().push(line.to_string()));
    (DirectoryCache::open_with_warnings(dir, limit, warn), warnings)
}

/// Links `object` in a fresh JIT and calls its `answer(x)`.
fn call_answer(object: Vec<u8>, x: i32) -> i32 {
    let jit = jitld::Jit::new().unwrap();
    jit.add_object("answer.o", object).unwrap();
    // SAFETY: `answer` is `int answer(int)`.
    let answer = unsafe { jit.get::<extern "C" fn(i32) -> i32>("answer") }.unwrap();
    answer(x)
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn a_miss_then_a_hit_that_links_and_runs() {
    let work = scratch("object_cache_hit");
    let (cache, warnings) = cache(&work.join("cache"), 1 << 20);
    let text = source(1);
    let key = key(&text, "-O1");
    assert_eq!(cache.get_object(&key), None, "an empty cache misses");
    let object = gcc(&work, "answer", &text, "-O1");
    cache.notify_object_compiled(&key, &object);
    let hit = cache.get_object(&key).expect("a stored object is a hit");
    assert_eq!(hit, object, "the bytes stored are the bytes given back");
    assert_eq!(call_answer(hit, 20), 41);
    // Another process (or run) finds it too.
    let (again, _) = self::cache(&work.join("cache"), 1 << 20);
    assert_eq!(again.get_object(&key), Some(object));
    let stats = cache.stats();
    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!((stats.hits.load(Relaxed), stats.misses.load(Relaxed), stats.stored.load(Relaxed)), (1, 1, 1));
    assert!(warnings.lock().unwrap().is_empty(), "{:?}", warnings.lock().unwrap());
    // The entry is a relocatable object as it stands (its trailer follows the object).
    let entry = cache.entry_path(&key);
    let out = Command::new("readelf").arg("-s").arg(&entry).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("answer"), "readelf reads the entry");
}

#[test]
fn a_changed_key_misses_and_both_entries_stay() {
    let work = scratch("object_cache_key");
    let (cache, _) = cache(&work.join("cache"), 1 << 20);
    let text = source(2);
    let o1 = key(&text, "-O1");
    cache.notify_object_compiled(&o1, &gcc(&work, "o1", &text, "-O1"));
    // Other options, another source, another compiler: each a different key.
    let o2 = key(&text, "-O2");
    assert_ne!(o1, o2);
    assert_eq!(cache.get_object(&o2), None, "other options miss");
    let edited = source(3);
    assert_eq!(cache.get_object(&key(&edited, "-O1")), None, "an edited source misses");
    let other_compiler = CacheKey::builder()
        .part("source", &text)
        .part("compiler", "gcc (some other version)")
        .part("options", "-O1")
        .part("target", "x86_64-linux-gnu")
        .finish();
    assert_eq!(cache.get_object(&other_compiler), None, "another compiler misses");
    cache.notify_object_compiled(&o2, &gcc(&work, "o2", &text, "-O2"));
    assert_eq!(call_answer(cache.get_object(&o1).unwrap(), 1), 4);
    assert_eq!(call_answer(cache.get_object(&o2).unwrap(), 1), 4);
    let edited_key = key(&edited, "-O1");
    cache.notify_object_compiled(&edited_key, &gcc(&work, "edited", &edited, "-O1"));
    assert_eq!(call_answer(cache.get_object(&edited_key).unwrap(), 1), 5, "the edit's object, not the old one");
}

/// Stores one entry, then damages it with `damage`; the next read must report it once,
/// never return it, and a store must replace it.
fn damaged_entry_is_recompiled(name: &str, damage: impl Fn(&Path), expected_warning: &str) {
    let work = scratch(name);
    let (cache, warnings) = cache(&work.join("cache"), 1 << 20);
    let text = source(4);
    let key = key(&text, "-O1");
    let object = gcc(&work, "answer", &text, "-O1");
    cache.notify_object_compiled(&key, &object);
    damage(&cache.entry_path(&key));
    assert_eq!(cache.get_object(&key), None, "a damaged entry is never loaded");
    assert_eq!(cache.get_object(&key), None);
    let seen = warnings.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "reported once: {seen:?}");
    assert!(seen[0].contains(expected_warning) && seen[0].contains(&key.to_hex()), "{seen:?}");
    // Compiled again, stored again, whole again.
    cache.notify_object_compiled(&key, &object);
    assert_eq!(cache.get_object(&key), Some(object));
}

#[test]
fn a_truncated_entry_is_reported_once_and_recompiled() {
    damaged_entry_is_recompiled(
        "object_cache_truncated",
        |path| {
            let len = std::fs::metadata(path).unwrap().len();
            std::fs::OpenOptions::new().write(true).open(path).unwrap().set_len(len / 2).unwrap();
        },
        "truncated",
    );
}

#[test]
fn a_corrupt_entry_is_reported_once_and_recompiled() {
    damaged_entry_is_recompiled(
        "object_cache_corrupt",
        |path| {
            let mut bytes = std::fs::read(path).unwrap();
            // A byte inside the object's code, not its trailer.
            bytes[0x48] ^= 0xff;
            std::fs::write(path, bytes).unwrap();
        },
        "corrupt",
    );
}

/// Makes `dir` unwritable, even for root (who ignores permission bits): mode 0555, and the
/// immutable attribute if that is not enough. Returns whether it worked.
fn make_read_only(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    let probe = dir.join("probe");
    if std::fs::write(&probe, b"x").is_err() {
        return true;
    }
    let _ = std::fs::remove_file(&probe);
    let status = Command::new("chattr").arg("+i").arg(dir).status();
    status.is_ok_and(|s| s.success()) && std::fs::write(&probe, b"x").is_err()
}

fn make_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = Command::new("chattr").arg("-i").arg(dir).stderr(std::process::Stdio::null()).status();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_read_only_directory_runs_without_caching_and_says_so() {
    // A run that died half-way may have left the directory immutable.
    let leftover = Path::new(env!("CARGO_TARGET_TMPDIR")).join("object_cache_read_only/cache");
    if leftover.exists() {
        make_writable(&leftover);
    }
    let work = scratch("object_cache_read_only");
    let dir = work.join("cache");
    std::fs::create_dir_all(&dir).unwrap();
    if !make_read_only(&dir) {
        make_writable(&dir);
        eprintln!("skipped: cannot make a directory read-only here");
        return;
    }
    let (cache, warnings) = cache(&dir, 1 << 20);
    let text = source(5);
    let key = key(&text, "-O1");
    let object = gcc(&work, "answer", &text, "-O1");
    assert_eq!(cache.get_object(&key), None);
    cache.notify_object_compiled(&key, &object);
    assert_eq!(cache.get_object(&key), None, "nothing was stored");
    make_writable(&dir);
    let seen = warnings.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "said once: {seen:?}");
    assert!(seen[0].contains("not writable") && seen[0].contains("running without caching"), "{seen:?}");
    assert!(cache.disabled().is_some());
    assert!(entries(&dir).is_empty(), "left nothing behind: {:?}", entries(&dir));
}

#[test]
fn the_size_bound_evicts_the_least_recently_used() {
    let work = scratch("object_cache_eviction");
    let dir = work.join("cache");
    let objects: Vec<(CacheKey, Vec<u8>)> = (10..13)
        .map(|i| {
            let text = source(i);
            (key(&text, "-O1"), gcc(&work, &format!("answer{i}"), &text, "-O1"))
        })
        .collect();
    let entry_size = |object: &Vec<u8>| object.len() as u64 + jitld::cache::entry::TRAILER_LEN as u64;
    // Room for two of the three.
    let limit = entry_size(&objects[0].1) + entry_size(&objects[1].1) + entry_size(&objects[2].1) - 1;
    let (cache, warnings) = cache(&dir, limit);
    let [(a, a_obj), (b, b_obj), (c, c_obj)] = &objects[..] else { unreachable!() };
    cache.notify_object_compiled(a, a_obj);
    cache.notify_object_compiled(b, b_obj);
    // Using `a` makes `b` the least recently used.
    assert!(cache.get_object(a).is_some());
    cache.notify_object_compiled(c, c_obj);
    assert_eq!(cache.get_object(b), None, "the least recently used entry was evicted");
    assert_eq!(cache.get_object(a).as_ref(), Some(a_obj));
    assert_eq!(cache.get_object(c).as_ref(), Some(c_obj));
    assert_eq!(cache.stats().evicted.load(std::sync::atomic::Ordering::Relaxed), 1);
    let total: u64 = entries(&dir).iter().map(|n| std::fs::metadata(dir.join(n)).unwrap().len()).sum();
    assert!(total <= limit, "{total} bytes over the bound of {limit}");
    assert!(warnings.lock().unwrap().is_empty());
}

const FILL_DIR: &str = "JITLD_TEST_CACHE_FILL_DIR";
const FILL_OBJECT: &str = "JITLD_TEST_CACHE_FILL_OBJECT";
const FILL_ROUNDS: usize = 300;

/// Not a test of its own: the body of each child process of
/// `two_processes_fill_one_entry_at_once`. Stores one key over and over and reads it back
/// between stores; every read must be the whole object, and nothing may be reported.
#[test]
fn fill_child() {
    let (Some(dir), Some(object)) = (std::env::var_os(FILL_DIR), std::env::var_os(FILL_OBJECT)) else { return };
    let object = std::fs::read(object).unwrap();
    let (cache, warnings) = cache(Path::new(&dir), 64 << 20);
    let key = key("the shared entry", "-O1");
    for round in 0..FILL_ROUNDS {
        cache.notify_object_compiled(&key, &object);
        let read = cache.get_object(&key);
        assert_eq!(read.as_ref(), Some(&object), "round {round}: not the whole object");
    }
    assert!(warnings.lock().unwrap().is_empty(), "{:?}", warnings.lock().unwrap());
}

#[test]
fn two_processes_fill_one_entry_at_once() {
    let work = scratch("object_cache_two_processes");
    let dir = work.join("cache");
    std::fs::create_dir_all(&dir).unwrap();
    let object_path: PathBuf = work.join("shared.o");
    std::fs::write(&object_path, gcc(&work, "shared", &source(6), "-O1")).unwrap();
    let this = std::env::current_exe().unwrap();
    // Started together, not one after the other: spawn both, then wait.
    let spawned: Vec<_> = (0..2)
        .map(|_| {
            Command::new(&this)
                .args(["fill_child", "--exact", "--test-threads=1", "--nocapture"])
                .env(FILL_DIR, &dir)
                .env(FILL_OBJECT, &object_path)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in spawned {
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "a filling process failed:\n{text}");
        assert!(text.contains("1 passed"), "the child ran its body:\n{text}");
    }
    assert_eq!(entries(&dir).len(), 1, "one entry and no temporary files: {:?}", entries(&dir));
    let (cache, warnings) = cache(&dir, 64 << 20);
    let object = std::fs::read(&object_path).unwrap();
    assert_eq!(cache.get_object(&key("the shared entry", "-O1")), Some(object));
    assert!(warnings.lock().unwrap().is_empty());
}
