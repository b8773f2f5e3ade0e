//! Starting an executor process: the pipes it talks over, the memfd it shares, and where
//! its binary is.

use crate::error::{JitError, Result};
use jitld_linker::arch::Arch;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command};

/// The environment variable naming the executor binary, ahead of the one beside ours.
pub const EXECUTOR_VARIABLE: &str = "JITLD_EXECUTOR";
pub const EXECUTOR_NAME: &str = "jitld-executor";

/// Where `spawn_local` finds the executor: `$JITLD_EXECUTOR`, else `jitld-executor` beside
/// the running binary (or one folder up, for test binaries in `target/*/deps`).
pub fn executor_path() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(EXECUTOR_VARIABLE) {
        return Ok(path.into());
    }
    find_beside(EXECUTOR_NAME).map_err(|searched| {
        JitError::other(format!(
            "{EXECUTOR_NAME} not found (looked at {searched}); build it with `cargo build`, or set {EXECUTOR_VARIABLE}"
        ))
    })
}

/// The executor binary for `arch` and the environment variable that names another: the
/// host's is `jitld-executor`; another architecture's is `jitld-executor-ARCH`, which
/// `build.rs` cross-builds beside `jitld` when the cross compiler is there.
pub fn executor_name(arch: Arch) -> (String, String) {
    if arch == Arch::host() {
        return (EXECUTOR_NAME.to_string(), EXECUTOR_VARIABLE.to_string());
    }
    let suffix = arch_suffix(arch);
    (format!("{EXECUTOR_NAME}-{suffix}"), format!("{EXECUTOR_VARIABLE}_{}", suffix.to_uppercase()))
}

/// How GNU triples and qemu name an architecture.
pub fn arch_suffix(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "x86_64",
        Arch::AArch64 => "aarch64",
    }
}

/// The command that starts an executor for `arch` on this machine: the binary itself when
/// the machine runs `arch` code, else the binary under `qemu-ARCH` (or `qemu-ARCH-static`),
/// with `-L` naming where the architecture's dynamic loader is if it needs saying
/// (`loader_prefix`).
pub fn command_for(arch: Arch) -> Result<Command> {
    let (name, variable) = executor_name(arch);
    let binary = match std::env::var_os(&variable) {
        Some(path) => PathBuf::from(path),
        None => find_beside(&name).map_err(|searched| {
            let why = if arch == Arch::host() {
                "build it with `cargo build`".to_string()
            } else {
                let cc = format!("{}-linux-gnu-gcc", arch_suffix(arch));
                let found = if on_path(&cc).is_some() { "is installed" } else { "is not installed" };
                format!(
                    "`cargo build` builds it when the cross compiler {cc} is installed (it {found}; Debian: \
                     apt-get install gcc-{}-linux-gnu), or pass --executor CMD",
                    arch_suffix(arch).replace('_', "-")
                )
            };
            JitError::other(format!(
                "the objects are for {}, which runs in {name}: not found beside jitld (looked at {searched}); \
                 {why}, or set {variable}",
                arch.name()
            ))
        })?,
    };
    if arch == Arch::host() {
        return Ok(Command::new(binary));
    }
    let qemu = format!("qemu-{}", arch_suffix(arch));
    let emulator = [qemu.clone(), format!("{qemu}-static")].into_iter().find_map(|q| on_path(&q)).ok_or_else(|| {
        JitError::other(format!(
            "the objects are for {}, and this {} machine cannot run them: {qemu} (or {qemu}-static) runs \
             {} in an emulator, but is not installed (Debian: apt-get install qemu-user); or pass --executor CMD",
            arch.name(),
            Arch::host().name(),
            binary.display()
        ))
    })?;
    let mut command = Command::new(emulator);
    if let Some(prefix) = loader_prefix(arch) {
        command.arg("-L").arg(prefix);
    }
    command.arg(binary);
    Ok(command)
}

/// Where an emulator finds `arch`'s dynamic loader and C library, when this machine does
/// not have them where a native `arch` system would (Debian's `libc6:arm64`, multiarch): the
/// cross toolchain's root, `/usr/aarch64-linux-gnu`. With multiarch libraries installed,
/// none: that root's loader (another build of glibc) would then load the multiarch libc,
/// and a loader and a libc of two builds do not work together (threads hang).
pub fn loader_prefix(arch: Arch) -> Option<PathBuf> {
    let loader = match arch {
        Arch::X86_64 => "/lib64/ld-linux-x86-64.so.2",
        Arch::AArch64 => "/lib/ld-linux-aarch64.so.1",
    };
    let prefix = PathBuf::from(format!("/usr/{}-linux-gnu", arch_suffix(arch)));
    (!std::path::Path::new(loader).exists() && prefix.join("lib").is_dir()).then_some(prefix)
}

