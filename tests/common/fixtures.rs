//! The e2e fixtures, shared by `tests/e2e.rs` and `tests/stress.rs`: building them with
//! `fixtures/build.sh` (once per test process), reading `manifest.tsv`, running a manifest
//! entry natively and under `jitld run` with a time limit, and comparing the two runs
//! (stdout and exit status), with a report that says how to reproduce a difference.
//!
//! Included with `#[path = "common/fixtures.rs"] mod fixtures;`, so not every test file
//! uses every item.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

pub const JITLD: &str = env!("CARGO_BIN_EXE_jitld");
pub const TEST_VAR: &str = "JITLD_TEST_VAR";
pub const TEST_VALUE: &str = "hello";
/// Captured output beyond this many bytes is drained but dropped.
pub const OUTPUT_CAP: usize = 16 << 20;
/// How much of jitld's stderr goes into a failure report.
pub const STDERR_TAIL: usize = 6 << 10;
/// How many diff lines go into a failure report.
pub const DIFF_LINES: usize = 200;

// ------------------------------------------------------------------ manifest

#[derive(Debug)]
pub struct Entry {
    pub kind: String,
    pub case: String,
    pub variant: String,
    pub native: PathBuf,
    /// Inputs for `jitld run`, in command-line order.
    pub inputs: Vec<String>,
    /// Program arguments (after `--`).
    pub args: Vec<String>,
}

impl Entry {
    pub fn name(&self) -> String {
        format!("{}/{}/{}", self.kind, self.case, self.variant)
    }

    pub fn workdir(&self) -> &Path {
        self.native.parent().expect("native path has a parent directory")
    }
}

pub fn crate_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixtures_out() -> PathBuf {
    match std::env::var_os("JITLD_FIXTURES_OUT") {
        Some(dir) => PathBuf::from(dir),
        None => crate_root().join("target").join("fixtures"),
    }
}

/// Builds the fixtures (once per process) and returns the parsed manifest.
pub fn manifest() -> &'static [Entry] {
    static MANIFEST: OnceLock<Result<Vec<Entry>, String>> = OnceLock::new();
    match MANIFEST.get_or_init(build_fixtures) {
        Ok(entries) => entries,
        Err(msg) => panic!("{msg}"),
    }
}

pub fn build_fixtures() -> Result<Vec<Entry>, String> {
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

pub fn parse_manifest(text: &str) -> Result<Vec<Entry>, String> {
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

// ------------------------------------------------------------------ running

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Exited(i32),
    Signaled(i32),
    TimedOut(Duration),
    /// Killed after using no CPU time for this long (a deadlock, not slowness).
    Hung(Duration),
    NotRun(String),
}

impl Status {
    pub fn from_exit(st: ExitStatus) -> Status {
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
            Status::Hung(t) => write!(f, "HUNG: used no CPU time for {t:?}, deadlocked (killed)"),
            Status::NotRun(why) => write!(f, "could not run: {why}"),
        }
    }
}

pub fn signal_name(sig: i32) -> &'static str {
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

pub struct Outcome {
    pub status: Status,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub elapsed: Duration,
}

/// Reads a pipe to the end on a thread, keeping at most OUTPUT_CAP bytes.
pub fn drain<R: Read + Send + 'static>(mut pipe: R) -> thread::JoinHandle<Vec<u8>> {
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
pub fn run_captured(cmd: Command, limit: Duration) -> Outcome {
    run_watched(cmd, limit, None)
}

/// CPU time (user + system, in clock ticks, all threads) that process `pid` has used so far.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces:
    // state is the first; utime and stime are the 12th and 13th.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// As `run_captured`, and when `stall` is given, a process that uses no CPU time at all for
/// that long is killed and reported as `Status::Hung`: a deadlock shows up in seconds, not at
/// the time limit.
pub fn run_watched(mut cmd: Command, limit: Duration, stall: Option<Duration>) -> Outcome {
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
    // The CPU time last seen, and when it last changed.
    let mut progress: (Option<u64>, Instant) = (None, Instant::now());
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Status::from_exit(st),
            Ok(None) if started.elapsed() >= limit => {
                let _ = child.kill();
                let _ = child.wait();
                break Status::TimedOut(limit);
            }
            Ok(None) => {
                if let Some(stall) = stall {
                    let ticks = cpu_ticks(child.id());
                    if ticks != progress.0 {
                        progress = (ticks, Instant::now());
                    } else if progress.1.elapsed() >= stall {
                        let _ = child.kill();
                        let _ = child.wait();
                        break Status::Hung(stall);
                    }
                }
                thread::sleep(Duration::from_millis(5))
            }
            Err(e) => break Status::NotRun(format!("wait failed: {e}")),
        }
    };
    let elapsed = started.elapsed();
    Outcome { status, stdout: out.join().unwrap_or_default(), stderr: err.join().unwrap_or_default(), elapsed }
}

pub fn native_command(e: &Entry) -> Command {
    let mut cmd = Command::new(&e.native);
    cmd.args(&e.args).current_dir(e.workdir()).env(TEST_VAR, TEST_VALUE);
    cmd
}

