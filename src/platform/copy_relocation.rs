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
                if let Err(e) = executor.interpose(&name, addr) {
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

/// Points every library loaded in this process's GOT slot for `name` at `addr`.
pub fn interpose(name: &str, addr: u64) {
    let mut request = (name.as_bytes(), addr, None::<u64>);
    // SAFETY: dl_iterate_phdr calls us with valid program headers of each loaded object.
    unsafe { libc::dl_iterate_phdr(Some(visit_object), &mut request as *mut _ as *mut libc::c_void) };
}

/// Points the GOT and PLT slots for function `name` of the library `handle` (from `dlopen`,
/// bound with RTLD_NOW) at `addr`: how JIT'd code's replacements of C library functions
/// (`pthread_create`) reach the calls a library such as libstdc++ makes for the program.
///
/// # Safety
/// `handle` must be a live handle from `dlopen`.
pub unsafe fn interpose_in_library(handle: *mut libc::c_void, name: &str, addr: u64) {
    // SAFETY: the caller gives a live handle.
    let Some(base) = (unsafe { load_bias(handle) }) else { return };
    let mut request = (name.as_bytes(), addr, Some(base));
    // SAFETY: as in `interpose`.
    unsafe { libc::dl_iterate_phdr(Some(visit_object), &mut request as *mut _ as *mut libc::c_void) };
}

const R_X86_64_64: u32 = 1;
const R_X86_64_GLOB_DAT: u32 = 6;
const R_X86_64_JUMP_SLOT: u32 = 7;

unsafe extern "C" fn visit_object(info: *mut libc::dl_phdr_info, _size: usize, data: *mut libc::c_void) -> libc::c_int {
    let (name, addr, only) = *(data as *const (&[u8], u64, Option<u64>));
    let Some(dynamic) = DynamicSection::read(&*info) else { return 0 };
    if only.is_some_and(|only| only != dynamic.base) || dynamic.strtab == 0 || dynamic.symtab == 0 {
        return 0;
    }
    let table = |start: u64, size: u64| match start {
        0 => &[][..],
        _ => std::slice::from_raw_parts(start as *const libc::Elf64_Rela, size as usize / 24),
    };
    // The leading relative relocations (most of a library's) name no symbol.
    let rela = table(dynamic.rela, dynamic.relasz);
    let named = rela.get(dynamic.relacount as usize..).unwrap_or_default();
    // PLT slots hold functions only, so data names never match there.
    for r in named.iter().chain(table(dynamic.jmprel, dynamic.pltrelsz)) {
        let kind = (r.r_info & 0xffff_ffff) as u32;
        if kind != R_X86_64_GLOB_DAT && kind != R_X86_64_64 && kind != R_X86_64_JUMP_SLOT {
            continue;
        }
        let sym = &*((dynamic.symtab as *const libc::Elf64_Sym).add((r.r_info >> 32) as usize));
        if !c_string_is((dynamic.strtab + sym.st_name as u64) as *const u8, name) {
            continue;
        }
        let slot = dynamic.base + r.r_offset;
        let value = if kind == R_X86_64_64 { addr.wrapping_add(r.r_addend as u64) } else { addr };
        write_slot(slot, value, dynamic.relro);
    }
    0
}

/// Whether the NUL-terminated string at `c` is `name`. Reads no further than the first
/// difference: a library's relocations name thousands of symbols (long C++ names among
/// them), and measuring each one's length first cost more than the rest of the scan.
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

/// Writes a GOT slot, lifting RELRO protection around the write if the slot is under it.
unsafe fn write_slot(slot: u64, value: u64, relro: Option<(u64, u64)>) {
    let page = slot & !4095;
    let protected = relro.is_some_and(|(start, len)| (start..start + len).contains(&slot));
    if protected {
        libc::mprotect(page as *mut libc::c_void, 4096, libc::PROT_READ | libc::PROT_WRITE);
    }
    (slot as *mut u64).write_unaligned(value);
    if protected {
        libc::mprotect(page as *mut libc::c_void, 4096, libc::PROT_READ);
    }
}
