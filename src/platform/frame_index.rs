//! JIT'd code's unwind records, found by address the way the C library finds a loaded
//! object's: `_dl_find_object`.
//!
//! An unwinder linked into the program (GCC's `libgcc_eh.a`) asks `_dl_find_object` for the
//! object holding a return address before it searches the frames registered with it, and
//! searching those costs a first throw a pass that decodes and sorts every FDE (a native
//! executable's `.eh_frame_hdr` is sorted at link time instead). JIT'd code's reference to
//! `_dl_find_object` comes here: for an address in JIT'd code, the answer is a small header
//! whose `.eh_frame` pointer is the FDE that covers it, found in an index sorted by address;
//! any other address goes to the C library. A registered `.eh_frame` is read only when the
//! first address is looked up, so a program that never throws pays nothing.

use std::sync::Mutex;

/// One FDE: the code `[begin, end)` it describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    begin: u64,
    end: u64,
    fde: u64,
}

/// A read `.eh_frame`: its FDEs by address, and the code they span.
struct Section {
    start: u64,
    code: (u64, u64),
    entries: Vec<Entry>,
}

impl Section {
    fn find(&self, pc: u64) -> Option<Entry> {
        if pc >= self.code.1 {
            return None;
        }
        let after = self.entries.partition_point(|e| e.begin <= pc);
        let entry = *self.entries.get(after.checked_sub(1)?)?;
        (pc < entry.end).then_some(entry)
    }
}

#[derive(Default)]
struct FrameIndex {
    /// Registered `.eh_frame` sections not read yet.
    pending: Vec<u64>,
    /// Sections read, by the start of their code.
    sections: Vec<Section>,
}

static INDEX: Mutex<FrameIndex> = Mutex::new(FrameIndex { pending: Vec::new(), sections: Vec::new() });

fn index() -> std::sync::MutexGuard<'static, FrameIndex> {
    INDEX.lock().unwrap_or_else(|e| e.into_inner())
}

/// Notes a finalized `.eh_frame` (ending in a zero terminator) of this process.
pub fn add(start: u64) {
    index().pending.push(start);
}

/// Forgets the `.eh_frame` at `start`, whose memory is about to be freed.
pub fn remove(start: u64) {
    index().remove(start);
}

impl FrameIndex {
    fn remove(&mut self, start: u64) {
        self.pending.retain(|&s| s != start);
        self.sections.retain(|s| s.start != start);
    }

    /// The FDE covering `pc`, reading pending sections first.
    fn find(&mut self, pc: u64) -> Option<Entry> {
        if !self.pending.is_empty() {
            self.read_pending();
        }
        let after = self.sections.partition_point(|s| s.code.0 <= pc);
        let nearest = self.sections.get(after.checked_sub(1)?)?;
        if let Some(entry) = nearest.find(pc) {
            return Some(entry);
        }
        // Spans overlap only if a memory manager interleaves graphs' code.
        self.sections[..after - 1].iter().rev().filter(|s| pc < s.code.1).find_map(|s| s.find(pc))
    }

    fn read_pending(&mut self) {
        for start in std::mem::take(&mut self.pending) {
            // SAFETY: registered sections are finalized, mapped, and end with a terminator.
            let mut entries = unsafe { read_section(start) };
            // The linker's eh_frame pass lists FDEs in the order of their code.
            if !entries.is_sorted_by_key(|e| e.begin) {
                entries.sort_unstable_by_key(|e| (e.begin, e.fde));
            }
            let (Some(first), Some(end)) = (entries.first(), entries.iter().map(|e| e.end).max()) else { continue };
            let code = (first.begin, end);
            let at = self.sections.partition_point(|s| s.code.0 <= code.0);
            self.sections.insert(at, Section { start, code, entries });
        }
    }
}

