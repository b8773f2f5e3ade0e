//! A directory of objects as a library (`--object-dir`, `Jit::add_object_dir`): a C program
//! whose functions are spread over a directory's objects runs as its native build does,
//! eagerly and lazily; the symbol index is kept in the directory and a changed object is
//! read again; duplicate definitions follow the session's rules; a file that is not an
//! object is an error that names it.

#[path = "common/harness.rs"]
mod harness;

use harness::{assert_clean_error, compile, jitld, run, scratch, tool, write};
use jitld::cache::ObjectDir;
use jitld_linker::arch::Arch;
use jitld_linker::NamePool;
use std::path::{Path, PathBuf};

const MAIN: &str = r#"
#include <stdio.h>
int add(int, int);
int mul(int, int);
const char *greeting(void);
int counter(void);
extern int table[4];
int main(int argc, char **argv) {
    printf("%s: %d %d %d\n", greeting(), add(2, 3), mul(4, 5), table[2]);
    int first = counter();
    int second = counter();
    printf("counted %d then %d\n", first, second);
    return add(argc, 40);
}
"#;

/// The library's sources: calls between its objects, data, and an object nothing needs.
const LIBRARY: [(&str, &str); 4] = [
    ("add", "int table[4] = {1, 2, 3, 4};\nint add(int a, int b) { return a + b; }\n"),
    ("mul", "int add(int, int);\nint mul(int a, int b) { int r = 0; for (int i = 0; i < b; i++) r = add(r, a); return r; }\n"),
    ("greet", "static int n;\nint counter(void) { return ++n; }\nconst char *greeting(void) { return \"hello\"; }\n"),
    ("unused", "int never_called(void) { return 7; }\n"),
];

/// Compiles `main.c` and each source into `lib/NAME.o`; returns (main.o, lib).
fn build(work: &Path, main: &str, library: &[(&str, &str)]) -> (PathBuf, PathBuf) {
    let lib = work.join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    let sources = work.join("src");
    std::fs::create_dir_all(&sources).unwrap();
    for (name, text) in library {
        let c = write(&sources, &format!("{name}.c"), text);
        compile("gcc", &c, &lib.join(format!("{name}.o")), &["-O1"]);
    }
    let main_c = write(work, "main.c", main);
    (compile("gcc", &main_c, &work.join("main.o"), &["-O1"]), lib)
}

/// The native build's (exit code, stdout).
fn native(work: &Path, main_o: &Path, lib: &Path) -> (Option<i32>, String) {
    let mut objects: Vec<String> = std::fs::read_dir(lib)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "o"))
        .map(|p| p.display().to_string())
        .collect();
    objects.sort();
    let exe = work.join("native");
    let mut args = vec![main_o.display().to_string()];
    args.extend(objects);
    args.extend(["-o".to_string(), exe.display().to_string()]);
    tool("gcc", &args);
    let out = run(exe.to_str().unwrap(), &[] as &[&str]);
    (out.code, out.stdout)
}

