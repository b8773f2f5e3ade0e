//! Thread-local storage for JIT'd code, in every access model (see `jitld_linker::tls` for
//! how the models reduce to one offset from the thread pointer).
//!
//! The offset has to be the same in every thread, which only *static* TLS gives, and glibc
//! hands out static TLS only to objects it loads itself. So for each graph with thread-local
//! data we write a minimal ELF shared object whose only content is a `PT_TLS` segment of the
//! right size, flagged `DF_STATIC_TLS`, and `dlopen` it from a memfd. glibc reserves the
//! block in every thread (in its static TLS surplus, which `jitld run` enlarges), copies the
//! object's init image into each thread it creates from then on, and tells us where the
//! block is. Once the graph is fixed up we write the real initial content into that init
//! image (the mapping is writable) and into the block of the current thread and of every
//! thread registered as running JIT'd code (`register_thread`). Threads that are neither keep
//! what glibc copied at load time: zeros (or, in a reused block, its last user's bytes).
//!
//! Removing the code gives the block back (`release`).
//!
//! `__tls_get_addr` for JIT'd code is ours: for `tls_index` pairs tagged
//! `STATIC_TLS_MODULE` it returns `thread pointer + offset`; any other pair goes to glibc's.

use super::dso::{self, DsoSpec};
use crate::error::{JitError, Result};
use jitld_linker::arch::Arch;
use jitld_linker::passes::PassConfig;
use jitld_linker::tls::{self, TlsLayout, STATIC_TLS_MODULE};
use jitld_linker::LinkError;
use std::ffi::CString;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Where thread-local blocks go.
pub trait TlsAllocator: Send + Sync {
    /// Reserves a block for `layout` in every thread; returns its offset from the thread
    /// pointer.
    fn allocate(&self, name: &str, layout: &TlsLayout) -> Result<i64>;
    /// Sets the block's initial content (`image` is the `.tdata` part; the rest is zero).
    fn initialize(&self, tp_offset: i64, image: &[u8]) -> Result<()>;
    /// Gives back a block whose code will never run.
    fn release(&self, tp_offset: i64);
}

/// Adds the passes that give a graph's thread-local data its block: after allocation the
/// block is reserved and each thread-local symbol gets its offset from the thread pointer;
/// after fix-ups the block's initial content is written. A link that fails in between gives
/// the block back.
pub fn add_passes(config: &mut PassConfig, allocator: Arc<dyn TlsAllocator>) {
    let placed = Arc::new(Mutex::new(PlacedBlock { allocator, block: None }));
    let initialize = placed.clone();
    config.post_allocation.insert(
        0,
        Box::new(move |graph| {
            let Some(layout) = tls::layout_tls(graph) else { return Ok(()) };
            let mut placed = placed.lock().unwrap_or_else(|e| e.into_inner());
            let tp_offset = placed.allocator.allocate(&graph.name, &layout).map_err(in_link)?;
            tls::assign_tls_addresses(graph, &layout, tp_offset);
            placed.block = Some((layout, tp_offset));
            Ok(())
        }),
    );
    config.post_fixup.insert(
        0,
        Box::new(move |graph| {
            let mut placed = initialize.lock().unwrap_or_else(|e| e.into_inner());
            let Some((layout, tp_offset)) = placed.block.take() else { return Ok(()) };
            let image = tls::tls_image(graph, &layout);
            let initialized = image.and_then(|image| placed.allocator.initialize(tp_offset, &image).map_err(in_link));
            if initialized.is_err() {
                placed.allocator.release(tp_offset);
            }
            initialized
        }),
    );
}

/// The tiny shared object that makes glibc reserve a static block for `layout`, and the
/// block's size: rounded up to the alignment, because glibc gives back a block's space on
/// unloading only from its aligned start, so odd sizes would leak the padding.
fn tls_object(layout: &TlsLayout, arch: Arch) -> (dso::Dso, u64) {
    let align = layout.align.max(1);
    let size = layout.size.next_multiple_of(align);
    (dso::build(&DsoSpec { arch, tls: Some((layout.init_size, size, align)), executable_stack: false }), size)
}

/// A link's reserved block, until its image is written.
struct PlacedBlock {
    allocator: Arc<dyn TlsAllocator>,
    block: Option<(TlsLayout, i64)>,
}

impl Drop for PlacedBlock {
    fn drop(&mut self) {
        if let Some((_, tp_offset)) = self.block.take() {
            self.allocator.release(tp_offset);
        }
    }
}

