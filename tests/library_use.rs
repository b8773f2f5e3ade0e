//! The library as an embedding JIT uses it, from several threads and across failures: a
//! symbol is handed out only after its object's constructors have finished, and an object
//! that failed to link links once what it missed is added.

use jitld::Jit;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Barrier};

/// Compiles C `source` under target/library-use-tests, once per content.
fn object(name: &str, source: &str) -> Vec<u8> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/library-use-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let c = dir.join(format!("{name}.c"));
    let o: PathBuf = dir.join(format!("{name}.o"));
    if std::fs::read_to_string(&c).ok().as_deref() != Some(source) || !o.exists() {
        std::fs::write(&c, source).unwrap();
        let status = Command::new("cc").args(["-O1", "-fPIC", "-c"]).arg(&c).arg("-o").arg(&o).status().unwrap();
        assert!(status.success(), "cc failed for {name}");
    }
    std::fs::read(&o).unwrap()
}

/// A constructor that takes a while; `ready()` says whether it has finished.
const SLOW_CONSTRUCTOR: &str = r#"
#include <unistd.h>
static volatile int done;
__attribute__((constructor)) static void init(void) { usleep(20000); done = 1; }
int ready(void) { return done; }
"#;

#[test]
fn a_symbol_is_handed_out_only_after_its_constructors_finished() {
    let bytes = object("slow_constructor", SLOW_CONSTRUCTOR);
    let rounds = 30;
    for round in 0..rounds {
        let jit = Arc::new(Jit::builder().threads(2).build().unwrap());
        jit.add_object(&format!("slow_constructor_{round}.o"), bytes.clone()).unwrap();
        let start = Arc::new(Barrier::new(2));
        let callers: Vec<_> = (0..2)
            .map(|_| {
                let (jit, start) = (jit.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    // SAFETY: `ready` is `int ready(void)`.
                    let ready = unsafe { jit.get::<extern "C" fn() -> i32>("ready") }.unwrap();
                    ready()
                })
            })
            .collect();
        for caller in callers {
            assert_eq!(caller.join().unwrap(), 1, "round {round}: got `ready` before its constructor finished");
        }
    }
}

/// An object whose link failed on an undefined symbol links once the symbol is added, and
/// so does code that depends on it; a corrected object may take its place instead.
#[test]
fn a_failed_object_links_once_what_it_missed_is_added() {
    let jit = Jit::new().unwrap();
    let user = object("retry_user", "int helper(void);\nint user_fn(void) { return helper() + 1; }\n");
    let top = object("retry_top", "int user_fn(void);\nint top(void) { return user_fn() * 10; }\n");
    jit.add_object("retry_user.o", user).unwrap();
    jit.add_object("retry_top.o", top).unwrap();
    let error = jit.lookup("top").unwrap_err().to_string();
    assert!(error.contains("undefined symbol: helper (referenced by retry_user.o)"), "{error}");
    // Still missing: the same error again, not a stale one about the object's own names.
    let again = jit.lookup("user_fn").unwrap_err().to_string();
    assert!(again.contains("undefined symbol: helper"), "{again}");
    jit.add_object("retry_helper.o", object("retry_helper", "int helper(void) { return 4; }\n")).unwrap();
    // SAFETY: `int top(void)` and `int user_fn(void)`.
    let top = unsafe { jit.get::<extern "C" fn() -> i32>("top") }.unwrap();
    assert_eq!(top(), 50);
    let user_fn = unsafe { jit.get::<extern "C" fn() -> i32>("user_fn") }.unwrap();
    assert_eq!(user_fn(), 5);
}

#[test]
fn a_corrected_object_replaces_one_that_failed() {
    let jit = Jit::new().unwrap();
    jit.add_object("broken.o", object("broken", "int gone(void);\nint answer(void) { return gone(); }\n")).unwrap();
    assert!(jit.lookup("answer").is_err());
    jit.add_object("fixed.o", object("fixed", "int answer(void) { return 42; }\n")).unwrap();
    // SAFETY: `int answer(void)`.
    let answer = unsafe { jit.get::<extern "C" fn() -> i32>("answer") }.unwrap();
    assert_eq!(answer(), 42);
}

