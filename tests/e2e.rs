//! End-to-end tests: link and run the C, C++ and Rust fixtures with
//! `jitld run` and compare against natively linked reference executables.
//!
//! `fixtures/build.sh` (run once per test process) compiles every fixture in
//! several compiler/optimisation/PIC variants, links a native executable for
//! each and writes `manifest.tsv`. For every manifest entry the native
//! executable and `jitld run <inputs> -- <args>` are run with the same
//! environment, working directory and argv[0] (`--argv0 <native path>`); their
//! stdout and exit status must be identical.
//!
//! There is one `#[test]` per case; it runs all variants of the case and
//! reports every failing variant at once (exit statuses, a unified stdout
//! diff, jitld's stderr and a command line to reproduce).
//!
//! Variants that jitld cannot run yet are listed in [`KNOWN_GAPS`]. They are
//! still run, and must still fail: a listed variant that passes fails its test
//! with "remove it from KNOWN_GAPS", so the list cannot go stale silently.
//!
//! Environment knobs:
//! * `JITLD_FIXTURES_OUT`: output directory for the fixtures
//!   (default `<crate>/target/fixtures`)
//! * `JITLD_E2E_VARIANTS`: comma-separated list of variants to run (default: all)
//! * `JITLD_E2E_TIMEOUT_SECS`: per-process timeout (default 120)
//!
//! The manifest and the running and comparing live in `tests/common/fixtures.rs`, which
//! `tests/stress.rs` shares.

use std::collections::BTreeSet;
use std::time::Duration;

#[path = "common/fixtures.rs"]
mod fixtures;
use fixtures::*;

macro_rules! e2e_cases {
    ($($name:ident),* $(,)?) => {
        /// Every case that has a test function; the manifest must match it.
        const KNOWN_CASES: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                run_case(stringify!($name));
            }
        )*
    };
}

// fixtures/run/<case>: multi ... archive; fixtures/real/<case>_driver.c: sqlite, lua, zlib;
// fixtures/real/<case>_driver/*.cpp: json (nlohmann/json, -lstdc++);
// fixtures/cxx/<case>: cxx_<case>; fixtures/rust: rust_staticlib.
e2e_cases!(
    multi,
    weak,
    common,
    ctors,
    exit,
    args,
    unref_ctor,
    libcdata,
    archive,
    registry,
    sqlite,
    lua,
    zlib,
    json,
    cxx_globals,
    cxx_exceptions,
    cxx_threads,
    cxx_tls,
    cxx_atexit_cxx,
    rust_staticlib,
);

/// (case, variant, reason): variants jitld is known not to run correctly yet.
/// Each must still fail under jitld (for any reason); one that passes is
/// reported as a failure until its entry is removed. A native reference that
/// does not run is never excused.
const KNOWN_GAPS: &[(&str, &str, &str)] = &[];

fn known_gap(e: &Entry) -> Option<&'static str> {
    KNOWN_GAPS.iter().find(|(case, variant, _)| *case == e.case && *variant == e.variant).map(|(.., why)| *why)
}