fn arg(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn a_program_spread_over_a_directory_runs_as_its_native_build() {
    let work = scratch("object_dir_program");
    let (main_o, lib) = build(&work, MAIN, &LIBRARY);
    let expected = native(&work, &main_o, &lib);
    assert_eq!(expected.0, Some(41));
    for flag in ["--object-dir", "--lazy-object-dir"] {
        let out = jitld(&["run".into(), arg(&main_o), flag.into(), arg(&lib), "--stats".into()]);
        assert_eq!((out.code, out.stdout.clone()), expected, "{flag}:\n{}", out.describe());
        // What the program needs and nothing else: `unused.o` is never linked.
        assert!(out.stderr.contains("linked 4 objects"), "{flag}:\n{}", out.describe());
    }
    let lazy = jitld(&["run".into(), arg(&main_o), "--lazy-object-dir".into(), arg(&lib), "--stats".into()]);
    assert!(lazy.stderr.contains("lazy stubs: 4 created, 4 hit"), "{}", lazy.describe());
}

#[test]
fn the_index_is_kept_and_a_changed_object_is_read_again() {
    let work = scratch("object_dir_index");
    let (main_o, lib) = build(&work, MAIN, &LIBRARY);
    let names = NamePool::new();
    let open = || ObjectDir::open(&lib, &names, Arch::host()).unwrap();
    let shown = |dir: &ObjectDir| -> Vec<String> {
        dir.reindexed().iter().map(|p| Path::new(p).file_name().unwrap().to_string_lossy().into_owned()).collect()
    };
    assert_eq!(shown(&open()), ["add.o", "greet.o", "mul.o", "unused.o"], "first use reads every object");
    assert!(lib.join(".jitld-object-index").is_file(), "the index is kept in the directory");
    assert!(shown(&open()).is_empty(), "nothing changed, nothing is read");

    // mul.o changes (same name, new code), and an object is added.
    let sources = work.join("src");
    let mul = write(&sources, "mul.c", "int mul(int a, int b) { return a * b + 1000; }\n");
    compile("gcc", &mul, &lib.join("mul.o"), &["-O1"]);
    let extra = write(&sources, "extra.c", "int extra(void) { return 1; }\n");
    compile("gcc", &extra, &lib.join("extra.o"), &["-O1"]);
    let reopened = open();
    assert_eq!(shown(&reopened), ["extra.o", "mul.o"], "only what changed is read again");
    assert_eq!(reopened.len(), 5);
    let out = jitld(&["run".into(), arg(&main_o), "--object-dir".into(), arg(&lib)]);
    assert!(out.stdout.contains("hello: 5 1020 3"), "the changed object is the one linked:\n{}", out.describe());

    // A removed object is gone from the index.
    std::fs::remove_file(lib.join("extra.o")).unwrap();
    let reopened = open();
    assert_eq!(reopened.len(), 4);
    assert_eq!(reopened.object_defining(names.intern("extra")), None);
}

#[test]
fn duplicate_definitions_across_objects_follow_the_session_rules() {
    let work = scratch("object_dir_duplicates");
    let main = "int only_a(void); int only_b(void);\nint main(void) { return only_a() + only_b(); }\n";
    let (main_o, lib) = build(
        &work,
        main,
        &[
            ("a", "int shared(void) { return 1; }\nint only_a(void) { return shared(); }\n"),
            ("b", "int shared(void) { return 2; }\nint only_b(void) { return 3; }\n"),
        ],
    );
    let out = jitld(&["run".into(), arg(&main_o), "--object-dir".into(), arg(&lib)]);
    let (a, b) = (arg(&lib.join("a.o")), arg(&lib.join("b.o")));
    assert_clean_error(&out, &["duplicate definition of shared", &a, &b]);

    // A weak definition yields to a strong one, whichever object is found first.
    let work = scratch("object_dir_weak");
    let main = "int pick(void); int only_c(void);\nint main(void) { return pick() * 10 + only_c(); }\n";
    let (main_o, lib) = build(
        &work,
        main,
        &[
            ("c", "__attribute__((weak)) int pick(void) { return 1; }\nint only_c(void) { return 5; }\n"),
            ("d", "int pick(void) { return 2; }\n"),
        ],
    );
    let expected = native(&work, &main_o, &lib);
    assert_eq!(expected.0, Some(25));
    let out = jitld(&["run".into(), arg(&main_o), "--object-dir".into(), arg(&lib)]);
    assert_eq!(out.code, expected.0, "{}", out.describe());
}

#[test]
fn a_file_that_is_not_an_object_is_an_error_naming_it() {
    let work = scratch("object_dir_bad_file");
    let (main_o, lib) = build(&work, MAIN, &LIBRARY);
    let notes = write(&lib, "notes.txt", "what these objects are\n");
    let out = jitld(&["run".into(), arg(&main_o), "--object-dir".into(), arg(&lib)]);
    assert_clean_error(&out, &[&arg(&notes), "not a relocatable object"]);
    std::fs::remove_file(&notes).unwrap();

    // A truncated object: its header promises sections that are not there.
    let bytes = std::fs::read(lib.join("mul.o")).unwrap();
    std::fs::write(lib.join("mul.o"), &bytes[..bytes.len() / 3]).unwrap();
    let out = jitld(&["run".into(), arg(&main_o), "--object-dir".into(), arg(&lib)]);
    assert_clean_error(&out, &[&arg(&lib.join("mul.o"))]);
}

#[test]
fn the_library_call_links_only_what_is_needed() {
    let work = scratch("object_dir_library_call");
    let (_, lib) = build(&work, MAIN, &LIBRARY);
    let jit = jitld::Jit::new().unwrap();
    jit.add_object_dir(&lib).unwrap();
    // SAFETY: `int mul(int, int)`.
    let mul = unsafe { jit.get::<extern "C" fn(i32, i32) -> i32>("mul") }.unwrap();
    assert_eq!(mul(6, 7), 42);
    let linked = jit.layer().stats().objects.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(linked, 2, "mul.o and the add.o it calls");

    let lazy = jitld::Jit::new().unwrap();
    lazy.add_lazy_object_dir(&lib).unwrap();
    // SAFETY: `int add(int, int)`.
    let add = unsafe { lazy.get::<extern "C" fn(i32, i32) -> i32>("add") }.unwrap();
    assert_eq!(lazy.layer().stats().objects.load(std::sync::atomic::Ordering::Relaxed), 0, "a stub, not the code");
    assert_eq!(add(40, 2), 42);
    assert_eq!(lazy.layer().stats().objects.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[test]
fn a_directory_that_cannot_be_written_keeps_its_index_in_memory() {
    let leftover = Path::new(env!("CARGO_TARGET_TMPDIR")).join("object_dir_read_only/lib");
    let writable = |dir: &Path| {
        let _ = std::process::Command::new("chattr").arg("-i").arg(dir).stderr(std::process::Stdio::null()).status();
    };
    if leftover.exists() {
        writable(&leftover);
    }
    let work = scratch("object_dir_read_only");
    let (main_o, lib) = build(&work, MAIN, &LIBRARY);
    // Root ignores permission bits; the immutable attribute stops it too.
    let immutable = std::process::Command::new("chattr").arg("+i").arg(&lib).status().is_ok_and(|s| s.success());
    if !immutable {
        eprintln!("skipped: cannot make a directory immutable here");
        return;
    }
    let out = jitld(&["run".into(), arg(&main_o), "--object-dir".into(), arg(&lib)]);
    writable(&lib);
    assert_eq!(out.code, Some(41), "{}", out.describe());
    assert!(out.stdout.starts_with("hello: 5 20 3\n"), "{}", out.describe());
    assert_eq!(out.stderr, "", "nothing to say: the index is only a speed-up");
    assert!(!lib.join(".jitld-object-index").exists());
}
