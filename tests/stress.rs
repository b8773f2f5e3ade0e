//! Stress tests of the session the way `jitld run` uses it: materialization on several
//! threads, lazy objects whose data is referenced, and dependency chains deeper than any
//! stack. Every check compares `jitld run` with the natively linked program (same stdout,
//! same exit status); generated chains are also checked against a model of what they print.
//!
//! 1. **Real programs under threads, in loops** (`threads_<case>`): every real-program case
//!    of the e2e manifest (sqlite, Lua, zlib, json, the C++ cases, the Rust staticlib), each
//!    variant, under `--threads 1`, `2` and `4` and with `--prepare-ahead`, repeated: races
//!    show up in a fraction of runs only.
//! 2. **1,000 generated C objects** (`many_objects`) that call each other's functions and
//!    hold tables of pointers to each other's arrays and functions, compiled with gcc on
//!    both cores; run eager and with every object `--lazy`, each under `--threads 1/2/4`.
//! 3. **Lazy objects whose data is referenced** (`lazy_data_cycle`): three objects whose
//!    functions call each other and whose tables point at each other's arrays, with a main
//!    that keeps the functions in a table; every way of making some of them `--lazy`, under
//!    `--threads 1/2/4`.
//! 4. **Deep chains** (`object_chain`, `archive_chain`): object i calls object i+1's
//!    function (a tail call) and points at its data, as command-line objects or as the
//!    members of one archive (only `main.o` and the `.a` on the command line). The objects
//!    come from `tests/common/elfgen.rs`, not a compiler; `generated_objects_link_natively`
//!    proves they are real by linking a short chain with gcc.
//!
//! Every process gets a time limit, and a process that uses no CPU time at all for a while
//! is killed as deadlocked, so a hang fails its test (naming the command) instead of hanging
//! the suite. Each failing jitld run leaves a `reproduce-*.sh` script next to its inputs.
//!
//! Run it with `cargo test --release --test stress`: on 2 cores, once the e2e fixtures are
//! built, it takes about 1m45s with nothing cached (25 s of that is gcc) and 1m30s cached;
//! the debug build that `make test` runs takes about 2m35s. The sizes, and their defaults:
//! * `JITLD_STRESS_THREADS`: thread counts to run under (default `1,2,4`)
//! * `JITLD_STRESS_REPEAT`: runs per variant and thread count of a real program (default
//!   20 for sqlite and 10 for the others in a release build; 10 and 4 in a debug build, as
//!   `make test` runs it, where every run is about ten times slower)
//! * `JITLD_STRESS_VARIANTS`: comma-separated variants of the real programs (default: all)
//! * `JITLD_STRESS_OBJECTS`: generated C objects in `many_objects` (default 1000)
//! * `JITLD_STRESS_BIG_REPEAT`: runs of each multi-threaded configuration of
//!   `many_objects` and the chains (default 3; a run that fails ends the tries)
//! * `JITLD_STRESS_CHAIN`: objects in `object_chain` (default 5000)
//! * `JITLD_STRESS_ARCHIVE_CHAIN`: members in `archive_chain` (default 2000)
//! * `JITLD_STRESS_NATIVE_LIMIT`: longer chains are checked against the test's model of
//!   the program instead of a native link (default 20000)
//! * `JITLD_STRESS_TIMEOUT_SECS`: wall-clock limit per process (default 120)
//! * `JITLD_STRESS_STALL_SECS`: a process that uses no CPU for this long is deadlocked
//!   (default 10)
//!
//! The big sizes, which the session must also pass:
//!
//! ```text
//! JITLD_STRESS_CHAIN=100000 JITLD_STRESS_ARCHIVE_CHAIN=100000 JITLD_STRESS_OBJECTS=5000 \
//! JITLD_STRESS_REPEAT=50 cargo test --release --test stress -- --nocapture
//! ```
//!
//! A 100,000-object command line also needs jitld to stay under the kernel's
//! `vm.max_map_count` (65,530 mappings); the lazy object chain is skipped at that size,
//! since 200,000 arguments exceed what `execve` takes.
//!
//! Generated inputs are cached under `target/tmp/stress-*` (regenerated when their
//! parameters change), so a second run skips gcc.

#[path = "common/elfgen.rs"]
mod elfgen;
#[path = "common/fixtures.rs"]
mod fixtures;

use elfgen::{Object, R_X86_64_64, R_X86_64_PLT32, SHF_ALLOC, SHF_EXECINSTR, SHF_WRITE, STT_FUNC, STT_OBJECT};
use fixtures::{Outcome, Status, JITLD};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

