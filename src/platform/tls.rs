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
//! image (the mapping is writable) and into the current thread's block.
//!
//! `__tls_get_addr` for JIT'd code is ours: for `tls_index` pairs tagged
//! `STATIC_TLS_MODULE` it returns `thread pointer + offset`; any other pair goes to glibc's.

use crate::error::{JitError, Result};
use jitld_linker::tls::{TlsLayout, STATIC_TLS_MODULE};
use std::ffi::CString;
use std::io::Write;
use std::sync::Mutex;

/// Where thread-local blocks go.
pub trait TlsAllocator: Send + Sync {
    /// Reserves a block for `layout` in every thread; returns its offset from the thread
    /// pointer.
    fn allocate(&self, name: &str, layout: &TlsLayout) -> Result<i64>;
    /// Sets the block's initial content (`image` is the `.tdata` part; the rest is zero).
    fn initialize(&self, tp_offset: i64, image: &[u8]) -> Result<()>;
}

/// Real static TLS in this process, through glibc.
#[derive(Default)]
pub struct StaticTls {
    /// (offset from the thread pointer, address of the init image in the loaded object)
    modules: Mutex<Vec<(i64, u64)>>,
    /// The memfds the objects were loaded from, kept open: glibc knows an object by its path
    /// (`/proc/self/fd/N`), so a reused descriptor number would hand back an old object.
    files: Mutex<Vec<std::fs::File>>,
}

/// For links that never run (`--noexec`): deterministic offsets, nothing reserved.
#[derive(Default)]
pub struct SimulatedTls {
    used: Mutex<u64>,
}

impl TlsAllocator for SimulatedTls {
    fn allocate(&self, _name: &str, layout: &TlsLayout) -> Result<i64> {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        *used = (*used + layout.size).next_multiple_of(layout.align.max(16));
        Ok(-(*used as i64))
    }

    fn initialize(&self, _tp_offset: i64, _image: &[u8]) -> Result<()> {
        Ok(())
    }
}

const RTLD_DI_LINKMAP: libc::c_int = 2;

extern "C" {
    fn dlinfo(handle: *mut libc::c_void, request: libc::c_int, info: *mut libc::c_void) -> libc::c_int;
    fn __tls_get_addr(index: *const u64) -> *mut u8;
}

fn thread_pointer() -> u64 {
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
    fn allocate(&self, name: &str, layout: &TlsLayout) -> Result<i64> {
        let object = tls_object(layout);
        let (handle, file) = load_from_memory(name, &object.bytes)?;
        self.files.lock().unwrap_or_else(|e| e.into_inner()).push(file);
        let mut map: *mut libc::c_void = std::ptr::null_mut();
        // SAFETY: dlinfo on a live handle, with the out-parameter type glibc documents.
        if unsafe { dlinfo(handle, RTLD_DI_LINKMAP, &mut map as *mut _ as *mut libc::c_void) } != 0 || map.is_null() {
            return Err(dl_error(name));
        }
        // `struct link_map` begins with `l_addr`, the load bias. The loader resolved our
        // TPOFF64 relocation into the slot: the block's offset from the thread pointer.
        let load_bias = unsafe { *(map as *const u64) };
        let tp_offset = unsafe { *((load_bias + object.tp_offset_slot) as *const i64) };
        self.modules.lock().unwrap_or_else(|e| e.into_inner()).push((tp_offset, load_bias + object.image));
        Ok(tp_offset)
    }

    fn initialize(&self, tp_offset: i64, image: &[u8]) -> Result<()> {
        let modules = self.modules.lock().unwrap_or_else(|e| e.into_inner());
        let Some(&(_, init_image)) = modules.iter().find(|(offset, _)| *offset == tp_offset) else {
            return Err(JitError::other("thread-local block was never allocated"));
        };
        // SAFETY: the init image is `image.len()` bytes in the object's writable mapping, and
        // this thread's block is at least as large; both belong to this graph alone.
        unsafe {
            std::ptr::copy_nonoverlapping(image.as_ptr(), init_image as *mut u8, image.len());
            let block = thread_pointer().wrapping_add(tp_offset as u64) as *mut u8;
            std::ptr::copy_nonoverlapping(image.as_ptr(), block, image.len());
        }
        Ok(())
    }
}