/// `name` beside the running binary (or one folder up, for test binaries in
/// `target/*/deps`); `Err` lists where it looked.
fn find_beside(name: &str) -> std::result::Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("(where am I? {e})"))?;
    let dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    let mut candidates = vec![dir.join(name)];
    if dir.file_name().is_some_and(|d| d == "deps") {
        candidates.extend(dir.parent().map(|up| up.join(name)));
    }
    let searched = candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
    candidates.into_iter().find(|path| path.is_file()).ok_or(searched)
}

/// The path of the program `name` in `$PATH`, if there is one.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| {
        use std::os::unix::fs::PermissionsExt;
        candidate.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// A pipe, both ends close-on-exec: (read end, write end).
fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors, which we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(JitError::other(format!("executor: pipe: {}", std::io::Error::last_os_error())));
    }
    // SAFETY: both descriptors are fresh and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// An empty memfd for the shared-memory fast path; `None` where the system has none.
pub fn shared_memory_file() -> Option<OwnedFd> {
    // SAFETY: a fresh descriptor, which we own.
    let fd = unsafe { libc::memfd_create(c"jitld-executor-memory".as_ptr(), libc::MFD_CLOEXEC) };
    // SAFETY: as above.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A spawned executor: the process, and our ends of its pipes.
pub struct Spawned {
    pub child: Child,
    pub to_executor: OwnedFd,
    pub from_executor: OwnedFd,
}

/// Static TLS surplus per thread for JIT'd thread-local blocks in the executor (glibc gives
/// 512 bytes unless told; `jitld run` raises its own the same way, see `cli::reexec`). Half
/// of jitld's own: with 256 KiB, every `pthread_create` fails (EINVAL) in an AArch64 process
/// under qemu-aarch64 (glibc 2.36, qemu 7.2).
const TLS_SURPLUS: &str = "glibc.rtld.optional_static_tls=131072";
/// What GLIBC_TUNABLES was before we raised the surplus ("-": unset); the executor puts it
/// back first thing, so the program sees the environment we were given.
const ORIGINAL_TUNABLES: &str = "JITLD_ORIGINAL_GLIBC_TUNABLES";

/// Raises the executor's static TLS surplus, unless the environment already sets it.
fn raise_tls_surplus(command: &mut Command) {
    let tunables = std::env::var("GLIBC_TUNABLES").ok();
    if tunables.as_deref().is_some_and(|t| t.contains("optional_static_tls")) {
        return;
    }
    let raised = match &tunables {
        Some(t) => format!("{t}:{TLS_SURPLUS}"),
        None => TLS_SURPLUS.to_string(),
    };
    command.env("GLIBC_TUNABLES", raised).env(ORIGINAL_TUNABLES, tunables.as_deref().unwrap_or("-"));
}

/// Spawns `command` with `--fds IN,OUT` (and `--shm FD` if `memory` is given) appended.
/// The descriptors stay open in the child only; its stdio is whatever `command` says.
pub fn spawn(mut command: Command, memory: Option<&OwnedFd>) -> Result<Spawned> {
    raise_tls_surplus(&mut command);
    let (executor_in, to_executor) = pipe()?;
    let (from_executor, executor_out) = pipe()?;
    let mut inherited: Vec<RawFd> = vec![executor_in.as_raw_fd(), executor_out.as_raw_fd()];
    command.arg("--fds").arg(format!("{},{}", inherited[0], inherited[1]));
    if let Some(memory) = memory {
        inherited.push(memory.as_raw_fd());
        command.arg("--shm").arg(memory.as_raw_fd().to_string());
    }
    // SAFETY: between fork and exec we only call fcntl, which is async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            for &fd in &inherited {
                if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let program = command.get_program().to_string_lossy().into_owned();
    let child = command.spawn().map_err(|e| JitError::other(format!("executor: cannot run {program}: {e}")))?;
    // The child's ends close here, so that its exit is our end of input.
    drop((executor_in, executor_out));
    Ok(Spawned { child, to_executor, from_executor })
}