// ------------------------------------------------------------------ knobs

fn env_number(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(text) => text.trim().parse().unwrap_or_else(|_| panic!("{name}={text:?} is not a number")),
        Err(_) => default,
    }
}

fn thread_counts() -> Vec<usize> {
    let text = std::env::var("JITLD_STRESS_THREADS").unwrap_or_else(|_| "1,2,4".into());
    text.split(',')
        .map(|t| t.trim().parse().unwrap_or_else(|_| panic!("JITLD_STRESS_THREADS: {t:?} is not a number")))
        .collect()
}

/// The options the real programs run under: each thread count, and one thread with a
/// helper preparing ahead (`--prepare-ahead`).
fn thread_modes() -> Vec<Vec<String>> {
    let counts = thread_counts().into_iter().map(|n| vec!["--threads".to_string(), n.to_string()]);
    counts.chain([vec!["--prepare-ahead".to_string()]]).collect()
}

fn limit() -> Duration {
    Duration::from_secs(env_number("JITLD_STRESS_TIMEOUT_SECS", 120) as u64)
}

fn stall() -> Option<Duration> {
    Some(Duration::from_secs(env_number("JITLD_STRESS_STALL_SECS", 10) as u64))
}

/// A directory under `target/tmp` that keeps its contents between runs (a cache).
fn work_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// Runs a build step (compiler, linker) in `dir`; panics with its output if it fails.
fn build_step(dir: &Path, program: &str, args: &[String]) {
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(dir);
    let out = fixtures::run_captured(cmd, limit());
    assert!(
        out.status == Status::Exited(0),
        "build step failed ({}): (cd {} && {program} {})\n{}",
        out.status,
        dir.display(),
        abbreviate(args),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `args` joined, with the middle left out when there are many (1,000 object names).
fn abbreviate(args: &[String]) -> String {
    if args.len() <= 16 {
        return args.join(" ");
    }
    format!("{} ... [{} more] ... {}", args[..10].join(" "), args.len() - 13, args[args.len() - 3..].join(" "))
}

// ------------------------------------------------------------------ 1. real programs

/// The real-program cases of the e2e manifest: every kind but the small `run` fixtures.
fn real_program(case: &str) -> bool {
    fixtures::manifest().iter().any(|e| e.case == case && e.kind != "run")
}

const REAL_CASES: &[&str] = &[
    "sqlite",
    "lua",
    "zlib",
    "json",
    "cxx_globals",
    "cxx_exceptions",
    "cxx_threads",
    "cxx_tls",
    "cxx_atexit_cxx",
    "rust_staticlib",
];

/// A real-program case added to the manifest gets a `threads_<case>` test here too.
#[test]
fn threads_cover_every_real_program() {
    let mut in_manifest: Vec<&str> =
        fixtures::manifest().iter().filter(|e| e.kind != "run").map(|e| e.case.as_str()).collect();
    in_manifest.sort();
    in_manifest.dedup();
    let mut ours = REAL_CASES.to_vec();
    ours.sort();
    assert_eq!(in_manifest, ours, "real-program cases in manifest.tsv and REAL_CASES in tests/stress.rs differ");
}

macro_rules! thread_loops {
    ($($test:ident => $case:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                threads_loop($case);
            }
        )*
    };
}

thread_loops!(
    threads_sqlite => "sqlite",
    threads_lua => "lua",
    threads_zlib => "zlib",
    threads_json => "json",
    threads_cxx_globals => "cxx_globals",
    threads_cxx_exceptions => "cxx_exceptions",
    threads_cxx_threads => "cxx_threads",
    threads_cxx_tls => "cxx_tls",
    threads_cxx_atexit_cxx => "cxx_atexit_cxx",
    threads_rust_staticlib => "rust_staticlib",
);

/// Runs every selected variant of `case` under each thread count, `repeat` times, against
/// one native run; panics with a tally of the failures and one full report per distinct
/// failure.
fn threads_loop(case: &str) {
    assert!(real_program(case), "manifest.tsv has no real-program case {case:?}");
    // A debug jitld (`make test`) runs about ten times slower: fewer runs keep the file
    // within a few minutes there.
    let default_repeat = match (case == "sqlite", cfg!(debug_assertions)) {
        (true, false) => 20,
        (false, false) => 10,
        (true, true) => 10,
        (false, true) => 4,
    };
    let repeat = env_number("JITLD_STRESS_REPEAT", default_repeat);
    let selected: Option<Vec<String>> = std::env::var("JITLD_STRESS_VARIANTS")
        .ok()
        .map(|list| list.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect());
    let started = Instant::now();
    let mut runs = 0;
    let mut failed_runs = 0;
    let mut summary = Vec::new();
    // One full report per distinct (status, first error line).
    let mut reports: BTreeMap<String, String> = BTreeMap::new();
    for e in fixtures::manifest().iter().filter(|e| e.case == case) {
        if selected.as_ref().is_some_and(|s| !s.contains(&e.variant)) {
            continue;
        }
        let native = fixtures::native_reference(e, limit()).unwrap_or_else(|report| panic!("{report}"));
        for extra in thread_modes() {
            let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
            let mode = extra.join(" ");
            let mut failures: BTreeMap<String, usize> = BTreeMap::new();
            for _ in 0..repeat {
                runs += 1;
                if let Err(m) = fixtures::compare(e, &native, &extra, limit(), stall()) {
                    failed_runs += 1;
                    let stdout = if m.same_stdout { "" } else { ", stdout differs" };
                    let key = format!("{}{stdout}; {}", m.status, m.first_error);
                    *failures.entry(key.clone()).or_default() += 1;
                    reports.entry(key).or_insert(m.report);
                }
            }
            let line = if failures.is_empty() {
                format!("ok   {} {mode}: {repeat} of {repeat} runs match native", e.name())
            } else {
                let failed: usize = failures.values().sum();
                let mut line = format!("FAIL {} {mode}: {failed} of {repeat} runs failed", e.name());
                for (key, count) in &failures {
                    let _ = write!(line, "\n       {count}x {key}");
                }
                line
            };
            println!("{line}");
            summary.push(line);
        }
    }
    println!("{case}: {runs} runs in {:.1?}", started.elapsed());
    if failed_runs > 0 {
        panic!(
            "{case}: {failed_runs} of {runs} jitld runs differed from native\n{}\n\nfirst run of each failure:\n{}",
            summary.join("\n"),
            reports.into_values().collect::<Vec<_>>().join("\n")
        );
    }
}

// ------------------------------------------------------------------ running generated programs

/// One way to run a generated program: a label, the options and inputs of `jitld run`, and
/// how many times to run it (races need several tries; the first failure ends the tries).
struct Config {
    label: String,
    args: Vec<String>,
    repeat: usize,
}

fn config(label: impl Into<String>, args: Vec<String>) -> Config {
    Config { label: label.into(), args, repeat: 1 }
}

/// Runs of each multi-threaded configuration of a big generated program (default 3).
fn big_repeat(threads: usize) -> usize {
    if threads > 1 {
        env_number("JITLD_STRESS_BIG_REPEAT", 3)
    } else {
        1
    }
}

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// A generated program: its directory (the working directory of every run), and how its
/// native executable ran.
struct Generated {
    name: String,
    dir: PathBuf,
    native: Outcome,
}

impl Generated {
    /// Runs `dir/native` (which must exit normally) as the reference.
    fn new(name: &str, dir: &Path) -> Generated {
        let mut cmd = Command::new(dir.join("native"));
        cmd.current_dir(dir);
        let native = fixtures::run_watched(cmd, limit(), stall());
        assert!(
            matches!(native.status, Status::Exited(_)),
            "{name}: the native executable {} did not run: {}\n{}",
            dir.join("native").display(),
            native.status,
            String::from_utf8_lossy(&native.stderr)
        );
        Generated { name: name.into(), dir: dir.into(), native }
    }

    /// Runs `jitld run` in every configuration, `parallel` at a time, and returns a report
    /// for each that differs from the native run (and from `model`, what the program must
    /// print, when given).
    fn check(&self, configs: &[Config], parallel: usize, model: Option<&str>) -> Vec<String> {
        if let Some(model) = model {
            assert_eq!(
                String::from_utf8_lossy(&self.native.stdout),
                model,
                "{}: the native program disagrees with the test's model of it",
                self.name
            );
        }
        let next = AtomicUsize::new(0);
        let failures = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for _ in 0..parallel.max(1) {
                scope.spawn(|| loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    let Some(c) = configs.get(index) else { return };
                    if let Some(report) = self.run(c) {
                        failures.lock().unwrap().push((index, report));
                    }
                });
            }
        });
        // In the order of `configs`, whichever finished first.
        let mut failures = failures.into_inner().unwrap();
        failures.sort();
        failures.into_iter().map(|(_, report)| report).collect()
    }

    fn run(&self, c: &Config) -> Option<String> {
        let mut argv = vec!["run".to_string()];
        argv.extend(c.args.iter().cloned());
        let script = self.dir.join(format!("reproduce-{}.sh", c.label.replace([' ', '/'], "_").replace("--", "")));
        let mut tries = 0;
        let mut slowest = Duration::ZERO;
        let out = loop {
            tries += 1;
            let mut cmd = Command::new(JITLD);
            cmd.args(&argv).current_dir(&self.dir);
            let out = fixtures::run_watched(cmd, limit(), stall());
            slowest = slowest.max(out.elapsed);
            if out.status != self.native.status || out.stdout != self.native.stdout {
                break out;
            }
            if tries >= c.repeat {
                println!("ok   {} [{}] ({tries} runs, slowest {slowest:.2?})", self.name, c.label);
                return None;
            }
        };
        let same_status = out.status == self.native.status;
        let same_stdout = out.stdout == self.native.stdout;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let mut first_error = stderr.lines().next().unwrap_or("").to_string();
        if first_error.is_empty() && !same_stdout {
            first_error = fixtures::first_stdout_difference(&self.native.stdout, &out.stdout);
        }
        let run = format!("run {tries} of {}", c.repeat);
        println!("FAIL {} [{}]: {} ({:.2?}, {run}); {first_error}", self.name, c.label, out.status, out.elapsed);
        let quoted: Vec<String> = argv.iter().map(|a| fixtures::shell_quote(a)).collect();
        let text = format!(
            "#!/bin/sh\ncd {} && exec {JITLD} {}\n",
            fixtures::shell_quote(&self.dir.to_string_lossy()),
            quoted.join(" ")
        );
        let _ = std::fs::write(&script, text);
        let mut report = String::new();
        let _ = writeln!(report, "== {} [{}] ({run}) ==", self.name, c.label);
        let _ = writeln!(report, "reproduce: sh {}", script.display());
        let _ = writeln!(report, "  (cd {} && jitld {})", self.dir.display(), abbreviate(&argv));
        let mark = if same_status { "same" } else { "DIFFERENT" };
        let _ = writeln!(
            report,
            "status ({mark}): native {}, jitld {} after {:.2?}",
            self.native.status, out.status, out.elapsed
        );
        if same_stdout {
            let _ = writeln!(report, "stdout: identical");
        } else {
            report.push_str(&fixtures::stdout_diff(&self.native.stdout, &out.stdout));
        }
        let lines: Vec<&str> = stderr.lines().collect();
        let _ = writeln!(report, "--- jitld stderr ({} lines) ---", lines.len());
        for line in lines.iter().take(12) {
            let _ = writeln!(report, "{line}");
        }
        if lines.len() > 12 {
            let _ = writeln!(report, "[... {} more lines]", lines.len() - 12);
        }
        Some(report)
    }
}

