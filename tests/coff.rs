//! COFF objects run on Linux: freestanding C compiled for Windows (clang for MSVC and for
//! MinGW, and MinGW's GCC) links in this process, and its functions are called from Rust
//! with the Microsoft x64 convention (`extern "win64"`). Every answer is compared with the
//! same C compiled for Linux and linked as ELF.

use jitld::Jit;
use jitld_linker::flags::{Scope, Strength, SymbolFlags};
use std::path::{Path, PathBuf};
use std::process::Command;

fn source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/macho/freestanding.c")
}

/// Compiles the fixture with `compiler` and `flags` under target/tmp/coff-tests.
fn compile(tag: &str, compiler: &str, flags: &[&str]) -> Vec<u8> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("coff-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(format!("freestanding-{tag}.o"));
    let status = Command::new(compiler)
        .args(flags)
        .args(["-DNO_THREAD_LOCALS", "-ffreestanding", "-fno-stack-protector", "-c"])
        .arg(source())
        .arg("-o")
        .arg(&out)
        .status()
        .unwrap_or_else(|e| panic!("{compiler}: {e}"));
    assert!(status.success(), "{compiler} {flags:?} failed");
    std::fs::read(&out).unwrap()
}

extern "win64" fn host_callback_win64(value: i64) -> i64 {
    value * 7 + 1
}

extern "C" fn host_callback_sysv(value: i64) -> i64 {
    value * 7 + 1
}

/// The fixture's functions, with the calling convention `$abi`, through a `Jit` holding one
/// object.
macro_rules! answers {
    ($abi:literal, $jit:expr, $callback:expr) => {{
        let jit: &Jit = $jit;
        let name = jit.session().intern("host_callback");
        let flags = SymbolFlags { strength: Strength::Strong, scope: Scope::Default, callable: true };
        jit.session().define_absolute(jit.main_dylib(), &[(name, $callback as *const () as u64, flags)]).unwrap();
        let mut out: Vec<i64> = Vec::new();
        // SAFETY: the signatures are the fixture's, in the convention of its target.
        unsafe {
            let apply = jit.get::<extern $abi fn(i32, i64, i64) -> i64>("apply").unwrap();
            let sum_primes = jit.get::<extern $abi fn(i32) -> i64>("sum_primes").unwrap();
            let checksum = jit.get::<extern $abi fn() -> i64>("greeting_checksum").unwrap();
            let scaled = jit.get::<extern $abi fn(i32, i64) -> i64>("scaled").unwrap();
            let call_back = jit.get::<extern $abi fn(i64) -> i64>("call_back").unwrap();
            let switch_table = jit.get::<extern $abi fn(i32) -> i64>("switch_table").unwrap();
            for i in 0..6 {
                out.push(apply(i, 17, 5));
                out.push(sum_primes(i));
                out.push(scaled(i, 1000 + i64::from(i)));
                out.push(call_back(i64::from(i)));
                out.push(switch_table(i));
            }
            out.push(switch_table(9));
            out.push(checksum());
        }
        out
    }};
}

fn coff_answers(name: &str, bytes: Vec<u8>) -> Vec<i64> {
    let jit = Jit::new().unwrap();
    jit.add_object(name, bytes).unwrap();
    answers!("win64", &jit, host_callback_win64)
}

fn elf_answers() -> Vec<i64> {
    let jit = Jit::new().unwrap();
    jit.add_object("freestanding-linux.o", compile("linux", "clang-19", &["-O2"])).unwrap();
    answers!("C", &jit, host_callback_sysv)
}

#[test]
fn clang_msvc_objects_run_in_this_process_and_agree_with_elf() {
    let expected = elf_answers();
    for opt in ["-O0", "-O1", "-O2"] {
        let bytes = compile(&format!("msvc{opt}"), "clang-19", &["--target=x86_64-pc-windows-msvc", opt]);
        assert_eq!(coff_answers(&format!("msvc{opt}.o"), bytes), expected, "clang-19 x86_64-pc-windows-msvc {opt}");
    }
}

