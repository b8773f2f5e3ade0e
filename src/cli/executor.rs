//! Where `jitld run` runs the program: in jitld itself (the default), or in an executor
//! process — spawned on this machine (`--oop`), spawned from a command (`--executor`), or
//! listening on TCP (`--connect`). In an executor process the program's stdin, stdout,
//! stderr, environment and exit status are that process's; jitld ends as it ends.

use super::RunArgs;
use crate::debug::report_executor_fault;
use crate::error::JitError;
use crate::executor::remote::{Ending, RemoteExecutor};
use crate::executor::{Executor, InProcessExecutor, ProcessExecutor};
use jitld_linker::arch::Arch;
use jitld_linker::memory::MemoryManager;
use std::sync::Arc;

/// The executor the arguments ask for.
pub struct Chosen {
    pub executor: Arc<dyn Executor>,
    /// The process behind it, if it is another one: jitld ends as it ends.
    pub process: Option<Arc<ProcessExecutor>>,
}

pub fn executor_for(
    args: &RunArgs,
    arch: Arch,
    memory: impl FnOnce() -> Result<Arc<dyn MemoryManager>, JitError>,
) -> Result<Chosen, JitError> {
    let chosen = [args.oop, args.executor.is_some(), args.connect.is_some()].iter().filter(|&&c| c).count();
    if chosen > 1 {
        return Err(JitError::other("--oop, --executor and --connect each choose the executor: give one"));
    }
    let foreign = arch != Arch::host();
    let remote = if let Some(command) = &args.executor {
        let words: Vec<String> = command.split_whitespace().map(str::to_string).collect();
        if words.is_empty() {
            return Err(JitError::other("--executor: no command given"));
        }
        RemoteExecutor::spawn(&words)?
    } else if let Some(address) = &args.connect {
        RemoteExecutor::connect(address)?
    } else if args.oop || (foreign && !args.noexec) {
        // Code for another architecture runs in that architecture's executor (under an
        // emulator on this machine), started automatically.
        RemoteExecutor::spawn_for(arch)?
    } else if foreign && args.slab_address.is_none() {
        // A --noexec link for another architecture still resolves its libraries where they
        // would be loaded: in that architecture's executor, which runs nothing. Without one,
        // the link stands in for it here and cannot load the architecture's shared libraries.
        match RemoteExecutor::spawn_for(arch) {
            Ok(remote) => remote,
            Err(_) => return Ok(in_process(memory()?, arch)),
        }
    } else {
        return Ok(in_process(memory()?, arch));
    };
    if args.slab_address.is_some() {
        return Err(JitError::other("--slab-address places code in jitld itself: it cannot go with an executor"));
    }
    let process = Arc::new(ProcessExecutor::new(remote)?);
    if process.target().arch != arch {
        return Err(JitError::other(format!(
            "the objects are for {}, but the executor runs {} code",
            arch.name(),
            process.target().arch.name()
        )));
    }
    Ok(Chosen { executor: process.clone(), process: Some(process) })
}

/// This process (or, for another architecture, this process standing in for its memory).
fn in_process(memory: Arc<dyn MemoryManager>, arch: Arch) -> Chosen {
    Chosen { executor: Arc::new(InProcessExecutor::with_memory(memory).for_arch(arch)), process: None }
}

/// Ends the executor process as the program's `main` returning `status` ends a program, and
/// returns what jitld exits with; a crash there is reported and ends jitld by the same signal.
pub fn finish(process: &ProcessExecutor, status: Result<i32, JitError>) -> i32 {
    let ending = match status {
        Ok(status) => process.exit(status),
        Err(JitError::ProgramExited(status)) => Ok(Ending::Exited(status)),
        Err(JitError::ExecutorCrashed(crash)) => Ok(Ending::Crashed(crash)),
        Err(e) => Err(e),
    };
    match ending {
        Ok(Ending::Exited(status)) => status,
        Ok(Ending::Crashed(crash)) => {
            report_executor_fault(crash.signal, crash.pc, crash.addr);
            die_by(crash.signal)
        }
        Ok(Ending::Killed(signal)) => die_by(signal),
        Err(e) => {
            eprintln!("error: the executor: {e}");
            1
        }
    }
}

/// Ends jitld by `signal`, as the program's process ended, so a shell sees the same status.
fn die_by(signal: i32) -> i32 {
    // SAFETY: restoring the default action and raising a signal at ourselves.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
    128 + signal
}
