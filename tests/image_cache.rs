//! The prelinked-image cache (`jitld run --cache=DIR`) with the e2e fixtures, in real
//! processes: a warm start prints what the cold link and the native executable print and
//! builds no graph; each part of the key (an input's contents, a flag, a shared library's
//! identity, jitld's own build) gives a miss; two processes filling one entry at once leave
//! one whole entry; truncated and corrupt entries are reported and linked over; a directory
//! that cannot be written runs without caching and says so; the size bound evicts; an image
//! whose range is taken in the process links cold instead of mapping over it; `--oop` and
//! `--lazy` are not cached; `jitld cache stats` / `clear`.

#[path = "common/fixtures.rs"]
mod fixtures;

use fixtures::{jitld_command, manifest, native_command, Entry, JITLD, TEST_VALUE, TEST_VAR};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn entry(kind: &str, case: &str, variant: &str) -> &'static Entry {
    manifest()
        .iter()
        .find(|e| e.kind == kind && e.case == case && e.variant == variant)
        .unwrap_or_else(|| panic!("no fixture {kind}/{case}/{variant}"))
}

fn sqlite() -> &'static Entry {
    entry("real", "sqlite", "gcc-O2-pie")
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("image_cache").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn cache_flag(dir: &Path) -> String {
    format!("--cache={}", dir.display())
}

/// `jitld run --cache=DIR --stats EXTRA... --argv0 NATIVE INPUTS -- ARGS`.
fn cached(e: &Entry, dir: &Path, extra: &[&str]) -> Output {
    let flag = cache_flag(dir);
    let mut all = vec![flag.as_str(), "--stats"];
    all.extend_from_slice(extra);
    jitld_command(e, &all).output().unwrap()
}

/// As `cached`, with the inputs given (the fixture's replaced).
fn cached_with_inputs(e: &Entry, dir: &Path, extra: &[&str], inputs: &[String]) -> Output {
    let mut cmd = Command::new(JITLD);
    cmd.args(["run", &cache_flag(dir), "--stats"]).args(extra).arg("--argv0").arg(&e.native);
    cmd.args(inputs).arg("--").args(&e.args).current_dir(e.workdir()).env(TEST_VAR, TEST_VALUE);
    cmd.output().unwrap()
}

fn native(e: &Entry) -> Output {
    native_command(e).output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Same stdout and exit status as the native run.
fn assert_native(e: &Entry, out: &Output, what: &str) {
    let expected = native(e);
    assert_eq!(out.status.code(), expected.status.code(), "{what}: exit status\n{}", stderr(out));
    assert!(out.stdout == expected.stdout, "{what}: stdout differs from native\n{}", stderr(out));
}

fn was_hit(out: &Output) -> bool {
    let err = stderr(out);
    err.contains("image cache: hit: no graph built") && err.contains("linked 0 objects, 0 archive members")
}

fn was_stored(out: &Output) -> bool {
    stderr(out).contains("image cache: miss: stored")
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "o"))
        .collect();
    found.sort();
    found
}

#[test]
fn warm_starts_print_what_cold_and_native_runs_print() {
    let cases = [("sqlite", "real"), ("lua", "real"), ("zlib", "real"), ("json", "real"), ("rust_staticlib", "rust")];
    let mut checked = 0;
    for e in manifest().iter().filter(|e| cases.contains(&(e.case.as_str(), e.kind.as_str()))) {
        let dir = scratch(&format!("warm-{}-{}", e.case, e.variant));
        let cold = cached(e, &dir, &[]);
        assert!(was_stored(&cold), "{}: cold run did not store\n{}", e.name(), stderr(&cold));
        assert!(stderr(&cold).contains("archive members") && !was_hit(&cold));
        let warm = cached(e, &dir, &[]);
        assert!(was_hit(&warm), "{}: warm run linked\n{}", e.name(), stderr(&warm));
        assert_eq!(warm.stdout, cold.stdout, "{}: warm and cold stdout", e.name());
        assert_eq!(warm.status.code(), cold.status.code(), "{}: warm and cold status", e.name());
        assert_native(e, &warm, &e.name());
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} fixtures found");
}

