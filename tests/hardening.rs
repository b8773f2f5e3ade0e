//! Issue 8, part A: behaving like a native link-then-run where jitld did not. Executable
//! stacks, exact library paths, linker script cycles, stdout errors, stack overflows in JIT'd
//! code, SIGPIPE, libgcc.a, uncaught C++ exceptions, and TLS given back on removal. Every
//! input is built here, from source.

#[path = "common/harness.rs"]
mod harness;

use harness::{assert_clean_error, compile, jitld, run, scratch, tool, write, Run, JITLD};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `source` (named `name`) compiled with `compiler` and `flags` into `dir`.
fn object(dir: &Path, compiler: &str, name: &str, source: &str, flags: &[&str]) -> PathBuf {
    let source = write(dir, name, source);
    compile(compiler, &source, &source.with_extension("o"), flags)
}

/// The objects linked natively by `driver` (gcc, g++), and run with `args`.
fn native(dir: &Path, driver: &str, objects: &[&Path], libs: &[&str], args: &[&str]) -> Run {
    let exe = dir.join("native");
    let mut link: Vec<String> = objects.iter().map(|o| o.display().to_string()).collect();
    link.extend(libs.iter().map(|l| l.to_string()));
    link.extend(["-o".to_string(), exe.display().to_string()]);
    tool(driver, &link);
    run(&exe.display().to_string(), args)
}

/// jitld and the native program ended the same way and printed the same.
fn assert_same(jit: &Run, native: &Run) {
    let same = jit.code == native.code && jit.signal == native.signal && jit.stdout == native.stdout;
    assert!(same, "jitld and native differ\n{}\n--- native\n{}", jit.describe(), native.describe());
}

// ------------------------------------------------------------------ 1. executable stacks

/// Prints every writable and executable mapping, from the main thread and from a new one.
const MAPS_CHECK: &str = r#"
#include <pthread.h>
#include <stdio.h>
#include <string.h>
static int rwx(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, " rwx")) { n++; fputs(line, stderr); }
    fclose(f);
    return n;
}
static void *in_thread(void *arg) { (void)arg; return (void *)(long)rwx(); }
int rwx_everywhere(void) {
    pthread_t t;
    void *in_new = 0;
    pthread_create(&t, 0, in_thread, 0);
    pthread_join(t, &in_new);
    return rwx() + (int)(long)in_new;
}
"#;

const TLS_MAIN: &str = r#"
#include <stdio.h>
int rwx_everywhere(void);
int lazy_counter(void);
__thread int counter = 5;
int main(void) {
    counter += lazy_counter();
    printf("counter=%d rwx=%d\n", counter, rwx_everywhere());
    return 0;
}
"#;

const TLS_LAZY: &str = "__thread int lazy_tls = 2;\nint lazy_counter(void) { return ++lazy_tls; }\n";

const CXX_MAIN: &str = r#"
#include <cstdio>
#include <string>
#include <thread>
extern "C" int rwx_everywhere(void);
thread_local std::string name = "tls";
int main() {
    std::thread t([] { name += "-thread"; });
    t.join();
    std::printf("%s rwx=%d\n", name.c_str(), rwx_everywhere());
}
"#;

#[test]
fn no_mapping_is_writable_and_executable() {
    let dir = scratch("hardening-rwx");
    let check = object(&dir, "gcc", "maps_check.c", MAPS_CHECK, &["-O1"]);
    let main = object(&dir, "gcc", "tls_main.c", TLS_MAIN, &["-O1"]);
    let lazy = object(&dir, "gcc", "tls_lazy.c", TLS_LAZY, &["-O1", "-fPIC"]);
    let cxx = object(&dir, "g++", "cxx_main.cpp", CXX_MAIN, &["-O1"]);
    let (check, main, lazy, cxx) =
        (check.to_str().unwrap(), main.to_str().unwrap(), lazy.to_str().unwrap(), cxx.to_str().unwrap());
    let runs: [(&[&str], &str); 4] = [
        (&["run", main, lazy, check], "counter=8 rwx=0\n"),
        (&["run", main, check, "--lazy", lazy], "counter=8 rwx=0\n"),
        (&["run", "--threads", "2", main, lazy, check], "counter=8 rwx=0\n"),
        (&["run", cxx, check, "-lstdc++"], "tls rwx=0\n"),
    ];
    for (args, expected) in runs {
        let out = jitld(args);
        assert!(out.code == Some(0) && out.stdout == expected, "expected {expected:?}\n{}", out.describe());
    }
}

