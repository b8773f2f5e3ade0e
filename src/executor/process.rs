//! An executor process (`jitld-executor`) as the `Executor` the session runs code in: the
//! trait's operations over `RemoteExecutor`'s requests, and memory reserved there.
//!
//! Memory is written where the executor reads it when the two processes share its pages
//! (spawned on this machine), and copied over the stream otherwise; either way a segment
//! gets its final protection in the executor when the link finalizes it.

use super::remote::{Ending, OpenFlags, Outcome, Protection, RemoteExecutor};
use super::{Executor, ExecutorSymbol, LazyHandler, LibraryHandle, ProgramArgs, TargetInfo};
use crate::error::{JitError, Result};
use jitld_linker::arch::Arch;
use jitld_linker::graph::MemProt;
use jitld_linker::memory::{Allocation, FreeList, Layout, MemoryManager, Segment};
use jitld_linker::LinkError;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;

pub struct ProcessExecutor {
    remote: Arc<RemoteExecutor>,
    memory: Arc<dyn MemoryManager>,
    target: TargetInfo,
    /// The executor's `__register_frame` and `__deregister_frame`, found on first need.
    unwinder: OnceLock<(u64, u64)>,
}

impl ProcessExecutor {
    /// Runs code in the executor at the other end of `remote`.
    pub fn new(remote: RemoteExecutor) -> Result<Self> {
        let handshake = *remote.target();
        let arch = match handshake.machine {
            EM_X86_64 => Arch::X86_64,
            EM_AARCH64 => Arch::AArch64,
            machine => {
                return Err(JitError::other(format!(
                    "the executor runs on machine {machine}; jitld links code for x86-64 (machine 62) and \
                     AArch64 (machine 183)"
                )))
            }
        };
        let target = TargetInfo { arch, page_size: handshake.page_size, pointer_width: handshake.pointer_width * 8 };
        // What the compiler driver gives every program (`-lgcc_s`, as needed): the unwinder,
        // for C++ exceptions and Rust panics; the executor itself, in C, has no use for it.
        remote.dlopen(Some("libgcc_s.so.1"), OpenFlags::NOW_GLOBAL)?;
        let remote = Arc::new(remote);
        let memory = Arc::new(ExecutorMemory::new(remote.clone(), handshake.page_size));
        Ok(ProcessExecutor { remote, memory, target, unwinder: OnceLock::new() })
    }

    pub fn remote(&self) -> &Arc<RemoteExecutor> {
        &self.remote
    }

    /// Ends the executor as a returning `main` ends a program (`exit(status)`: atexit
    /// handlers, destructors, stdio); returns how it ended.
    pub fn exit(&self, status: i32) -> Result<Ending> {
        self.remote.exit(status)
    }

    /// libgcc's frame registry, in the executor.
    fn unwinder(&self) -> Result<(u64, u64)> {
        if let Some(&found) = self.unwinder.get() {
            return Ok(found);
        }
        let names = ["__register_frame", "__deregister_frame"];
        let mut found = self.remote.lookup(None, &names)?;
        if found.iter().any(Option::is_none) {
            // The executor is C: the unwinder comes with libgcc_s, loaded on demand.
            let libgcc = self.remote.dlopen(Some("libgcc_s.so.1"), OpenFlags::NOW_GLOBAL)?;
            found = self.remote.lookup(Some(libgcc), &names)?;
        }
        match found.as_slice() {
            [Some(register), Some(deregister)] => Ok(*self.unwinder.get_or_init(|| (register.addr, deregister.addr))),
            _ => Err(JitError::other("the executor has no __register_frame (libgcc_s)")),
        }
    }
}

/// What running code in the executor came to, as a result.
fn returned<T>(outcome: Outcome<T>) -> Result<T> {
    match outcome {
        Outcome::Returned(value) => Ok(value),
        Outcome::Exited(status) => Err(JitError::ProgramExited(status)),
        Outcome::Crashed(crash) => Err(JitError::ExecutorCrashed(crash)),
    }
}

impl Executor for ProcessExecutor {
    fn target(&self) -> TargetInfo {
        self.target
    }

    fn memory(&self) -> &Arc<dyn MemoryManager> {
        &self.memory
    }

    fn runs_code(&self) -> bool {
        true
    }

    fn in_this_process(&self) -> bool {
        false
    }

    fn load_library(&self, path: &str) -> Result<LibraryHandle> {
        let handle = self.remote.dlopen(Some(path), OpenFlags::NOW_GLOBAL);
        let handle = handle.map_err(|e| JitError::other(format!("{path}: cannot load shared library: {e}")))?;
        Ok(LibraryHandle(handle))
    }

    fn lookup(&self, library: LibraryHandle, names: &[&str]) -> Result<Vec<Option<ExecutorSymbol>>> {
        let library = (library != LibraryHandle::PROCESS).then_some(library.0);
        let found = self.remote.lookup(library, names)?;
        Ok(found.into_iter().map(|f| f.map(|s| ExecutorSymbol { addr: s.addr, size: s.size, kind: s.kind })).collect())
    }