fn in_link(e: JitError) -> LinkError {
    LinkError::Context(Box::new(e))
}

/// Real static TLS in this process, through glibc. Static TLS belongs to the process, so
/// every `StaticTls` shares one registry of the objects loaded for it.
#[derive(Default)]
pub struct StaticTls {
    _shared: (),
}

/// One generated TLS object, loaded from a memfd.
struct Loaded {
    tp_offset: i64,
    /// What its `PT_TLS` holds: bytes of init image, bytes in all, alignment.
    init_size: u64,
    size: u64,
    /// Address of the init image in the loaded object (writable).
    image: u64,
    handle: usize,
    /// The memfd it was loaded from, open as long as it is loaded: glibc knows an object by
    /// its path (`/proc/self/fd/N`), so a reused descriptor number would hand back an old one.
    _file: std::fs::File,
    /// False once the code using it is removed: parked for reuse, or unloaded.
    in_use: bool,
}

static LOADED: Mutex<Vec<Loaded>> = Mutex::new(Vec::new());

/// What to do when glibc has no static TLS left for a block (its surplus is used up),
/// before the link fails: `jitld run` starts itself again with a larger surplus (see
/// `cli::reexec`), and returns only if it cannot.
static WHEN_SHORT: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Sets what to do when glibc has no room for a block (once per process).
pub fn when_short_of_room(start_again: fn()) {
    let _ = WHEN_SHORT.set(start_again);
}

/// glibc has no room for a static TLS block (ours, or a shared library's own): does what
/// `when_short_of_room` set, if anything; returns unless that starts the process again.
pub fn short_of_room() {
    if let Some(start_again) = WHEN_SHORT.get() {
        start_again();
    }
}

/// Static TLS in an executor process: the same tiny shared object, loaded there. The
/// initial content goes into its init image (threads started from then on copy it) and into
/// the block of the thread that runs `main`. Blocks stay loaded until the process ends.
pub struct ExecutorTls {
    executor: std::sync::Arc<dyn crate::executor::Executor>,
    /// Each block's offset from the thread pointer and its init image's address.
    images: Mutex<Vec<(i64, u64)>>,
}

impl ExecutorTls {
    pub fn new(executor: std::sync::Arc<dyn crate::executor::Executor>) -> Self {
        ExecutorTls { executor, images: Mutex::new(Vec::new()) }
    }
}

impl TlsAllocator for ExecutorTls {
    fn allocate(&self, name: &str, layout: &TlsLayout) -> Result<i64> {
        let (object, _) = tls_object(layout, self.executor.target().arch);
        let bias = self.executor.load_object(name, &object.bytes)?;
        // The loader resolved the object's relocation into the slot (the executor's
        // architecture's: a negative offset on x86-64, a positive one on AArch64).
        let slot = self.executor.read(bias + object.tp_offset_slot, 8)?;
        let tp_offset = i64::from_le_bytes(slot.try_into().map_err(|_| JitError::other("short read of a TLS slot"))?);
        self.images.lock().unwrap_or_else(|e| e.into_inner()).push((tp_offset, bias + object.image));
        Ok(tp_offset)
    }

    fn initialize(&self, tp_offset: i64, image: &[u8]) -> Result<()> {
        let images = self.images.lock().unwrap_or_else(|e| e.into_inner());
        let Some(&(_, image_addr)) = images.iter().find(|&&(offset, _)| offset == tp_offset) else {
            return Err(JitError::other("thread-local block was never allocated"));
        };
        self.executor.write(image_addr, image)?;
        let main_thread = self.executor.thread_pointer()?;
        self.executor.write(main_thread.wrapping_add(tp_offset as u64), image)
    }

    fn release(&self, _: i64) {}
}

/// For links that never run (`--noexec`): deterministic offsets, nothing reserved, laid out
/// as the architecture's loader would: x86-64 blocks go downwards from the thread pointer
/// (negative offsets); AArch64 blocks (TLS variant I) upwards from past the 16-byte thread
/// control block (positive offsets).
pub struct SimulatedTls {
    arch: Arch,
    used: Mutex<u64>,
}

impl SimulatedTls {
    pub fn new(arch: Arch) -> Self {
        SimulatedTls { arch, used: Mutex::new(0) }
    }
}

impl Default for SimulatedTls {
    fn default() -> Self {
        Self::new(Arch::host())
    }
}