fn assert_all_pass(name: &str, total: usize, failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{name}: {} of {total} jitld runs differ from native\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Reuses `dir` when its `stamp` file says it holds what `parameters` describe; otherwise
/// empties it, calls `generate`, and writes the stamp.
fn cached(dir: &Path, parameters: &str, generate: impl FnOnce()) {
    let stamp = dir.join("stamp");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(parameters) {
        return;
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let started = Instant::now();
    generate();
    std::fs::write(&stamp, parameters).unwrap();
    println!("generated {} in {:.1?}", dir.display(), started.elapsed());
}

/// Compiles `sources` (in `dir`) with gcc on two threads, a batch of files per gcc run; the
/// batches cycle through `flag_sets`, so the program mixes code models and optimizations.
fn compile_all(dir: &Path, sources: &[String], flag_sets: &[&[&str]]) {
    let batches: Vec<(usize, &[String])> = sources.chunks(40).enumerate().collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let Some((index, files)) = batches.get(next.fetch_add(1, Ordering::SeqCst)) else { return };
                let mut args = strings(flag_sets[index % flag_sets.len()]);
                args.push("-c".into());
                args.extend(files.iter().cloned());
                build_step(dir, "gcc", &args);
            });
        }
    });
}

// ------------------------------------------------------------------ 2. many generated C objects

