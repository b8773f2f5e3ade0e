//! An executor in another process (`jitld-executor`), reached over pipes or TCP.
//!
//! Each method is one request of `docs/executor-protocol.md`. The client is `Send + Sync`:
//! requests from several threads are sent whole, one after another, and may be outstanding
//! together; each waits for the reply with its own id.
//!
//! Timeouts: a request that only touches memory, symbols or libraries fails after the
//! timeout (30 s, `set_timeout`) if no reply comes; so does sending to an executor that
//! stopped reading. `call`, `run_main` and `exit` run the program's code and wait as long as
//! it runs — but never past the executor's death: a crash or a hang-up wakes every waiter.

mod channel;
mod link;
mod shared;
mod spawn;

use crate::error::{JitError, Result};
use crate::executor::protocol::{self, Decoder, Encoder};
use jitld_linker::graph::MemProt;
use link::Link;
use shared::SharedMemory;
use std::net::TcpStream;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use spawn::{arch_suffix, executor_name, loader_prefix, on_path, EXECUTOR_NAME, EXECUTOR_VARIABLE};

/// The default timeout for requests that do not run the program's code.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Writes and reads larger than this go in several messages.
const CHUNK: usize = 16 << 20;

/// Called when the executor re-enters through a lazy stub, with the stub's context word;
/// returns the address of the body to continue into.
pub type LazyHandler = dyn Fn(u64) -> Result<u64> + Send + Sync;

/// What the executor runs on, from its handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// ELF `e_machine`: 62 for x86-64, 183 for AArch64.
    pub machine: u16,
    pub page_size: u64,
    /// In bytes.
    pub pointer_width: u32,
    pub pid: u32,
    /// Reservations can share pages with us (`spawn` on this machine).
    pub shared_memory: bool,
}

/// A fatal signal in the executor: the signal, where the program was, and the faulting
/// address (for SIGSEGV and SIGBUS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crash {
    pub signal: i32,
    pub pc: u64,
    pub addr: u64,
}

impl std::fmt::Display for Crash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // SAFETY: strsignal returns a static or thread-local string (or null).
        let name = unsafe { libc::strsignal(self.signal) };
        let name = match name.is_null() {
            true => format!("signal {}", self.signal),
            // SAFETY: a C string from strsignal, copied at once.
            false => unsafe { std::ffi::CStr::from_ptr(name) }.to_string_lossy().into_owned(),
        };
        write!(f, "crashed: {name} (signal {}) at pc {:#x}, address {:#x}", self.signal, self.pc, self.addr)
    }
}

/// How a request that runs the program's code ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome<T> {
    Returned(T),
    /// The program called `exit` (or `_exit`) meanwhile: the status the process ends with.
    Exited(i32),
    Crashed(Crash),
}

/// How the executor process ended after `exit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Exited(i32),
    /// An exit handler crashed.
    Crashed(Crash),
    /// Killed by a signal it did not report (SIGKILL, or a signal the program handled).
    Killed(i32),
}

/// Memory protection for `protect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protection {
    pub read: bool,
    pub write: bool,
    pub exec: bool,
}

impl Protection {
    pub const READ: Protection = Protection { read: true, write: false, exec: false };
    pub const READ_WRITE: Protection = Protection { read: true, write: true, exec: false };
    pub const READ_EXEC: Protection = Protection { read: true, write: false, exec: true };

    fn bits(self) -> u32 {
        let bit = |on: bool, bit: u32| if on { bit } else { 0 };
        bit(self.read, protocol::PROT_READ)
            | bit(self.write, protocol::PROT_WRITE)
            | bit(self.exec, protocol::PROT_EXEC)
    }
}

impl From<MemProt> for Protection {
    fn from(prot: MemProt) -> Self {
        match prot {
            MemProt::ReadExec => Protection::READ_EXEC,
            MemProt::Read => Protection::READ,
            MemProt::ReadWrite => Protection::READ_WRITE,
        }
    }
}

/// `dlopen` mode bits (RTLD_NOW / RTLD_GLOBAL; otherwise RTLD_LAZY / RTLD_LOCAL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFlags {
    pub now: bool,
    pub global: bool,
}

impl OpenFlags {
    pub const NOW_GLOBAL: OpenFlags = OpenFlags { now: true, global: true };
    pub const NOW_LOCAL: OpenFlags = OpenFlags { now: true, global: false };

    fn bits(self) -> u32 {
        let bit = |on: bool, bit: u32| if on { bit } else { 0 };
        bit(self.now, protocol::DLOPEN_NOW) | bit(self.global, protocol::DLOPEN_GLOBAL)
    }
}

