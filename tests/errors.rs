//! Errors that point the right way: each test builds the input that used to get a misleading
//! message (or a crash), and checks that jitld now says what is wrong, once, as one
//! `error: ` line, and exits with 1.
//!
//! Inputs are written and compiled at run time under `target/tmp/errors-*`.

#[path = "common/harness.rs"]
mod harness;

use harness::*;
use std::path::{Path, PathBuf};

/// Writes `source` as `dir/name` and compiles it with `compiler` and `flags`.
fn build(dir: &Path, compiler: &str, name: &str, source: &str, flags: &[&str]) -> String {
    let src = write(dir, name, source);
    let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
    compile(compiler, &src, &dir.join(format!("{stem}.o")), flags).display().to_string()
}

fn archive(dir: &Path, name: &str, members: &[&str]) -> String {
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    let mut args = vec!["rcs".to_string(), path.display().to_string()];
    args.extend(members.iter().map(|m| m.to_string()));
    tool("ar", &args);
    path.display().to_string()
}

const MAIN_CALLS_FOO: &str = "int foo(void);\nint main(void) { return foo() - 7; }\n";
const FOO: &str = "int foo(void) { return 7; }\n";

// ------------------------------------------------------------------ 1: truncated archives

#[test]
fn truncated_archive_member_is_reported_not_undefined() {
    let dir = scratch("errors-truncated-archive");
    let main = build(&dir, "gcc", "main.c", MAIN_CALLS_FOO, &["-O1"]);
    let foo = build(&dir, "gcc", "foo.c", FOO, &["-O1"]);
    let whole = std::fs::read(archive(&dir, "libfoo.a", &[&foo])).unwrap();
    let cut = dir.join("libcut.a");
    std::fs::write(&cut, &whole[..whole.len() - 200]).unwrap();
    let cut = cut.display().to_string();
    // Needed: the member's problem, not "undefined symbol: foo".
    let out = jitld(&["run", &main, &cut]);
    assert_clean_error(&out, &[&cut, "file too short", "foo.o"]);
    assert!(!out.stderr.contains("undefined"), "{}", out.describe());
    // Not needed: the archive is malformed all the same, as ld and lld say.
    let alone = build(&dir, "gcc", "alone.c", "int main(void) { return 0; }\n", &["-O1"]);
    assert_clean_error(&jitld(&["run", &alone, &cut]), &[&cut, "file too short"]);
}

// ------------------------------------------------------------------ 2: every error once

#[test]
fn every_error_is_printed_once() {
    let dir = scratch("errors-once");
    // `missing` is reached from main's lookup and from the constructor's.
    let ctor = build(
        &dir,
        "gcc",
        "ctor.c",
        "int missing(void);\nint c(void) { return missing(); }\n__attribute__((constructor)) static void init(void) { c(); }\n",
        &["-O1"],
    );
    let main = build(&dir, "gcc", "main.c", "int missing(void);\nint main(void) { return missing(); }\n", &["-O1"]);
    let out = jitld(&["run", &ctor, &main]);
    assert_clean_error(&out, &["undefined symbol: missing"]);
    assert_unique_lines(&out);

    // An archive member with a broken .eh_frame, needed through three symbols.
    let three = build(
        &dir,
        "gcc",
        "three.c",
        "int f1(void){return 1;}\nint f2(void){return 2;}\nint f3(void){return 3;}\n",
        &["-O1"],
    );
    let mut bytes = read(Path::new(&three));
    let eh = section_header_offset(&bytes, section_index(&bytes, ".eh_frame"));
    let eh_offset = get_u64(&bytes, eh + 24) as usize;
    put_u32(&mut bytes, eh_offset, 0x7fff_0000); // the CIE's length runs past the section
    let broken = dir.join("broken.o");
    std::fs::write(&broken, &bytes).unwrap();
    let lib = archive(&dir, "libbroken.a", &[&broken.display().to_string()]);
    let user = build(
        &dir,
        "gcc",
        "user.c",
        "int f1(void);int f2(void);int f3(void);\nint main(void){return f1()+f2()+f3();}\n",
        &["-O1"],
    );
    let out = jitld(&["run", &user, &lib]);
    assert_clean_error(&out, &["broken.o", ".eh_frame"]);
    assert_unique_lines(&out);
}

fn assert_unique_lines(out: &Run) {
    let lines: Vec<&str> = out.stderr.lines().collect();
    let unique: std::collections::BTreeSet<&str> = lines.iter().copied().collect();
    assert_eq!(lines.len(), unique.len(), "an error is printed more than once:\n{}", out.describe());
}

// ------------------------------------------------------------------ 3: data as the entry