fn load_from_memory(name: &str, object: &[u8]) -> Result<(*mut libc::c_void, std::fs::File)> {
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
    // SAFETY: dlopen of the object we just wrote; it stays loaded for the process.
    let handle = unsafe { libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if handle.is_null() {
        return Err(dl_error(name));
    }
    Ok((handle, file))
}

/// A minimal shared object whose only content is one static TLS segment.
struct TlsObject {
    bytes: Vec<u8>,
    /// Address offset of the init image.
    image: u64,
    /// Address offset of the word the loader fills with the block's thread-pointer offset.
    tp_offset_slot: u64,
}

/// ELF header; program headers (`PT_LOAD` over the whole file, writable so the init image
/// can be set later; `PT_DYNAMIC`; `PT_TLS`); an empty symbol table with its hash table; one
/// `R_X86_64_TPOFF64` against the object itself, which is what makes glibc place the block
/// in static TLS (and tells us where); the dynamic section; the zeroed init image.
fn tls_object(layout: &TlsLayout) -> TlsObject {
    const PHDRS: u64 = 64;
    const SYMTAB: u64 = PHDRS + 3 * 56; // one null symbol
    const STRTAB: u64 = SYMTAB + 24; // "\0", padded
    const HASH: u64 = STRTAB + 8; // nbucket = nchain = 1, both empty
    const RELA: u64 = HASH + 16; // one relocation
    const SLOT: u64 = RELA + 24;
    const DYNAMIC: u64 = SLOT + 8;
    const R_X86_64_TPOFF64: u64 = 18;
    const DF_STATIC_TLS: u64 = 0x10;
    // (tag, value): HASH, STRTAB, SYMTAB, STRSZ, SYMENT, RELA, RELASZ, RELAENT, FLAGS, NULL.
    let dynamic = [
        (4, HASH),
        (5, STRTAB),
        (6, SYMTAB),
        (10, 1),
        (11, 24),
        (7, RELA),
        (8, 24),
        (9, 24),
        (30, DF_STATIC_TLS),
        (0, 0),
    ];
    let align = layout.align.max(1);
    let image = (DYNAMIC + dynamic.len() as u64 * 16).next_multiple_of(align);
    let file_size = image + layout.init_size;

    let mut out = Vec::with_capacity(file_size as usize);
    let put = |out: &mut Vec<u8>, words: &[u64], width: usize| {
        for word in words {
            out.extend_from_slice(&word.to_le_bytes()[..width]);
        }
    };
    // ELF header: 64-bit, little-endian, version 1, System V; ET_DYN, x86-64.
    out.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    put(&mut out, &[3, 62], 2);
    put(&mut out, &[1], 4);
    put(&mut out, &[0, PHDRS, 0], 8); // entry, phoff, shoff
    put(&mut out, &[0], 4); // flags
    put(&mut out, &[64, 56, 3, 64, 0, 0], 2); // ehsize, phentsize, phnum, shentsize, shnum, shstrndx
    const PF_W: u64 = 2;
    const PF_R: u64 = 4;
    let dynamic_size = dynamic.len() as u64 * 16;
    for (kind, flags, offset, filesz, memsz, p_align) in [
        (1, PF_R | PF_W, 0, file_size, file_size, 4096),
        (2, PF_R | PF_W, DYNAMIC, dynamic_size, dynamic_size, 8),
        (7, PF_R, image, layout.init_size, layout.size, align),
    ] {
        put(&mut out, &[kind, flags], 4);
        put(&mut out, &[offset, offset, offset, filesz, memsz, p_align], 8);
    }
    out.resize(STRTAB as usize + 8, 0); // null symbol, empty string table
    put(&mut out, &[1, 1, 0, 0], 4);
    put(&mut out, &[SLOT, R_X86_64_TPOFF64, 0, 0], 8); // symbol 0: this object's own block
    for (tag, value) in dynamic {
        put(&mut out, &[tag, value], 8);
    }
    out.resize(file_size as usize, 0);
    TlsObject { bytes: out, image, tp_offset_slot: SLOT }
}
