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
    let mut writes: Vec<(u64, u64)> = Vec::new();
    {
        let mut index = SLOT_INDEX.lock().unwrap_or_else(|e| e.into_inner());
        let slots = index.object((*info).dlpi_subs, dynamic.base, || symbol_slots(&dynamic));
        redirect(slots, request.moves, &mut writes);
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

/// The relocation table at `start`, `size` bytes long (none at address 0).
unsafe fn table<'a>(start: u64, size: u64) -> &'a [libc::Elf64_Rela] {
    match start {
        0 => &[],
        _ => std::slice::from_raw_parts(start as *const libc::Elf64_Rela, size as usize / 24),
    }
}

/// A loaded object's symbol slot (`GLOB_DAT`, `R_X86_64_64`): where it is, the address it
/// refers to, and the addend it holds on top of that.
#[derive(Clone, Copy)]
struct SymbolSlot {
    refers_to: u64,
    slot: u64,
    addend: u64,
}

/// The symbol slots of each loaded object (by load address), sorted by the address they
/// refer to, read at the first request that visits the object: each variable copied after
/// that costs a search per object, not a read of every slot (a C++ program copies a dozen,
/// and libstdc++ has 3,000 slots). Slots change only here, at load time, and through
/// `interpose`, which keeps this in step; a slot found changed anyway is left alone, as a
/// read would have. The index starts again once the loader has unloaded anything
/// (`dlpi_subs`): another object may then sit at an address it knows.
struct SlotIndex {
    unloads: u64,
    objects: Vec<(u64, Vec<SymbolSlot>)>,
}

static SLOT_INDEX: std::sync::Mutex<SlotIndex> = std::sync::Mutex::new(SlotIndex { unloads: 0, objects: Vec::new() });

impl SlotIndex {
    fn object(&mut self, unloads: u64, base: u64, read: impl FnOnce() -> Vec<SymbolSlot>) -> &mut Vec<SymbolSlot> {
        if unloads != self.unloads {
            self.objects.clear();
            self.unloads = unloads;
        }
        let at = match self.objects.iter().position(|&(b, _)| b == base) {
            Some(at) => at,
            None => {
                self.objects.push((base, read()));
                self.objects.len() - 1
            }
        };
        &mut self.objects[at].1
    }
}

/// Drops the index (a cache: the next request reads the slots again), so that a program
/// started after its links does not carry it.
pub fn forget_slot_index() {
    let mut index = SLOT_INDEX.lock().unwrap_or_else(|e| e.into_inner());
    index.objects = Vec::new();
}

/// The object's symbol slots as they are now, by the address each refers to.
///
/// # Safety
/// `dynamic` must describe an object the loader has mapped.
unsafe fn symbol_slots(dynamic: &DynamicSection) -> Vec<SymbolSlot> {
    // The leading relative relocations (most of a library's) name no symbol.
    let rela = table(dynamic.rela, dynamic.relasz);
    let symbolic = rela.get(dynamic.relacount as usize..).unwrap_or_default();
    let mut slots = Vec::with_capacity(symbolic.len());
    for r in symbolic {
        let addend = match (r.r_info & 0xffff_ffff) as u32 {
            R_X86_64_GLOB_DAT => 0,
            R_X86_64_64 => r.r_addend as u64,
            _ => continue,
        };
        let slot = dynamic.base + r.r_offset;
        let held = (slot as *const u64).read_unaligned();
        slots.push(SymbolSlot { refers_to: held.wrapping_sub(addend), slot, addend });
    }
    slots.sort_unstable_by_key(|s| s.refers_to);
    slots
}

/// Adds to `writes` the slots of `slots` that refer to the first of a pair of `moves` (each
/// slot moves once), pointed at the second, and notes the change in `slots`.
///
/// # Safety
/// The slots must be an object's the loader has mapped.
unsafe fn redirect(slots: &mut Vec<SymbolSlot>, moves: &[(u64, u64)], writes: &mut Vec<(u64, u64)>) {
    let mut changed = Vec::new();
    for &(from, to) in moves {
        let start = slots.partition_point(|s| s.refers_to < from);
        let end = start + slots[start..].partition_point(|s| s.refers_to == from);
        for s in slots.drain(start..end) {
            let held = (s.slot as *const u64).read_unaligned();
            if held == from.wrapping_add(s.addend) {
                writes.push((s.slot, to.wrapping_add(s.addend)));
                changed.push(SymbolSlot { refers_to: to, ..s });
            } else {
                changed.push(SymbolSlot { refers_to: held.wrapping_sub(s.addend), ..s });
            }
        }
    }
    for s in changed {
        let at = slots.partition_point(|x| x.refers_to < s.refers_to);
        slots.insert(at, s);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Slots in this test's memory: each moves once per request, by the address it refers to
    /// (its addend kept), a slot changed behind the index's back is left alone, and the
    /// index stays sorted for the next request.
    #[test]
    fn slots_move_by_what_they_refer_to_and_the_index_keeps_up() {
        let (a, b, c) = (0x1000u64, 0x2000u64, 0x3000u64);
        let mut memory = [a, a + 8, b, c, a];
        memory[4] = 0x9999; // changed since it was read
        let at = |i: usize| &memory[i] as *const u64 as u64;
        let slot = |i: usize, refers_to: u64, addend: u64| SymbolSlot { refers_to, slot: at(i), addend };
        let mut slots = vec![slot(0, a, 0), slot(1, a, 8), slot(2, b, 0), slot(3, c, 0), slot(4, a, 0)];
        slots.sort_unstable_by_key(|s| s.refers_to);
        let mut writes = Vec::new();
        // SAFETY: the slots are this test's memory.
        unsafe { redirect(&mut slots, &[(a, b), (b, c)], &mut writes) };
        writes.sort_unstable();
        assert_eq!(writes, [(at(0), b), (at(1), b + 8), (at(2), c)]);
        assert!(slots.is_sorted_by_key(|s| s.refers_to));
        let refers: Vec<(u64, u64)> = slots.iter().map(|s| (s.slot, s.refers_to)).collect();
        for expected in [(at(0), b), (at(1), b), (at(2), c), (at(3), c), (at(4), 0x9999)] {
            assert!(refers.contains(&expected), "{expected:x?} in {refers:x?}");
        }
    }
}