/// Reserved read-write memory in the executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    pub addr: u64,
    pub size: u64,
    /// Its pages are shared with us: `local_view` gives our address for them.
    pub shared: bool,
}

/// A symbol the executor's dynamic loader found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteSymbol {
    pub addr: u64,
    /// From the defining object's symbol table; 0 if unknown.
    pub size: u64,
    pub function: bool,
    pub data: bool,
    /// The ELF symbol type (`STT_FUNC`, `STT_OBJECT`, `STT_GNU_IFUNC`…), 0 if unknown.
    pub kind: u8,
}

/// A shared object loaded from bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadedObject {
    pub handle: u64,
    /// Load bias: the object's addresses plus this are the executor's.
    pub bias: u64,
}

/// The JIT's side of an executor process.
pub struct RemoteExecutor {
    link: Arc<Link>,
    target: Target,
    shared: Option<SharedMemory>,
    child: Mutex<Option<Child>>,
}

impl RemoteExecutor {
    /// Spawns `command` (program and arguments, e.g. `["qemu-aarch64", "jitld-executor"]`)
    /// as an executor over pipes, with shared memory; it inherits our stdin, stdout, stderr.
    pub fn spawn(command: &[String]) -> Result<Self> {
        let (program, args) = command.split_first().ok_or_else(|| JitError::other("executor: an empty command"))?;
        let mut command = Command::new(program);
        command.args(args);
        Self::spawn_command(command)
    }

    /// Spawns the executor beside this binary (or `$JITLD_EXECUTOR`).
    pub fn spawn_local() -> Result<Self> {
        Self::spawn_command(Command::new(Self::executor_path()?))
    }

    /// Spawns the executor for `arch` on this machine: the host's as `spawn_local` does;
    /// another architecture's `jitld-executor-ARCH` (beside this binary, or
    /// `$JITLD_EXECUTOR_ARCH`) under `qemu-ARCH` when this machine cannot run it.
    pub fn spawn_for(arch: jitld_linker::arch::Arch) -> Result<Self> {
        Self::spawn_command(spawn::command_for(arch)?)
    }

    /// Where `spawn_local` finds the executor binary.
    pub fn executor_path() -> Result<PathBuf> {
        spawn::executor_path()
    }

    /// Spawns a prepared command (its stdio settings are kept: a test can capture the
    /// program's output); `--fds` and `--shm` are appended.
    pub fn spawn_command(command: Command) -> Result<Self> {
        let memory = spawn::shared_memory_file();
        let spawned = spawn::spawn(command, memory.as_ref())?;
        let mut child = spawned.child;
        let outbound = channel::Outbound::new(spawned.to_executor, false)
            .map_err(|e| JitError::other(format!("executor: {e}")))?;
        let link = Link::new(outbound, DEFAULT_TIMEOUT);
        let started = link.start(channel::inbound(spawned.from_executor)).and_then(|_| link.hello());
        let hello = match started {
            Ok(hello) => hello,
            Err(e) => {
                link.hang_up();
                let _ = child.kill();
                let status = child.wait().map(|s| format!(" ({s})")).unwrap_or_default();
                return Err(JitError::other(format!("{e}{status}")));
            }
        };
        let shared = memory.filter(|_| hello.shared_memory).map(SharedMemory::new);
        Ok(Self::new(link, hello, shared, Some(child)))
    }

    /// Connects to an executor listening on TCP (`jitld-executor --listen HOST:PORT`).
    /// Everything goes over the socket: no shared memory.
    pub fn connect(addr: &str) -> Result<Self> {
        let stream = TcpStream::connect(addr).map_err(|e| JitError::other(format!("executor: {addr}: {e}")))?;
        Self::over_socket(stream)
    }

    /// Runs the protocol over a connected socket (an executor that `--connect`ed to us).
    pub fn over_socket(stream: TcpStream) -> Result<Self> {
        let _ = stream.set_nodelay(true);
        let io = |e: std::io::Error| JitError::other(format!("executor: {e}"));
        let reader = stream.try_clone().map_err(io)?;
        let outbound = channel::Outbound::new(OwnedFd::from(stream), true).map_err(io)?;
        let link = Link::new(outbound, DEFAULT_TIMEOUT);
        let hello = link.start(channel::inbound(OwnedFd::from(reader))).and_then(|_| link.hello());
        let hello = hello.inspect_err(|_| link.hang_up())?;
        Ok(Self::new(link, hello, None, None))
    }

