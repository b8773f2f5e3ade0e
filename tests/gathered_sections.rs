//! Gathered sections (`__start_NAME` / `__stop_NAME` registries) beyond what the e2e case
//! `run/registry` shows against native builds: the library gathers too, an object's own
//! definition of a bound wins, and a copy added after its run was placed is an error
//! that names it and leaves the session usable.

#[path = "common/harness.rs"]
mod harness;

use harness::*;
use jitld::Jit;

const ENTRY: &str = "static int entry __attribute__((section(\"things\"), used)) = VALUE;\n";

/// `sum()` adds up every `int` between the bounds of section `things`.
const SUM: &str = "extern int __start_things[], __stop_things[];\n\
int sum(void) { int s = 0; for (int *p = __start_things; p < __stop_things; p++) s += *p; return s; }\n";

fn entry(value: i32) -> String {
    ENTRY.replace("VALUE", &value.to_string())
}

fn object(dir: &std::path::Path, name: &str, source: &str) -> Vec<u8> {
    let src = write(dir, &format!("{name}.c"), source);
    read(&compile("gcc", &src, &dir.join(format!("{name}.o")), &["-O1", "-fPIC"]))
}

fn call(jit: &Jit, name: &str) -> i32 {
    let addr = jit.lookup(name).unwrap();
    // SAFETY: `name` is an `int (void)` function just linked into this process.
    let f: extern "C" fn() -> i32 = unsafe { std::mem::transmute(addr as usize) };
    f()
}

#[test]
fn copies_from_every_object_are_summed_in_one_run() {
    let dir = scratch("gathered-sum");
    let jit = Jit::new().unwrap();
    jit.add_object("a.o", object(&dir, "a", &entry(1))).unwrap();
    jit.add_object("b.o", object(&dir, "b", &format!("{}{SUM}", entry(20)))).unwrap();
    jit.add_object("c.o", object(&dir, "c", &entry(300))).unwrap();
    assert_eq!(call(&jit, "sum"), 321);
}

#[test]
fn an_objects_own_definition_of_a_bound_wins() {
    let dir = scratch("gathered-own-bound");
    let main = write(
        &dir,
        "main.c",
        "extern int __start_things; int main(void) { return __start_things; }\n\
         int __start_things = 42;\nstatic int entry __attribute__((section(\"things\"), used)) = 7;\n",
    );
    let main = compile("gcc", &main, &dir.join("main.o"), &["-O1"]).display().to_string();
    let out = jitld(&["run", &main]);
    assert_eq!(out.code, Some(42), "{}", out.describe());
}

#[test]
fn a_copy_added_after_its_run_was_placed_is_an_error_naming_it() {
    let dir = scratch("gathered-late");
    let jit = Jit::new().unwrap();
    jit.add_object("early.o", object(&dir, "early", &format!("{}{SUM}", entry(5)))).unwrap();
    assert_eq!(call(&jit, "sum"), 5);
    let late = jit.add_object("late.o", object(&dir, "late", &entry(6))).unwrap_err().to_string();
    assert!(late.contains("late.o") && late.contains("things"), "{late}");
    // The session goes on: the run is as it was, and other objects still link.
    jit.add_object("other.o", object(&dir, "other", "int other(void) { return 9; }\n")).unwrap();
    assert_eq!(call(&jit, "other") + call(&jit, "sum"), 14);
}
