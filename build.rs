//! Builds `jitld-executor` (executor/jitld-executor.c) with the system C compiler and puts
//! it beside the `jitld` binary (target/debug, target/release), where `jitld run --oop`
//! and `RemoteExecutor::spawn_local` look for it. C, not Rust: the same program builds for
//! other architectures with their cross C compilers. When `aarch64-linux-gnu-gcc` (or
//! `$AARCH64_CC`) is there, `jitld-executor-aarch64` is built beside it too: `jitld run`
//! runs AArch64 objects in it (under qemu-aarch64 on an x86-64 machine). Without the cross
//! compiler the build only warns; running AArch64 code then says what to install.

use std::path::{Path, PathBuf};
use std::process::Command;

const SOURCES: [&str; 2] = ["executor/jitld-executor.c", "executor/protocol.h"];

fn main() {
    order_hot_text();
    for source in SOURCES {
        println!("cargo:rerun-if-changed={source}");
    }
    println!("cargo:rerun-if-env-changed=CC");
    println!("cargo:rerun-if-env-changed=AARCH64_CC");
    // A cross compiler installed later (scripts/install-deps.sh) should be noticed.
    println!("cargo:rerun-if-changed=/usr/bin/aarch64-linux-gnu-gcc");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let built = out_dir.join("jitld-executor");
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&compiler)
        .args(executor_flags())
        .arg("-o")
        .arg(&built)
        .arg("executor/jitld-executor.c")
        .args(["-ldl", "-Wl,--export-dynamic-symbol=jitld_executor_*"])
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("building jitld-executor with {compiler} failed ({s})"),
        Err(e) => panic!("building jitld-executor needs a C compiler ({compiler}): {e}"),
    }
    // OUT_DIR is <profile dir>/build/jitld-<hash>/out; the binaries live in <profile dir>.
    let profile_dir = out_dir.ancestors().nth(3).map(Path::to_path_buf);
    if let Some(profile_dir) = &profile_dir {
        install(&built, &profile_dir.join("jitld-executor"));
    }
    let cross = std::env::var("AARCH64_CC").unwrap_or_else(|_| "aarch64-linux-gnu-gcc".into());
    let cross_built = out_dir.join("jitld-executor-aarch64");
    let status = Command::new(&cross)
        .args(executor_flags())
        .arg("-o")
        .arg(&cross_built)
        .arg("executor/jitld-executor.c")
        .args(["-ldl", "-Wl,--export-dynamic-symbol=jitld_executor_*"])
        .status();
    match status {
        Ok(s) if s.success() => {
            if let Some(profile_dir) = &profile_dir {
                install(&cross_built, &profile_dir.join("jitld-executor-aarch64"));
            }
        }
        Ok(s) => println!(
            "cargo:warning=building jitld-executor-aarch64 with {cross} failed ({s}): AArch64 programs will not run"
        ),
        Err(_) => println!(
            "cargo:warning={cross} not found: jitld-executor-aarch64 not built, so AArch64 programs will not run \
             (Debian: apt-get install gcc-aarch64-linux-gnu, or see scripts/install-deps.sh)"
        ),
    }
}

/// The flags `make executor-aarch64` uses too: position-independent (so that GOT slots, not
/// copies, reach library data — interposition rewrites them), threads, warnings (not as
/// errors: a newer compiler must not break the build).
fn executor_flags() -> Vec<&'static str> {
    vec!["-std=gnu11", "-O2", "-g", "-Wall", "-Wextra", "-fPIC", "-pie", "-pthread"]
}

/// Copies through a temporary name and renames, so a running test never sees half a file.
fn install(from: &Path, to: &Path) {
    let temporary = to.with_extension("tmp");
    std::fs::copy(from, &temporary).and_then(|_| std::fs::rename(&temporary, to)).unwrap_or_else(|e| {
        panic!("installing jitld-executor at {}: {e}", to.display());
    });
}

/// A release `jitld` puts the functions a run executes first in `.text`, side by side
/// (`scripts/hot-text.symbols`, written by `scripts/hot-text.sh`): the kernel pages text in
/// 64 KiB windows, and a run's ~450 functions spread over all of it made every window part
/// of peak RSS. GNU ld cannot order functions by a list; lld can (LLVM 19's, as
/// `scripts/install-deps.sh` installs it, found by gcc through `-B`). Without it the link
/// is as before.
fn order_hot_text() {
    let order = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/hot-text.symbols");
    println!("cargo:rerun-if-changed={}", order.display());
    let lld_dir = Path::new("/usr/lib/llvm-19/bin");
    println!("cargo:rerun-if-changed={}", lld_dir.join("ld.lld").display());
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if release && linux && lld_dir.join("ld.lld").is_file() && order.is_file() {
        for arg in [
            format!("-B{}", lld_dir.display()),
            "-fuse-ld=lld".to_string(),
            format!("-Wl,--symbol-ordering-file={}", order.display()),
            // Names the build no longer has (stale entries) only cost locality.
            "-Wl,--no-warn-symbol-ordering".to_string(),
            // Bound on first call, as gcc links an executable here (Rust asks for `-z now`):
            // binding all 244 of jitld's imports up front was 0.2 ms of every start.
            "-Wl,-z,lazy".to_string(),
        ] {
            println!("cargo:rustc-link-arg-bin=jitld={arg}");
        }
    }
}