/// A unit that panics while materializing (a bug in a custom layer, or in jitld) fails that
/// unit with an error; the session goes on.
#[test]
fn a_panicking_materialization_fails_only_its_unit() {
    use jitld::session::{MaterializationResponsibility, MaterializationUnit, SymbolFlags};
    use jitld_linker::SymbolName;
    struct Panics(SymbolName);
    impl MaterializationUnit for Panics {
        fn name(&self) -> &str {
            "panicking unit"
        }
        fn symbols(&self) -> Vec<(SymbolName, SymbolFlags)> {
            vec![(self.0, SymbolFlags::strong_function())]
        }
        fn materialize(self: Box<Self>, _mr: MaterializationResponsibility) {
            panic!("a bug in a custom layer");
        }
    }
    let jit = Jit::new().unwrap();
    let session = jit.session();
    session.define(jit.main_dylib(), Box::new(Panics(session.intern("doomed")))).unwrap();
    let error = jit.lookup("doomed").unwrap_err().to_string();
    assert!(error.contains("panicking unit: materialization panicked"), "{error}");
    jit.add_object("fine.o", object("fine", "int fine(void) { return 7; }\n")).unwrap();
    // SAFETY: `int fine(void)`.
    let fine = unsafe { jit.get::<extern "C" fn() -> i32>("fine") }.unwrap();
    assert_eq!(fine(), 7);
}

/// Code that fills exactly one page, followed by data: the data segment starts where the
/// code segment ends, and each block still lands in its own segment (a block at that
/// boundary was once looked for in the code's segment: "block lies outside its allocation").
#[test]
fn a_segment_ending_on_a_page_boundary() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/library-use-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let source = dir.join("page_of_code.s");
    std::fs::write(
        &source,
        ".text\n.globl get\nget:\n movl value(%rip), %eax\n ret\n .fill 4096 - 7, 1, 0x90\n\
         .data\n.globl value\nvalue: .long 1234\n",
    )
    .unwrap();
    let object = dir.join("page_of_code.o");
    assert!(Command::new("cc").arg("-c").arg(&source).arg("-o").arg(&object).status().unwrap().success());
    let jit = Jit::new().unwrap();
    jit.add_object_file(&object).unwrap();
    // SAFETY: `get` is `int get(void)`.
    let get = unsafe { jit.get::<extern "C" fn() -> i32>("get") }.unwrap();
    assert_eq!(get(), 1234);
}

/// With a helper building the next objects' graphs (`prepare_ahead`), a chain of objects
/// links as it does without one, and an object that failed (its graph built ahead, then
/// dropped) links once what it missed is added.
#[test]
fn objects_prepared_ahead_link_as_without() {
    let jit = Jit::builder().prepare_ahead(true).build().unwrap();
    let links = 20;
    for i in 0..links {
        let source = format!("int ahead_{}(void);\nint ahead_{i}(void) {{ return ahead_{}() + 1; }}\n", i + 1, i + 1);
        jit.add_object(&format!("ahead_{i}.o"), object(&format!("ahead_{i}"), &source)).unwrap();
    }
    let error = jit.lookup("ahead_0").unwrap_err().to_string();
    assert!(error.contains(&format!("undefined symbol: ahead_{links}")), "{error}");
    let last = format!("int ahead_{links}(void) {{ return 4; }}\n");
    jit.add_object("ahead_last.o", object("ahead_last", &last)).unwrap();
    // SAFETY: `int ahead_0(void)`.
    let first = unsafe { jit.get::<extern "C" fn() -> i32>("ahead_0") }.unwrap();
    assert_eq!(first(), links + 4);
}