#[test]
fn mingw_objects_run_in_this_process_and_agree_with_elf() {
    let expected = elf_answers();
    for opt in ["-O0", "-O2"] {
        let bytes = compile(&format!("clang-mingw{opt}"), "clang-19", &["--target=x86_64-w64-mingw32", opt]);
        assert_eq!(coff_answers(&format!("clang-mingw{opt}.o"), bytes), expected, "clang-19 mingw {opt}");
        let bytes = compile(&format!("gcc-mingw{opt}"), "x86_64-w64-mingw32-gcc", &[opt]);
        assert_eq!(coff_answers(&format!("gcc-mingw{opt}.o"), bytes), expected, "x86_64-w64-mingw32-gcc {opt}");
    }
}

fn jitld(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_jitld")).args(args).output().unwrap()
}

/// Compiles C `text` with clang for `target` into `dir/name.o`.
fn windows_object(dir: &Path, name: &str, target: &str, text: &str) -> String {
    let c = dir.join(format!("{name}.c"));
    std::fs::write(&c, text).unwrap();
    let o = c.with_extension("o");
    let mut clang = Command::new("clang-19");
    clang.arg(format!("--target={target}")).args(["-O2", "-c"]).arg(&c).arg("-o").arg(&o);
    assert!(clang.status().unwrap().success(), "clang-19 failed on {name}");
    o.display().to_string()
}