/// gcc's nested functions put a trampoline on the stack: `ld` makes the stack executable
/// (and warns), and so must jitld.
#[test]
fn executable_stack_note_gets_an_executable_stack_and_a_warning() {
    let dir = scratch("hardening-execstack");
    let source = "#include <stdio.h>\nstatic int apply(int (*f)(int), int x) { return f(x); }\nint main(void) {\n    int k = 3;\n    int add(int x) { return x + k; }\n    printf(\"%d\\n\", apply(add, 4));\n    return 0;\n}\n";
    let tramp = object(&dir, "gcc", "tramp.c", source, &["-O0"]);
    let asm = write(&dir, "marked.s", ".text\n.globl marked\nmarked: ret\n.section .note.GNU-stack,\"x\",@progbits\n");
    let marked = compile("gcc", &asm, &dir.join("marked.o"), &[]);
    let out = jitld(&["run", tramp.to_str().unwrap()]);
    assert_same(&out, &native(&dir, "gcc", &[&tramp], &[], &[]));
    let warning = "warning: {}: requires executable stack (because the .note.GNU-stack section is executable)";
    assert!(out.stderr.contains(&warning.replace("{}", tramp.to_str().unwrap())), "{}", out.describe());
    // An object that only says so (here: no nested function at all) gets the same.
    let plain =
        object(&dir, "gcc", "plain.c", "extern void marked(void);\nint main(void) { marked(); return 0; }\n", &[]);
    let out = jitld(&["run", plain.to_str().unwrap(), marked.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(out.stderr.contains(&warning.replace("{}", marked.to_str().unwrap())), "{}", out.describe());
}

// ------------------------------------------------------------------ 2. the library named

/// `jitld run usez.o libz.so.1` in a folder with its own libz.so.1 loads that one.
#[test]
fn a_relative_library_path_loads_that_file() {
    let dir = scratch("hardening-libz");
    let lib = write(&dir, "lookalike.c", "const char *zlibVersion(void) { return \"local look-alike\"; }\n");
    tool(
        "gcc",
        &["-shared", "-fPIC", "-Wl,-soname,libz.so.1", "-o"]
            .map(String::from)
            .into_iter()
            .chain([dir.join("libz.so.1").display().to_string(), lib.display().to_string()])
            .collect::<Vec<_>>(),
    );
    object(
        &dir,
        "gcc",
        "usez.c",
        "#include <stdio.h>\nconst char *zlibVersion(void);\nint main(void) { puts(zlibVersion()); return 0; }\n",
        &[],
    );
    let in_dir = |args: &[&str]| -> (Option<i32>, String, String) {
        let out = Command::new(JITLD).args(args).current_dir(&dir).stdin(Stdio::null()).output().expect("run jitld");
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
    };
    let (code, stdout, stderr) = in_dir(&["run", "usez.o", "libz.so.1"]);
    assert_eq!((code, stdout.as_str()), (Some(0), "local look-alike\n"), "stderr: {stderr}");
    let (code, stdout, stderr) = in_dir(&["run", "usez.o", "libnothere.so.1"]);
    assert_eq!(code, Some(1), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stderr.starts_with("error: ") && stderr.contains("libnothere.so.1"), "stderr: {stderr}");
}

// ------------------------------------------------------------------ 3. script cycles

#[test]
fn linker_script_cycles_are_errors_naming_the_scripts() {
    let dir = scratch("hardening-scripts");
    let main = object(&dir, "gcc", "main.c", "int main(void) { return 0; }\n", &[]);
    let main = main.to_str().unwrap();
    let itself = dir.join("libself.so");
    std::fs::write(&itself, format!("/* GNU ld script */\nGROUP ( {} )\n", itself.display())).unwrap();
    let out = jitld(&["run", main, itself.to_str().unwrap()]);
    assert_clean_error(&out, &["linker script cycle", &format!("{0} -> {0}", itself.display())]);

    let (a, b) = (dir.join("liba.so"), dir.join("libb.so"));
    std::fs::write(&a, format!("INPUT ( {} )\n", b.display())).unwrap();
    std::fs::write(&b, format!("/* GNU ld script */\nINPUT ( {} )\n", a.display())).unwrap();
    let out = jitld(&["run", main, a.to_str().unwrap()]);
    assert_clean_error(
        &out,
        &["linker script cycle", &format!("{} -> {} -> {}", a.display(), b.display(), a.display())],
    );
}

// ------------------------------------------------------------------ 4. stdout errors

#[test]
fn a_full_or_closed_stdout_is_not_a_panic() {
    let dir = scratch("hardening-stdout");
    let obj = object(&dir, "gcc", "x.c", "int x(int a) { return a + 1; }\n", &[]);
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full");
    let out = Command::new(JITLD).args(["graph", obj.to_str().unwrap()]).stdout(full).output().expect("run jitld");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(stderr, "error: writing output: No space left on device\n");

    // Enough graph text to overflow the pipe after `head` has gone: like `cat`, a quiet SIGPIPE.
    let many = vec![obj.to_str().unwrap(); 2000].join(" ");
    let script = format!("{JITLD} graph {many} 2>{0}/err | head -1; echo \"status ${{PIPESTATUS[0]}}\"", dir.display());
    let out = run("bash", &["-c", &script]);
    assert_eq!(out.stdout, format!("graph {}\nstatus 141\n", obj.display()), "{}", out.describe());
    assert_eq!(std::fs::read_to_string(dir.join("err")).unwrap(), "", "jitld's stderr");
}

// ------------------------------------------------------------------ 5. stack overflow

#[test]
fn a_stack_overflow_in_jit_code_names_the_function() {
    let dir = scratch("hardening-overflow");
    let source = r#"
#include <pthread.h>
#include <string.h>
int deep(int n) { volatile char pad[512]; pad[0] = (char)n; return deep(n + 1) + pad[0]; }
static void *start(void *arg) { return (void *)(long)deep((int)(long)arg); }
int main(int argc, char **argv) {
    (void)argv;
    if (argc > 1) { pthread_t t; void *r; pthread_create(&t, 0, start, 0); pthread_join(t, &r); return (int)(long)r; }
    return deep(0);
}
"#;
    let obj = object(&dir, "gcc", "overflow.c", source, &["-O0"]);
    let obj = obj.to_str().unwrap();
    for args in [vec!["run", obj], vec!["run", obj, "--", "in-thread"]] {
        let out = jitld(&args);
        assert_eq!(out.signal, Some(libc::SIGSEGV), "{}", out.describe());
        assert!(
            out.stderr.contains("jitld: SIGSEGV at") && out.stderr.contains("in JIT'd code: deep+"),
            "{}",
            out.describe()
        );
    }
}

/// A thread libstdc++ starts for the program (std::thread) has an alternate stack too.
#[test]
fn a_stack_overflow_in_a_cxx_thread_names_the_function() {
    let dir = scratch("hardening-overflow-cxx");
    let source = r#"
#include <thread>
int deep(int n) { volatile char pad[512]; pad[0] = (char)n; return deep(n + 1) + pad[0]; }
int main() { std::thread t([] { deep(0); }); t.join(); }
"#;
    let obj = object(&dir, "g++", "overflow.cpp", source, &["-O0"]);
    let out = jitld(&["run", obj.to_str().unwrap(), "-lstdc++"]);
    assert_eq!(out.signal, Some(libc::SIGSEGV), "{}", out.describe());
    assert!(out.stderr.contains("in JIT'd code: _Z4deepi+"), "{}", out.describe());
}

// ------------------------------------------------------------------ 6. SIGPIPE

#[test]
fn sigpipe_has_its_default_action_in_the_program_and_its_children() {
    let dir = scratch("hardening-sigpipe");
    let source = "#include <stdio.h>\n#include <unistd.h>\nint main(void) {\n    int fd[2];\n    pipe(fd);\n    close(fd[0]);\n    write(fd[1], \"x\", 1);\n    perror(\"write\");\n    return 3;\n}\n";
    let writer = object(&dir, "gcc", "closed_pipe.c", source, &[]);
    let out = jitld(&["run", writer.to_str().unwrap()]);
    assert_eq!(out.signal, Some(libc::SIGPIPE), "{}", out.describe());
    assert_same(&out, &native(&dir, "gcc", &[&writer], &[], &[]));

    let source = "#include <stdio.h>\n#include <stdlib.h>\nint main(void) { printf(\"status %d\\n\", system(\"yes | head -1\")); return 0; }\n";
    let spawner = object(&dir, "gcc", "yes_head.c", source, &[]);
    let out = jitld(&["run", spawner.to_str().unwrap()]);
    let native = native(&dir, "gcc", &[&spawner], &[], &[]);
    assert_same(&out, &native);
    assert_eq!(out.stderr, native.stderr, "`yes` must not see EPIPE");
}

// ------------------------------------------------------------------ 7. libgcc.a

#[test]
fn libgcc_archive_is_searched_last() {
    let dir = scratch("hardening-libgcc");
    let source = r#"
#include <stdio.h>
int main(int argc, char **argv) {
    (void)argv;
    _Decimal64 a = 1.10DD, b = 2.25DD;
    a = a * argc + b;
    printf("hundredths=%lld\n", (long long)(a * 100));
    return a > 3.3DD ? 0 : 1;
}
"#;
    let obj = object(&dir, "gcc", "decimal.c", source, &["-O1"]);
    let out = jitld(&["run", obj.to_str().unwrap()]);
    assert_same(&out, &native(&dir, "gcc", &[&obj], &[], &[]));
    assert_eq!(out.stdout, "hundredths=335\n");
}

// ------------------------------------------------------------------ 8. C++ exceptions

#[test]
fn an_uncaught_cxx_exception_terminates_as_native() {
    let dir = scratch("hardening-terminate");
    let source = r#"
#include <cstdio>
#include <stdexcept>
struct Noisy { ~Noisy() { std::fputs("unwound\n", stderr); } };
static void thrower() { Noisy n; throw std::runtime_error("boom"); }
int main() { Noisy n; thrower(); }
"#;
    let obj = object(&dir, "g++", "uncaught.cpp", source, &["-O1"]);
    let out = jitld(&["run", obj.to_str().unwrap(), "-lstdc++"]);
    let native = native(&dir, "g++", &[&obj], &[], &[]);
    assert_eq!(out.signal, Some(libc::SIGABRT), "{}", out.describe());
    assert_same(&out, &native);
    assert_eq!(out.stderr, native.stderr);
    assert_eq!(out.stderr, "terminate called after throwing an instance of 'std::runtime_error'\n  what():  boom\n");
}

/// The forced unwinds of `pthread_exit`, in `main` and in a thread, end where they end
/// natively (the trampolines have no unwind information, like the bottom of a thread).
#[test]
fn pthread_exit_in_main_and_in_threads_behaves_as_native() {
    let dir = scratch("hardening-pthread-exit");
    let source = r#"
#include <pthread.h>
#include <stdio.h>
static void *worker(void *arg) { (void)arg; puts("worker"); pthread_exit((void *)7); }
int main(void) {
    pthread_t t;
    void *result;
    pthread_create(&t, 0, worker, 0);
    pthread_join(t, &result);
    printf("joined %ld\n", (long)result);
    fflush(stdout);
    pthread_exit(0);
}
"#;
    let obj = object(&dir, "gcc", "pthread_exit.c", source, &["-O1"]);
    let out = jitld(&["run", obj.to_str().unwrap()]);
    assert_same(&out, &native(&dir, "gcc", &[&obj], &[], &[]));
    assert_eq!(out.stdout, "worker\njoined 7\n");
}

// ------------------------------------------------------------------ 9. TLS on removal

/// Descriptors and mappings of the objects jitld generates for TLS (named `jitld-tls`): the
/// other tests in this process open and map things too.
fn tls_fds() -> usize {
    let links = std::fs::read_dir("/proc/self/fd").into_iter().flatten().flatten();
    links.filter(|e| std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().contains("jitld-tls"))).count()
}

fn tls_mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps").unwrap_or_default().lines().filter(|l| l.contains("jitld-tls")).count()
}

