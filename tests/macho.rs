//! MachO objects run on Linux: MachO x86-64 code follows the same calling convention as
//! Linux x86-64, so freestanding C compiled by clang for macOS links in this process and its
//! functions are called from Rust. Every answer is compared with the same C compiled for
//! Linux and linked as ELF.

use jitld::Jit;
use jitld_linker::flags::{Scope, Strength, SymbolFlags};
use std::path::{Path, PathBuf};
use std::process::Command;

fn source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/macho/freestanding.c")
}

/// Compiles the fixture with clang-19 for `target` at `opt`, under target/macho-tests.
fn compile(target: &str, opt: &str) -> Vec<u8> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("macho-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(format!("freestanding-{target}{opt}.o"));
    let status = Command::new("clang-19")
        .args(["-target", target, opt, "-ffreestanding", "-fno-stack-protector", "-c"])
        .arg(source())
        .arg("-o")
        .arg(&out)
        .status()
        .expect("clang-19");
    assert!(status.success(), "clang-19 -target {target} {opt} failed");
    std::fs::read(&out).unwrap()
}

extern "C" fn host_callback(value: i64) -> i64 {
    value * 7 + 1
}

/// What each function of the fixture returns for a few arguments, through `prefix`'s names.
fn answers(jit: &Jit, prefix: &str) -> Vec<i64> {
    let name = |n: &str| format!("{prefix}{n}");
    let callback = jit.session().intern(&name("host_callback"));
    let flags = SymbolFlags { strength: Strength::Strong, scope: Scope::Default, callable: true };
    jit.session().define_absolute(jit.main_dylib(), &[(callback, host_callback as *const () as u64, flags)]).unwrap();
    let mut out = Vec::new();
    // SAFETY: the signatures are the fixture's.
    unsafe {
        let apply = jit.get::<extern "C" fn(i32, i64, i64) -> i64>(&name("apply")).unwrap();
        let sum_primes = jit.get::<extern "C" fn(i32) -> i64>(&name("sum_primes")).unwrap();
        let checksum = jit.get::<extern "C" fn() -> i64>(&name("greeting_checksum")).unwrap();
        let scaled = jit.get::<extern "C" fn(i32, i64) -> i64>(&name("scaled")).unwrap();
        let call_back = jit.get::<extern "C" fn(i64) -> i64>(&name("call_back")).unwrap();
        let switch_table = jit.get::<extern "C" fn(i32) -> i64>(&name("switch_table")).unwrap();
        for i in 0..6 {
            out.push(apply(i, 17, 5));
            out.push(sum_primes(i));
            out.push(scaled(i, 1000 + i64::from(i)));
            out.push(call_back(i64::from(i)));
            out.push(switch_table(i));
        }
        out.push(switch_table(9));
        out.push(checksum());
        let bump_tls = jit.get::<extern "C" fn(i64) -> i64>(&name("bump_tls")).unwrap();
        out.extend([bump_tls(1), bump_tls(2)]);
        // A new thread starts from the initial values.
        let address = *bump_tls as usize;
        let other = std::thread::spawn(move || {
            let bump_tls: extern "C" fn(i64) -> i64 = std::mem::transmute(address);
            [bump_tls(10), bump_tls(1)]
        });
        out.extend(other.join().unwrap());
        out.push(bump_tls(0));
    }
    out
}

fn linked(name: &str, bytes: Vec<u8>, prefix: &str) -> Vec<i64> {
    let jit = Jit::new().unwrap();
    jit.add_object(name, bytes).unwrap();
    answers(&jit, prefix)
}

#[test]
fn macho_x86_64_code_runs_in_this_process_and_agrees_with_elf() {
    let expected = linked("freestanding-linux.o", compile("x86_64-linux-gnu", "-O2"), "");
    for opt in ["-O0", "-O1", "-O2", "-Os"] {
        let got = linked(&format!("freestanding-macos{opt}.o"), compile("x86_64-apple-macos11", opt), "_");
        assert_eq!(got, expected, "MachO x86-64 at {opt}");
    }
}