/// The object that object `i` of `n` depends on first, and second (never itself).
fn partners(i: usize, n: usize) -> (usize, usize) {
    let j = (i * 37 + 11) % n;
    let j = if j == i { (i + 1) % n } else { j };
    let k = (i + n - 1) % n;
    (j, if k == j { (i + 2) % n } else { k })
}

/// `g_<i>.c`: an array, a table of pointers to two other objects' arrays (and its own), a
/// table of pointers to two other objects' functions, and a function that calls both.
fn many_source(i: usize, n: usize) -> String {
    let (j, k) = partners(i, n);
    let values: Vec<String> = (0..8).map(|v| ((i * 131 + v * 17) % 1009).to_string()).collect();
    format!(
        "/* object {i} of {n}, generated by tests/stress.rs */\n\
         extern const int arr_{j}[8], arr_{k}[8];\n\
         int fun_{j}(int);\n\
         int fun_{k}(int);\n\
         const int arr_{i}[8] = {{ {values} }};\n\
         const int *const ptrs_{i}[3] = {{ arr_{j}, arr_{k}, arr_{i} + 1 }};\n\
         int (*const fns_{i}[2])(int) = {{ fun_{j}, fun_{k} }};\n\
         static unsigned calls_{i};\n\
         int fun_{i}(int x)\n\
         {{\n\
         \x20   unsigned u = (unsigned)x;\n\
         \x20   calls_{i}++;\n\
         \x20   if (x <= 0)\n\
         \x20       return arr_{i}[(u + calls_{i}) & 7] + ptrs_{i}[u % 3][u & 7];\n\
         \x20   return (fun_{j}(x - 1) * 7) ^ fns_{i}[u & 1](x - 2) ^ ptrs_{i}[u % 3][(u * 5) & 7];\n\
         }}\n",
        values = values.join(", ")
    )
}