#[test]
fn entry_must_be_a_function() {
    let dir = scratch("errors-entry-data");
    let obj = build(&dir, "gcc", "data.c", "int data_sym = 42;\nint main(void) { return 0; }\n", &["-O1"]);
    let out = jitld(&["run", "--entry", "data_sym", &obj]);
    assert!(out.signal.is_none(), "jumped into data:\n{}", out.describe());
    assert_clean_error(&out, &["entry symbol data_sym is not a function"]);
    // A function still works, and so does an untyped label in code (hand-written assembly).
    assert_eq!(jitld(&["run", "--entry", "main", &obj]).code, Some(0));
    let asm = write(&dir, "label.s", ".text\n.globl start\nstart:\n  mov $5, %eax\n  ret\n");
    let label = compile("gcc", &asm, &dir.join("label.o"), &[]).display().to_string();
    let out = jitld(&["run", "--entry", "start", &label]);
    assert_eq!(out.code, Some(5), "{}", out.describe());
}

// ------------------------------------------------------------------ 4: LTO objects

#[test]
fn lto_objects_are_named() {
    let dir = scratch("errors-lto");
    let gcc = build(&dir, "gcc", "gcc_lto.c", "int main(void) { return 0; }\n", &["-O1", "-flto"]);
    assert_clean_error(&jitld(&["run", &gcc]), &[&gcc, "GCC LTO object", "-fno-lto"]);
    let clang = build(&dir, "clang-19", "clang_lto.c", "int main(void) { return 0; }\n", &["-O1", "-flto"]);
    assert_clean_error(&jitld(&["run", &clang]), &[&clang, "LLVM bitcode", "-fno-lto"]);
    assert_clean_error(&jitld(&["graph", &clang]), &["LLVM bitcode"]);
    // An archive member in bitcode says so when it is pulled in.
    let main = build(&dir, "gcc", "main.c", MAIN_CALLS_FOO, &["-O1"]);
    let foo = build(&dir, "clang-19", "foo.c", FOO, &["-O1", "-flto"]);
    let lib = dir.join("libfoo.a");
    tool("llvm-ar-19", &["rcs".to_string(), lib.display().to_string(), foo]);
    assert_clean_error(&jitld(&["run", &main, &lib.display().to_string()]), &["libfoo.a(foo.o)", "LLVM bitcode"]);
    // Fat LTO objects carry real code and link as usual.
    let fat = build(&dir, "gcc", "fat.c", "int main(void) { return 0; }\n", &["-O1", "-flto", "-ffat-lto-objects"]);
    assert_eq!(jitld(&["run", &fat]).code, Some(0));
}

// ------------------------------------------------------------------ 5: slab address

