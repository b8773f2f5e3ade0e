//! Copy relocations, done at run time.
//!
//! Code compiled for an executable (`-fno-pic`, and gcc's `-fPIE`) reads a shared library's
//! variables (`stdout`, `optind`) with 32-bit displacements, which cannot reach a library
//! mapped gigabytes away. An executable solves this with a copy relocation: the variable is
//! copied into the executable, and the dynamic loader points every library's GOT slot for it
//! at the copy, so the library and the program share one variable again. We do the same: the
//! copy is a small JIT'd data unit, and once it exists we rewrite the GOT slots of every
//! loaded library that refer to the name.

use crate::error::Result;
use crate::executor::ExecutorSymbol;
use crate::generators::{load_bias, DynamicSection};
use crate::layers::{DataUnit, ObjectLinkingLayer};
use crate::session::{DylibId, MaterializationResponsibility, MaterializationUnit, SymbolFlags};
use jitld_linker::SymbolName;
use std::cell::Cell;

/// Defines `name` in `dylib` as a copy of the library variable `symbol`.
pub fn define(layer: &ObjectLinkingLayer, dylib: DylibId, name: SymbolName, symbol: &ExecutorSymbol) -> Result<()> {
    let unit = CopyUnit {
        data: DataUnit {
            layer: layer.clone(),
            origin: format!("copy of {}", layer.session().names().resolve(name)),
            name,
            bytes: Vec::new(),
            align: 16,
            flags: SymbolFlags::strong_data(),
        },
        source: symbol.addr,
        size: symbol.size,
    };
    layer.session().define(dylib, Box::new(unit))
}

/// The copies made in this process: (name, copy, size). A prelinked image makes them again.
static MADE: std::sync::Mutex<Vec<(String, u64, u64)>> = std::sync::Mutex::new(Vec::new());