/// `main.c`: tables of every object's function and array; calls each function and prints a
/// checksum.
fn many_main(n: usize) -> String {
    let mut s = String::from("/* generated by tests/stress.rs */\n#include <stdio.h>\n");
    for i in 0..n {
        let _ = writeln!(s, "int fun_{i}(int); extern const int arr_{i}[8];");
    }
    let _ = writeln!(s, "static int (*const funs[{n}])(int) = {{");
    for i in 0..n {
        let _ = writeln!(s, "    fun_{i},");
    }
    let _ = writeln!(s, "}};\nstatic const int *const arrs[{n}] = {{");
    for i in 0..n {
        let _ = writeln!(s, "    arr_{i},");
    }
    let _ = write!(
        s,
        "}};\n\
         int main(void)\n\
         {{\n\
         \x20   unsigned sum = 0;\n\
         \x20   for (int i = 0; i < {n}; i++) {{\n\
         \x20       sum = sum * 31u + (unsigned)funs[i](6) + (unsigned)arrs[i][i & 7];\n\
         \x20       if (i % 100 == 99)\n\
         \x20           printf(\"after %d objects: %08x\\n\", i + 1, sum);\n\
         \x20   }}\n\
         \x20   printf(\"{n} objects: checksum %08x\\n\", sum);\n\
         \x20   return (int)(sum % 200u) + 2;\n\
         }}\n"
    );
    s
}

/// 2: JITLD_STRESS_OBJECTS (default 1000) gcc-compiled objects that call each other and
/// point at each other's data, eager and all `--lazy`, on 1, 2 and 4 threads.
#[test]
fn many_objects() {
    let n = env_number("JITLD_STRESS_OBJECTS", 1000);
    assert!(n >= 3, "JITLD_STRESS_OBJECTS must be at least 3");
    let dir = work_dir(&format!("stress-many-{n}"));
    // -fno-pic objects need a non-PIE native link; the other flag sets link into one too.
    let flag_sets: &[&[&str]] = &[
        &["-O2", "-fPIC"],
        &["-O0", "-fno-pic"],
        &["-O1", "-fPIE", "-ffunction-sections", "-fdata-sections"],
        &["-O2", "-fno-pic"],
        &["-O3", "-fPIC", "-ffunction-sections", "-fdata-sections"],
    ];
    let objects: Vec<String> = (0..n).map(|i| format!("g_{i}.o")).collect();
    cached(&dir, &format!("many v1 n={n} flags={flag_sets:?}"), || {
        let sources: Vec<String> = (0..n).map(|i| format!("g_{i}.c")).collect();
        for (i, name) in sources.iter().enumerate() {
            std::fs::write(dir.join(name), many_source(i, n)).unwrap();
        }
        std::fs::write(dir.join("main.c"), many_main(n)).unwrap();
        compile_all(&dir, &sources, flag_sets);
        build_step(&dir, "gcc", &strings(&["-O2", "-fPIE", "-c", "main.c"]));
        std::fs::write(dir.join("objects.rsp"), objects.join("\n")).unwrap();
        build_step(&dir, "gcc", &strings(&["-no-pie", "-o", "native", "main.o", "@objects.rsp"]));
    });
    let program = Generated::new(&format!("many_objects({n})"), &dir);
    let mut configs = Vec::new();
    for threads in thread_counts() {
        let mut args = strings(&["--threads", &threads.to_string(), "main.o"]);
        args.extend(objects.iter().cloned());
        configs.push(Config { repeat: big_repeat(threads), ..config(format!("eager --threads {threads}"), args) });
    }
    for threads in thread_counts() {
        let mut args = strings(&["--threads", &threads.to_string(), "main.o"]);
        for o in &objects {
            args.extend(["--lazy".to_string(), o.clone()]);
        }
        configs.push(Config { repeat: big_repeat(threads), ..config(format!("all lazy --threads {threads}"), args) });
    }
    let failures = program.check(&configs, 1, None);
    assert_all_pass(&program.name, configs.len(), failures);
}

