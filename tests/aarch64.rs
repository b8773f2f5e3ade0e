//! AArch64 programs, linked on this machine and run in the AArch64 executor
//! (`jitld-executor-aarch64`, under qemu-aarch64 on an x86-64 machine).
//!
//! `fixtures/build.sh` cross-compiles the C cases of fixtures/run, the sqlite, Lua, zlib and
//! json drivers, the C++ cases of fixtures/cxx and the TLS program of fixtures/tls (every
//! access model, both dialects) for AArch64, links a native AArch64 executable for each
//! (aarch64-linux-gnu-g++) and lists them in `target/fixtures/aarch64/manifest.tsv`. Each
//! entry runs natively under qemu-aarch64 and under `jitld run` (which picks the AArch64
//! executor itself, from the objects); stdout and exit status must be the same.
//!
//! Skipped, loudly, only when qemu-aarch64 or the cross compilers are not installed
//! (`scripts/install-deps.sh` installs them, so CI skips nothing).
//!
//! Variants jitld cannot run yet are listed in [`KNOWN_GAPS`]; they must still fail, so the
//! list cannot go stale. `JITLD_E2E_VARIANTS` and `JITLD_E2E_TIMEOUT_SECS` work as in
//! tests/e2e.rs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

#[path = "common/fixtures.rs"]
mod fixtures;
use fixtures::*;

macro_rules! aarch64_cases {
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

aarch64_cases!(
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
    tls_models,
);

/// (case, variant, reason): variants jitld is known not to run correctly yet.
const KNOWN_GAPS: &[(&str, &str, &str)] = &[];

/// What runs AArch64 executables here: `qemu-aarch64` (or `-static`), with `-L` when the
/// loader is not installed where an AArch64 system has it (as jitld's executor is started);
/// `Err` says what is missing.
fn emulator() -> &'static Result<Vec<String>, String> {
    static EMULATOR: OnceLock<Result<Vec<String>, String>> = OnceLock::new();
    EMULATOR.get_or_init(|| {
        let qemu = ["qemu-aarch64", "qemu-aarch64-static"]
            .into_iter()
            .find_map(jitld::executor::remote::on_path)
            .ok_or("qemu-aarch64 is not installed (Debian: qemu-user)")?;
        let mut command = vec![qemu.display().to_string()];
        if let Some(prefix) = jitld::executor::remote::loader_prefix(jitld_linker::arch::Arch::AArch64) {
            command.extend(["-L".to_string(), prefix.display().to_string()]);
        }
        Ok(command)
    })
}

/// The AArch64 manifest (the fixtures are built first, once per process), or why there is
/// none: the cross compilers are missing.
fn aarch64_manifest() -> &'static Result<Vec<Entry>, String> {
    static MANIFEST: OnceLock<Result<Vec<Entry>, String>> = OnceLock::new();
    MANIFEST.get_or_init(|| {
        manifest();
        let path = fixtures_out().join("aarch64").join("manifest.tsv");
        let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if let Some(skipped) = text.lines().find_map(|l| l.strip_prefix("# skipped: ")) {
            return Err(format!("the AArch64 fixtures were not built: {skipped}"));
        }
        parse_manifest(&text).map_err(|e| format!("{}: {e}", path.display()))
    })
}

/// The entries to run, or `None` after saying loudly why everything is skipped.
fn entries() -> Option<&'static [Entry]> {
    let skip = |why: &str| {
        let line = format!("SKIPPED: AArch64 programs not run: {why}; scripts/install-deps.sh installs it");
        eprintln!("\n{}\n{line}\n{}\n", "!".repeat(line.len()), "!".repeat(line.len()));
        println!("{line}");
        None
    };
    if let Err(why) = emulator() {
        return skip(why);
    }
    if !Path::new(JITLD).with_file_name("jitld-executor-aarch64").is_file() {
        return skip("jitld-executor-aarch64 was not built (cargo build builds it when aarch64-linux-gnu-gcc exists)");
    }
    match aarch64_manifest() {
        Ok(entries) => Some(entries),
        Err(why) => skip(why),
    }
}

