//! This process as the executor: linked code shares our address space and libraries, so
//! every operation is a direct call.

use super::{Executor, ExecutorSymbol, LibraryHandle, ProgramArgs, TargetInfo};
use crate::error::{JitError, Result};
use crate::generators::loaded_objects::{dladdr1, LoadedObjects, RTLD_DL_SYMENT};
use jitld_linker::arch::Arch;
use jitld_linker::memory::{InProcessMemoryManager, MemoryManager};
use std::ffi::{CStr, CString};
use std::sync::Arc;

pub struct InProcessExecutor {
    memory: Arc<dyn MemoryManager>,
    /// What `load_object` loaded from, open while loaded (glibc knows objects by path).
    objects: std::sync::Mutex<Vec<std::fs::File>>,
    /// What the code is linked for: this machine's architecture, unless it only stands in
    /// for another's (`--noexec` links for another architecture never run here).
    arch: Arch,
}

impl Default for InProcessExecutor {
    fn default() -> Self {
        Self::new()
    }
}

impl InProcessExecutor {
    /// Code goes into this process's memory, below 2 GiB.
    pub fn new() -> Self {
        Self::with_memory(Arc::new(InProcessMemoryManager::new()))
    }

    /// Code goes into `memory` (a slab that never runs, for `--noexec`, or a manager of
    /// one's own).
    pub fn with_memory(memory: Arc<dyn MemoryManager>) -> Self {
        InProcessExecutor { memory, objects: Default::default(), arch: Arch::host() }
    }

    /// Links for `arch`: code for another architecture than this machine's is laid out in
    /// this process's memory but never runs here (`runs_code` is false).
    pub fn for_arch(mut self, arch: Arch) -> Self {
        self.arch = arch;
        self
    }
}

extern "C" {
    fn __register_frame(begin: *const u8);
    fn __deregister_frame(begin: *const u8);
    static environ: *const *const libc::c_char;
}

fn dl_error() -> String {
    // SAFETY: dlerror returns the last failure as a C string, or null.
    let message = unsafe { libc::dlerror() };
    if message.is_null() {
        return "unknown error".into();
    }
    unsafe { CStr::from_ptr(message) }.to_string_lossy().into_owned()
}

/// Size and type of the symbol at `addr` named `name`: from the GNU hash tables when they
/// say, else from the loader, which scans.
fn describe(name: &CStr, addr: u64, loaded: &LoadedObjects) -> ExecutorSymbol {
    if let Some((size, kind)) = loaded.symbol(name, addr) {
        return ExecutorSymbol { addr, size, kind };
    }
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let mut sym: *mut libc::c_void = std::ptr::null_mut();
    // SAFETY: dladdr1 fills `info` and points `sym` at the ElfW(Sym) of the match.
    let ok = unsafe { dladdr1(addr as *const libc::c_void, &mut info, &mut sym, RTLD_DL_SYMENT) };
    if ok == 0 || sym.is_null() {
        return ExecutorSymbol { addr, size: 0, kind: 0 };
    }
    let sym = unsafe { &*(sym as *const libc::Elf64_Sym) };
    ExecutorSymbol { addr, size: sym.st_size, kind: sym.st_info & 0xf }
}

impl Executor for InProcessExecutor {
    fn target(&self) -> TargetInfo {
        let arch = self.arch;
        TargetInfo { arch, page_size: arch.page_size(), pointer_width: usize::BITS }
    }

    fn memory(&self) -> &Arc<dyn MemoryManager> {
        &self.memory
    }

    fn runs_code(&self) -> bool {
        self.memory.executable() && self.arch == Arch::host()
    }

    fn in_this_process(&self) -> bool {
        self.runs_code()
    }