// ------------------------------------------------------------------ 3. lazy objects with data

/// `f_<i>.c` of three: calls the other two's functions and points at their arrays.
fn cycle_source(i: usize) -> String {
    let (j, k) = ((i + 1) % 3, (i + 2) % 3);
    format!(
        "/* generated by tests/stress.rs */\n\
         extern int arr_{j}[4], arr_{k}[4];\n\
         int fun_{j}(int);\n\
         int fun_{k}(int);\n\
         int arr_{i}[4] = {{ {a}, {b}, {c}, {d} }};\n\
         int *tab_{i}[2] = {{ arr_{j}, arr_{k} }};\n\
         int fun_{i}(int x)\n\
         {{\n\
         \x20   if (x <= 0)\n\
         \x20       return arr_{i}[0] + tab_{i}[1][3];\n\
         \x20   return fun_{j}(x - 1) * 3 + tab_{i}[x & 1][x & 3] + fun_{k}(x - 2);\n\
         }}\n",
        a = i * 10 + 1,
        b = i * 10 + 2,
        c = i * 10 + 3,
        d = i * 10 + 4
    )
}

const CYCLE_MAIN: &str = "/* generated by tests/stress.rs */\n\
#include <stdio.h>\n\
int fun_0(int), fun_1(int), fun_2(int);\n\
int (*const fns[3])(int) = { fun_0, fun_1, fun_2 };\n\
int main(int argc, char **argv)\n\
{\n\
    int which = argc > 1 ? argv[1][0] - '0' : 1;\n\
    int r = fns[which](7);\n\
    printf(\"fun_%d(7) = %d\\n\", which, r);\n\
    return r & 0x7f;\n\
}\n";

/// 3: `main.o f_0.o --lazy f_1.o --lazy f_2.o` (hangs today), all-lazy, and every other mix,
/// under 1, 2 and 4 threads, with two code models.
#[test]
fn lazy_data_cycle() {
    let mut failures = Vec::new();
    let mut total = 0;
    for (model, flags) in [("pie", ["-O2", "-fPIE"]), ("pic", ["-O0", "-fPIC"])] {
        let dir = work_dir(&format!("stress-cycle-{model}"));
        cached(&dir, &format!("cycle v1 {flags:?}"), || {
            for i in 0..3 {
                std::fs::write(dir.join(format!("f_{i}.c")), cycle_source(i)).unwrap();
            }
            std::fs::write(dir.join("main.c"), CYCLE_MAIN).unwrap();
            let mut args = strings(&flags);
            args.extend(strings(&["-c", "main.c", "f_0.c", "f_1.c", "f_2.c"]));
            build_step(&dir, "gcc", &args);
            build_step(&dir, "gcc", &strings(&["-o", "native", "main.o", "f_0.o", "f_1.o", "f_2.o"]));
        });
        let program = Generated::new(&format!("lazy_data_cycle({model})"), &dir);
        let mut configs = Vec::new();
        // The brief's case first, then all-lazy, then the other mixes.
        let subsets: [&[usize]; 7] = [&[1, 2], &[0, 1, 2], &[0], &[1], &[2], &[0, 1], &[0, 2]];
        for threads in thread_counts() {
            for lazy in subsets {
                let mut args = strings(&["--threads", &threads.to_string(), "main.o"]);
                let mut label = String::from("main.o");
                for i in 0..3 {
                    let file = format!("f_{i}.o");
                    if lazy.contains(&i) {
                        args.push("--lazy".into());
                        label.push_str(" --lazy");
                    }
                    label.push_str(&format!(" {file}"));
                    args.push(file);
                }
                configs.push(config(format!("{label} --threads {threads}"), args));
            }
        }
        total += configs.len();
        // Small programs: run many at once, so hangs cost one stall period, not one each.
        failures.extend(program.check(&configs, 8, None));
    }
    assert_all_pass("lazy_data_cycle", total, failures);
}

