//! The how-to examples (one per how-to of the ORC design document) run and say what they
//! should. They are built by `cargo build --examples`, which this test runs once.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

fn example(name: &str, args: &[&str]) -> String {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let status = Command::new(env!("CARGO")).args(["build", "--examples", "--quiet"]).status().unwrap();
        assert!(status.success(), "cargo build --examples failed");
    });
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/debug/examples").join(name);
    let out = Command::new(&path).args(args).output().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{name} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

#[test]
fn link_order_binds_to_the_first_library() {
    let out = example("link_order", &[]);
    assert!(out.contains("as expected: duplicate definition of foo: in a1.o and in a3.o"), "{out}");
    assert!(out.contains("foo() = 1\nrun() = 11"), "{out}");
}

#[test]
fn removed_code_runs_its_finalizer_and_is_gone() {
    let out = example("remove_code", &[]);
    for version in 1..=3 {
        assert!(
            out.contains(&format!("version() = {version}\nversion {version} removed\nlooked up after removal: false")),
            "{out}"
        );
    }
}

#[test]
fn lazy_functions_link_on_first_call() {
    let out = example("lazy", &[]);
    assert!(out.contains("objects linked so far: 0"), "{out}");
    assert!(out.contains("square(12) = 144; objects linked now: 1"), "{out}");
    assert!(out.contains("stubs hit: 1") && out.contains("same stub afterwards: true"), "{out}");
}

#[test]
fn process_and_library_symbols_with_an_allow_list() {
    let out = example("process_symbols", &[]);
    assert!(out.contains("scaled 7000"), "the absolute symbol called back into Rust: {out}");
    assert!(out.contains("crc32 = 0xc1e938a3"), "zlib from dlopen: {out}");
    assert!(out.contains("not allowed: undefined symbol: getpid (referenced by uses_getpid.o)"), "{out}");
}

#[test]
fn concurrent_lazy_calls_link_each_body_once() {
    let out = example("concurrent", &[]);
    assert!(out.contains("bodies linked: 16, stubs hit: 16"), "{out}");
}

#[test]
fn embed_calls_a_typed_function() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/session-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let (c, o) = (dir.join("embed_add.c"), dir.join("embed_add.o"));
    std::fs::write(&c, "int add(int a, int b) { return a + b; }\n").unwrap();
    assert!(Command::new("cc").arg("-c").arg(&c).arg("-o").arg(&o).status().unwrap().success());
    assert_eq!(example("embed", &[o.to_str().unwrap(), "add", "2", "3"]), "5\n");
}