/// Bytes at the thread pointer before the first static TLS block on AArch64: `tcbhead_t`
/// (the DTV pointer and a private word).
const AARCH64_TCB_SIZE: u64 = 16;

impl TlsAllocator for SimulatedTls {
    fn allocate(&self, _name: &str, layout: &TlsLayout) -> Result<i64> {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        let align = layout.align.max(16);
        match self.arch {
            Arch::X86_64 => {
                *used = (*used + layout.size).next_multiple_of(align);
                Ok(-(*used as i64))
            }
            Arch::AArch64 => {
                let start = (AARCH64_TCB_SIZE + *used).next_multiple_of(align);
                *used = start + layout.size - AARCH64_TCB_SIZE;
                Ok(start as i64)
            }
        }
    }

    fn initialize(&self, _tp_offset: i64, _image: &[u8]) -> Result<()> {
        Ok(())
    }

    fn release(&self, _tp_offset: i64) {}
}

extern "C" {
    fn __tls_get_addr(index: *const u64) -> *mut u8;
}

pub(crate) fn thread_pointer() -> u64 {
    let tp: u64;
    // SAFETY: on x86-64 Linux %fs:0 holds the thread pointer itself (the TCB's self pointer).
    unsafe { std::arch::asm!("mov {}, fs:0", out(reg) tp, options(nostack, readonly, preserves_flags)) };
    tp
}

/// `__tls_get_addr` as JIT'd code sees it.
///
/// # Safety
/// `index` must point to a `tls_index` pair, as the psABI requires of every caller.
pub unsafe extern "C" fn jitld_tls_get_addr(index: *const u64) -> *mut u8 {
    // SAFETY: callers pass a `tls_index` pair, as the psABI requires.
    let (module, offset) = unsafe { (*index, *index.add(1)) };
    if module == STATIC_TLS_MODULE {
        return thread_pointer().wrapping_add(offset) as *mut u8;
    }
    // SAFETY: a pair from elsewhere (a shared library's): glibc's own resolver.
    unsafe { __tls_get_addr(index) }
}

fn dl_error(what: &str) -> JitError {
    // SAFETY: dlerror returns the last error as a C string, or null.
    let message = unsafe { libc::dlerror() };
    let message = if message.is_null() {
        "unknown error".into()
    } else {
        unsafe { std::ffi::CStr::from_ptr(message) }.to_string_lossy().into_owned()
    };
    JitError::other(format!("thread-local storage for {what}: {message}"))
}

impl TlsAllocator for StaticTls {
    fn release(&self, tp_offset: i64) {
        release(tp_offset);
    }

    fn allocate(&self, name: &str, layout: &TlsLayout) -> Result<i64> {
        let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
        // A parked block big enough, aligned enough, with room for the image: reuse it.
        let fits = |l: &&mut Loaded| {
            !l.in_use
                && l.size >= layout.size
                && l.init_size >= layout.init_size
                && l.tp_offset % layout.align.max(1) as i64 == 0
        };
        if let Some(reused) = loaded.iter_mut().filter(fits).min_by_key(|l| l.size) {
            reused.in_use = true;
            return Ok(reused.tp_offset);
        }
        let (object, size) = tls_object(layout, Arch::host());
        let (handle, file) = match load_from_memory(name, &object.bytes) {
            Ok(loaded) => loaded,
            Err(e) => {
                drop(loaded);
                short_of_room();
                return Err(e);
            }
        };
        // SAFETY: a live handle, just opened.
        let Some(load_bias) = (unsafe { crate::generators::load_bias(handle) }) else {
            let error = dl_error(name);
            // SAFETY: our own handle, not used again.
            unsafe { libc::dlclose(handle) };
            return Err(error);
        };
        // The loader resolved our TPOFF64 relocation into the slot: the block's offset from
        // the thread pointer.
        let tp_offset = unsafe { *((load_bias + object.tp_offset_slot) as *const i64) };
        loaded.push(Loaded {
            tp_offset,
            init_size: layout.init_size,
            size,
            image: load_bias + object.image,
            handle: handle as usize,
            _file: file,
            in_use: true,
        });
        Ok(tp_offset)
    }