    fn call(&self, addr: u64, args: &[u64]) -> Result<u64> {
        returned(self.remote.call(addr, args)?)
    }

    fn write(&self, addr: u64, bytes: &[u8]) -> Result<()> {
        self.remote.write(addr, bytes)
    }

    fn read(&self, addr: u64, len: u64) -> Result<Vec<u8>> {
        self.remote.read(addr, len)
    }

    fn interpose(&self, moves: &[(u64, u64)]) -> Result<()> {
        moves
            .iter()
            .try_for_each(|&(original, copy)| self.remote.interpose(None, original, copy).map(|_| ()))
            .map(|_| ())
    }

    /// `argv` goes into executor memory of its own; the environment is the executor's.
    fn program_args(&self, argv: &[String]) -> Result<ProgramArgs> {
        let pointer = u64::from(self.target.pointer_width / 8);
        let table_size = (argv.len() as u64 + 1) * pointer;
        let strings_size: u64 = argv.iter().map(|a| a.len() as u64 + 1).sum();
        let block = self.remote.reserve(table_size + strings_size, pointer, false)?;
        let mut table = Vec::with_capacity(table_size as usize);
        let mut strings = Vec::with_capacity(strings_size as usize);
        for arg in argv {
            if arg.contains('\0') {
                return Err(JitError::other("argument contains NUL"));
            }
            table.extend((block.addr + table_size + strings.len() as u64).to_le_bytes());
            strings.extend(arg.as_bytes());
            strings.push(0);
        }
        table.extend(0u64.to_le_bytes());
        table.extend(strings);
        self.remote.write(block.addr, &table)?;
        let environ = self.remote.lookup(None, &["environ"])?;
        let envp = match environ.first().copied().flatten() {
            Some(environ) => u64::from_le_bytes(self.remote.read(environ.addr, 8)?.try_into().unwrap_or_default()),
            None => 0,
        };
        Ok(ProgramArgs { argc: argv.len() as u64, argv: block.addr, envp })
    }

    fn run_main(&self, entry: u64, args: ProgramArgs) -> Result<i32> {
        self.call(entry, &[args.argc, args.argv, args.envp]).map(|status| status as i32)
    }

    fn runtime_symbols(&self) -> Result<Vec<(&'static str, u64)>> {
        // glibc exports neither `atexit` nor `at_quick_exit` (they live in libc_nonshared.a);
        // the executor provides them, and a `pthread_create` that gives each new thread an
        // alternate signal stack for its crash reporter.
        let pieces = [
            ("atexit", "jitld_executor_atexit"),
            ("at_quick_exit", "jitld_executor_at_quick_exit"),
            ("pthread_atfork", "jitld_executor_pthread_atfork"),
            ("pthread_create", "jitld_executor_pthread_create"),
            ("__tls_get_addr", "jitld_executor_tls_get_addr"),
        ];
        let names: Vec<&str> = pieces.iter().map(|&(_, theirs)| theirs).collect();
        let found = self.remote.lookup(None, &names)?;
        Ok(pieces.iter().zip(found).filter_map(|(&(ours, _), symbol)| Some((ours, symbol?.addr))).collect())
    }

    fn load_object(&self, name: &str, bytes: &[u8]) -> Result<u64> {
        Ok(self.remote.load_object(name, bytes, OpenFlags::NOW_LOCAL)?.bias)
    }

    fn thread_pointer(&self) -> Result<u64> {
        self.remote.thread_pointer()
    }

    fn lazy_reentry(&self) -> Result<u64> {
        let found = self.remote.lookup(None, &["jitld_executor_lazy_reentry"])?;
        let found = found.first().copied().flatten();
        found.map(|s| s.addr).ok_or_else(|| JitError::other("the executor has no lazy re-entry routine"))
    }

    fn set_lazy_handler(&self, handler: Box<LazyHandler>) {
        self.remote.set_lazy_handler(handler);
    }

    fn register_eh_frame(&self, frame: super::EhFrame) -> Result<()> {
        let (register, _) = self.unwinder()?;
        self.call(register, &[frame.start]).map(|_| ())
    }

    fn deregister_eh_frame(&self, start: u64) -> Result<()> {
        let (_, deregister) = self.unwinder()?;
        self.call(deregister, &[start]).map(|_| ())
    }
}

/// Memory in the executor, in one arena per protection as in this process: chunks reserved
/// there and shared with us (or copied over on finalize), segments placed by a local free
/// list, protections queued and applied at once when the session hands out code to run —
/// neighbouring segments of one protection then take one request, not one per graph.
struct ExecutorMemory {
    remote: Arc<RemoteExecutor>,
    page_size: u64,
    arenas: [Mutex<FreeList>; 3],
    /// Protections `finalize` queued: start → (length, protection).
    queued: Mutex<BTreeMap<u64, (u64, MemProt)>>,
}