/// The FDEs of the `.eh_frame` at `start`.
///
/// # Safety
/// `start` must be a readable `.eh_frame` that ends with a zero-length record.
unsafe fn read_section(start: u64) -> Vec<Entry> {
    // SAFETY (all reads): inside the section, whose records the linker laid out.
    let records = || {
        std::iter::successors(Some(start), |&record| Some(record + 4 + unsafe { read_u32(record) } as u64))
            .take_while(|&record| !matches!(unsafe { read_u32(record) }, 0 | 0xffff_ffff))
    };
    // Counted first (a hop per record), so the list is allocated once.
    let mut entries = Vec::with_capacity(records().count());
    // A section has a CIE or two (functions with and without exception tables).
    let mut cies: Vec<(u64, Option<u8>)> = Vec::new();
    for record in records() {
        let id_field = record + 4;
        let cie_pointer = unsafe { read_u32(id_field) } as u64;
        if cie_pointer == 0 {
            continue;
        }
        let cie = id_field - cie_pointer;
        let known = cies.iter().find(|&&(at, _)| at == cie).map(|&(_, encoding)| encoding);
        let Some(encoding) = known.unwrap_or_else(|| {
            let encoding = unsafe { fde_encoding(cie) };
            cies.push((cie, encoding));
            encoding
        }) else {
            continue;
        };
        let mut at = id_field + 4;
        let (begin, range) = if encoding == DW_EH_PE_PCREL | DW_EH_PE_SDATA4 {
            // What every compiler here writes.
            let begin = at.wrapping_add(unsafe { read_u32(at) } as i32 as i64 as u64);
            (Some(begin), Some(unsafe { read_u32(at + 4) } as u64))
        } else {
            (unsafe { read_pointer(&mut at, encoding) }, unsafe { read_pointer(&mut at, encoding & 0x0f) })
        };
        if let (Some(begin), Some(range)) = (begin, range) {
            if begin != 0 && range != 0 {
                entries.push(Entry { begin, end: begin.wrapping_add(range), fde: record });
            }
        }
    }
    entries
}

/// The pointer encoding of the FDEs of the CIE at `cie` (its `R` augmentation), or `None`
/// if its augmentation is one this reader does not know.
///
/// # Safety
/// `cie` must be a readable CIE.
unsafe fn fde_encoding(cie: u64) -> Option<u8> {
    // SAFETY (all reads): inside the CIE.
    let version = unsafe { read_u8(cie + 8) };
    let augmentation = cie + 9;
    let mut at = augmentation;
    while unsafe { read_u8(at) } != 0 {
        at += 1;
    }
    at += 1;
    if unsafe { read_u8(augmentation) } != b'z' {
        return (at == augmentation + 1).then_some(DW_EH_PE_ABSPTR);
    }
    unsafe { read_uleb(&mut at) }; // code alignment
    unsafe { read_uleb(&mut at) }; // data alignment (its sign does not matter here)
    if version == 1 {
        at += 1;
    } else {
        unsafe { read_uleb(&mut at) };
    }
    unsafe { read_uleb(&mut at) }; // augmentation data length
    let mut letter = augmentation + 1;
    loop {
        match unsafe { read_u8(letter) } {
            0 => break,
            b'R' => return Some(unsafe { read_u8(at) }),
            b'L' => at += 1,
            b'P' => {
                let encoding = unsafe { read_u8(at) };
                at += 1;
                unsafe { read_pointer(&mut at, encoding & 0x0f) }?;
            }
            b'S' | b'B' => {}
            _ => return None,
        }
        letter += 1;
    }
    Some(DW_EH_PE_ABSPTR)
}

const DW_EH_PE_ABSPTR: u8 = 0x00;
const DW_EH_PE_SDATA4: u8 = 0x0b;
const DW_EH_PE_PCREL: u8 = 0x10;
const DW_EH_PE_OMIT: u8 = 0xff;

/// Reads a pointer in `encoding` at `*at`, moving past it. Only absolute and pc-relative
/// values are known (what `.eh_frame` on this machine uses); `None` for others.
///
/// # Safety
/// The bytes at `*at` must be readable.
unsafe fn read_pointer(at: &mut u64, encoding: u8) -> Option<u64> {
    let field = *at;
    // SAFETY (all reads): the caller's.
    let value = match encoding & 0x0f {
        0x00 | 0x04 | 0x0c => {
            *at += 8;
            unsafe { read_u64(field) }
        }
        0x01 => unsafe { read_uleb(at) },
        0x02 => {
            *at += 2;
            unsafe { read_u16(field) as u64 }
        }
        0x03 => {
            *at += 4;
            unsafe { read_u32(field) as u64 }
        }
        0x0a => {
            *at += 2;
            unsafe { read_u16(field) as i16 as i64 as u64 }
        }
        0x0b => {
            *at += 4;
            unsafe { read_u32(field) as i32 as i64 as u64 }
        }
        _ => return None,
    };
    match encoding & 0x70 {
        0 => Some(value),
        DW_EH_PE_PCREL => Some(value.wrapping_add(field)),
        _ => None,
    }
}