    fn new(link: Arc<Link>, hello: protocol::Hello, shared: Option<SharedMemory>, child: Option<Child>) -> Self {
        let target = Target {
            machine: hello.machine,
            page_size: hello.page_size,
            pointer_width: hello.pointer_width,
            pid: hello.pid,
            shared_memory: shared.is_some(),
        };
        RemoteExecutor { link, target, shared, child: Mutex::new(child) }
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The timeout of requests that do not run the program's code.
    pub fn set_timeout(&self, timeout: Duration) {
        self.link.set_timeout(timeout);
    }

    /// Sets what answers lazy re-entries (each runs on a thread of its own, and may send
    /// requests — `write`, `protect`, even `call` — while the executor waits). A handler
    /// that needs this executor should hold it weakly, or the two keep each other alive.
    pub fn set_lazy_handler(&self, handler: Box<LazyHandler>) {
        *self.link.lazy.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::from(handler));
    }

    /// The crash that ended the executor, if one did.
    pub fn crash(&self) -> Option<Crash> {
        self.link.crash()
    }

    /// False once the executor crashed, hung up or broke the protocol.
    pub fn is_alive(&self) -> bool {
        self.link.gone().is_none()
    }

    /// The standard output of a spawned executor whose command piped it.
    pub fn take_stdout(&self) -> Option<ChildStdout> {
        self.child.lock().unwrap_or_else(|e| e.into_inner()).as_mut()?.stdout.take()
    }

    /// The standard error of a spawned executor whose command piped it.
    pub fn take_stderr(&self) -> Option<ChildStderr> {
        self.child.lock().unwrap_or_else(|e| e.into_inner()).as_mut()?.stderr.take()
    }

    /// Reserves `size` bytes (rounded up to pages) aligned to `align`, readable and
    /// writable; `low` puts them below 2 GiB, as non-PIC code needs. Shared with us when
    /// the executor has our memfd.
    pub fn reserve(&self, size: u64, align: u64, low: bool) -> Result<Reservation> {
        let mut flags = if low { protocol::RESERVE_LOW } else { 0 };
        if self.shared.is_some() {
            flags |= protocol::RESERVE_SHARED;
        }
        let body = Encoder::new().u64(size).u64(align).u32(flags).finish();
        let reply = self.request(protocol::OP_RESERVE, &body)?;
        let mut d = self.decoder(protocol::OP_RESERVE, &reply);
        let (addr, offset) = (d.u64()?, d.u64()?);
        d.finish()?;
        let size = size.next_multiple_of(self.target.page_size);
        let shared = match (&self.shared, offset) {
            (Some(memory), offset) if offset != protocol::NO_OFFSET => memory.map(addr, size, offset),
            _ => false,
        };
        Ok(Reservation { addr, size, shared })
    }

    /// Our address for the executor's `[addr, addr + len)` when its pages are shared with
    /// us, to write the bytes in place; valid until that reservation is released.
    pub fn local_view(&self, addr: u64, len: u64) -> Option<*mut u8> {
        self.shared.as_ref()?.view(addr, len)
    }