#[test]
fn each_part_of_the_key_invalidates() {
    let e = sqlite();
    let dir = scratch("key");
    let inputs_dir = scratch("key-inputs");
    let driver = inputs_dir.join("driver.o");
    std::fs::copy(&e.inputs[0], &driver).unwrap();
    let mut inputs: Vec<String> = e.inputs.clone();
    inputs[0] = driver.display().to_string();
    let run = |extra: &[&str], inputs: &[String]| cached_with_inputs(e, &dir, extra, inputs);

    assert!(was_stored(&run(&[], &inputs)));
    assert!(was_hit(&run(&[], &inputs)), "same inputs");
    // Touching changes no byte: the key is the contents, so still a hit.
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    std::fs::File::options().write(true).open(&driver).unwrap().set_modified(later).unwrap();
    assert!(was_hit(&run(&[], &inputs)), "touched input");
    // A changed input (bytes after the object's end, which the link ignores).
    let mut bytes = std::fs::read(&driver).unwrap();
    bytes.extend_from_slice(b"changed!");
    std::fs::write(&driver, &bytes).unwrap();
    let changed = run(&[], &inputs);
    assert!(was_stored(&changed), "modified input\n{}", stderr(&changed));
    assert_native(e, &changed, "modified input");
    assert!(was_hit(&run(&[], &inputs)));
    // A flag that changes the link.
    assert!(was_stored(&run(&["--abs", "jitld_test_unused=0x1234"], &inputs)), "new flag");
    assert!(was_hit(&run(&["--abs", "jitld_test_unused=0x1234"], &inputs)));
    assert!(was_hit(&run(&[], &inputs)), "the old entry is still there");
    // A shared library: the same libm, by path, then replaced by a copy (another inode).
    let libm = inputs_dir.join("libm.so.6");
    std::fs::copy("/lib/x86_64-linux-gnu/libm.so.6", &libm).unwrap();
    let mut with_libm = inputs.clone();
    with_libm.retain(|i| i != "-lm");
    with_libm.push(libm.display().to_string());
    assert!(was_stored(&run(&[], &with_libm)), "library by path");
    assert!(was_hit(&run(&[], &with_libm)));
    let replaced = inputs_dir.join("libm.so.6.new");
    std::fs::copy("/lib/x86_64-linux-gnu/libm.so.6", &replaced).unwrap();
    std::fs::rename(&replaced, &libm).unwrap();
    let swapped = run(&[], &with_libm);
    assert!(was_stored(&swapped), "swapped library\n{}", stderr(&swapped));
    assert_native(e, &swapped, "swapped library");
    // Another jitld build (here: the same binary elsewhere, another identity).
    let other_jitld = inputs_dir.join("jitld");
    std::fs::copy(JITLD, &other_jitld).unwrap();
    let mut cmd = Command::new(&other_jitld);
    cmd.args(["run", &cache_flag(&dir), "--stats", "--argv0"]).arg(&e.native).args(&inputs).arg("--");
    let other = cmd.args(&e.args).current_dir(e.workdir()).env(TEST_VAR, TEST_VALUE).output().unwrap();
    assert!(was_stored(&other), "another jitld\n{}", stderr(&other));
}