/// The MSVC start-up's tables: `.CRT$XI*` (C) before `.CRT$XC*` (C++), each in the order of
/// its `$` suffix, called with the Microsoft convention before `main`.
#[test]
fn msvc_initializer_tables_run_before_main_in_order() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("coff-tests/crt");
    std::fs::create_dir_all(&dir).unwrap();
    let text = "static long long trace;\n\
        static void first(void) { trace = trace * 10 + 1; }\n\
        static void second(void) { trace = trace * 10 + 2; }\n\
        static int c_init(void) { trace = trace * 10 + 3; return 0; }\n\
        __attribute__((section(\".CRT$XCV\"), used)) static void (*const init_second)(void) = second;\n\
        __attribute__((section(\".CRT$XCU\"), used)) static void (*const init_first)(void) = first;\n\
        __attribute__((section(\".CRT$XIU\"), used)) static int (*const init_c)(void) = c_init;\n\
        int main(void) { return (int)(trace - 300); }\n";
    let main = windows_object(&dir, "crt", "x86_64-pc-windows-msvc", text);
    let out = jitld(&["run", &main]);
    assert_eq!(out.status.code(), Some(12), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `jitld run` enters a COFF program's `main(argc, argv)` in the Microsoft convention (the
/// arguments where it reads them), in this process and in the executor.
#[test]
fn coff_main_receives_its_arguments() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("coff-tests/main-args");
    std::fs::create_dir_all(&dir).unwrap();
    let text = "int main(int argc, char **argv) { return argc * 10 + (argv[argc - 1][0] - '0'); }\n";
    let mut objects: Vec<String> =
        ["x86_64-pc-windows-msvc", "x86_64-w64-mingw32"].iter().map(|t| windows_object(&dir, t, t, text)).collect();
    let gcc = dir.join("gcc-mingw.o");
    let mut command = Command::new("x86_64-w64-mingw32-gcc");
    command.args(["-O2", "-c", "-x", "c", "-", "-o"]).arg(&gcc).stdin(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success(), "x86_64-w64-mingw32-gcc failed");
    objects.push(gcc.display().to_string());
    for (target, main) in ["msvc", "clang-mingw", "gcc-mingw"].iter().zip(&objects) {
        for extra in [&[][..], &["--oop"][..]] {
            let mut args = vec!["run"];
            args.extend(extra);
            args.extend([main.as_str(), "--", "5", "7"]);
            let out = jitld(&args);
            assert_eq!(out.status.code(), Some(37), "{target} {extra:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
}

/// Assembles `text` for x86_64-pc-windows-msvc into `dir/name.o`.
fn windows_assembly(dir: &Path, name: &str, text: &str) -> String {
    let o = dir.join(format!("{name}.o"));
    let s = dir.join(format!("{name}.s"));
    std::fs::write(&s, text).unwrap();
    let status = Command::new("llvm-mc-19")
        .args(["-triple=x86_64-pc-windows-msvc", "-filetype=obj", "-o"])
        .arg(&o)
        .arg(&s)
        .status()
        .unwrap();
    assert!(status.success(), "llvm-mc-19 failed on {name}");
    o.display().to_string()
}

/// COMDAT copies that break their selection's rule are an error naming both objects and
/// the rule; copies that keep it link, the first one kept.
#[test]
fn comdat_copies_that_disagree_are_errors() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("coff-tests/comdat-rules");
    std::fs::create_dir_all(&dir).unwrap();
    let copy = |name: &str, selection: &str, words: &str| {
        let text = format!(
            "\t.section .rdata$value,\"dr\",{selection},value\n\t.globl value\nvalue:\n\t.quad {words}\n\
             \t.text\n\t.globl main_{name}\nmain_{name}:\n\tmovl value(%rip), %eax\n\tretq\n"
        );
        windows_assembly(&dir, name, &text)
    };
    let cases = [
        ("same_size", "41", "41, 2", "the copies differ in size"),
        ("same_contents", "41", "42", "the copies differ in contents"),
        ("largest", "41", "41", "selected by different rules"),
    ];
    for (selection, first, second, why) in cases {
        let a = copy(&format!("{selection}_a"), selection, first);
        let other_selection = if selection == "largest" { "same_size" } else { selection };
        let b = copy(&format!("{selection}_b"), other_selection, second);
        let out = jitld(&["run", "--entry", &format!("main_{selection}_a"), &a, &b]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{selection}: {stderr}");
        assert!(stderr.contains("mismatched copies of value") && stderr.contains(why), "{selection}: {stderr}");
        assert!(stderr.contains(&a) && stderr.contains(&b), "{selection}: both objects named: {stderr}");
        // Copies that agree link, and the first one's value is kept.
        let same = copy(&format!("{selection}_same"), selection, first);
        let out = jitld(&["run", "--entry", &format!("main_{selection}_a"), &a, &same]);
        assert_eq!(out.status.code(), Some(41), "{selection}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// SECREL against another object's symbol resolves for thread-local variables, which their
/// objects publish; against anything else the error says what was asked.
#[test]
fn secrel_across_objects_names_what_it_asked() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("coff-tests/secrel");
    std::fs::create_dir_all(&dir).unwrap();
    let user =
        windows_assembly(&dir, "user", "\t.text\n\t.globl main\nmain:\n\tmovl $counter@SECREL32, %eax\n\tretq\n");
    let tls = "\t.section .tls$,\"dw\"\n\t.quad 0\n\t.globl counter\ncounter:\n\t.quad 0\n";
    let variable = windows_assembly(&dir, "variable", tls);
    let out = jitld(&["run", &user, &variable]);
    assert_eq!(out.status.code(), Some(8), "the offset of counter: {}", String::from_utf8_lossy(&out.stderr));
    let plain = windows_assembly(&dir, "plain", &tls.replace(".tls$", ".data"));
    let out = jitld(&["run", &user, &plain]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the section offset of counter") && stderr.contains("thread-local"), "{stderr}");
}

/// Members of COFF archives are pulled on demand, in the Microsoft layout (`llvm-lib`: two
/// linker members) and the GNU one; an import library's member is named for what it is.
#[test]
fn coff_archives_in_both_layouts_and_import_libraries() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("coff-tests/archives");
    std::fs::create_dir_all(&dir).unwrap();
    let target = "x86_64-pc-windows-msvc";
    let one = windows_object(&dir, "one", target, "long long lib_one(long long x) { return x + 100; }");
    let two = windows_object(
        &dir,
        "two",
        target,
        "long long lib_one(long long);\nlong long lib_two(long long x) { return lib_one(x) * 2; }",
    );
    let main = windows_object(
        &dir,
        "main",
        target,
        "long long lib_two(long long);\nint main(void) { return (int)lib_two(5) - 200; }",
    );
    let path = |name: &str| dir.join(name).display().to_string();
    let (microsoft, gnu) = (path("microsoft.lib"), path("gnu.a"));
    for archive in [&microsoft, &gnu] {
        let _ = std::fs::remove_file(archive);
    }
    let lib = Command::new("llvm-lib-19").arg(format!("/out:{microsoft}")).args([&one, &two]).status();
    assert!(lib.unwrap().success());
    let ar = Command::new("llvm-ar-19").args(["--format=gnu", "rcs", &gnu, &one, &two]).status();
    assert!(ar.unwrap().success());
    for archive in [&microsoft, &gnu] {
        let out = jitld(&["run", &main, archive]);
        assert_eq!(out.status.code(), Some(10), "{archive}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let def = path("imports.def");
    std::fs::write(&def, "LIBRARY user32.dll\nEXPORTS\nlib_one\n").unwrap();
    let imports = path("imports.a");
    let dlltool = Command::new("llvm-dlltool-19").args(["-d", &def, "-l", &imports, "-m", "i386:x86-64"]).status();
    assert!(dlltool.unwrap().success());
    let out = jitld(&["run", &main, &imports, &two]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("an import library member: lib_one from user32.dll"), "{stderr}");
}

/// `.drectve` directives from `#pragma comment(linker, ...)`: `/alternatename:a=b` sends the
/// object's references to its undefined `a` to `b`; `/include:sym` makes linking the object
/// link `sym` (pulling the archive member that defines it, an error when nothing does);
/// `/defaultlib:` and `/merge:` are reported once and ignored, `/export:` accepted; an
/// unknown directive is a warning.
#[test]
fn drectve_alternate_names_includes_and_unknown_directives() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("coff-tests/drectve");
    std::fs::create_dir_all(&dir).unwrap();
    let target = "x86_64-pc-windows-msvc";
    let main = windows_object(
        &dir,
        "main",
        target,
        "#pragma comment(linker, \"/alternatename:wanted=fallback\")\n\
         #pragma comment(linker, \"/include:forced\")\n\
         #pragma comment(linker, \"/frobnicate\")\n\
         #pragma comment(lib, \"kernel32\")\n\
         #pragma comment(linker, \"/merge:.rdata=.text\")\n\
         #pragma comment(linker, \"/export:fallback\")\n\
         int fallback(void) { return 7; }\nint wanted(void);\nint main(void) { return wanted(); }\n",
    );
    let out = jitld(&["run", &main]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("undefined symbol: forced"), "{stderr}");
    assert!(stderr.contains("unknown directive /frobnicate"), "{stderr}");
    // Libraries to search and sections to merge are reported, once, naming the object.
    let reported: Vec<&str> = stderr.lines().filter(|l| l.contains("ignored (jitld links")).collect();
    assert_eq!(reported.len(), 1, "{stderr}");
    assert!(reported[0].contains(&format!("{main}: .drectve:")), "{stderr}");
    assert!(
        reported[0].contains("/DEFAULTLIB:kernel32.lib") && reported[0].contains("/merge:.rdata=.text"),
        "{stderr}"
    );
    let forced = windows_object(&dir, "forced", target, "int forced = 1;");
    let library = dir.join("forced.lib").display().to_string();
    let _ = std::fs::remove_file(&library);
    let lib = Command::new("llvm-lib-19").arg(format!("/out:{library}")).arg(&forced).status();
    assert!(lib.unwrap().success());
    let out = jitld(&["run", &main, &library]);
    assert_eq!(out.status.code(), Some(7), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Compiles C `text` with `compiler` and `flags` into `dir/name.o` and returns its bytes.
fn compiled(dir: &Path, name: &str, compiler: &str, flags: &[&str], text: &str) -> Vec<u8> {
    let c = dir.join(format!("{name}.c"));
    std::fs::write(&c, text).unwrap();
    let o = c.with_extension("o");
    let status = Command::new(compiler).args(flags).args(["-O2", "-c"]).arg(&c).arg("-o").arg(&o).status();
    assert!(status.unwrap_or_else(|e| panic!("{compiler}: {e}")).success(), "{compiler} {flags:?} failed on {name}");
    std::fs::read(&o).unwrap()
}

/// Weak definitions and weak references as the compilers write them (a weak external whose
/// default is in its own object: a function, or an absolute 0): alone, the weak definition
/// is called and the reference is null; with another object's strong definitions, both go
/// there. The same C built for Linux gives the same answers.
#[test]
fn weak_definitions_and_references_agree_with_elf() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("coff-tests/weak");
    std::fs::create_dir_all(&dir).unwrap();
    let weak = "__attribute__((weak)) int weak_def(void) { return 1; }\n\
        extern int weak_ref(void) __attribute__((weak));\n\
        int use_weak(void) { return weak_def() * 100 + (weak_ref ? weak_ref() : 7); }\n";
    let strong = "int weak_def(void) { return 2; }\nint weak_ref(void) { return 3; }\n";
    let elf = |with_strong: bool| {
        let jit = Jit::new().unwrap();
        jit.add_object("weak-linux.o", compiled(&dir, "weak-linux", "clang-19", &[], weak)).unwrap();
        if with_strong {
            jit.add_object("strong-linux.o", compiled(&dir, "strong-linux", "clang-19", &[], strong)).unwrap();
        }
        // SAFETY: `int use_weak(void)`, the host's convention.
        unsafe { jit.get::<extern "C" fn() -> i32>("use_weak").unwrap()() }
    };
    let expected = [elf(false), elf(true)];
    assert_eq!(expected, [107, 203]);
    let compilers: [(&str, &str, &[&str]); 3] = [
        ("msvc", "clang-19", &["--target=x86_64-pc-windows-msvc"]),
        ("clang-mingw", "clang-19", &["--target=x86_64-w64-mingw32"]),
        ("gcc-mingw", "x86_64-w64-mingw32-gcc", &[]),
    ];
    for (tag, compiler, flags) in compilers {
        let coff = |with_strong: bool| {
            let jit = Jit::new().unwrap();
            jit.add_object("weak.o", compiled(&dir, &format!("weak-{tag}"), compiler, flags, weak)).unwrap();
            if with_strong {
                jit.add_object("strong.o", compiled(&dir, &format!("strong-{tag}"), compiler, flags, strong)).unwrap();
            }
            // SAFETY: `int use_weak(void)`, compiled for Windows.
            unsafe { jit.get::<extern "win64" fn() -> i32>("use_weak").unwrap()() }
        };
        assert_eq!([coff(false), coff(true)], expected, "{tag}");
    }
}

/// A weak external whose default is another object's (`#pragma weak` style, written here
/// with llvm-mc) means the default for every object and JITDylib that refers to its name,
/// unless something defines the name; when neither is defined, the error names both.
#[test]
fn weak_external_defaults_in_other_objects_and_jitdylibs() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("coff-tests/weak-alias");
    std::fs::create_dir_all(&dir).unwrap();
    let alias = windows_assembly(&dir, "alias", "\t.weak\tanswer\n\t.set\tanswer, default_answer\n");
    let default = windows_assembly(
        &dir,
        "default",
        "\t.text\n\t.globl\tdefault_answer\ndefault_answer:\n\tmovl\t$5, %eax\n\tretq\n",
    );
    let user = windows_assembly(&dir, "user", "\t.text\n\t.globl\tmain\nmain:\n\tjmp\tanswer\n");
    let real = windows_assembly(&dir, "real", "\t.text\n\t.globl\tanswer\nanswer:\n\tmovl\t$9, %eax\n\tretq\n");
    let run = |args: &[&str]| {
        let out = jitld(&[&["run"], args].concat());
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    assert_eq!(run(&[&user, &alias, &default]).0, Some(5));
    assert_eq!(run(&[&user, &alias, &default, &real]).0, Some(9));
    // The real definition in an earlier JITDylib wins; the stand-in serves a later one.
    assert_eq!(run(&["--jd", "lib", &real, "--jd", "main", &user, &alias, &default]).0, Some(9));
    assert_eq!(run(&["--jd", "lib", &alias, &default, "--jd", "main", &user]).0, Some(5));
    let (code, stderr) = run(&[&user, &alias]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("default_answer") && stderr.contains("standing in for answer"), "{stderr}");
    // Stand-ins that lead back to themselves are not taken (aliases waiting for each other
    // would never resolve): the name is undefined.
    let back = windows_assembly(&dir, "back", "\t.weak\tdefault_answer\n\t.set\tdefault_answer, answer\n");
    let out = Command::new("timeout").args(["60", env!("CARGO_BIN_EXE_jitld"), "run", &user, &alias, &back]).output();
    let out = out.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("undefined symbol: answer"), "{stderr}");
}

/// Grouped sections (`X$suffix`) are laid out together in the order of their suffixes,
/// whatever the source's order: a table whose start marker is in `.table$a` and end marker in
/// `.table$z` holds the entries of `.table$b`, `$c`, `$m` and `$n` between them, in that
/// order, and code walks it (the idiom of MSVC's own `.CRT$XCA`..`$XCZ`). Nothing refers to
/// the entries: sections that are not COMDAT are kept whole, as link.exe keeps them.
#[test]
fn grouped_sections_are_sorted_by_suffix_and_walked() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("coff-tests/grouped");
    std::fs::create_dir_all(&dir).unwrap();
    let text = "#define IN(s) __attribute__((section(\".table$\" s), used))\n\
        IN(\"z\") static const long long table_end = 0;\n\
        IN(\"m\") static const long long third = 3;\n\
        IN(\"a\") static const long long table_start = 0;\n\
        IN(\"n\") static const long long fourth = 4;\n\
        IN(\"c\") static const long long second = 2;\n\
        IN(\"b\") static const long long first = 1;\n\
        long long walk_table(void) {\n\
            long long digits = 0;\n\
            for (const long long *volatile p = &table_start + 1; p < &table_end; p++)\n\
                if (*p) digits = digits * 10 + *p;\n\
            return digits;\n\
        }\n";
    let compilers: [(&str, &str, &[&str]); 3] = [
        ("msvc", "clang-19", &["--target=x86_64-pc-windows-msvc"]),
        ("clang-mingw", "clang-19", &["--target=x86_64-w64-mingw32"]),
        ("gcc-mingw", "x86_64-w64-mingw32-gcc", &[]),
    ];
    for (tag, compiler, flags) in compilers {
        let jit = Jit::new().unwrap();
        jit.add_object("grouped.o", compiled(&dir, &format!("grouped-{tag}"), compiler, flags, text)).unwrap();
        // SAFETY: `long long walk_table(void)`, compiled for Windows.
        let walked = unsafe { jit.get::<extern "win64" fn() -> i64>("walk_table").unwrap()() };
        assert_eq!(walked, 1234, "{tag}");
    }
}

/// A second copy of a `NODUPLICATES` COMDAT is an error naming both objects.
#[test]
fn noduplicates_comdat_copies_are_an_error_naming_both_objects() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("coff-tests/noduplicates");
    std::fs::create_dir_all(&dir).unwrap();
    let copy = |name: &str| {
        let text = format!(
            "\t.section .text$only,\"xr\",one_only,only\n\t.globl only\nonly:\n\tmovl $3, %eax\n\tretq\n\
             \t.text\n\t.globl main_{name}\nmain_{name}:\n\tjmp only\n"
        );
        windows_assembly(&dir, name, &text)
    };
    let (a, b) = (copy("a"), copy("b"));
    assert_eq!(jitld(&["run", "--entry", "main_a", &a]).status.code(), Some(3));
    let out = jitld(&["run", "--entry", "main_a", &a, &b]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("only") && stderr.contains(&a) && stderr.contains(&b), "{stderr}");
}

/// Two objects from the same compiler: a COMDAT variable and a COMDAT inline function
/// both use (kept once: the counter is shared, the function's address is one), an array one
/// defines and the other reads, and a function the other calls through `__imp_` (what
/// `dllimport` compiles to), all agreeing with the same code built for Linux. C++ (`inline`)
/// from clang; C from MinGW's GCC (`selectany` data, `weak` functions).
#[test]
fn objects_share_comdat_copies_data_and_imports_and_agree_with_elf() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("coff-tests/two-objects");
    std::fs::create_dir_all(&dir).unwrap();
    let common = "#if defined(_WIN32)\n#define IMPORT __declspec(dllimport)\n#else\n#define IMPORT\n#endif\n\
        #ifdef __cplusplus\n#define SHARED inline\n#define SHARED_FN inline\n#define C extern \"C\"\n\
        #else\n#define SHARED __attribute__((selectany))\n#define SHARED_FN __attribute__((weak))\n#define C\n#endif\n\
        SHARED long long shared_counter = 0;\n\
        SHARED_FN const void *inline_address(void) { return (const void *)&inline_address; }\n";
    let one = format!(
        "{common}C IMPORT long long imported_value(void);\nC extern long long table_in_two[3];\n\
         C long long bump_one(void) {{ return ++shared_counter; }}\n\
         C const void *address_in_two(void);\n\
         C int same_inline_copy(void) {{ return inline_address() == address_in_two(); }}\n\
         C long long sum_table(void) {{ return table_in_two[0] + table_in_two[1] * 10 + table_in_two[2] * 100; }}\n\
         C long long call_imported(void) {{ return imported_value() * 2; }}\n"
    );
    let two = format!(
        "{common}C long long table_in_two[3] = {{5, 7, 11}};\n\
         C long long imported_value(void) {{ return 21; }}\n\
         C long long bump_two(void) {{ return shared_counter += 10; }}\n\
         C const void *address_in_two(void) {{ return inline_address(); }}\n"
    );
    macro_rules! answers {
        ($abi:literal, $jit:expr) => {{
            let jit: &Jit = $jit;
            // SAFETY: the signatures are the source's, in the convention of its target.
            unsafe {
                let bump_one = jit.get::<extern $abi fn() -> i64>("bump_one").unwrap();
                let bump_two = jit.get::<extern $abi fn() -> i64>("bump_two").unwrap();
                let same = jit.get::<extern $abi fn() -> i32>("same_inline_copy").unwrap();
                let sum = jit.get::<extern $abi fn() -> i64>("sum_table").unwrap();
                let imported = jit.get::<extern $abi fn() -> i64>("call_imported").unwrap();
                vec![bump_one(), bump_two(), bump_one(), i64::from(same()), sum(), imported()]
            }
        }};
    }
    let build = |tag: &str, compiler: &str, flags: &[&str]| {
        let jit = Jit::new().unwrap();
        jit.add_object("one.o", compiled(&dir, &format!("one-{tag}"), compiler, flags, &one)).unwrap();
        jit.add_object("two.o", compiled(&dir, &format!("two-{tag}"), compiler, flags, &two)).unwrap();
        jit
    };
    let cxx = ["-x", "c++", "-std=c++17", "-fno-exceptions"];
    let expected = answers!("C", &build("linux", "clang-19", &cxx));
    assert_eq!(expected, [1, 11, 12, 1, 1175, 42]);
    for (tag, target) in [("msvc", "--target=x86_64-pc-windows-msvc"), ("clang-mingw", "--target=x86_64-w64-mingw32")] {
        let flags = [&cxx[..], &[target]].concat();
        assert_eq!(answers!("win64", &build(tag, "clang-19", &flags)), expected, "{tag}");
    }
    assert_eq!(answers!("win64", &build("gcc-mingw", "x86_64-w64-mingw32-gcc", &[])), expected, "gcc-mingw");
}

/// What the initializer and terminator tables called, in order (`record_event`).
static EVENTS: std::sync::Mutex<Vec<i64>> = std::sync::Mutex::new(Vec::new());

extern "win64" fn record_event(value: i64) {
    EVENTS.lock().unwrap().push(value);
}

/// Links `objects` (clang for `target`) in this process with `record_event`, calls `touch`
/// (which records its own event), runs the finalizers, and returns every event in order.
fn table_events(dir: &Path, target: &str, compiler: &str, objects: &[(&str, &str)]) -> Vec<i64> {
    let jit = Jit::new().unwrap();
    let name = jit.session().intern("record_event");
    let flags = SymbolFlags { strength: Strength::Strong, scope: Scope::Default, callable: true };
    let callback = record_event as *const () as u64;
    jit.session().define_absolute(jit.main_dylib(), &[(name, callback, flags)]).unwrap();
    for (name, text) in objects {
        let flags: &[&str] = if target.is_empty() { &[] } else { &[target] };
        jit.add_object(&format!("{name}.o"), compiled(dir, name, compiler, flags, text)).unwrap();
    }
    EVENTS.lock().unwrap().clear();
    // SAFETY: `long long touch(void)`, compiled for Windows.
    unsafe { jit.get::<extern "win64" fn() -> i64>("touch").unwrap()() };
    jit.platform().run_finalizers();
    std::mem::take(&mut *EVENTS.lock().unwrap())
}

/// MSVC's tables across two objects: C initializers (`.CRT$XI*`) before C++ ones
/// (`.CRT$XC*`), each in the order of the whole section name (`$XCU00200` before
/// `$XCU00300`, though the object with the latter comes first); after the entry,
/// pre-terminators (`.CRT$XP*`) before terminators (`.CRT$XT*`), in name order. MinGW's
/// `.ctors.N` by priority and `.dtors` at exit, from clang and GCC.
#[test]
fn initializer_and_terminator_tables_run_in_order() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("coff-tests/tables");
    std::fs::create_dir_all(&dir).unwrap();
    let entry = |section: &str, name: &str, event: i64| {
        format!(
            "static void {name}(void) {{ record_event({event}); }}\n\
             __attribute__((section(\"{section}\"), used)) static void (*const {name}_entry)(void) = {name};\n"
        )
    };
    let first = [
        "void record_event(long long);\nlong long touch_second(void);\n".to_string(),
        entry(".CRT$XTB", "term_b", 9),
        entry(".CRT$XCU00300", "cxx_300", 4),
        entry(".CRT$XPU", "pre_term", 7),
        entry(".CRT$XCU", "cxx_plain", 2),
        entry(".CRT$XTA", "term_a", 8),
        "long long touch(void) { record_event(6); return touch_second(); }\n".to_string(),
    ]
    .concat();
    let second = [
        "void record_event(long long);\n".to_string(),
        entry(".CRT$XIU", "c_init", 1),
        entry(".CRT$XCU00200", "cxx_200", 3),
        entry(".CRT$XCV", "cxx_later", 5),
        "long long touch_second(void) { return 0; }\n".to_string(),
    ]
    .concat();
    let objects = [("first-msvc", first.as_str()), ("second-msvc", second.as_str())];
    let events = table_events(&dir, "--target=x86_64-pc-windows-msvc", "clang-19", &objects);
    assert_eq!(events, [1, 2, 3, 4, 5, 6, 7, 8, 9], "msvc");
    let mingw = "void record_event(long long);\n\
        __attribute__((constructor(300))) static void late(void) { record_event(2); }\n\
        __attribute__((constructor(200))) static void early(void) { record_event(1); }\n\
        __attribute__((destructor)) static void gone(void) { record_event(4); }\n\
        long long touch(void) { record_event(3); return 0; }\n";
    let clang = table_events(&dir, "--target=x86_64-w64-mingw32", "clang-19", &[("ctors-clang", mingw)]);
    assert_eq!(clang, [1, 2, 3, 4], "clang mingw");
    let gcc = table_events(&dir, "", "x86_64-w64-mingw32-gcc", &[("ctors-gcc", mingw)]);
    assert_eq!(gcc, [1, 2, 3, 4], "gcc mingw");
}

/// `__imp_NAME` (what `dllimport` code loads) holds NAME's address wherever NAME is defined:
/// here another JITDylib's object, which a static link of DLLs would have reached through
/// an import library.
#[test]
fn dllimport_reaches_a_definition_in_another_jitdylib() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("coff-tests/dllimport");
    std::fs::create_dir_all(&dir).unwrap();
    let target = "x86_64-pc-windows-msvc";
    let lib = windows_object(&dir, "lib", target, "__declspec(dllexport) int exported_twice(int x) { return 2 * x; }");
    let main = windows_object(
        &dir,
        "main",
        target,
        "__declspec(dllimport) int exported_twice(int);\nint main(void) { return exported_twice(21); }",
    );
    let out = jitld(&["run", "--jd", "lib", &lib, "--jd", "main", &main]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(42), "{stderr}");
    // dllexport's `/EXPORT:` directive is accepted silently.
    assert!(!stderr.contains("warning"), "{stderr}");
}
