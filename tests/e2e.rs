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

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

const JITLD: &str = env!("CARGO_BIN_EXE_jitld");
const TEST_VAR: &str = "JITLD_TEST_VAR";
const TEST_VALUE: &str = "hello";
/// Captured output beyond this many bytes is drained but dropped.
const OUTPUT_CAP: usize = 16 << 20;
/// How much of jitld's stderr goes into a failure report.
const STDERR_TAIL: usize = 6 << 10;
/// How many diff lines go into a failure report.
const DIFF_LINES: usize = 200;

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

// ------------------------------------------------------------------ manifest

#[derive(Debug)]
struct Entry {
    kind: String,
    case: String,
    variant: String,
    native: PathBuf,
    /// Inputs for `jitld run`, in command-line order.
    inputs: Vec<String>,
    /// Program arguments (after `--`).
    args: Vec<String>,
}

impl Entry {
    fn name(&self) -> String {
        format!("{}/{}/{}", self.kind, self.case, self.variant)
    }

    fn workdir(&self) -> &Path {
        self.native.parent().expect("native path has a parent directory")
    }
}

fn crate_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixtures_out() -> PathBuf {
    match std::env::var_os("JITLD_FIXTURES_OUT") {
        Some(dir) => PathBuf::from(dir),
        None => crate_root().join("target").join("fixtures"),
    }
}

/// Builds the fixtures (once per process) and returns the parsed manifest.
fn manifest() -> &'static [Entry] {
    static MANIFEST: OnceLock<Result<Vec<Entry>, String>> = OnceLock::new();
    match MANIFEST.get_or_init(build_fixtures) {
        Ok(entries) => entries,
        Err(msg) => panic!("{msg}"),
    }
}

fn build_fixtures() -> Result<Vec<Entry>, String> {
    let out = fixtures_out();
    let script = crate_root().join("fixtures").join("build.sh");
    let started = Instant::now();
    let result = Command::new("bash")
        .arg(&script)
        .arg(&out)
        .current_dir(crate_root())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run bash {}: {e}", script.display()))?;
    if !result.status.success() {
        return Err(format!(
            "fixture build failed ({}): bash {} {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            result.status,
            script.display(),
            out.display(),
            String::from_utf8_lossy(&result.stdout),
            String::from_utf8_lossy(&result.stderr),
        ));
    }
    eprintln!("e2e: fixtures built in {:.1?}: {}", started.elapsed(), String::from_utf8_lossy(&result.stdout).trim());
    let path = out.join("manifest.tsv");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse_manifest(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn parse_manifest(text: &str) -> Result<Vec<Entry>, String> {
    let mut entries = Vec::new();
    for (lineno, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let [kind, case, variant, native, inputs, args] = fields[..] else {
            return Err(format!(
                "line {}: expected 6 tab-separated fields, got {}: {line:?}",
                lineno + 1,
                fields.len()
            ));
        };
        let split = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        entries.push(Entry {
            kind: kind.to_owned(),
            case: case.to_owned(),
            variant: variant.to_owned(),
            native: PathBuf::from(native),
            inputs: split(inputs),
            args: split(args),
        });
    }
    if entries.is_empty() {
        return Err("manifest has no entries".to_owned());
    }
    Ok(entries)
}

fn selected_variants() -> Option<Vec<String>> {
    let list = std::env::var("JITLD_E2E_VARIANTS").ok()?;
    Some(list.split(',').map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).collect())
}

fn timeout() -> Duration {
    let secs = std::env::var("JITLD_E2E_TIMEOUT_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(120);
    Duration::from_secs(secs)
}

// ------------------------------------------------------------------ running

#[derive(Debug, Clone, PartialEq, Eq)]
enum Status {
    Exited(i32),
    Signaled(i32),
    TimedOut(Duration),
    NotRun(String),
}

impl Status {
    fn from_exit(st: ExitStatus) -> Status {
        match (st.code(), st.signal()) {
            (Some(code), _) => Status::Exited(code),
            (None, Some(sig)) => Status::Signaled(sig),
            (None, None) => Status::NotRun(format!("unknown wait status {st:?}")),
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::Exited(code) => write!(f, "exit code {code}"),
            Status::Signaled(sig) => write!(f, "killed by signal {sig} ({})", signal_name(*sig)),
            Status::TimedOut(t) => write!(f, "timed out after {t:?} (killed)"),
            Status::NotRun(why) => write!(f, "could not run: {why}"),
        }
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => "?",
    }
}

struct Outcome {
    status: Status,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    elapsed: Duration,
}

/// Reads a pipe to the end on a thread, keeping at most OUTPUT_CAP bytes.
fn drain<R: Read + Send + 'static>(mut pipe: R) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut kept = Vec::new();
        let mut chunk = [0u8; 64 << 10];
        loop {
            match pipe.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = OUTPUT_CAP.saturating_sub(kept.len());
                    kept.extend_from_slice(&chunk[..n.min(room)]);
                }
            }
        }
        kept
    })
}