fn all_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

fn all_mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps").map(|m| m.lines().count()).unwrap_or(0)
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()).unwrap_or(0) * 4096
}

/// Add, look up, call and remove an object with thread-local data, many times: descriptors,
/// mappings and resident memory stay flat, and static TLS never runs out. Also out of
/// order: a block removed while a later one lives is reused.
#[test]
fn removing_code_gives_back_its_tls() {
    // Measured in a process of its own: the other tests' threads and children would move
    // this one's memory and descriptors.
    if std::env::var_os("JITLD_TLS_CYCLES").is_none() {
        let exe = std::env::current_exe().expect("test executable");
        let exe = exe.to_str().expect("UTF-8 path");
        let out = Command::new(exe)
            .args(["removing_code_gives_back_its_tls", "--exact", "--nocapture", "--test-threads=1"])
            .env("JITLD_TLS_CYCLES", "1")
            .stdin(Stdio::null())
            .output()
            .expect("run the cycles");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success() && text.contains("1 passed"), "the cycles failed:\n{text}");
        return;
    }
    use jitld::linker::InputBuffer;
    let dir = scratch("hardening-tls-cycles");
    let source = "__thread long tls_value = 40;\n__thread char tls_pad[24];\nlong bump(void) { tls_pad[0]++; return ++tls_value + tls_pad[0]; }\n";
    let bytes = std::fs::read(object(&dir, "gcc", "tls_cycle.c", source, &["-O1", "-fPIC"])).unwrap();
    let other = "__thread int other_value = 7;\nint other(void) { return other_value++; }\n";
    let other = std::fs::read(object(&dir, "gcc", "tls_other.c", other, &["-O1", "-fPIC"])).unwrap();
    let jit = jitld::Jit::new().unwrap();
    let add = |name: &str, bytes: &[u8]| {
        let tracker = jit.session().create_resource_tracker(jit.main_dylib());
        jit.layer().add_tracked(&tracker, InputBuffer::from_vec(name, bytes.to_vec())).unwrap();
        tracker
    };
    let call = |name: &str| -> i64 {
        let f = unsafe { jit.get::<extern "C" fn() -> i64>(name) }.unwrap_or_else(|e| panic!("{name}: {e}"));
        f()
    };
    let cycles = if cfg!(debug_assertions) { 2_000 } else { 10_000 };
    let mut after_warmup = (0, 0, 0);
    for round in 1..=cycles {
        let tracker = add("tls_cycle.o", &bytes);
        assert_eq!(call("bump"), 42, "round {round}: fresh initial values");
        if round % 2 == 0 {
            // A second block after the first, removed in the other order.
            let second = add("tls_other.o", &other);
            assert_eq!(call("other") as i32, 7, "round {round}");
            tracker.remove().unwrap();
            second.remove().unwrap();
        } else {
            tracker.remove().unwrap();
        }
        if round == 100 {
            after_warmup = (all_fds(), all_mappings(), resident_bytes());
        }
        if round % 2000 == 0 {
            eprintln!(
                "round {round}: {} fds, {} mappings, {} KiB resident",
                all_fds(),
                all_mappings(),
                resident_bytes() >> 10
            );
        }
    }
    // The session's tables indexed by id (units, instances, trackers) grow by ~0.4 KiB per
    // added object, TLS or not, and malloc maps one more region every few thousand cycles:
    // measured the same for objects without TLS. Everything the TLS objects took (a memfd, a
    // mapping, link-map memory, static TLS) is gone, or this would fail by far.
    let (fds, maps, rss) = after_warmup;
    assert_eq!(all_fds(), fds, "open descriptors after {cycles} cycles (after the 100th: {fds})");
    assert!(all_mappings() <= maps + 4, "mappings after {cycles} cycles: {} (after the 100th: {maps})", all_mappings());
    assert_eq!(tls_fds(), 0, "TLS objects' descriptors still open after {cycles} cycles");
    assert_eq!(tls_mappings(), 0, "TLS objects still mapped after {cycles} cycles");
    let growth = resident_bytes().saturating_sub(rss);
    assert!(growth < 12 << 20, "resident memory grew by {growth} bytes");
}