    fn load_library(&self, path: &str) -> Result<LibraryHandle> {
        if self.arch != Arch::host() {
            return Err(JitError::other(format!(
                "{path}: an {arch} shared library loads only in an {arch} executor, and none could be started \
                 for this --noexec link (it needs jitld-executor-aarch64 and qemu-aarch64)",
                arch = self.arch.name()
            )));
        }
        let c_path = CString::new(path).map_err(|_| JitError::other(format!("{path}: path contains NUL")))?;
        // SAFETY: dlopen with a valid C string; the handle is kept for the process lifetime.
        // Bound lazily, as an executable's libraries are (unless LD_BIND_NOW is set): binding
        // all of libstdc++'s functions up front costs a C++ program a million instructions.
        let handle = unsafe { libc::dlopen(c_path.as_ptr(), libc::RTLD_LAZY | libc::RTLD_GLOBAL) };
        if handle.is_null() {
            let error = dl_error();
            // glibc's words when the library (or one it needs) wants more static TLS than is
            // left: more can be had by starting again (`cli::reexec`).
            if error.contains("static TLS") {
                crate::platform::tls::short_of_room();
            }
            return Err(JitError::other(format!("{path}: cannot load shared library: {error}")));
        }
        // Threads the library starts for the program (libstdc++'s std::thread) get what
        // threads JIT'd code starts get (see `debug::jitld_pthread_create`).
        let wrapper = crate::debug::jitld_pthread_create as *const () as u64;
        // SAFETY: the handle dlopen just returned.
        unsafe { crate::platform::copy_relocation::interpose_in_library(handle, "pthread_create", wrapper) };
        Ok(LibraryHandle(handle as u64))
    }

    fn lookup(&self, library: LibraryHandle, names: &[&str]) -> Result<Vec<Option<ExecutorSymbol>>> {
        let handle = match library {
            LibraryHandle::PROCESS => libc::RTLD_DEFAULT,
            LibraryHandle(handle) => handle as *mut libc::c_void,
        };
        let loaded = LoadedObjects::now();
        let find = |name: &&str| {
            let c_name = CString::new(*name).ok()?;
            // SAFETY: dlsym with a handle from dlopen (or RTLD_DEFAULT) and a C string.
            let addr = unsafe { libc::dlsym(handle, c_name.as_ptr()) };
            (!addr.is_null()).then(|| describe(&c_name, addr as u64, &loaded))
        };
        Ok(names.iter().map(find).collect())
    }

    fn call(&self, addr: u64, args: &[u64]) -> Result<u64> {
        let mut a = [0u64; 6];
        let count = args.len();
        a.get_mut(..count)
            .ok_or_else(|| JitError::other(format!("a call with {count} arguments (at most 6)")))?
            .copy_from_slice(args);
        type Fn6 = unsafe extern "C" fn(u64, u64, u64, u64, u64, u64) -> u64;
        // SAFETY: the caller names linked, ready code; surplus arguments sit in registers the
        // callee ignores, as the psABI allows.
        let f: Fn6 = unsafe { std::mem::transmute(addr as usize) };
        Ok(unsafe { f(a[0], a[1], a[2], a[3], a[4], a[5]) })
    }

    fn write(&self, addr: u64, bytes: &[u8]) -> Result<()> {
        // SAFETY: the caller names writable memory of linked code in this process.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), addr as *mut u8, bytes.len()) };
        Ok(())
    }

    fn read(&self, addr: u64, len: u64) -> Result<Vec<u8>> {
        let len = usize::try_from(len).map_err(|_| JitError::other(format!("a read of {len:#x} bytes")))?;
        // SAFETY: the caller names `len` readable bytes of this process (a library's variable).
        Ok(unsafe { std::slice::from_raw_parts(addr as *const u8, len) }.to_vec())
    }

    fn interpose(&self, moves: &[(u64, u64)]) -> Result<()> {
        crate::platform::copy_relocation::interpose(moves);
        Ok(())
    }