    /// Writes `bytes` at `addr` in the executor: in place if shared, else over the stream.
    pub fn write(&self, addr: u64, bytes: &[u8]) -> Result<()> {
        if let Some(ptr) = self.local_view(addr, bytes.len() as u64) {
            // SAFETY: `ptr` maps `bytes.len()` bytes of a live shared reservation.
            unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr, bytes.len()) };
            return Ok(());
        }
        for (index, chunk) in bytes.chunks(CHUNK).enumerate() {
            let at = addr + (index * CHUNK) as u64;
            let body = Encoder::new().u64(at).bytes(chunk).finish();
            let reply = self.request(protocol::OP_WRITE, &body)?;
            self.decoder(protocol::OP_WRITE, &reply).finish()?;
        }
        Ok(())
    }

    /// Reads `len` bytes at `addr` in the executor; an unmapped address is an error.
    pub fn read(&self, addr: u64, len: u64) -> Result<Vec<u8>> {
        if let Some(ptr) = self.local_view(addr, len) {
            // SAFETY: `ptr` maps `len` bytes of a live shared reservation.
            return Ok(unsafe { std::slice::from_raw_parts(ptr, len as usize) }.to_vec());
        }
        let mut bytes = Vec::with_capacity(len as usize);
        while (bytes.len() as u64) < len {
            let want = (len - bytes.len() as u64).min(CHUNK as u64);
            let body = Encoder::new().u64(addr + bytes.len() as u64).u64(want).finish();
            let reply = self.request(protocol::OP_READ, &body)?;
            let mut d = self.decoder(protocol::OP_READ, &reply);
            let chunk = d.bytes()?;
            d.finish()?;
            if chunk.len() as u64 != want {
                return Err(protocol::malformed(format!("read {} bytes, asked for {want}", chunk.len())));
            }
            bytes.extend_from_slice(chunk);
        }
        Ok(bytes)
    }

    /// Sets the protection of pages of a reservation; the executor clears its instruction
    /// cache for executable ones.
    pub fn protect(&self, addr: u64, size: u64, prot: Protection) -> Result<()> {
        let body = Encoder::new().u64(addr).u64(size).u32(prot.bits()).finish();
        let reply = self.request(protocol::OP_PROTECT, &body)?;
        self.decoder(protocol::OP_PROTECT, &reply).finish()
    }

    /// Gives back a whole reservation.
    pub fn release(&self, addr: u64, size: u64) -> Result<()> {
        if let Some(memory) = &self.shared {
            memory.unmap(addr);
        }
        let body = Encoder::new().u64(addr).u64(size).finish();
        let reply = self.request(protocol::OP_RELEASE, &body)?;
        self.decoder(protocol::OP_RELEASE, &reply).finish()
    }

    /// Looks `names` up in `library` (a handle from `dlopen`), or in the executor's global
    /// scope (`None`, RTLD_DEFAULT); `None` for each name not found.
    pub fn lookup<S: AsRef<str>>(&self, library: Option<u64>, names: &[S]) -> Result<Vec<Option<RemoteSymbol>>> {
        let body = Encoder::new().u64(library.unwrap_or(0)).strs(names).finish();
        let reply = self.request(protocol::OP_LOOKUP, &body)?;
        let mut d = self.decoder(protocol::OP_LOOKUP, &reply);
        let count = d.u32()? as usize;
        if count != names.len() {
            return Err(protocol::malformed(format!("lookup of {} names answered {count}", names.len())));
        }
        let mut found = Vec::with_capacity(count);
        for _ in 0..count {
            let (addr, size, flags, kind) = (d.u64()?, d.u64()?, d.u32()?, d.u32()?);
            found.push((flags & protocol::SYMBOL_FOUND != 0).then_some(RemoteSymbol {
                addr,
                size,
                function: flags & protocol::SYMBOL_FUNCTION != 0,
                data: flags & protocol::SYMBOL_DATA != 0,
                kind: kind as u8,
            }));
        }
        d.finish()?;
        Ok(found)
    }

    /// `dlopen(path, flags)` in the executor (`None`: the executor itself); the handle, or
    /// the executor's dlerror text as the error.
    pub fn dlopen(&self, path: Option<&str>, flags: OpenFlags) -> Result<u64> {
        let body = Encoder::new().str(path.unwrap_or("")).u32(flags.bits()).finish();
        self.reply_u64(protocol::OP_DLOPEN, &body)
    }

    pub fn dlclose(&self, handle: u64) -> Result<()> {
        let reply = self.request(protocol::OP_DLCLOSE, &Encoder::new().u64(handle).finish())?;
        self.decoder(protocol::OP_DLCLOSE, &reply).finish()
    }

    /// Loads a shared object from its bytes (through a memfd in the executor).
    pub fn load_object(&self, name: &str, bytes: &[u8], flags: OpenFlags) -> Result<LoadedObject> {
        let body = Encoder::new().str(name).bytes(bytes).u32(flags.bits()).finish();
        let reply = self.request(protocol::OP_LOAD_OBJECT, &body)?;
        let mut d = self.decoder(protocol::OP_LOAD_OBJECT, &reply);
        let object = LoadedObject { handle: d.u64()?, bias: d.u64()? };
        d.finish()?;
        Ok(object)
    }

    /// The thread pointer of the executor's main thread.
    pub fn thread_pointer(&self) -> Result<u64> {
        self.reply_u64(protocol::OP_THREAD_POINTER, &[])
    }

    /// Points every GOT, PLT and absolute slot of the executor's loaded objects (or only
    /// of `library`) that holds `original` at `addr`, as a copy relocation does; returns how
    /// many slots it rewrote.
    pub fn interpose(&self, library: Option<u64>, original: u64, addr: u64) -> Result<u32> {
        let body = Encoder::new().u64(library.unwrap_or(0)).u64(original).u64(addr).finish();
        let reply = self.request(protocol::OP_INTERPOSE, &body)?;
        let mut d = self.decoder(protocol::OP_INTERPOSE, &reply);
        let count = d.u32()?;
        d.finish()?;
        Ok(count)
    }

    /// Calls `uint64_t f(uint64_t...)` at `addr` with up to six arguments.
    pub fn call(&self, addr: u64, args: &[u64]) -> Result<Outcome<u64>> {
        if args.len() > protocol::MAX_CALL_ARGS {
            return Err(JitError::other(format!("executor: call with {} arguments (at most 6)", args.len())));
        }
        let body = args.iter().fold(Encoder::new().u64(addr).u32(args.len() as u32), |e, &a| e.u64(a)).finish();
        self.run(protocol::OP_CALL, &body, |d| d.u64())
    }

    /// Calls `int main(int, char **, char **)` at `addr` on the executor's main thread with
    /// `argv`, and `envp` (or the executor's environment, `None`); the status it returns.
    pub fn run_main<S: AsRef<str>>(&self, addr: u64, argv: &[S], envp: Option<&[S]>) -> Result<Outcome<i32>> {
        let flags = if envp.is_some() { protocol::RUN_MAIN_ENVIRONMENT } else { 0 };
        let no_env: &[S] = &[];
        let body = Encoder::new().u64(addr).u32(flags).strs(argv).strs(envp.unwrap_or(no_env)).finish();
        self.run(protocol::OP_RUN_MAIN, &body, |d| Ok(d.u32()? as i32))
    }

    /// Ends the executor with `exit(status)` (atexit handlers and destructors run, stdio is
    /// flushed) and waits for it to go.
    pub fn exit(&self, status: i32) -> Result<Ending> {
        if let Some(gone) = self.link.gone() {
            return Err(gone);
        }
        self.link.send(protocol::OP_EXIT, 0, &Encoder::new().u32(status as u32).finish())?;
        let (crash, exited) = self.link.wait_closed();
        self.link.hang_up();
        let process = self.wait_for_child();
        match (crash, exited, process) {
            (Some(crash), _, _) => Ok(Ending::Crashed(crash)),
            (None, Some(status), _) => Ok(Ending::Exited(status)),
            (None, None, Some(status)) => Ok(ending_of(status)),
            (None, None, None) => Err(self.link.gone().unwrap_or_else(|| JitError::other("executor: hung up"))),
        }
    }

    /// The status of a spawned executor that has ended (or is about to: its end of the
    /// stream is closed); `None` if we did not spawn it or it lives on.
    fn wait_for_child(&self) -> Option<ExitStatus> {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        let child = child.as_mut()?;
        for _ in 0..200 {
            match child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(_) => return None,
            }
        }
        None
    }

    fn request(&self, op: u32, body: &[u8]) -> Result<Vec<u8>> {
        self.link.request(op, body)
    }

    fn decoder<'a>(&self, op: u32, reply: &'a [u8]) -> Decoder<'a> {
        Decoder::over(op, reply)
    }

    fn reply_u64(&self, op: u32, body: &[u8]) -> Result<u64> {
        let reply = self.request(op, body)?;
        let mut d = self.decoder(op, &reply);
        let value = d.u64()?;
        d.finish()?;
        Ok(value)
    }

    /// A request that runs the program's code: no timeout, and a crash or an exit is an
    /// outcome. A spawned executor that ends without saying how (the program called
    /// `_exit`) is judged by its process status.
    fn run<T>(&self, op: u32, body: &[u8], decode: impl FnOnce(&mut Decoder) -> Result<T>) -> Result<Outcome<T>> {
        let outcome = match self.link.exchange(op, body, None) {
            Err(error) if self.link.gone().is_some() => match self.wait_for_child().map(ending_of) {
                Some(Ending::Exited(status)) => return Ok(Outcome::Exited(status)),
                _ => return Err(error),
            },
            other => other?,
        };
        match outcome {
            Outcome::Crashed(crash) => Ok(Outcome::Crashed(crash)),
            Outcome::Exited(status) => Ok(Outcome::Exited(status)),
            Outcome::Returned(reply) => {
                let mut d = self.decoder(op, &reply);
                let value = decode(&mut d)?;
                d.finish()?;
                Ok(Outcome::Returned(value))
            }
        }
    }
}

fn ending_of(status: ExitStatus) -> Ending {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => Ending::Exited(code),
        (None, Some(signal)) => Ending::Killed(signal),
        (None, None) => Ending::Killed(0),
    }
}

impl Drop for RemoteExecutor {
    /// Hangs up (the executor exits when its input ends) and reaps a spawned executor,
    /// killing it if it has not gone within a second.
    fn drop(&mut self) {
        self.link.hang_up();
        let Some(mut child) = self.child.lock().unwrap_or_else(|e| e.into_inner()).take() else { return };
        for _ in 0..100 {
            if !matches!(child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}