#[test]
fn two_processes_fill_one_entry_at_once() {
    let e = sqlite();
    let dir = scratch("concurrent");
    let flag = cache_flag(&dir);
    let children: Vec<_> = (0..2)
        .map(|_| {
            let mut cmd = jitld_command(e, &[flag.as_str(), "--stats"]);
            cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_native(e, &out, "concurrent filler");
    }
    assert_eq!(entries(&dir).len(), 1);
    let leftovers =
        std::fs::read_dir(&dir).unwrap().flatten().filter(|f| f.file_name().to_string_lossy().starts_with(".tmp-"));
    assert_eq!(leftovers.count(), 0);
    let warm = cached(e, &dir, &[]);
    assert!(was_hit(&warm));
    assert_native(e, &warm, "after concurrent fill");
}

#[test]
fn truncated_and_corrupt_entries_are_reported_and_linked_over() {
    let e = sqlite();
    let dir = scratch("damaged");
    assert!(was_stored(&cached(e, &dir, &[])));
    let entry = entries(&dir).pop().unwrap();
    let whole = std::fs::read(&entry).unwrap();

    std::fs::write(&entry, &whole[..whole.len() / 2]).unwrap();
    let out = cached(e, &dir, &[]);
    assert!(stderr(&out).contains("warning") && stderr(&out).contains("truncated"), "{}", stderr(&out));
    assert!(was_stored(&out), "linked cold and stored again\n{}", stderr(&out));
    assert_native(e, &out, "truncated entry");

    let mut corrupt = whole.clone();
    corrupt[whole.len() / 3] ^= 0x5a;
    std::fs::write(&entry, &corrupt).unwrap();
    let out = cached(e, &dir, &[]);
    assert!(stderr(&out).contains("warning") && stderr(&out).contains("corrupt"), "{}", stderr(&out));
    assert!(was_stored(&out));
    assert_native(e, &out, "corrupt entry");
    assert!(was_hit(&cached(e, &dir, &[])));
}

#[test]
fn a_directory_that_cannot_be_written_runs_without_caching() {
    let e = sqlite();
    // Nobody, root included, creates files in /proc/self.
    let out = cached(e, Path::new("/proc/self"), &[]);
    let err = stderr(&out);
    assert!(err.contains("running without caching"), "{err}");
    assert!(err.contains("not stored: the cache directory is off"), "{err}");
    assert_native(e, &out, "unwritable cache directory");
}

#[test]
fn the_size_bound_evicts_the_least_recently_used_image() {
    let (sqlite, zlib) = (sqlite(), entry("real", "zlib", "gcc-O2-pie"));
    let sizing = scratch("evict-sizing");
    assert!(was_stored(&cached(sqlite, &sizing, &[])));
    let sqlite_size = std::fs::metadata(entries(&sizing).pop().unwrap()).unwrap().len();

    let dir = scratch("evict");
    let limit = format!("--cache-limit={}", sqlite_size + 4096);
    assert!(was_stored(&cached(zlib, &dir, &[&limit])));
    assert!(was_stored(&cached(sqlite, &dir, &[&limit])));
    assert_eq!(entries(&dir).len(), 1, "zlib's image went to make room");
    let zlib_again = cached(zlib, &dir, &[&limit]);
    assert!(was_stored(&zlib_again), "zlib links cold again\n{}", stderr(&zlib_again));
    assert_native(zlib, &zlib_again, "after eviction");
    let stats = Command::new(JITLD).args(["cache", "stats"]).arg(&dir).output().unwrap();
    assert!(String::from_utf8_lossy(&stats.stdout).contains("1 entries (1 prelinked images, 0 compiled objects)"));
}

#[test]
fn an_image_whose_range_is_taken_links_cold() {
    let e = sqlite();
    let dir = scratch("taken");
    assert!(was_stored(&cached(e, &dir, &[])));
    let path = entries(&dir).pop().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let (key, mut image) = jitld::cache::image::file::decode(&bytes).unwrap();
    // Without address randomization a PIE jitld sits here: one more segment over it.
    let taken = 0x5555_5555_4000;
    let prot = jitld_linker::graph::MemProt::ReadWrite;
    image.segments.push(jitld::cache::image::Segment { addr: taken, prot, bytes: vec![0; 16].into() });
    std::fs::write(&path, jitld::cache::image::file::encode(&key, &image).unwrap()).unwrap();

    let mut cmd = Command::new("setarch");
    cmd.args(["x86_64", "-R", JITLD, "run", &cache_flag(&dir), "--stats", "--argv0"]).arg(&e.native);
    let out = cmd.args(&e.inputs).arg("--").args(&e.args).current_dir(e.workdir()).env(TEST_VAR, TEST_VALUE);
    let out = out.output().unwrap();
    let err = stderr(&out);
    assert!(err.contains("the image cannot start here") && err.contains("is taken"), "{err}");
    assert!(was_stored(&out), "{err}");
    assert_native(e, &out, "range taken");
}

#[test]
fn what_an_image_cannot_hold_is_not_cached_and_says_so() {
    let e = sqlite();
    let dir = scratch("oop");
    let out = cached(e, &dir, &["--oop"]);
    assert!(stderr(&out).contains("image cache: not used: the program runs in another process"));
    assert_native(e, &out, "--oop");
    let mut lazy = vec!["--lazy".to_string()];
    lazy.extend(e.inputs.iter().cloned());
    let out = cached_with_inputs(e, &dir, &[], &lazy);
    assert!(
        stderr(&out).contains("image cache: not used: lazy objects link while the program runs"),
        "{}",
        stderr(&out)
    );
    assert_native(e, &out, "--lazy");
    assert!(entries(&dir).is_empty());
}

#[test]
fn cache_stats_and_clear() {
    let e = sqlite();
    let dir = scratch("stats");
    assert!(was_stored(&cached(e, &dir, &[])));
    let stats = Command::new(JITLD).args(["cache", "stats"]).arg(&dir).output().unwrap();
    let text = String::from_utf8_lossy(&stats.stdout);
    assert!(text.contains("1 entries (1 prelinked images, 0 compiled objects)"), "{text}");
    std::fs::write(dir.join("keep-me.txt"), "not an entry").unwrap();
    let clear = Command::new(JITLD).args(["cache", "clear"]).arg(&dir).output().unwrap();
    assert!(String::from_utf8_lossy(&clear.stdout).contains("removed 1 entries"));
    let left: Vec<String> =
        std::fs::read_dir(&dir).unwrap().flatten().map(|f| f.file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(left, vec!["keep-me.txt".to_string()]);
    // The default directory follows XDG_CACHE_HOME.
    let home = scratch("xdg");
    let stats = Command::new(JITLD).args(["cache", "stats"]).env("XDG_CACHE_HOME", &home).output().unwrap();
    assert!(String::from_utf8_lossy(&stats.stdout).contains(&format!("{}: 0 entries", home.join("jitld").display())));
}

fn stats_line(out: &Output) -> String {
    stderr(out).lines().find(|l| l.contains("image cache: hit")).unwrap_or_default().to_string()
}

#[test]
fn the_manifest_skips_the_key_and_checked_pages_until_anything_changes() {
    let e = sqlite();
    let dir = scratch("manifest");
    let inputs_dir = scratch("manifest-inputs");
    let driver = inputs_dir.join("driver.o");
    std::fs::copy(&e.inputs[0], &driver).unwrap();
    // Inputs written just now are not trusted by their times: make this one old.
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options().write(true).open(&driver).unwrap().set_modified(old).unwrap();
    let mut inputs: Vec<String> = e.inputs.clone();
    inputs[0] = driver.display().to_string();
    let run = || cached_with_inputs(e, &dir, &[], &inputs);
    let settle = || std::thread::sleep(std::time::Duration::from_millis(2100));

    settle();
    assert!(was_stored(&run()));
    settle();
    // The entry is settled now: this start checks its pages, and says so in the manifest.
    let first = run();
    assert!(was_hit(&first) && stats_line(&first).contains("mapped, checked;"), "{}", stderr(&first));
    assert!(stats_line(&first).contains("key from the command line's manifest"), "{}", stderr(&first));
    let second = run();
    assert!(stats_line(&second).contains("checked before, unchanged since"), "{}", stderr(&second));
    assert_native(e, &second, "pages checked before");

    // A byte of the entry's pages changed in place, its size and times put back: the
    // change time still moves, so the pages are checked again and found corrupt.
    let entry = entries(&dir).pop().unwrap();
    let mut bytes = std::fs::read(&entry).unwrap();
    let modified = std::fs::metadata(&entry).unwrap().modified().unwrap();
    let at = bytes.len() - 100;
    bytes[at] ^= 0x40;
    std::fs::write(&entry, &bytes).unwrap();
    std::fs::File::options().write(true).open(&entry).unwrap().set_modified(modified).unwrap();
    let damaged = run();
    assert!(stderr(&damaged).contains("corrupt"), "{}", stderr(&damaged));
    assert!(was_stored(&damaged));
    assert_native(e, &damaged, "corrupt pages");

    // An input rewritten with other bytes of the same length and its times put back: the
    // manifest no longer matches (change time), and the key, computed again, differs.
    let mut object = std::fs::read(&driver).unwrap();
    let last = object.len() - 1;
    object[last] ^= 0x01;
    std::fs::write(&driver, &object).unwrap();
    std::fs::File::options().write(true).open(&driver).unwrap().set_modified(old).unwrap();
    let changed = run();
    assert!(was_stored(&changed), "same size and mtime, other bytes\n{}", stderr(&changed));
    assert_native(e, &changed, "changed input");
    // A library directory gaining a file: the key is computed again (the same key here).
    std::fs::write(inputs_dir.join("unrelated.txt"), b"x").unwrap();
    let mut with_dir = inputs.clone();
    with_dir.insert(1, format!("-L{}", inputs_dir.display()));
    settle();
    assert!(was_stored(&cached_with_inputs(e, &dir, &[], &with_dir)));
    let from_manifest = cached_with_inputs(e, &dir, &[], &with_dir);
    assert!(stats_line(&from_manifest).contains("key from the command line's manifest"), "{}", stderr(&from_manifest));
    std::fs::write(inputs_dir.join("another.txt"), b"y").unwrap();
    let again = cached_with_inputs(e, &dir, &[], &with_dir);
    assert!(was_hit(&again) && stats_line(&again).contains("key from the inputs"), "{}", stderr(&again));
}