/// `run [extra options] --argv0 NATIVE INPUTS... -- ARGS...`: `extra` (e.g. `--threads 2`)
/// goes before the inputs.
pub fn jitld_argv<'a>(e: &'a Entry, extra: &[&'a str]) -> Vec<&'a OsStr> {
    let mut argv: Vec<&OsStr> = vec![OsStr::new("run")];
    argv.extend(extra.iter().map(|a| OsStr::new(*a)));
    argv.extend([OsStr::new("--argv0"), e.native.as_os_str()]);
    argv.extend(e.inputs.iter().map(OsStr::new));
    argv.push(OsStr::new("--"));
    argv.extend(e.args.iter().map(OsStr::new));
    argv
}

pub fn jitld_command(e: &Entry, extra: &[&str]) -> Command {
    let mut cmd = Command::new(JITLD);
    cmd.args(jitld_argv(e, extra)).current_dir(e.workdir()).env(TEST_VAR, TEST_VALUE);
    cmd
}

/// A copy-pasteable shell command reproducing the jitld run.
pub fn reproduce(e: &Entry, extra: &[&str]) -> String {
    let mut words = vec![format!("{TEST_VAR}={TEST_VALUE}"), shell_quote(JITLD)];
    words.extend(jitld_argv(e, extra).iter().map(|a| shell_quote(&a.to_string_lossy())));
    format!("(cd {} && {})", shell_quote(&e.workdir().to_string_lossy()), words.join(" "))
}

pub fn shell_quote(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=+,:@%".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

pub fn tail(bytes: &[u8], max: usize) -> String {
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

pub fn stdout_diff(native: &[u8], jitld: &[u8]) -> String {
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

/// `stdout line N: native "..." vs jitld "..."` for the first line where two outputs differ.
pub fn first_stdout_difference(native: &[u8], jitld: &[u8]) -> String {
    let native = String::from_utf8_lossy(native);
    let jitld = String::from_utf8_lossy(jitld);
    let (mut a, mut b) = (native.lines(), jitld.lines());
    for n in 1.. {
        match (a.next(), b.next()) {
            (None, None) => break,
            (x, y) if x != y => {
                let show = |l: Option<&str>| l.map_or("(end of output)".to_string(), |l| format!("{l:?}"));
                return format!("stdout line {n}: native {} vs jitld {}", show(x), show(y));
            }
            _ => {}
        }
    }
    "stdout differs in line endings only".to_string()
}

/// Why a manifest entry failed: its native reference did not run (a fixture
/// problem, never excused by KNOWN_GAPS), or jitld's run differed from it.
pub enum Failure {
    Native(String),
    Jitld(String),
}

/// Runs one manifest entry natively and under jitld, in this process and in an executor
/// process; Err is a report.
pub fn check(e: &Entry, limit: Duration) -> Result<Duration, Failure> {
    let native = native_reference(e, limit).map_err(Failure::Native)?;
    let took = compare(e, &native, &[], limit, None).map_err(|m| Failure::Jitld(m.report))?;
    // The same program in an executor process (pipes, shared memory) must behave the same.
    compare(e, &native, &["--oop"], limit, None).map_err(|m| Failure::Jitld(m.report))?;
    Ok(took)
}

/// Runs the native executable of `e`; Err is a report when it did not exit normally.
pub fn native_reference(e: &Entry, limit: Duration) -> Result<Outcome, String> {
    let native = run_captured(native_command(e), limit);
    if !matches!(native.status, Status::Exited(_)) {
        return Err(format!(
            "== {} ==\nthe NATIVE reference did not run properly (fixture problem): {}\n\
             command: {}\n--- native stderr ---\n{}",
            e.name(),
            native.status,
            e.native.display(),
            tail(&native.stderr, STDERR_TAIL)
        ));
    }
    Ok(native)
}

/// A jitld run that differed from the native one.
pub struct Mismatch {
    /// How jitld's run ended.
    pub status: Status,
    /// The first line of jitld's stderr or, when that is empty, the first line where its
    /// stdout differs from native (`stdout line N: native "..." vs jitld "..."`).
    pub first_error: String,
    pub same_stdout: bool,
    /// The whole account: reproducing command, statuses, stdout diff, stderr tail.
    pub report: String,
}

/// Runs `e` under `jitld run EXTRA...` and compares it with the native run `native` (`limit`
/// and `stall` as for `run_watched`).
pub fn compare(
    e: &Entry,
    native: &Outcome,
    extra: &[&str],
    limit: Duration,
    stall: Option<Duration>,
) -> Result<Duration, Mismatch> {
    let jit = run_watched(jitld_command(e, extra), limit, stall);
    let same_status = native.status == jit.status;
    let same_stdout = native.stdout == jit.stdout;
    if same_status && same_stdout {
        return Ok(jit.elapsed);
    }

    let mut report = String::new();
    let _ = writeln!(report, "== {} ==", e.name());
    let _ = writeln!(report, "reproduce: {}", reproduce(e, extra));
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
    let mut first_error = String::from_utf8_lossy(&jit.stderr).lines().next().unwrap_or("").to_string();
    if first_error.is_empty() && !same_stdout {
        first_error = first_stdout_difference(&native.stdout, &jit.stdout);
    }
    Err(Mismatch { status: jit.status, first_error, same_stdout, report })
}