fn jitld(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_jitld")).args(args).output().unwrap()
}

/// Compiles C `text` for macOS into `dir/name.o`. Destructors go in `__mod_term_func`
/// (clang's default registers them with `__cxa_atexit`, which MachO names `___cxa_atexit`).
fn macho_object(dir: &Path, name: &str, text: &str) -> String {
    let c = dir.join(format!("{name}.c"));
    std::fs::write(&c, text).unwrap();
    let o = c.with_extension("o");
    let mut clang = Command::new("clang-19");
    clang.args(["-target", "x86_64-apple-macos11", "-O2", "-fno-register-global-dtors-with-atexit", "-c"]);
    clang.arg(&c).arg("-o").arg(&o);
    assert!(clang.status().unwrap().success(), "clang-19 failed on {name}");
    o.display().to_string()
}

/// A section the program names (`__DATA,registry`) is gathered from every object into one
/// run that `section$start$__DATA$registry` and `section$end$__DATA$registry` bound.
#[test]
fn macho_section_bounds_gather_every_objects_copy() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("macho-tests/registry");
    std::fs::create_dir_all(&dir).unwrap();
    let entry = "typedef struct { const char *name; long value; } entry;\n";
    let one = format!(
        "{entry}__attribute__((used, section(\"__DATA,registry\"))) static entry one = {{\"one\", 1}};\n\
         __attribute__((used, section(\"__DATA,registry\"))) static entry two = {{\"two\", 2}};\n"
    );
    let main = format!(
        "{entry}__attribute__((used, section(\"__DATA,registry\"))) static entry three = {{\"three\", 30}};\n\
         extern entry first __asm(\"section$start$__DATA$registry\");\n\
         extern entry last __asm(\"section$end$__DATA$registry\");\n\
         int main(void) {{ long sum = 0; for (entry *e = &first; e < &last; e++) sum += e->value + (e->name[0] == 't'); return (int)sum; }}\n"
    );
    let one = macho_object(&dir, "one", &one);
    let main = macho_object(&dir, "main", &main);
    let out = jitld(&["run", &main, &one]);
    assert_eq!(out.status.code(), Some(35), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `jitld run` on MachO objects: `main` is found as `_main`, and members of a BSD archive
/// (`__.SYMDEF`, long names in the member header, as `llvm-ar --format=darwin` writes) are
/// pulled in on demand; the exit status is `main`'s.
#[test]
fn jitld_runs_a_macho_main_with_a_darwin_archive() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("macho-tests/run");
    std::fs::create_dir_all(&dir).unwrap();
    let sources = [
        ("member_with_a_long_name_one", "long lib_one(long x) { return x + 100; }"),
        (
            "member_with_a_long_name_two.c",
            "extern long lib_one(long);\nlong lib_two(long x) { return lib_one(x) * 2; }",
        ),
        ("main", "extern long lib_two(long);\nint main(void) { return (int)lib_two(5) - 200; }"),
    ];
    let objects: Vec<String> = sources.iter().map(|(name, text)| macho_object(&dir, name, text)).collect();
    let archive = dir.join("liblong.a").display().to_string();
    let _ = std::fs::remove_file(&archive);
    let ar = Command::new("llvm-ar-19").args(["--format=darwin", "rcs", &archive, &objects[0], &objects[1]]).status();
    assert!(ar.unwrap().success());
    let out = jitld(&["run", &objects[2], &archive]);
    assert_eq!(out.status.code(), Some(10), "{}", String::from_utf8_lossy(&out.stderr));
    let out = jitld(&["run", "--entry", "_main", &objects[2], &archive]);
    assert_eq!(out.status.code(), Some(10), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A universal file gives the slice for the target; without one, the error names the slices
/// it has.
#[test]
fn universal_files_give_the_targets_slice() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("macho-tests/universal");
    std::fs::create_dir_all(&dir).unwrap();
    let text = "int main(void) { return 42; }";
    let x86 = macho_object(&dir, "main", text);
    let c = dir.join("main.c");
    let arm = dir.join("main-arm64.o").display().to_string();
    let mut clang = Command::new("clang-19");
    clang.args(["-target", "arm64-apple-macos11", "-O2", "-c"]).arg(&c).args(["-o", &arm]);
    assert!(clang.status().unwrap().success());
    let lipo = |inputs: &[&str], output: &str| {
        let status = Command::new("llvm-lipo-19").arg("-create").args(inputs).args(["-output", output]).status();
        assert!(status.unwrap().success(), "llvm-lipo-19 failed");
    };
    let both = dir.join("both.o").display().to_string();
    lipo(&[&arm, &x86], &both);
    let out = jitld(&["run", &both]);
    assert_eq!(out.status.code(), Some(42), "{}", String::from_utf8_lossy(&out.stderr));
    let arm_only = dir.join("arm-only.o").display().to_string();
    lipo(&[&arm], &arm_only);
    let out = jitld(&["run", &arm_only]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("without a x86_64 slice (it has arm64)"), "{stderr}");
}

/// llvm-jitlink's `-load_hidden FILE` and `-hidden-lNAME` on a MachO archive: its members
/// link for the JITDylib they are loaded into, but their symbols are hidden from others.
/// Each case is run under llvm-jitlink-19 too, which must agree.
#[test]
fn hidden_archives_link_but_stay_hidden_from_other_jitdylibs() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("macho-tests/hidden");
    std::fs::create_dir_all(&dir).unwrap();
    let assemble = |name: &str, text: &str| {
        let s = dir.join(format!("{name}.s"));
        std::fs::write(&s, text).unwrap();
        let o = dir.join(format!("{name}.o"));
        let mut mc = Command::new("llvm-mc-19");
        mc.args(["-triple=x86_64-apple-macosx10.9", "-filetype=obj", "-o"]).arg(&o).arg(&s);
        assert!(mc.status().unwrap().success());
        o.display().to_string()
    };
    let foo = assemble("foo", "\t.globl _foo\n_foo:\n\tretq\n.subsections_via_symbols\n");
    let main = assemble("main", "\t.globl _main\n_main:\n\tcallq _foo\n\tretq\n.subsections_via_symbols\n");
    let archive = dir.join("libFoo.a").display().to_string();
    let _ = std::fs::remove_file(&archive);
    let ar = Command::new("llvm-ar-19").args(["--format=darwin", "rcs", &archive, &foo]).status();
    assert!(ar.unwrap().success());
    let search = format!("-L{}", dir.display());
    let cases: [(&[&str], bool); 3] = [
        (&["-load_hidden", &archive, &main], true),
        (&[&search, "-hidden-lFoo", &main], true),
        (&["-load_hidden", &archive, "-jd", "second", &main], false),
    ];
    for (args, links) in cases {
        for tool in [env!("CARGO_BIN_EXE_jitld"), "llvm-jitlink-19"] {
            let mut command = Command::new(tool);
            if tool.ends_with("jitld") {
                command.arg("check");
            }
            let out = command.arg("-noexec").args(args).output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.success(), links, "{tool} {args:?}: {stderr}");
            assert!(links || stderr.contains("_foo"), "{tool} {args:?} must name _foo: {stderr}");
        }
    }
}