/// Every KNOWN_GAPS entry names a case and variant that exist (so a renamed
/// variant cannot leave a dead entry behind), and none is listed twice.
#[test]
fn known_gaps_name_real_variants() {
    let mut problems = Vec::new();
    for (i, (case, variant, _)) in KNOWN_GAPS.iter().enumerate() {
        if !manifest().iter().any(|e| e.case == *case && e.variant == *variant) {
            problems.push(format!("KNOWN_GAPS entry ({case}, {variant}) is not in manifest.tsv"));
        }
        if KNOWN_GAPS[..i].iter().any(|(c, v, _)| c == case && v == variant) {
            problems.push(format!("KNOWN_GAPS lists ({case}, {variant}) twice"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Guards against a fixture directory being added without a test function
/// (or a test function whose fixture disappeared).
#[test]
fn manifest_covers_every_case() {
    let in_manifest: BTreeSet<&str> = manifest().iter().map(|e| e.case.as_str()).collect();
    let known: BTreeSet<&str> = KNOWN_CASES.iter().copied().collect();
    assert_eq!(in_manifest, known, "cases in manifest.tsv and test functions in tests/e2e.rs differ");
}

/// Sanity check of the fixtures themselves (no jitld involved): every native
/// build of a case must exit with the same non-zero code and print the same
/// stdout in every variant (argv[0], the only variant-specific text, is
/// masked). This catches nondeterministic or compiler-dependent fixtures,
/// which would otherwise show up as confusing jitld failures.
#[test]
fn natives_agree_across_variants() {
    let limit = timeout();
    let mut problems = Vec::new();
    let mut first_of_case: Vec<(&str, String, Status, String)> = Vec::new();
    for e in manifest() {
        let out = run_captured(native_command(e), limit);
        let argv0 = e.native.to_string_lossy();
        let stdout = String::from_utf8_lossy(&out.stdout).replace(argv0.as_ref(), "<argv0>");
        if !matches!(out.status, Status::Exited(code) if code != 0) {
            problems.push(format!("{}: native should exit with a non-zero code, got {}", e.name(), out.status));
        }
        match first_of_case.iter().find(|(case, ..)| *case == e.case) {
            None => first_of_case.push((&e.case, e.name(), out.status, stdout)),
            Some((_, first, status, expected)) => {
                if *status != out.status || *expected != stdout {
                    let diff = similar::TextDiff::from_lines(expected.as_str(), stdout.as_str())
                        .unified_diff()
                        .header(first, &e.name())
                        .to_string();
                    problems.push(format!("{} differs from {first}: {} vs {}\n{diff}", e.name(), out.status, status));
                }
            }
        }
    }
    assert!(problems.is_empty(), "native fixtures disagree:\n{}", problems.join("\n"));
}

fn selected_variants() -> Option<Vec<String>> {
    let list = std::env::var("JITLD_E2E_VARIANTS").ok()?;
    Some(list.split(',').map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).collect())
}

fn timeout() -> Duration {
    let secs = std::env::var("JITLD_E2E_TIMEOUT_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(120);
    Duration::from_secs(secs)
}

/// How a jitld run failed, in one line (its status line and the first line of
/// its stderr), for the summary of a known gap.
fn gap_summary(report: &str) -> String {
    let status = report.lines().find(|l| l.starts_with("status")).unwrap_or("");
    let stderr = report.split("--- jitld stderr ---\n").nth(1).and_then(|rest| rest.lines().next()).unwrap_or("");
    format!("{status}; stderr: {stderr}")
}

/// Runs every (selected) variant of `case` and panics with a report listing
/// all failing variants.
fn run_case(case: &str) {
    let entries: Vec<&Entry> = manifest().iter().filter(|e| e.case == case).collect();
    assert!(!entries.is_empty(), "manifest.tsv has no entries for case {case:?}");
    let selected = selected_variants();
    let limit = timeout();

    let mut failures = Vec::new();
    let mut ran = 0;
    for e in entries {
        if let Some(sel) = &selected {
            if !sel.contains(&e.variant) {
                continue;
            }
        }
        ran += 1;
        match (check(e, limit), known_gap(e)) {
            (Ok(took), None) => println!("ok   {} ({took:.2?})", e.name()),
            (Ok(took), Some(why)) => {
                println!("FAIL {} (passes, but is listed in KNOWN_GAPS)", e.name());
                failures.push(format!(
                    "== {} ==\npasses under jitld ({took:.2?}) but is listed in KNOWN_GAPS as failing \
                     ({why}): remove it from KNOWN_GAPS in tests/e2e.rs\n",
                    e.name()
                ));
            }
            (Err(Failure::Jitld(report)), Some(why)) => {
                println!("gap  {} (known: {why})\n     {}", e.name(), gap_summary(&report));
            }
            (Err(Failure::Jitld(report) | Failure::Native(report)), _) => {
                println!("FAIL {}", e.name());
                failures.push(report);
            }
        }
    }
    if failures.is_empty() {
        return;
    }
    panic!("{} of {ran} variants of case {case:?} failed\n\n{}", failures.len(), failures.join("\n"));
}

/// A subset of the programs runs in an executor reached over TCP loopback: the executor
/// (`jitld-executor --listen`) is the program's process, so its stdout and jitld's exit
/// status must be the native program's.
#[test]
fn a_subset_runs_in_an_executor_over_tcp() {
    let limit = timeout();
    let mut problems = Vec::new();
    for case in ["multi", "ctors", "libcdata", "sqlite", "cxx_exceptions"] {
        let Some(e) = manifest().iter().find(|e| e.case == case) else { continue };
        let native = native_reference(e, limit).expect("the native reference runs");
        let executor_binary = std::path::Path::new(JITLD).with_file_name("jitld-executor");
        let mut executor = std::process::Command::new(&executor_binary)
            .args(["--listen", "127.0.0.1:0"])
            .current_dir(e.workdir())
            .env(TEST_VAR, TEST_VALUE)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("jitld-executor starts");
        let mut stderr = std::io::BufReader::new(executor.stderr.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
        let port = line.trim().rsplit(' ').next().unwrap().to_string();
        let stdout = drain(executor.stdout.take().unwrap());
        let address = format!("127.0.0.1:{port}");
        let jit = run_captured(jitld_command(e, &["--connect", &address]), limit);
        let _ = executor.wait();
        let program_stdout = stdout.join().unwrap();
        if jit.status != native.status || program_stdout != native.stdout {
            problems.push(format!(
                "{}: over TCP status {} (native {}), stdout {} the native one\n{}",
                e.name(),
                jit.status,
                native.status,
                if program_stdout == native.stdout { "same as" } else { "differs from" },
                reproduce(e, &["--connect", &address])
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