#[test]
fn slab_address_must_be_aligned_and_fit() {
    let dir = scratch("errors-slab");
    let obj = build(&dir, "gcc", "foo.c", FOO, &["-O1"]);
    let out = jitld(&["run", "--noexec", "--slab-address", "0x123", "--dump-relocs", &obj]);
    assert_clean_error(&out, &["0x123", "page size"]);
    let out = jitld(&["run", "--noexec", "--slab-address", "0xfffffffffffff000", &obj]);
    assert_clean_error(&out, &["0xfffffffffffff000", "past the end"]);
    let out = jitld(&["run", "--noexec", "--slab-address", "0xffffffffffffff00", &obj]);
    assert_clean_error(&out, &["0xffffffffffffff00"]);
    let out = jitld(&["run", "--noexec", "--slab-address", "0x7f0000000000", "--dump-relocs", &obj]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(out.stdout.contains("graph") && out.stdout.contains("at 0x7f0000000000"), "{}", out.describe());
}

/// `jitld check -slab-page-size`: any power of two in a slab (arm64 Darwin's 16 KiB pages on
/// this 4 KiB host), the slab's start on one of its pages; in this process, the host's pages.
#[test]
fn check_slab_pages_are_powers_of_two_in_a_slab() {
    let dir = scratch("errors-slab-pages");
    let obj = build(&dir, "gcc", "foo.c", FOO, &["-O1"]);
    let check = |address: &str, page: &str| {
        let mut words = vec!["check", "-noexec", "-slab-allocate", "1Mb", "-slab-page-size", page];
        if !address.is_empty() {
            words.extend(["-slab-address", address]);
        }
        words.push(&obj);
        jitld(&words)
    };
    let refused = |out: Run, needles: &[&str]| {
        assert!(!out.panicked() && out.code == Some(1), "{}", out.describe());
        assert!(needles.iter().all(|n| out.stderr.contains(n)), "{}", out.describe());
        assert!(out.stderr.starts_with("jitld check: error: "), "{}", out.describe());
    };
    assert_eq!(check("0x10000000", "16384").code, Some(0));
    assert_eq!(check("0x10000000", "65536").code, Some(0));
    refused(check("0x10001000", "16384"), &["0x10001000", "page size (0x4000)"]);
    refused(check("0x10000000", "12288"), &["12288", "not a power of two"]);
    refused(check("", "16384"), &["16384", "-slab-address"]);
}

// ------------------------------------------------------------------ 6: C++ and other machines

#[test]
fn cxx_undefined_symbols_are_demangled_with_a_hint() {
    let dir = scratch("errors-cxx");
    let source =
        "#include <string>\n#include <iostream>\nint main() { std::string s(\"x\"); std::cout << s << std::endl; }\n";
    let obj = build(&dir, "g++", "cxx.cpp", source, &["-O1"]);
    let out = jitld(&["run", &obj]);
    assert_clean_error(
        &out,
        &["undefined symbol: _ZSt4cout [std::cout]", "std::ios_base::Init::Init()", "did you mean to add -lstdc++?"],
    );
    assert_eq!(out.stderr.matches("-lstdc++").count(), 1, "one hint:\n{}", out.describe());
    // C names are printed as they were.
    let c = build(&dir, "gcc", "main.c", MAIN_CALLS_FOO, &["-O1"]);
    let out = jitld(&["run", &c]);
    assert_eq!(out.stderr.trim(), format!("error: undefined symbol: foo (referenced by {c})"));
}

#[test]
fn other_machines_are_named() {
    let dir = scratch("errors-machines");
    let i386 = build(&dir, "gcc", "i386.c", FOO, &["-m32", "-O1"]);
    assert_clean_error(&jitld(&["run", &i386]), &[&i386, "32-bit", "i386"]);
    assert_clean_error(&jitld(&["graph", &i386]), &["i386"]);
    let ppc = build(&dir, "clang-19", "ppc.c", FOO, &["--target=powerpc64le-linux-gnu", "-O1"]);
    assert_clean_error(&jitld(&["run", "--noexec", &ppc]), &["64-bit PowerPC", "only x86-64", "AArch64"]);
    let riscv = build(&dir, "clang-19", "riscv.c", FOO, &["--target=riscv64-linux-gnu", "-O1"]);
    assert_clean_error(&jitld(&["graph", &riscv]), &["RISC-V"]);
}

// ------------------------------------------------------------------ 7: archive members by name

#[test]
fn archive_members_can_be_named() {
    let dir = scratch("errors-member");
    let foo = build(&dir, "gcc", "foo.c", FOO, &["-O1"]);
    let main = build(&dir, "gcc", "main.c", MAIN_CALLS_FOO, &["-O1"]);
    let lib = archive(&dir, "libfoo.a", &[&foo]);
    let out = jitld(&["graph", &format!("{lib}(foo.o)")]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(out.stdout.contains("libfoo.a(foo.o)") && out.stdout.contains("symbol foo"), "{}", out.describe());
    // The archive alone says how to name one; a wrong name lists what there is.
    assert_clean_error(&jitld(&["graph", &lib]), &["name one of its members", "libfoo.a(foo.o)"]);
    assert_clean_error(&jitld(&["graph", &format!("{lib}(bar.o)")]), &["no member named bar.o", "foo.o"]);
    // `run` takes one too, as part of the program.
    let out = jitld(&["run", &main, &format!("{lib}(foo.o)")]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
}

// ------------------------------------------------------------------ 8: directories and pipes

#[test]
fn directories_are_refused_and_pipes_are_read() {
    let dir = scratch("errors-not-files");
    let d = dir.display().to_string();
    assert_clean_error(&jitld(&["run", &d]), &[&format!("{d}: is a directory")]);
    assert_clean_error(&jitld(&["graph", &d]), &["is a directory"]);
    let main = build(&dir, "gcc", "main.c", MAIN_CALLS_FOO, &["-O1"]);
    let foo = build(&dir, "gcc", "foo.c", FOO, &["-O1"]);
    // What `jitld run <(cat main.o) foo.o` does: the first input is a pipe.
    let script = format!("exec {JITLD} run <(cat {main}) {foo}");
    let out = run("bash", &["-c", &script]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let script = format!("exec {JITLD} graph <(cat {foo})");
    let out = run("bash", &["-c", &script]);
    assert!(out.code == Some(0) && out.stdout.contains("symbol foo"), "{}", out.describe());
}

// ------------------------------------------------------------------ 9: dropped Jits

/// Each `Jit` reserved 64 MiB below 2 GiB and never gave it back: the 32nd failed.
#[test]
fn dropped_jits_return_their_memory() {
    let dir = scratch("errors-jit-drop");
    let obj: PathBuf =
        build(&dir, "gcc", "add.c", "int add(int a, int b) { return a + b; }\n", &["-O1", "-fPIC"]).into();
    let bytes = read(&obj);
    for round in 0..100 {
        let jit = jitld::Jit::new().unwrap_or_else(|e| panic!("Jit #{round}: {e}"));
        jit.add_object("add.o", bytes.clone()).unwrap();
        let add =
            unsafe { jit.get::<extern "C" fn(i32, i32) -> i32>("add") }.unwrap_or_else(|e| panic!("Jit #{round}: {e}"));
        assert_eq!(add(round, 1), round + 1);
    }
    // Nothing of theirs is left mapped in the low 2 GiB.
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let low: Vec<&str> = maps
        .lines()
        .filter(|line| {
            let start = line.split('-').next().and_then(|s| u64::from_str_radix(s, 16).ok());
            start.is_some_and(|s| (0x0100_0000..0x8000_0000).contains(&s)) && line.trim_end().ends_with(" 0")
        })
        .collect();
    assert!(low.is_empty(), "still mapped below 2 GiB:\n{}", low.join("\n"));
}