/// `__mod_init_func` runs before `main`, in order.
#[test]
fn macho_initializers_run_before_main_in_order() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("macho-tests/init");
    std::fs::create_dir_all(&dir).unwrap();
    let text = "static long trace;\n\
        __attribute__((constructor)) static void first(void) { trace = trace * 10 + 1; }\n\
        __attribute__((constructor)) static void second(void) { trace = trace * 10 + 2; }\n\
        int main(void) { return (int)trace; }\n";
    let main = macho_object(&dir, "main", text);
    let out = jitld(&["run", &main]);
    assert_eq!(out.status.code(), Some(12), "{}", String::from_utf8_lossy(&out.stderr));
}

static FINISHED: std::sync::Mutex<Vec<i64>> = std::sync::Mutex::new(Vec::new());

extern "C" fn host_finished(value: i64) {
    FINISHED.lock().unwrap().push(value);
}

/// `__mod_term_func` entries run when the code is removed (here: the `Jit` dropped), last
/// first, as finalizers do. (clang registers C destructors with `___cxa_atexit` instead, so
/// the table is written by hand.)
#[test]
fn macho_terminators_run_when_the_code_is_removed() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("macho-tests/term");
    std::fs::create_dir_all(&dir).unwrap();
    let s = dir.join("term.s");
    std::fs::write(
        &s,
        "\t.section __TEXT,__text,regular,pure_instructions\n\
         _one:\n\tmovl $1, %edi\n\tjmp _host_finished\n\
         _two:\n\tmovl $2, %edi\n\tjmp _host_finished\n\
         \t.section __DATA,__mod_term_func,mod_term_funcs\n\t.p2align 3\n\t.quad _one\n\t.quad _two\n\
         \t.section __DATA,__data\n\t.globl _anchor\n_anchor:\n\t.quad 0\n.subsections_via_symbols\n",
    )
    .unwrap();
    let o = dir.join("term.o");
    let mut mc = Command::new("llvm-mc-19");
    mc.args(["-triple=x86_64-apple-macosx10.9", "-filetype=obj", "-o"]).arg(&o).arg(&s);
    assert!(mc.status().unwrap().success());
    let jit = Jit::new().unwrap();
    let name = jit.session().intern("_host_finished");
    let flags = SymbolFlags { strength: Strength::Strong, scope: Scope::Default, callable: true };
    let address = host_finished as *const () as u64;
    jit.session().define_absolute(jit.main_dylib(), &[(name, address, flags)]).unwrap();
    jit.add_object_file(&o).unwrap();
    jit.lookup("_anchor").unwrap();
    assert!(FINISHED.lock().unwrap().is_empty(), "terminators ran too early");
    drop(jit);
    assert_eq!(*FINISHED.lock().unwrap(), [2, 1]);
}