fn native_under_qemu(e: &Entry) -> Command {
    let emulator = emulator().as_ref().expect("checked by entries()");
    let mut cmd = Command::new(&emulator[0]);
    cmd.args(&emulator[1..]).arg(&e.native).args(&e.args).current_dir(e.workdir()).env(TEST_VAR, TEST_VALUE);
    cmd
}

fn timeout() -> Duration {
    let secs = std::env::var("JITLD_E2E_TIMEOUT_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(120);
    Duration::from_secs(secs)
}

fn known_gap(e: &Entry) -> Option<&'static str> {
    KNOWN_GAPS.iter().find(|(case, variant, _)| *case == e.case && *variant == e.variant).map(|(.., why)| *why)
}

/// The native run under qemu; Err is a report when it did not exit normally.
fn native_reference(e: &Entry, limit: Duration) -> Result<Outcome, String> {
    let native = run_captured(native_under_qemu(e), limit);
    if !matches!(native.status, Status::Exited(_)) {
        return Err(format!(
            "== {} ==\nthe NATIVE AArch64 reference did not run properly under qemu (fixture problem): {}\n\
             --- native stderr ---\n{}",
            e.name(),
            native.status,
            tail(&native.stderr, STDERR_TAIL)
        ));
    }
    Ok(native)
}

fn run_case(case: &str) {
    let Some(entries) = entries() else { return };
    let entries: Vec<&Entry> = entries.iter().filter(|e| e.case == case).collect();
    assert!(!entries.is_empty(), "the AArch64 manifest has no entries for case {case:?}");
    let selected: Option<Vec<String>> = std::env::var("JITLD_E2E_VARIANTS")
        .ok()
        .map(|list| list.split(',').map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).collect());
    let limit = timeout();
    let mut failures = Vec::new();
    for e in entries {
        if selected.as_ref().is_some_and(|sel| !sel.contains(&e.variant)) {
            continue;
        }
        let native = match native_reference(e, limit) {
            Ok(native) => native,
            Err(report) => {
                failures.push(report);
                continue;
            }
        };
        match (compare(e, &native, &[], limit, None), known_gap(e)) {
            (Ok(took), None) => println!("ok   {} ({took:.2?})", e.name()),
            (Ok(_), Some(why)) => failures.push(format!(
                "== {} ==\npasses but is listed in KNOWN_GAPS ({why}): remove it from KNOWN_GAPS in tests/aarch64.rs\n",
                e.name()
            )),
            (Err(m), Some(why)) => println!("gap  {} (known: {why})\n     {}", e.name(), m.first_error),
            (Err(m), None) => {
                println!("FAIL {}", e.name());
                failures.push(m.report);
            }
        }
    }
    assert!(failures.is_empty(), "AArch64 case {case:?}:\n\n{}", failures.join("\n"));
}

/// A fixture directory added without a test function here (or the reverse) is an error.
#[test]
fn manifest_covers_every_case() {
    let Some(entries) = entries() else { return };
    let in_manifest: std::collections::BTreeSet<&str> = entries.iter().map(|e| e.case.as_str()).collect();
    let known: std::collections::BTreeSet<&str> = KNOWN_CASES.iter().copied().collect();
    assert_eq!(in_manifest, known, "cases in aarch64/manifest.tsv and test functions in tests/aarch64.rs differ");
}

/// Every KNOWN_GAPS entry names a variant that exists.
#[test]
fn known_gaps_name_real_variants() {
    let Some(entries) = entries() else { return };
    for (case, variant, _) in KNOWN_GAPS {
        assert!(
            entries.iter().any(|e| e.case == *case && e.variant == *variant),
            "KNOWN_GAPS entry ({case}, {variant}) is not in aarch64/manifest.tsv"
        );
    }
}

/// An object of the program, by (kind, case, variant) and file name.
fn object(kind: &str, case: &str, variant: &str, file: &str) -> Option<PathBuf> {
    let entries = entries()?;
    let e = entries.iter().find(|e| e.kind == kind && e.case == case && e.variant == variant)?;
    Some(e.workdir().join(file))
}

