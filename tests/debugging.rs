//! JIT'd code is visible to the tools people debug and profile with: a fault names the
//! JIT'd function it happened in, gdb's backtrace shows JIT'd frames, and `--perf-map`
//! writes the map `perf report` reads.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn crash_object() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/debugging-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let object = dir.join("crash.o");
    // Tests run at once: each compiles to its own file and renames it into place, so none
    // reads another's half-written object.
    let partial = dir.join(format!("crash.o.{:?}", std::thread::current().id()).replace(['(', ')'], ""));
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/debug/crash.c");
    let status = Command::new("cc").args(["-O1", "-g", "-c"]).arg(&source).arg("-o").arg(&partial).status().unwrap();
    assert!(status.success());
    std::fs::rename(&partial, &object).unwrap();
    object
}

#[test]
fn a_fault_names_the_jitted_function_and_ends_with_the_signal() {
    let object = crash_object();
    let out = Command::new(env!("CARGO_BIN_EXE_jitld")).arg("run").arg(&object).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), Some(libc::SIGSEGV), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "about to crash\n");
    assert!(stderr.contains("jitld: SIGSEGV at 0x"), "{stderr}");
    assert!(stderr.contains("in JIT'd code: crash_here+0x"), "{stderr}");
    assert!(stderr.contains("crash.o), address 0x0"), "{stderr}");
}

#[test]
fn gdb_backtrace_shows_jitted_frames() {
    let object = crash_object();
    let out = Command::new("gdb")
        .args(["-q", "-nx", "--batch", "-ex", "run", "-ex", "bt", "--args", env!("CARGO_BIN_EXE_jitld"), "run"])
        .arg(&object)
        .output()
        .expect("gdb (installed by scripts/install-deps.sh)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("SIGSEGV"), "{stdout}");
    let frames: Vec<&str> = stdout.lines().filter(|l| l.starts_with('#')).collect();
    assert!(frames.first().is_some_and(|f| f.contains("in crash_here")), "{stdout}");
    assert!(frames.iter().any(|f| f.contains("in call_crash")), "{stdout}");
    assert!(frames.iter().any(|f| f.contains("in main () at") && f.contains("crash.c")), "{stdout}");
}

#[test]
fn perf_map_lists_jitted_functions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/debugging-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let (source, object) = (dir.join("quiet.c"), dir.join("quiet.o"));
    std::fs::write(&source, "int helper(int x) { return x * 3; }\nint main(void) { return helper(2); }\n").unwrap();
    assert!(Command::new("cc").arg("-c").arg(&source).arg("-o").arg(&object).status().unwrap().success());
    let child = Command::new(env!("CARGO_BIN_EXE_jitld")).args(["run", "--perf-map"]).arg(&object).spawn().unwrap();
    let pid = child.id();
    assert_eq!(child.wait_with_output().unwrap().status.code(), Some(6));
    let map_path = format!("/tmp/perf-{pid}.map");
    let map = std::fs::read_to_string(&map_path).unwrap_or_else(|e| panic!("{map_path}: {e}"));
    let _ = std::fs::remove_file(&map_path);
    for name in ["helper", "main"] {
        let line =
            map.lines().find(|l| l.ends_with(&format!(" {name}"))).unwrap_or_else(|| panic!("{name} missing:\n{map}"));
        let fields: Vec<&str> = line.split(' ').collect();
        assert!(u64::from_str_radix(fields[0], 16).unwrap() < 1 << 31, "JIT'd code lives below 2 GiB: {line}");
        assert!(u64::from_str_radix(fields[1], 16).unwrap() > 0, "{line}");
    }
}
