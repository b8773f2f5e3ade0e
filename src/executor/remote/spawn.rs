//! Starting an executor process: the pipes it talks over, the memfd it shares, and where
//! its binary is.

use crate::error::{JitError, Result};
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
    let exe = std::env::current_exe().map_err(|e| JitError::other(format!("executor: where am I? {e}")))?;
    let dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    let mut candidates = vec![dir.join(EXECUTOR_NAME)];
    if dir.file_name().is_some_and(|name| name == "deps") {
        candidates.extend(dir.parent().map(|up| up.join(EXECUTOR_NAME)));
    }
    candidates.iter().find(|path| path.is_file()).cloned().ok_or_else(|| {
        JitError::other(format!(
            "{EXECUTOR_NAME} not found beside {} (build it with `cargo build`, or set {EXECUTOR_VARIABLE})",
            exe.display()
        ))
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

/// Spawns `command` with `--fds IN,OUT` (and `--shm FD` if `memory` is given) appended.
/// The descriptors stay open in the child only; its stdio is whatever `command` says.
pub fn spawn(mut command: Command, memory: Option<&OwnedFd>) -> Result<Spawned> {
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