// ------------------------------------------------------------------ 10. exit

const PRINTS_AND_EXITS: &str = "#include <stdio.h>\nint main(void) { puts(\"1\"); return 3; }\n";

/// jitld's exit hands the unmapping of its memory to a helper (`src/cli/teardown.rs`). When
/// jitld's exit is seen the helper holds none of its files: the output pipe has already
/// reached its end. Read without blocking right after the wait: a writer still open would
/// say "would block".
#[test]
fn output_has_ended_when_the_exit_is_seen() {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let dir = scratch("exit-output-ended");
    let program = object(&dir, "gcc", "prints.c", PRINTS_AND_EXITS, &["-O2"]);
    for round in 0..20 {
        let mut child = Command::new(JITLD)
            .args(["run".as_ref(), program.as_os_str()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start jitld");
        let mut stdout = child.stdout.take().expect("piped");
        let status = child.wait().expect("wait for jitld");
        assert_eq!(status.code(), Some(3), "round {round}");
        // SAFETY: setting a flag on our own descriptor.
        unsafe { libc::fcntl(stdout.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
        let mut printed = String::new();
        match stdout.read_to_string(&mut printed) {
            Ok(_) => assert_eq!(printed, "1\n", "round {round}"),
            Err(e) => panic!("round {round}: the output was still open after jitld's exit: {e}"),
        }
    }
}

/// The helper goes with jitld: soon after jitld's exit no process maps the shared library
/// the program loaded (a path of this test's own).
#[test]
fn nothing_holds_the_memory_after_the_exit() {
    let dir = scratch("exit-memory-released");
    let library_source = write(&dir, "exit_check.c", "int exit_check(void) { return 3; }\n");
    let library = dir.join("libexit_check.so");
    tool(
        "gcc",
        &["-shared".as_ref(), "-fPIC".as_ref(), library_source.as_os_str(), "-o".as_ref(), library.as_os_str()],
    );
    let main =
        object(&dir, "gcc", "main.c", "int exit_check(void);\nint main(void) { return exit_check(); }\n", &["-O2"]);
    let out = jitld(&["run".as_ref(), main.as_os_str(), library.as_os_str()]);
    assert_eq!(out.code, Some(3), "{}", out.describe());
    let maps_library = |pid: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/maps"))
            .is_ok_and(|maps| maps.contains(&*library.to_string_lossy()))
    };
    let holders = || -> Vec<String> {
        let entries = std::fs::read_dir("/proc").into_iter().flatten().flatten();
        let pids = entries.map(|e| e.file_name().to_string_lossy().into_owned()).filter(|p| p.parse::<u32>().is_ok());
        pids.filter(|p| maps_library(p)).collect()
    };
    let started = std::time::Instant::now();
    while !holders().is_empty() && started.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(holders(), Vec::<String>::new(), "processes still map {} after jitld's exit", library.display());
}

// ------------------------------------------------------------------ 11. read-only data

/// Read-only data of many objects shares pages while the link runs (see
/// `linker/src/memory/read_only_runs.rs`). Each object's table must still hold its own bytes,
/// and end up on a read-only page: the program reads the protection of every table's page
/// from `/proc/self/maps`, and a child that writes to one dies of SIGSEGV, as natively.
const RODATA_MAIN: &str = r#"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#define N 24
extern const char *table(int i);
static char perms_of(const void *p) {
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    char found = '?';
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char perms[5];
        if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) == 3 && (unsigned long)p >= lo && (unsigned long)p < hi)
            found = perms[1];
    }
    fclose(f);
    return found;
}
int main(void) {
    int writable = 0, wrong = 0;
    for (int i = 0; i < N; i++) {
        char want[32];
        snprintf(want, sizeof want, "table %d of %d", i, N);
        wrong += strcmp(table(i), want) != 0;
        writable += perms_of(table(i)) != '-';
    }
    pid_t child = fork();
    if (child == 0) {
        *(volatile char *)table(N / 2) = 'x';
        _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    printf("wrong=%d writable=%d write-killed-by-SIGSEGV=%d\n", wrong, writable,
           WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
    return 0;
}
"#;

#[test]
fn read_only_data_of_many_objects_is_read_only_and_intact() {
    let dir = scratch("hardening-rodata");
    const N: usize = 24;
    let mut objects = vec![object(&dir, "gcc", "main.c", RODATA_MAIN, &["-O1"])];
    // One object answers `table(i)` through a switch; each other one holds one table.
    let mut dispatch = String::new();
    for i in 0..N {
        dispatch.push_str(&format!("extern const char table_{i}[];\n"));
        let source = format!("const char table_{i}[] = \"table {i} of {N}\";\n");
        objects.push(object(&dir, "gcc", &format!("t{i}.c"), &source, &["-O1"]));
    }
    dispatch.push_str("const char *table(int i) {\n    switch (i) {\n");
    for i in 0..N {
        dispatch.push_str(&format!("    case {i}: return table_{i};\n"));
    }
    dispatch.push_str("    }\n    return 0;\n}\n");
    objects.push(object(&dir, "gcc", "dispatch.c", &dispatch, &["-O1"]));
    let paths: Vec<&Path> = objects.iter().map(PathBuf::as_path).collect();
    let native = native(&dir, "gcc", &paths, &[], &[]);
    assert_eq!(native.stdout, "wrong=0 writable=0 write-killed-by-SIGSEGV=1\n", "{}", native.describe());
    for threads in ["1", "2"] {
        let mut args: Vec<&std::ffi::OsStr> = vec!["run".as_ref(), "--threads".as_ref(), threads.as_ref()];
        args.extend(paths.iter().map(|p| p.as_os_str()));
        assert_same(&jitld(&args), &native);
    }
}

// ------------------------------------------------------------------ 12. input order

/// Archives are read on the pool while the command line loads, and attached afterwards
/// (`src/cli/run.rs` `attach_generators`): an archive and a shared library that both define a
/// name still answer in command-line order, as `ld` binds it.
#[test]
fn an_archive_and_a_library_answer_in_command_line_order() {
    let dir = scratch("hardening-input-order");
    let main = object(&dir, "gcc", "main.c", "int which(void);\nint main(void) { return which(); }\n", &["-O2"]);
    let member = object(&dir, "gcc", "a.c", "int which(void) { return 1; }\n", &["-O2"]);
    let archive = dir.join("liba.a");
    tool("ar", &["rcs".as_ref(), archive.as_os_str(), member.as_os_str()]);
    let library_source = write(&dir, "b.c", "int which(void) { return 2; }\n");
    let library = dir.join("libb.so");
    tool(
        "gcc",
        &["-shared".as_ref(), "-fPIC".as_ref(), library_source.as_os_str(), "-o".as_ref(), library.as_os_str()],
    );
    for (first, second) in [(&archive, &library), (&library, &archive)] {
        let native = native(&dir, "gcc", &[&main, first, second], &[&format!("-Wl,-rpath,{}", dir.display())], &[]);
        let jit = jitld(&["run".as_ref(), main.as_os_str(), first.as_os_str(), second.as_os_str()]);
        assert_same(&jit, &native);
    }
}