unsafe fn read_uleb(at: &mut u64) -> u64 {
    let mut value = 0u64;
    let mut shift = 0;
    loop {
        // SAFETY: the caller's.
        let byte = unsafe { read_u8(*at) };
        *at += 1;
        if shift < 64 {
            value |= ((byte & 0x7f) as u64) << shift;
        }
        shift += 7;
        if byte & 0x80 == 0 {
            return value;
        }
    }
}

unsafe fn read_u8(at: u64) -> u8 {
    // SAFETY: the caller's.
    unsafe { *(at as *const u8) }
}

unsafe fn read_u16(at: u64) -> u16 {
    // SAFETY: the caller's.
    unsafe { (at as *const u16).read_unaligned() }
}

unsafe fn read_u32(at: u64) -> u32 {
    // SAFETY: the caller's.
    unsafe { (at as *const u32).read_unaligned() }
}

unsafe fn read_u64(at: u64) -> u64 {
    // SAFETY: the caller's.
    unsafe { (at as *const u64).read_unaligned() }
}

/// glibc's `struct dl_find_object` (x86-64 and AArch64 have no `dlfo_eh_dbase`).
#[repr(C)]
pub struct DlFindObject {
    flags: u64,
    map_start: *mut libc::c_void,
    map_end: *mut libc::c_void,
    link_map: *mut libc::c_void,
    eh_frame: *mut libc::c_void,
    reserved: [u64; 7],
}

/// An `.eh_frame_hdr` with no search table, whose `.eh_frame` starts at the FDE wanted: the
/// unwinder's search from there ends at its first record.
#[repr(C, packed)]
struct FrameHeader {
    version: u8,
    eh_frame_ptr_enc: u8,
    fde_count_enc: u8,
    table_enc: u8,
    eh_frame_ptr: u64,
}

thread_local! {
    /// Each thread's answer, read by its unwinder right after the call.
    static HEADER: std::cell::UnsafeCell<FrameHeader> = const {
        std::cell::UnsafeCell::new(FrameHeader {
            version: 1,
            eh_frame_ptr_enc: DW_EH_PE_ABSPTR,
            fde_count_enc: DW_EH_PE_OMIT,
            table_enc: DW_EH_PE_OMIT,
            eh_frame_ptr: 0,
        })
    };
}

extern "C" {
    fn _dl_find_object(pc: *mut libc::c_void, result: *mut DlFindObject) -> libc::c_int;
}