/// Every copy made in this process so far: (name, where the copy is, its size).
pub fn made() -> Vec<(String, u64, u64)> {
    MADE.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

struct CopyUnit {
    data: DataUnit,
    source: u64,
    size: u64,
}

impl MaterializationUnit for CopyUnit {
    fn name(&self) -> &str {
        &self.data.origin
    }

    fn symbols(&self) -> Vec<(SymbolName, SymbolFlags)> {
        self.data.symbols()
    }

    fn defines_in_session_memory(&self) -> bool {
        true
    }

    fn materialize(self: Box<Self>, mr: MaterializationResponsibility) {
        let CopyUnit { mut data, source, size } = *self;
        let layer = data.layer.clone();
        let executor = layer.session().executor().clone();
        // The value is taken now, when the program first needs it.
        data.bytes = match executor.read(source, size) {
            Ok(bytes) => bytes,
            Err(e) => return mr.fail(e),
        };
        let name = layer.session().names().resolve(data.name).to_string();
        // Only a copy that really exists where the code runs may stand in for the library's.
        let real = executor.runs_code();
        let graph = data.graph();
        // The libraries are redirected before the copy is emitted: until then nobody may use
        // it, so no code ever sees the variable half moved.
        layer.emit_with(mr, graph, u64::MAX, None, move |graph| {
            let copy = graph.defined_globals().next().map(|(_, _, symbol)| symbol.addr);
            if let (true, Some(addr)) = (real, copy) {
                if let Err(e) = executor.interpose(&[(source, addr)]) {
                    eprintln!("error: copy of {name}: {e}");
                }
                if executor.in_this_process() {
                    MADE.lock().unwrap_or_else(|e| e.into_inner()).push((name, addr, size));
                }
            }
            Box::new(())
        });
    }
}

/// Points every slot that a library loaded in this process bound to a variable at
/// `original` at `copy`, for each `(original, copy)` of `moves`, in one pass over the
/// libraries. Matching by address, not by name, moves a variable's aliases with it, as a
/// linker's copy relocation does: the C library writes `environ` as `__environ`.
pub fn interpose(moves: &[(u64, u64)]) {
    let mut moves = moves.to_vec();
    moves.sort_unstable();
    let mut request = Request { moves: &moves, function: None, only: None, written: Cell::new(0) };
    // SAFETY: dl_iterate_phdr calls us with valid program headers of each loaded object.
    unsafe { libc::dl_iterate_phdr(Some(visit_object), &mut request as *mut _ as *mut libc::c_void) };
}

/// Points the GOT and PLT slots for function `name` of the library `handle` (from `dlopen`)
/// at `addr`: how JIT'd code's replacements of C library functions (`pthread_create`)
/// reach the calls a library such as libstdc++ makes for the program.
///
/// Returns how many slots now hold `addr`.
///
/// # Safety
/// `handle` must be a live handle from `dlopen`.
pub unsafe fn interpose_in_library(handle: *mut libc::c_void, name: &str, addr: u64) -> usize {
    // SAFETY: the caller gives a live handle.
    let Some(base) = (unsafe { load_bias(handle) }) else { return 0 };
    let Ok(c_name) = std::ffi::CString::new(name) else { return 0 };
    // What the library's bound slots hold (every version of glibc's functions is one
    // address); a library that finds no definition has no slot to point elsewhere.
    // SAFETY: a live handle and a C string.
    let original = unsafe { libc::dlsym(handle, c_name.as_ptr()) } as u64;
    if original == 0 {
        return 0;
    }
    let moves = [(original, addr)];
    let mut request =
        Request { moves: &moves, function: Some((name.as_bytes(), addr)), only: Some(base), written: Cell::new(0) };
    // SAFETY: as in `interpose`.
    unsafe { libc::dl_iterate_phdr(Some(visit_object), &mut request as *mut _ as *mut libc::c_void) };
    request.written.get()
}

/// Which slots to point where: a symbol slot holding the first of a pair of `moves`
/// (sorted) gets the second, in the object loaded at `only` if given. Comparing values
/// reads no names: a C++ library's thousands of names share long prefixes, and its string
/// table's pages are otherwise never touched.
struct Request<'a> {
    moves: &'a [(u64, u64)],
    /// A function replaced (its name, the replacement). PLT slots are matched by name: one a
    /// library binds lazily holds no target until the first call. Without it, PLT slots
    /// are left alone (variables have none).
    function: Option<(&'a [u8], u64)>,
    only: Option<u64>,
    /// Slots written so far.
    written: Cell<usize>,
}

const R_X86_64_64: u32 = 1;
const R_X86_64_GLOB_DAT: u32 = 6;
const R_X86_64_JUMP_SLOT: u32 = 7;

unsafe extern "C" fn visit_object(info: *mut libc::dl_phdr_info, _size: usize, data: *mut libc::c_void) -> libc::c_int {
    let request = &*(data as *const Request);
    let Some(dynamic) = DynamicSection::read(&*info) else { return 0 };
    if request.only.is_some_and(|only| only != dynamic.base) {
        return 0;
    }
    let table = |start: u64, size: u64| match start {
        0 => &[][..],
        _ => std::slice::from_raw_parts(start as *const libc::Elf64_Rela, size as usize / 24),
    };
    // Most slots hold something else: a range check turns them away before the search.
    let lowest = request.moves.first().map_or(u64::MAX, |&(from, _)| from);
    let highest = request.moves.last().map_or(0, |&(from, _)| from);
    let moved = |held: u64, addend: u64| {
        let original = held.wrapping_sub(addend);
        if original < lowest || original > highest {
            return None;
        }
        let i = request.moves.binary_search_by_key(&original, |&(from, _)| from).ok()?;
        Some(request.moves.get(i)?.1.wrapping_add(addend))
    };
    let mut writes: Vec<(u64, u64)> = Vec::new();
    // The leading relative relocations (most of a library's) name no symbol.
    let rela = table(dynamic.rela, dynamic.relasz);
    for r in rela.get(dynamic.relacount as usize..).unwrap_or_default() {
        let addend = match (r.r_info & 0xffff_ffff) as u32 {
            R_X86_64_GLOB_DAT => 0,
            R_X86_64_64 => r.r_addend as u64,
            _ => continue,
        };
        let slot = dynamic.base + r.r_offset;
        if let Some(value) = moved((slot as *const u64).read_unaligned(), addend) {
            writes.push((slot, value));
        }
    }
    if let Some((name, replacement)) = request.function.filter(|_| dynamic.symtab != 0 && dynamic.strtab != 0) {
        for r in table(dynamic.jmprel, dynamic.pltrelsz) {
            let sym = &*((dynamic.symtab as *const libc::Elf64_Sym).add((r.r_info >> 32) as usize));
            if (r.r_info & 0xffff_ffff) as u32 == R_X86_64_JUMP_SLOT
                && c_string_is((dynamic.strtab + sym.st_name as u64) as *const u8, name)
            {
                writes.push((dynamic.base + r.r_offset, replacement));
            }
        }
    }
    write_slots(&writes, dynamic.relro);
    request.written.set(request.written.get() + writes.len());
    0
}

/// Whether the NUL-terminated string at `c` is `name`, reading no further than the first
/// difference.
///
/// # Safety
/// `c` must point to a NUL-terminated string.
unsafe fn c_string_is(c: *const u8, name: &[u8]) -> bool {
    for (i, &byte) in name.iter().enumerate() {
        // Stopping at a NUL in either reads nothing past the end of `c`.
        if byte == 0 || *c.add(i) != byte {
            return false;
        }
    }
    *c.add(name.len()) == 0
}

/// Writes GOT slots, lifting RELRO protection once around the writes that fall under it
/// (one `mprotect` per slot cost a C++ program's start hundreds of system calls).
unsafe fn write_slots(writes: &[(u64, u64)], relro: Option<(u64, u64)>) {
    let protected = |slot: u64| relro.is_some_and(|(start, len)| (start..start + len).contains(&slot));
    let pages =
        writes.iter().filter(|&&(slot, _)| protected(slot)).fold(None, |span: Option<(u64, u64)>, &(slot, _)| {
            let (first, last) = (slot & !4095, (slot + 7) & !4095);
            Some(span.map_or((first, last), |(lo, hi)| (lo.min(first), hi.max(last))))
        });
    let lift = |prot| {
        if let Some((first, last)) = pages {
            libc::mprotect(first as *mut libc::c_void, (last - first + 4096) as usize, prot);
        }
    };
    lift(libc::PROT_READ | libc::PROT_WRITE);
    for &(slot, value) in writes {
        (slot as *mut u64).write_unaligned(value);
    }
    lift(libc::PROT_READ);
}