    fn initialize(&self, tp_offset: i64, image: &[u8]) -> Result<()> {
        let loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
        let Some(l) = loaded.iter().find(|l| l.in_use && l.tp_offset == tp_offset) else {
            return Err(JitError::other("thread-local block was never allocated"));
        };
        if image.len() as u64 > l.init_size {
            return Err(JitError::other("thread-local init image larger than its block"));
        }
        // SAFETY: the init image is `l.init_size` bytes in the object's writable mapping,
        // which threads created from now on start from. A reused block still holds its last
        // user's bytes, so the rest is zeroed.
        unsafe {
            let template = l.image as *mut u8;
            std::ptr::copy_nonoverlapping(image.as_ptr(), template, image.len());
            std::ptr::write_bytes(template.add(image.len()), 0, (l.init_size as usize) - image.len());
        }
        // Threads that exist already got glibc's copy of the image at load time (zeros, or a
        // reused block's old bytes): this one, and every thread that runs JIT'd code (the
        // materializing thread is often not the one that will run the code).
        let threads = THREADS.lock().unwrap_or_else(|e| e.into_inner());
        let current = thread_pointer();
        for &tp in threads.iter().filter(|&&tp| tp != current).chain([&current]) {
            // SAFETY: every thread has the whole static TLS area, so the block is `l.size`
            // bytes there; registered threads stay alive while we hold the lock (they
            // deregister on exit, before their TLS is freed); nothing runs this code yet.
            unsafe {
                let block = tp.wrapping_add(tp_offset as u64) as *mut u8;
                std::ptr::copy_nonoverlapping(image.as_ptr(), block, image.len());
                std::ptr::write_bytes(block.add(image.len()), 0, l.size as usize - image.len());
            }
        }
        Ok(())
    }
}

/// Thread pointers of the threads that run JIT'd code, for `initialize`.
static THREADS: Mutex<Vec<u64>> = Mutex::new(Vec::new());

/// Membership of the calling thread in `THREADS`, ended when the thread exits.
struct Registration(u64);

impl Drop for Registration {
    fn drop(&mut self) {
        THREADS.lock().unwrap_or_else(|e| e.into_inner()).retain(|&tp| tp != self.0);
    }
}

thread_local! {
    static REGISTERED: std::cell::OnceCell<Registration> = const { std::cell::OnceCell::new() };
}

/// The calling thread will run JIT'd code: thread-local blocks linked later, on whatever
/// thread, get their initial content in this thread too.
pub fn register_thread() {
    let _ = REGISTERED.try_with(|registered| {
        registered.get_or_init(|| {
            let tp = thread_pointer();
            THREADS.lock().unwrap_or_else(|e| e.into_inner()).push(tp);
            Registration(tp)
        });
    });
}

/// The code using the block at `tp_offset` is gone. glibc returns a static TLS block's space
/// only when it is the last one handed out (the farthest below the thread pointer), so:
/// unload every unused object from the far end inwards (which gives back its descriptor,
/// mapping and TLS space); keep the others loaded, parked, for `allocate` to reuse.
pub fn release(tp_offset: i64) {
    let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(l) = loaded.iter_mut().find(|l| l.in_use && l.tp_offset == tp_offset) {
        l.in_use = false;
    }
    while let Some(last) = (0..loaded.len()).min_by_key(|&i| loaded[i].tp_offset) {
        if loaded[last].in_use {
            break;
        }
        let l = loaded.swap_remove(last);
        // SAFETY: nothing refers to the block any more; the handle is ours. The memfd closes
        // only after the object is unloaded (see `Loaded::_file`).
        unsafe { libc::dlclose(l.handle as *mut libc::c_void) };
        drop(l);
    }
}

/// What `release` keeps: (objects loaded, of them parked for reuse).
pub fn loaded_blocks() -> (usize, usize) {
    let loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
    (loaded.len(), loaded.iter().filter(|l| !l.in_use).count())
}

pub(crate) fn load_from_memory(name: &str, object: &[u8]) -> Result<(*mut libc::c_void, std::fs::File)> {
    let label = CString::new("jitld-tls").expect("no NUL");
    // SAFETY: memfd_create with a valid name; the descriptor is ours.
    let fd = unsafe { libc::memfd_create(label.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(JitError::other(format!("thread-local storage for {name}: memfd_create failed")));
    }
    let path = format!("/proc/self/fd/{fd}");
    // SAFETY: `fd` is a fresh descriptor we own; File takes it over and closes it.
    let mut file = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    file.write_all(object).map_err(|e| JitError::other(format!("thread-local storage for {name}: {e}")))?;
    let c_path = CString::new(path).expect("no NUL");
    // SAFETY: dlopen of the object we just wrote; `release` unloads it.
    let handle = unsafe { libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if handle.is_null() {
        return Err(dl_error(name));
    }
    Ok((handle, file))
}