/// `main.c` and the freestanding fixture compiled by clang for `target` at -O2.
fn program(dir: &Path, target: &str) -> [String; 2] {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/macho");
    ["main", "freestanding"].map(|name| {
        let o = dir.join(format!("{name}-{target}.o"));
        let mut clang = Command::new("clang-19");
        clang.args(["-target", target, "-O2", "-ffreestanding", "-fno-stack-protector", "-c"]);
        clang.arg(fixtures.join(format!("{name}.c"))).arg("-o").arg(&o);
        assert!(clang.status().unwrap().success(), "clang-19 -target {target} failed on {name}.c");
        o.display().to_string()
    })
}

/// arm64 MachO code runs in the AArch64 executor (under qemu here; non-variadic calls
/// follow AAPCS64 on Linux too), chosen by `jitld run` from the objects, and ends as the
/// same program does as x86-64 MachO in this process and as ELF.
#[test]
fn arm64_macho_runs_in_the_aarch64_executor_and_agrees() {
    if Command::new("qemu-aarch64").arg("--version").output().is_err() {
        eprintln!("SKIPPED: arm64 MachO needs qemu-aarch64 (scripts/install-deps.sh installs it)");
        return;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("macho-tests/arm64");
    std::fs::create_dir_all(&dir).unwrap();
    let status = |target: &str| {
        let [main, rest] = program(&dir, target);
        let out = jitld(&["run", &main, &rest]);
        assert!(out.status.code().is_some(), "{target}: {}", String::from_utf8_lossy(&out.stderr));
        out.status.code()
    };
    let elf = status("x86_64-linux-gnu");
    assert_eq!(status("x86_64-apple-macos11"), elf, "x86-64 MachO");
    assert_eq!(status("arm64-apple-macos11"), elf, "arm64 MachO in the AArch64 executor");
}