    fn program_args(&self, argv: &[String]) -> Result<ProgramArgs> {
        let strings: Vec<CString> = argv
            .iter()
            .map(|a| CString::new(a.as_str()).map_err(|_| JitError::other("argument contains NUL")))
            .collect::<Result<_>>()?;
        // The program may keep pointers into argv for as long as it runs: they are never freed.
        let mut pointers: Vec<*const libc::c_char> = strings.into_iter().map(|s| s.into_raw() as *const _).collect();
        pointers.push(std::ptr::null());
        let argc = (pointers.len() - 1) as u64;
        let argv = Box::leak(pointers.into_boxed_slice()).as_ptr() as u64;
        // SAFETY: reading the C library's environment pointer.
        let envp = unsafe { environ } as u64;
        Ok(ProgramArgs { argc, argv, envp })
    }

    fn run_main(&self, entry: u64, args: ProgramArgs) -> Result<i32> {
        // The links that made copies are done; the program's memory may have the index's.
        crate::platform::copy_relocation::forget_slot_index();
        // SAFETY: the entry is linked, ready code called as C's `main`; the arguments were
        // placed by `program_args` and live forever.
        Ok(unsafe { crate::platform::call_main(entry, args.argc as i32, args.argv as *const _, args.envp as *const _) })
    }

    fn runtime_symbols(&self) -> Result<Vec<(&'static str, u64)>> {
        Ok(crate::platform::runtime_in_this_process())
    }

    fn load_object(&self, name: &str, bytes: &[u8]) -> Result<u64> {
        let (handle, file) = crate::platform::tls::load_from_memory(name, bytes)?;
        self.objects.lock().unwrap_or_else(|e| e.into_inner()).push(file);
        // SAFETY: a live handle, just opened.
        unsafe { crate::generators::load_bias(handle) }
            .ok_or_else(|| JitError::other(format!("{name}: loaded, but its load bias is unknown")))
    }

    fn thread_pointer(&self) -> Result<u64> {
        Ok(crate::platform::tls::thread_pointer())
    }

    fn lazy_reentry(&self) -> Result<u64> {
        Ok(crate::lazy::reentry_address())
    }

    /// Our re-entry routine calls the stub itself.
    fn set_lazy_handler(&self, _: Box<super::LazyHandler>) {}

    fn register_eh_frame(&self, frame: super::EhFrame) -> Result<()> {
        crate::platform::frame_index::add(frame);
        if !unwinder_asks_frame_index() {
            // SAFETY: the caller names a finalized `.eh_frame` ending in a terminator.
            unsafe { __register_frame(frame.start as *const u8) };
        }
        Ok(())
    }

    fn deregister_eh_frame(&self, start: u64) -> Result<()> {
        crate::platform::frame_index::remove(start);
        if !unwinder_asks_frame_index() {
            // SAFETY: registered before, and its memory is still mapped.
            unsafe { __deregister_frame(start as *const u8) };
        }
        Ok(())
    }
}

/// Whether this process's unwinder (libgcc_s, which C++ libraries and Rust's panics use)
/// finds JIT'd frames through `frame_index`: its `_dl_find_object` is pointed there once, as
/// a native executable's frames are found through the loader. Registering the frames with
/// it instead would make its first throw through JIT'd code decode and sort every FDE.
fn unwinder_asks_frame_index() -> bool {
    static ASKS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ASKS.get_or_init(|| {
        // SAFETY: a C string; RTLD_NOLOAD only finds the library if it is already loaded.
        let handle = unsafe { libc::dlopen(c"libgcc_s.so.1".as_ptr(), libc::RTLD_LAZY | libc::RTLD_NOLOAD) };
        if handle.is_null() {
            return false;
        }
        let find = crate::platform::frame_index::jitld_dl_find_object as *const () as u64;
        // SAFETY: the handle dlopen just returned.
        unsafe { crate::platform::copy_relocation::interpose_in_library(handle, "_dl_find_object", find) > 0 }
    })
}