/// Runs a command with stdin closed, capturing stdout/stderr, killing it
/// after `limit`.
fn run_captured(mut cmd: Command, limit: Duration) -> Outcome {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            return Outcome {
                status: Status::NotRun(e.to_string()),
                stdout: Vec::new(),
                stderr: Vec::new(),
                elapsed: started.elapsed(),
            }
        }
    };
    let out = drain(child.stdout.take().expect("piped stdout"));
    let err = drain(child.stderr.take().expect("piped stderr"));
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Status::from_exit(st),
            Ok(None) if started.elapsed() >= limit => {
                let _ = child.kill();
                let _ = child.wait();
                break Status::TimedOut(limit);
            }
            Ok(None) => thread::sleep(Duration::from_millis(5)),
            Err(e) => break Status::NotRun(format!("wait failed: {e}")),
        }
    };
    let elapsed = started.elapsed();
    Outcome { status, stdout: out.join().unwrap_or_default(), stderr: err.join().unwrap_or_default(), elapsed }
}

fn native_command(e: &Entry) -> Command {
    let mut cmd = Command::new(&e.native);
    cmd.args(&e.args).current_dir(e.workdir()).env(TEST_VAR, TEST_VALUE);
    cmd
}

fn jitld_argv(e: &Entry) -> Vec<&OsStr> {
    let mut argv: Vec<&OsStr> = vec![OsStr::new("run"), OsStr::new("--argv0"), e.native.as_os_str()];
    argv.extend(e.inputs.iter().map(OsStr::new));
    argv.push(OsStr::new("--"));
    argv.extend(e.args.iter().map(OsStr::new));
    argv
}

fn jitld_command(e: &Entry) -> Command {
    let mut cmd = Command::new(JITLD);
    cmd.args(jitld_argv(e)).current_dir(e.workdir()).env(TEST_VAR, TEST_VALUE);
    cmd
}

/// A copy-pasteable shell command reproducing the jitld run.
fn reproduce(e: &Entry) -> String {
    let mut words = vec![format!("{TEST_VAR}={TEST_VALUE}"), shell_quote(JITLD)];
    words.extend(jitld_argv(e).iter().map(|a| shell_quote(&a.to_string_lossy())));
    format!("(cd {} && {})", shell_quote(&e.workdir().to_string_lossy()), words.join(" "))
}

fn shell_quote(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=+,:@%".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn tail(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.len() <= max {
        return text.into_owned();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("[... {start} bytes omitted ...]\n{}", &text[start..])
}

fn stdout_diff(native: &[u8], jitld: &[u8]) -> String {
    let a = String::from_utf8_lossy(native);
    let b = String::from_utf8_lossy(jitld);
    let diff = similar::TextDiff::from_lines(a.as_ref(), b.as_ref())
        .unified_diff()
        .context_radius(3)
        .header("native stdout", "jitld stdout")
        .to_string();
    let lines: Vec<&str> = diff.lines().collect();
    if lines.len() <= DIFF_LINES {
        diff
    } else {
        format!("{}\n[... {} more diff lines omitted ...]\n", lines[..DIFF_LINES].join("\n"), lines.len() - DIFF_LINES)
    }
}

/// Why a manifest entry failed: its native reference did not run (a fixture
/// problem, never excused by KNOWN_GAPS), or jitld's run differed from it.
enum Failure {
    Native(String),
    Jitld(String),
}

/// Runs one manifest entry natively and under jitld; Err is a report.
fn check(e: &Entry, limit: Duration) -> Result<Duration, Failure> {
    let native = run_captured(native_command(e), limit);
    if !matches!(native.status, Status::Exited(_)) {
        return Err(Failure::Native(format!(
            "== {} ==\nthe NATIVE reference did not run properly (fixture problem): {}\n\
             command: {}\n--- native stderr ---\n{}",
            e.name(),
            native.status,
            e.native.display(),
            tail(&native.stderr, STDERR_TAIL)
        )));
    }
    let jit = run_captured(jitld_command(e), limit);
    let same_status = native.status == jit.status;
    let same_stdout = native.stdout == jit.stdout;
    if same_status && same_stdout {
        return Ok(jit.elapsed);
    }

    let mut report = String::new();
    let _ = writeln!(report, "== {} ==", e.name());
    let _ = writeln!(report, "reproduce: {}", reproduce(e));
    let mark = if same_status { "same" } else { "DIFFERENT" };
    let _ = writeln!(
        report,
        "status ({mark}): native {}, jitld {} (jitld took {:.2?})",
        native.status, jit.status, jit.elapsed
    );
    if same_stdout {
        let _ = writeln!(report, "stdout: identical ({} bytes)", jit.stdout.len());
    } else {
        let _ = writeln!(
            report,
            "stdout: DIFFERENT (native {} bytes, jitld {} bytes)",
            native.stdout.len(),
            jit.stdout.len()
        );
        report.push_str(&stdout_diff(&native.stdout, &jit.stdout));
        if !report.ends_with('\n') {
            report.push('\n');
        }
    }
    if jit.stderr.is_empty() {
        let _ = writeln!(report, "--- jitld stderr: (empty)");
    } else {
        let _ = writeln!(report, "--- jitld stderr ---\n{}", tail(&jit.stderr, STDERR_TAIL).trim_end());
    }
    Err(Failure::Jitld(report))
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
