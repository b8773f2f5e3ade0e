//! The process that runs linked code (LLVM's ExecutorProcessControl): everything the linker,
//! the generators and the platform need from it — memory at its addresses, its libraries'
//! symbols, calls into it, registering unwind tables there. Nothing else reaches into the
//! process that runs the code.
//!
//! `InProcessExecutor` is this process (today's `jitld run`); a remote executor speaks to
//! another process over a byte stream.

mod in_process;
mod process;
pub mod protocol;
pub mod remote;

pub use in_process::InProcessExecutor;
pub use process::ProcessExecutor;

use crate::error::Result;
use jitld_linker::arch::Arch;
use jitld_linker::memory::MemoryManager;
use std::sync::Arc;

/// What the executor runs on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TargetInfo {
    pub arch: Arch,
    pub page_size: u64,
    pub pointer_width: u32,
}

/// A library loaded in the executor, or all of them (`PROCESS`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct LibraryHandle(pub u64);

impl LibraryHandle {
    /// Every library the executor has loaded, in load order (`RTLD_DEFAULT`).
    pub const PROCESS: LibraryHandle = LibraryHandle(0);
}

/// What the executor's dynamic loader knows of a symbol.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ExecutorSymbol {
    pub addr: u64,
    pub size: u64,
    /// The ELF symbol type (`STT_FUNC`, `STT_OBJECT`, `STT_TLS`…), 0 if unknown.
    pub kind: u8,
}

/// A program's arguments and environment, placed in the executor.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ProgramArgs {
    pub argc: u64,
    pub argv: u64,
    pub envp: u64,
}

/// Answers a lazy stub's first call: the stub's context word → its body's address.
pub type LazyHandler = dyn Fn(u64) -> Result<u64> + Send + Sync;

/// A finalized `.eh_frame` section (ending in a terminator) and the range `[start, end)` of
/// the code its records describe (its graph's executable memory), by which an unwinder's
/// lookups can skip the records of other code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EhFrame {
    pub start: u64,
    pub code: (u64, u64),
}

pub trait Executor: Send + Sync {
    fn target(&self) -> TargetInfo;

    /// Memory for linked code, at the executor's addresses.
    fn memory(&self) -> &Arc<dyn MemoryManager>;

    /// Whether linked code can run there (a slab for `--noexec` only stands in for memory).
    fn runs_code(&self) -> bool;

    /// Whether the code runs in this very process: what only works in our own address space
    /// (glibc's static TLS for us, our unwinder, our signal handlers) may be used.
    fn in_this_process(&self) -> bool;

    /// Opens a shared library in the executor (its symbols become visible to those loaded
    /// later, as `RTLD_GLOBAL`).
    fn load_library(&self, path: &str) -> Result<LibraryHandle>;

    /// Finds each name in `library`; `None` where it is missing.
    fn lookup(&self, library: LibraryHandle, names: &[&str]) -> Result<Vec<Option<ExecutorSymbol>>>;

    /// Calls `addr` as `uint64_t f(uint64_t, …)` with up to six arguments.
    fn call(&self, addr: u64, args: &[u64]) -> Result<u64>;

    /// Writes bytes into the executor's (writable) memory.
    fn write(&self, addr: u64, bytes: &[u8]) -> Result<()>;

    /// Reads `len` bytes of the executor's memory.
    fn read(&self, addr: u64, len: u64) -> Result<Vec<u8>>;

    /// What copy relocations do to the executor's libraries: for each `(original, copy)` of
    /// `moves`, every GOT or data slot they bound to the variable at `original` (under any
    /// of its names) now holds `copy`, the program's copy of it.
    fn interpose(&self, moves: &[(u64, u64)]) -> Result<()>;

    /// Places the program's `argv` (with `argv[0]` first) and the executor's environment.
    fn program_args(&self, argv: &[String]) -> Result<ProgramArgs>;

    /// Calls `main(argc, argv, envp)` at `entry` as the C runtime does; returns its status.
    fn run_main(&self, entry: u64, args: ProgramArgs) -> Result<i32>;

    /// The C runtime pieces JIT'd code links to that the executor's libraries do not export
    /// (`atexit` lives in `libc_nonshared.a`), and its `__tls_get_addr`: (name, address).
    fn runtime_symbols(&self) -> Result<Vec<(&'static str, u64)>>;

    /// Loads a shared object from its bytes (it never exists as a file there); returns its
    /// load bias. (Static TLS is granted only to loaded objects: see `platform::tls`.)
    fn load_object(&self, name: &str, bytes: &[u8]) -> Result<u64>;

    /// The thread pointer of the thread that runs the program's `main`.
    fn thread_pointer(&self) -> Result<u64>;

    /// Where lazy stubs' trampolines enter the executor's re-entry routine, which saves the
    /// caller's registers and asks the JIT for the body (`set_lazy_handler`).
    fn lazy_reentry(&self) -> Result<u64>;

    /// Who answers a re-entry: given the trampoline's context word, the body's address.
    /// (This process's re-entry calls the stub directly; another process's comes back here.)
    fn set_lazy_handler(&self, handler: Box<LazyHandler>);

    /// Registers a finalized `.eh_frame` (ending in a terminator) with the unwinder.
    fn register_eh_frame(&self, frame: EhFrame) -> Result<()>;

    /// Withdraws it, before its memory is freed.
    fn deregister_eh_frame(&self, start: u64) -> Result<()>;
}