/// `_dl_find_object` for JIT'd code: JIT'd addresses from the index, others from the C library.
pub extern "C" fn jitld_dl_find_object(pc: *mut libc::c_void, result: *mut DlFindObject) -> libc::c_int {
    let found = index().find(pc as u64);
    let Some(entry) = found else {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { _dl_find_object(pc, result) };
    };
    HEADER.with(|header| {
        let header = header.get();
        // SAFETY: this thread's own header; `result` is the caller's to fill.
        unsafe {
            (*header).eh_frame_ptr = entry.fde;
            result.write(DlFindObject {
                flags: 0,
                map_start: entry.begin as *mut libc::c_void,
                map_end: entry.end as *mut libc::c_void,
                link_map: std::ptr::null_mut(),
                eh_frame: header as *mut libc::c_void,
                reserved: [0; 7],
            });
        }
    });
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `.eh_frame` as gcc writes it: a `zR` CIE (pc-relative 4-byte pointers), FDEs for
    /// `functions` (start, length) in the order given, and the terminator.
    fn eh_frame(base: u64, functions: &[(u64, u32)]) -> Vec<u8> {
        let mut bytes = vec![];
        let cie: &[u8] = &[1, b'z', b'R', 0, 1, 0x78, 16, 1, 0x1b, 0, 0, 0];
        bytes.extend(((cie.len() + 4) as u32).to_le_bytes());
        bytes.extend(0u32.to_le_bytes());
        bytes.extend(cie);
        for &(start, length) in functions {
            let record = bytes.len() as u64;
            bytes.extend(16u32.to_le_bytes());
            bytes.extend(((record + 4) as u32).to_le_bytes());
            let field = base + record + 8;
            bytes.extend((start.wrapping_sub(field) as u32).to_le_bytes());
            bytes.extend(length.to_le_bytes());
            bytes.extend([0, 0, 0, 0]);
        }
        bytes.extend(0u32.to_le_bytes());
        bytes
    }

    #[test]
    fn finds_the_fde_covering_an_address_and_nothing_between_functions() {
        let mut section = vec![0u8; 256];
        let base = section.as_ptr() as u64;
        // Code near the section, as pc-relative 4-byte pointers need; listed out of order.
        let code = base + 0x10_0000;
        let functions = [(code + 0x1000, 0x40), (code, 0x100), (code + 0x200, 0x10)];
        let bytes = eh_frame(base, &functions);
        section[..bytes.len()].copy_from_slice(&bytes);
        let mut index = FrameIndex { pending: vec![base], ..FrameIndex::default() };
        let fde = |i: u64| base + 20 + 20 * i;
        assert_eq!(index.find(code).map(|e| e.fde), Some(fde(1)));
        assert_eq!(index.find(code + 0xff).map(|e| e.fde), Some(fde(1)));
        assert_eq!(index.find(code + 0x100), None, "a gap between two functions");
        assert_eq!(index.find(code + 0x205).map(|e| e.fde), Some(fde(2)));
        assert_eq!(index.find(code + 0x103f).map(|e| (e.begin, e.end)), Some((code + 0x1000, code + 0x1040)));
        assert_eq!(index.find(code + 0x1040), None);
        assert_eq!(index.find(code - 1), None);
        assert_eq!(index.sections[0].code, (code, code + 0x1040));
    }

    #[test]
    fn a_forgotten_section_answers_nothing_and_others_still_answer() {
        let mut sections = [vec![0u8; 64], vec![0u8; 64], vec![0u8; 64]];
        let bases: Vec<u64> = sections.iter().map(|s| s.as_ptr() as u64).collect();
        let code = |i: usize| bases[0] + 0x10_0000 + 0x100 * i as u64;
        for (i, section) in sections.iter_mut().enumerate() {
            let bytes = eh_frame(bases[i], &[(code(i), 8)]);
            section[..bytes.len()].copy_from_slice(&bytes);
        }
        let mut index = FrameIndex { pending: bases[..2].to_vec(), ..FrameIndex::default() };
        assert!(index.find(code(0) + 4).is_some());
        index.pending.push(bases[2]);
        index.remove(bases[0]);
        index.remove(bases[2]);
        assert!(index.find(code(0) + 4).is_none(), "read, then forgotten");
        assert!(index.find(code(2) + 4).is_none(), "forgotten before it was read");
        assert_eq!(index.find(code(1) + 4).map(|e| e.fde), Some(bases[1] + 20));
    }

    #[test]
    fn graphs_whose_code_interleaves_are_both_searched() {
        let mut sections = [vec![0u8; 96], vec![0u8; 96]];
        let bases: Vec<u64> = sections.iter().map(|s| s.as_ptr() as u64).collect();
        let code = bases[0] + 0x10_0000;
        let functions = [vec![(code, 8), (code + 0x200, 8)], vec![(code + 0x100, 8)]];
        for (i, section) in sections.iter_mut().enumerate() {
            let bytes = eh_frame(bases[i], &functions[i]);
            section[..bytes.len()].copy_from_slice(&bytes);
        }
        let mut index = FrameIndex { pending: bases.clone(), ..FrameIndex::default() };
        assert_eq!(index.find(code + 0x104).map(|e| e.fde), Some(bases[1] + 20));
        assert_eq!(index.find(code + 0x204).map(|e| e.fde), Some(bases[0] + 40));
        assert_eq!(index.find(code + 0x184), None);
    }
}