// ------------------------------------------------------------------ 4. deep chains

/// The value of chain node `i`.
fn node_value(i: usize) -> u64 {
    (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 3
}

/// Object `i` of an `n`-long chain, written directly:
///
/// ```text
/// c_i:  imul rdi, rdi, 31; add rdi, i+1; jmp c_{i+1}      (last: mov rax, rdi; ret)
/// d_i:  .quad value_i, d_{i+1}                             (last: .quad value_i, 0)
/// ```
fn chain_object(i: usize, n: usize) -> Object {
    let last = i + 1 == n;
    let mut code = vec![0x48, 0x6b, 0xff, 0x1f, 0x48, 0x81, 0xc7];
    code.extend_from_slice(&(i as u32 + 1).to_le_bytes());
    let jump_field = code.len() as u64 + 1;
    if last {
        code.extend_from_slice(&[0x48, 0x89, 0xf8, 0xc3]);
    } else {
        code.extend_from_slice(&[0xe9, 0, 0, 0, 0]);
    }
    let code_size = code.len() as u64;
    let mut data = node_value(i).to_le_bytes().to_vec();
    data.extend_from_slice(&[0; 8]);

    let mut o = Object::default();
    let text = o.section(".text", SHF_ALLOC | SHF_EXECINSTR, 16, code);
    let dat = o.section(".data", SHF_ALLOC | SHF_WRITE, 8, data);
    o.section(".note.GNU-stack", 0, 1, Vec::new());
    o.define(&format!("c_{i}"), STT_FUNC, text, 0, code_size);
    o.define(&format!("d_{i}"), STT_OBJECT, dat, 0, 16);
    if !last {
        let next_code = o.undefined(&format!("c_{}", i + 1));
        o.reloc(text, jump_field, R_X86_64_PLT32, next_code, -4);
        let next_data = o.undefined(&format!("d_{}", i + 1));
        o.reloc(dat, 8, R_X86_64_64, next_data, 0);
    }
    o
}

const CHAIN_MAIN: &str = "/* generated by tests/stress.rs */\n\
#include <stdio.h>\n\
struct node { unsigned long value; const struct node *next; };\n\
extern const struct node d_0;\n\
unsigned long c_0(unsigned long);\n\
int main(void)\n\
{\n\
    unsigned long count = 0, data = 0;\n\
    for (const struct node *p = &d_0; p; p = p->next) {\n\
        data = data * 1000003ul + p->value;\n\
        count++;\n\
    }\n\
    unsigned long code = c_0(1);\n\
    printf(\"%lu nodes: data %016lx, code %016lx\\n\", count, data, code);\n\
    return (int)((data ^ code) % 250ul) + 3;\n\
}\n";

/// What the chain's main prints, and its exit status.
fn chain_model(n: usize) -> (String, i32) {
    let (mut data, mut code) = (0u64, 1u64);
    for i in 0..n {
        data = data.wrapping_mul(1_000_003).wrapping_add(node_value(i));
        code = code.wrapping_mul(31).wrapping_add(i as u64 + 1);
    }
    (format!("{n} nodes: data {data:016x}, code {code:016x}\n"), ((data ^ code) % 250) as i32 + 3)
}

/// Writes `dir/main.o` (gcc) and an `n`-long chain: objects `c<i>.o` when `as_archive` is
/// false, or else one archive `libchain.a` of them. Returns the chain's file names.
fn write_chain(dir: &Path, n: usize, as_archive: bool) -> Vec<String> {
    std::fs::write(dir.join("main.c"), CHAIN_MAIN).unwrap();
    build_step(dir, "gcc", &strings(&["-O2", "-c", "main.c"]));
    let started = Instant::now();
    if as_archive {
        let members: Vec<(String, Vec<u8>, Vec<String>)> = (0..n)
            .map(|i| {
                let o = chain_object(i, n);
                let names = o.defined_names().into_iter().map(String::from).collect();
                (format!("c{i}.o"), o.write(), names)
            })
            .collect();
        std::fs::write(dir.join("libchain.a"), elfgen::archive(&members)).unwrap();
        println!("chain of {n}: archive written in {:.2?}", started.elapsed());
        vec!["libchain.a".into()]
    } else {
        let names: Vec<String> = (0..n).map(|i| format!("c{i}.o")).collect();
        for (i, name) in names.iter().enumerate() {
            std::fs::write(dir.join(name), chain_object(i, n).write()).unwrap();
        }
        println!("chain of {n}: objects written in {:.2?}", started.elapsed());
        names
    }
}

/// Links `main.o` and the chain natively into `dir/native` (through a response file).
fn link_chain_natively(dir: &Path, chain: &[String]) {
    std::fs::write(dir.join("chain.rsp"), chain.join("\n")).unwrap();
    let started = Instant::now();
    build_step(dir, "gcc", &strings(&["-o", "native", "main.o", "@chain.rsp"]));
    println!("native link of {} in {:.2?}", dir.display(), started.elapsed());
}

/// The generator's objects and archives are real: gcc/ld link a short chain of them, as
/// objects and as an archive, and both programs print what the model says.
#[test]
fn generated_objects_link_natively() {
    for as_archive in [false, true] {
        let dir = work_dir(&format!("stress-chain-proof-{}", if as_archive { "archive" } else { "objects" }));
        let n = 40;
        let chain = write_chain(&dir, n, as_archive);
        link_chain_natively(&dir, &chain);
        let program = Generated::new("chain proof", &dir);
        let (stdout, status) = chain_model(n);
        assert_eq!(String::from_utf8_lossy(&program.native.stdout), stdout);
        assert_eq!(program.native.status, Status::Exited(status));
    }
}

/// Chains up to this long are linked natively as well (default 20,000): gcc takes ~40 s
/// for a 100,000-member archive. Longer ones are checked against the model, which every
/// shorter chain (and `generated_objects_link_natively`) checks against the native program.
fn native_limit() -> usize {
    env_number("JITLD_STRESS_NATIVE_LIMIT", 20_000)
}

fn chain_test(name: &str, n: usize, as_archive: bool, lazy: bool) {
    assert!(n >= 2, "a chain needs at least 2 links");
    let dir = work_dir(&format!("stress-{name}-{n}"));
    let native = n <= native_limit();
    cached(&dir, &format!("{name} v1 n={n} native={native}"), || {
        let files = write_chain(&dir, n, as_archive);
        if native {
            link_chain_natively(&dir, &files);
        }
    });
    let chain: Vec<String> =
        if as_archive { vec!["libchain.a".into()] } else { (0..n).map(|i| format!("c{i}.o")).collect() };
    let (stdout, status) = chain_model(n);
    let program = if native {
        let program = Generated::new(&format!("{name}({n})"), &dir);
        assert_eq!(program.native.status, Status::Exited(status), "{name}: native exit status is not the model's");
        program
    } else {
        println!("{name}({n}): longer than JITLD_STRESS_NATIVE_LIMIT, so checked against the model only");
        let model = Outcome {
            status: Status::Exited(status),
            stdout: stdout.clone().into_bytes(),
            stderr: Vec::new(),
            elapsed: Duration::ZERO,
        };
        Generated { name: format!("{name}({n})"), dir: dir.clone(), native: model }
    };
    let mut configs = Vec::new();
    for threads in thread_counts() {
        let mut args = strings(&["--threads", &threads.to_string(), "main.o"]);
        args.extend(chain.iter().cloned());
        configs.push(Config { repeat: big_repeat(threads), ..config(format!("--threads {threads}"), args) });
    }
    if lazy {
        let mut args = strings(&["main.o"]);
        for c in &chain {
            args.extend(["--lazy".to_string(), c.clone()]);
        }
        configs.push(config("all lazy", args));
    }
    // Linux takes at most 2 MiB of arguments and environment (with an 8 MiB stack limit).
    configs.retain(|c| {
        let bytes: usize = c.args.iter().map(|a| a.len() + 1 + 8).sum();
        if bytes > 1_900_000 {
            println!("{name}({n}) [{}]: skipped, its {bytes} bytes of arguments are too many for execve", c.label);
        }
        bytes <= 1_900_000
    });
    let failures = program.check(&configs, 1, Some(&stdout));
    assert_all_pass(&program.name, configs.len(), failures);
}

/// 4: `main.o c0.o ... c<N-1>.o`, N = JITLD_STRESS_CHAIN (default 5000), eager on 1, 2 and 4
/// threads and all `--lazy`.
#[test]
fn object_chain() {
    chain_test("object-chain", env_number("JITLD_STRESS_CHAIN", 5000), false, true);
}

/// 4: `main.o libchain.a` where member i needs member i+1, N = JITLD_STRESS_ARCHIVE_CHAIN
/// (default 2000), on 1, 2 and 4 threads.
#[test]
fn archive_chain() {
    chain_test("archive-chain", env_number("JITLD_STRESS_ARCHIVE_CHAIN", 2000), true, false);
}