/// What an arena reserves at a time: most graphs fit many to a chunk.
const CHUNK: u64 = 8 << 20;

fn link_error(e: JitError) -> LinkError {
    LinkError::Memory(e.to_string())
}

impl ExecutorMemory {
    fn new(remote: Arc<RemoteExecutor>, page_size: u64) -> Self {
        let arenas = [Mutex::new(FreeList::new()), Mutex::new(FreeList::new()), Mutex::new(FreeList::new())];
        ExecutorMemory { remote, page_size, arenas, queued: Mutex::new(BTreeMap::new()) }
    }

    fn arena(&self, prot: MemProt) -> std::sync::MutexGuard<'_, FreeList> {
        let index = match prot {
            MemProt::ReadExec => 0,
            MemProt::Read => 1,
            MemProt::ReadWrite => 2,
        };
        self.arenas[index].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `size` bytes (a multiple of the page size) at a multiple of `align` in `prot`'s arena.
    fn take(&self, prot: MemProt, size: u64, align: u64) -> Result<u64> {
        let mut arena = self.arena(prot);
        if let Some(addr) = arena.take(size, align) {
            return Ok(addr);
        }
        // Below 2 GiB, as in this process: non-PIC code needs it, and it keeps every graph
        // within reach of every other.
        let chunk = self.remote.reserve(size.max(CHUNK), align, true)?;
        arena.give_back(chunk.addr, chunk.size);
        arena.take(size, align).ok_or_else(|| JitError::other("a fresh executor chunk did not fit"))
    }

    fn footprint(&self, size: u64) -> u64 {
        size.max(1).next_multiple_of(self.page_size)
    }
}

impl MemoryManager for ExecutorMemory {
    fn allocate(&self, layout: &Layout) -> jitld_linker::Result<Allocation> {
        let mut placed: Vec<(Segment, u64, Option<*mut u8>)> = Vec::with_capacity(layout.segments.len());
        for segment in &layout.segments {
            let size = self.footprint(segment.size);
            let addr = match self.take(segment.prot, size, segment.align.max(self.page_size)) {
                Ok(addr) => addr,
                Err(e) => {
                    for &(segment, addr, _) in &placed {
                        self.arena(segment.prot).give_back(addr, self.footprint(segment.size));
                    }
                    return Err(link_error(e));
                }
            };
            // Fresh chunks are zero, and `deallocate` zeroes what it gives back.
            placed.push((*segment, addr, self.remote.local_view(addr, size)));
        }
        // SAFETY: each view covers its segment, in a chunk that is never released.
        unsafe { Allocation::placed(placed) }
    }

    fn finalize(&self, alloc: &mut Allocation) -> jitld_linker::Result<()> {
        let mut queued = self.queued.lock().unwrap_or_else(|e| e.into_inner());
        for (part, bytes) in alloc.segments() {
            // A segment over two chunks has no one view of ours: it was written into a buffer.
            if part.is_buffered() {
                self.remote.write(part.addr, bytes).map_err(link_error)?;
            }
            // Chunks are reserved read-write: only code and read-only data change.
            if part.prot != MemProt::ReadWrite {
                queued.insert(part.addr, (self.footprint(part.size), part.prot));
            }
        }
        Ok(())
    }

    fn protect_finalized(&self) -> jitld_linker::Result<()> {
        let queued = std::mem::take(&mut *self.queued.lock().unwrap_or_else(|e| e.into_inner()));
        let mut runs: Vec<(u64, u64, MemProt)> = Vec::new();
        for (start, (len, prot)) in queued {
            match runs.last_mut() {
                Some((run_start, run_len, run_prot)) if *run_prot == prot && *run_start + *run_len == start => {
                    *run_len += len;
                }
                _ => runs.push((start, len, prot)),
            }
        }
        for (start, len, prot) in runs {
            self.remote.protect(start, len, Protection::from(prot)).map_err(link_error)?;
        }
        Ok(())
    }

    fn deallocate(&self, alloc: Allocation) {
        let mut queued = self.queued.lock().unwrap_or_else(|e| e.into_inner());
        for part in alloc.parts() {
            let len = self.footprint(part.size);
            let was_queued = queued.remove(&part.addr).is_some();
            // Code pages go back writable (and not executable), ready to be reused.
            if part.prot != MemProt::ReadWrite && !was_queued {
                let _ = self.remote.protect(part.addr, len, Protection::READ_WRITE);
            }
            // Reused, it must read as zeroes, as a fresh chunk does.
            match self.remote.local_view(part.addr, len) {
                // SAFETY: our mapping of the range, which nothing uses any more.
                Some(local) => unsafe { std::ptr::write_bytes(local, 0, len as usize) },
                // Over two chunks (or over TCP): zeroed through the executor.
                None => drop(self.remote.write(part.addr, &vec![0; len as usize])),
            }
            self.arena(part.prot).give_back(part.addr, len);
        }
    }

    fn executable(&self) -> bool {
        true
    }

    fn page_size(&self) -> u64 {
        self.page_size
    }
}