fn jitld(args: &[&std::ffi::OsStr], dir: &Path) -> Outcome {
    let mut cmd = Command::new(JITLD);
    cmd.args(args).current_dir(dir).env(TEST_VAR, TEST_VALUE);
    run_captured(cmd, timeout())
}

/// `--lazy` objects link on their first call, which comes back from the AArch64 executor
/// through its re-entry routine (x16 holds the context).
#[test]
fn lazy_objects_link_on_first_call_in_the_aarch64_executor() {
    let Some(main) = object("run", "multi", "gcc-O2-pic", "main.o") else { return };
    let e = aarch64_manifest().as_ref().unwrap().iter().find(|e| e.case == "multi" && e.variant == "gcc-O2-pic");
    let e = e.unwrap();
    let native = native_reference(e, timeout()).unwrap();
    let dir = e.workdir();
    let (util, data) = (dir.join("util.o"), dir.join("data.o"));
    let lazy = jitld(
        &[
            "run".as_ref(),
            "--argv0".as_ref(),
            e.native.as_os_str(),
            main.as_os_str(),
            "--lazy".as_ref(),
            util.as_os_str(),
            "--lazy".as_ref(),
            data.as_os_str(),
        ],
        dir,
    );
    assert_eq!(
        (&lazy.status, lazy.stdout == native.stdout),
        (&native.status, true),
        "stderr: {}",
        String::from_utf8_lossy(&lazy.stderr)
    );
}

/// A crash in AArch64 code ends jitld by the same signal, with the function named.
#[test]
fn a_crash_in_aarch64_code_is_reported_and_ends_jitld_by_its_signal() {
    let Some(_) = entries() else { return };
    let dir = fixtures_out().join("aarch64").join("adhoc");
    std::fs::create_dir_all(&dir).unwrap();
    let source = dir.join("crash.c");
    std::fs::write(&source, "int main(void) { *(volatile int *)16 = 1; return 0; }\n").unwrap();
    let object = dir.join("crash.o");
    let built = Command::new("aarch64-linux-gnu-gcc").args(["-O2", "-c", "-o"]).arg(&object).arg(&source).status();
    assert!(built.is_ok_and(|s| s.success()), "aarch64-linux-gnu-gcc could not compile crash.c");
    let crashed = jitld(&["run".as_ref(), object.as_os_str()], &dir);
    let stderr = String::from_utf8_lossy(&crashed.stderr);
    assert_eq!(crashed.status, Status::Signaled(11), "stderr: {stderr}");
    assert!(stderr.contains("SIGSEGV") && stderr.contains("main+"), "no crash report naming main: {stderr}");
}

/// Objects of two architectures in one program: an error naming both files.
#[test]
fn mixing_architectures_names_both_objects() {
    let Some(aarch64) = object("run", "multi", "gcc-O2-pic", "main.o") else { return };
    let x86 = fixtures_out().join("run/multi/gcc-O2-pie/main.o");
    let mixed = jitld(&["run".as_ref(), aarch64.as_os_str(), x86.as_os_str()], Path::new("."));
    let stderr = String::from_utf8_lossy(&mixed.stderr);
    assert_eq!(mixed.status, Status::Exited(1));
    assert!(
        stderr.contains(&*x86.to_string_lossy()) && stderr.contains(&*aarch64.to_string_lossy()),
        "the error does not name both objects: {stderr}"
    );
    assert!(
        stderr.contains("x86-64") && stderr.contains("AArch64"),
        "the error does not name both architectures: {stderr}"
    );
}

/// `--noexec` links an AArch64 program with its libraries resolved in the AArch64 executor.
#[test]
fn noexec_links_the_aarch64_sqlite_program() {
    let Some(entries) = entries() else { return };
    let e = entries.iter().find(|e| e.case == "sqlite").expect("an AArch64 sqlite entry");
    let mut args: Vec<&std::ffi::OsStr> = vec!["run".as_ref(), "--noexec".as_ref()];
    args.extend(e.inputs.iter().map(std::ffi::OsStr::new));
    let linked = jitld(&args, e.workdir());
    assert_eq!(linked.status, Status::Exited(0), "stderr: {}", String::from_utf8_lossy(&linked.stderr));
    assert!(linked.stdout.is_empty(), "--noexec ran something");
}
