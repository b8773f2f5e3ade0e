//! JIT'd code's unwind records, found by address the way the C library finds a loaded
//! object's: `_dl_find_object`.
//!
//! An unwinder linked into the program (GCC's `libgcc_eh.a`) asks `_dl_find_object` for the
//! object holding a return address before it searches the frames registered with it, and
//! searching those costs a first throw a pass that decodes and sorts every FDE (a native
//! executable's `.eh_frame_hdr` is sorted at link time instead). JIT'd code's reference to
//! `_dl_find_object` comes here: for an address in JIT'd code, the answer is a small header
//! whose `.eh_frame` pointer is the FDE that covers it; any other address goes to the C
//! library. Each `.eh_frame` is registered with the span of its graph's code and read only
//! when an address in that span is first looked up: a program that never throws reads
//! none, and a throw reads the sections of the frames it passes through.
//!
//! A span is a hint, not a promise (a record may describe code outside its graph's
//! executable memory): an address in no span and in no loaded object makes every section
//! not yet read be read, and all of them searched.

use crate::executor::EhFrame;
use jitld_linker::cfi::{self, Cie, DW_EH_PE_ABSPTR, DW_EH_PE_OMIT};
use std::sync::Mutex;

/// One FDE: the code `[begin, end)` it describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    begin: u64,
    end: u64,
    fde: u64,
}

/// A registered `.eh_frame`: the span of its graph's code, and its FDEs by address once read.
struct Section {
    start: u64,
    code: (u64, u64),
    entries: Option<Vec<Entry>>,
}

impl Section {
    /// The FDE covering `pc`, reading the section if it was not read yet.
    fn find(&mut self, pc: u64) -> Option<Entry> {
        let entries = self.entries.get_or_insert_with(|| {
            // SAFETY: registered sections are finalized, mapped, and end with a terminator.
            let mut entries = unsafe { read_section(self.start) };
            // The linker's eh_frame pass lists FDEs in the order of their code.
            if !entries.is_sorted_by_key(|e| e.begin) {
                entries.sort_unstable_by_key(|e| (e.begin, e.fde));
            }
            entries
        });
        let after = entries.partition_point(|e| e.begin <= pc);
        let entry = *entries.get(after.checked_sub(1)?)?;
        (pc < entry.end).then_some(entry)
    }
}

/// Registered sections, by the start of their code.
#[derive(Default)]
struct FrameIndex(Vec<Section>);

static INDEX: Mutex<FrameIndex> = Mutex::new(FrameIndex(Vec::new()));

fn index() -> std::sync::MutexGuard<'static, FrameIndex> {
    INDEX.lock().unwrap_or_else(|e| e.into_inner())
}

/// Notes a finalized `.eh_frame` (ending in a zero terminator) of this process.
pub fn add(frame: EhFrame) {
    index().add(frame);
}

/// Forgets the `.eh_frame` at `start`, whose memory is about to be freed.
pub fn remove(start: u64) {
    index().remove(start);
}

impl FrameIndex {
    fn add(&mut self, EhFrame { start, code }: EhFrame) {
        let at = self.0.partition_point(|s| s.code.0 <= code.0);
        self.0.insert(at, Section { start, code, entries: None });
    }

    fn remove(&mut self, start: u64) {
        self.0.retain(|s| s.start != start);
    }

    /// The FDE covering `pc`, among the sections whose span holds it.
    fn find_in_spans(&mut self, pc: u64) -> Option<Entry> {
        let after = self.0.partition_point(|s| s.code.0 <= pc);
        // Spans overlap only if a memory manager interleaves graphs' code: the nearest first.
        self.0[..after].iter_mut().rev().filter(|s| pc < s.code.1).find_map(|s| s.find(pc))
    }

    /// The FDE covering `pc` in any section, reading every one.
    fn find_anywhere(&mut self, pc: u64) -> Option<Entry> {
        self.0.iter_mut().find_map(|s| s.find(pc))
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
    // SAFETY: a record of the section, its length read from it.
    let bytes = |record: u64| unsafe { std::slice::from_raw_parts(record as *const u8, 4 + read_u32(record) as usize) };
    // Counted first (a hop per record), so the list is allocated once.
    let mut entries = Vec::with_capacity(records().count());
    // A section has a CIE or two (functions with and without exception tables).
    let mut cies: Vec<(u64, Option<Cie>)> = Vec::new();
    for record in records() {
        let id_field = record + 4;
        let cie_pointer = unsafe { read_u32(id_field) } as u64;
        if cie_pointer == 0 {
            continue;
        }
        let cie_at = id_field - cie_pointer;
        let known = cies.iter().find(|&&(at, _)| at == cie_at).map(|&(_, cie)| cie);
        let Some(cie) = known.unwrap_or_else(|| {
            let cie = cfi::read_cie(&mut cfi::Reader { bytes: bytes(cie_at), at: 8 });
            cies.push((cie_at, cie));
            cie
        }) else {
            continue;
        };
        if let Some((begin, end)) = cfi::fde_code(bytes(record), record, &cie) {
            if begin != 0 && end != begin {
                entries.push(Entry { begin, end, fde: record });
            }
        }
    }
    entries
}

unsafe fn read_u32(at: u64) -> u32 {
    // SAFETY: the caller's.
    unsafe { (at as *const u32).read_unaligned() }
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
    let mut found = index().find_in_spans(pc as u64);
    if found.is_none() {
        // SAFETY: the caller's arguments, passed on.
        let loaded = unsafe { _dl_find_object(pc, result) };
        if loaded == 0 {
            return 0;
        }
        found = index().find_anywhere(pc as u64);
    }
    let Some(entry) = found else { return -1 };
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

    /// Sections written into buffers near each other (pc-relative 4-byte pointers need code
    /// within 2 GiB), each describing `functions[i]`, registered with `spans[i]`.
    struct Sections {
        _buffers: Vec<Vec<u8>>,
        bases: Vec<u64>,
        index: FrameIndex,
    }

    fn sections(functions: &[&[(u64, u32)]], spans: impl Fn(&[u64]) -> Vec<(u64, u64)>) -> (Sections, u64) {
        let mut buffers: Vec<Vec<u8>> = functions.iter().map(|f| vec![0u8; 32 + 20 * f.len()]).collect();
        let bases: Vec<u64> = buffers.iter().map(|b| b.as_ptr() as u64).collect();
        let code = bases[0] + 0x10_0000;
        for (i, buffer) in buffers.iter_mut().enumerate() {
            let moved: Vec<(u64, u32)> = functions[i].iter().map(|&(at, len)| (code + at, len)).collect();
            let bytes = eh_frame(bases[i], &moved);
            buffer[..bytes.len()].copy_from_slice(&bytes);
        }
        let shifted: Vec<u64> = bases.iter().map(|_| code).collect();
        let mut index = FrameIndex::default();
        for (i, &(lo, hi)) in spans(&shifted).iter().enumerate() {
            index.add(EhFrame { start: bases[i], code: (lo, hi) });
        }
        (Sections { _buffers: buffers, bases, index }, code)
    }

    #[test]
    fn finds_the_fde_covering_an_address_and_nothing_between_functions() {
        // Listed out of order.
        let functions: &[&[(u64, u32)]] = &[&[(0x1000, 0x40), (0, 0x100), (0x200, 0x10)]];
        let (mut s, code) = sections(functions, |c| vec![(c[0], c[0] + 0x1040)]);
        let fde = |i: u64| s.bases[0] + 20 + 20 * i;
        assert_eq!(s.index.find_in_spans(code).map(|e| e.fde), Some(fde(1)));
        assert_eq!(s.index.find_in_spans(code + 0xff).map(|e| e.fde), Some(fde(1)));
        assert_eq!(s.index.find_in_spans(code + 0x100), None, "a gap between two functions");
        assert_eq!(s.index.find_in_spans(code + 0x205).map(|e| e.fde), Some(fde(2)));
        let last = s.index.find_in_spans(code + 0x103f).map(|e| (e.begin, e.end));
        assert_eq!(last, Some((code + 0x1000, code + 0x1040)));
        assert_eq!(s.index.find_in_spans(code + 0x1040), None);
        assert_eq!(s.index.find_in_spans(code - 1), None);
    }

    #[test]
    fn a_lookup_reads_only_the_section_whose_span_holds_the_address() {
        let functions: &[&[(u64, u32)]] = &[&[(0, 8)], &[(0x100, 8)], &[(0x200, 8)]];
        let (mut s, code) =
            sections(functions, |c| vec![(c[0], c[0] + 8), (c[0] + 0x100, c[0] + 0x108), (c[0] + 0x200, c[0] + 0x208)]);
        assert_eq!(s.index.find_in_spans(code + 0x104).map(|e| e.fde), Some(s.bases[1] + 20));
        let read: Vec<bool> = s.index.0.iter().map(|section| section.entries.is_some()).collect();
        assert_eq!(read, [false, true, false]);
    }

    #[test]
    fn an_address_outside_every_span_is_found_by_reading_everything() {
        // The second section's span says nothing of its code (a graph without executable memory).
        let functions: &[&[(u64, u32)]] = &[&[(0, 8)], &[(0x100, 8)]];
        let (mut s, code) = sections(functions, |c| vec![(c[0], c[0] + 8), (0, 0)]);
        assert_eq!(s.index.find_in_spans(code + 0x104), None);
        assert_eq!(s.index.find_anywhere(code + 0x104).map(|e| e.fde), Some(s.bases[1] + 20));
        assert_eq!(s.index.find_anywhere(code + 0x184), None);
    }

    #[test]
    fn a_forgotten_section_answers_nothing_and_others_still_answer() {
        let functions: &[&[(u64, u32)]] = &[&[(0, 8)], &[(0x100, 8)], &[(0x200, 8)]];
        let (mut s, code) =
            sections(functions, |c| vec![(c[0], c[0] + 8), (c[0] + 0x100, c[0] + 0x108), (c[0] + 0x200, c[0] + 0x208)]);
        assert!(s.index.find_in_spans(code + 4).is_some());
        s.index.remove(s.bases[0]);
        s.index.remove(s.bases[2]);
        assert!(s.index.find_anywhere(code + 4).is_none(), "read, then forgotten");
        assert!(s.index.find_anywhere(code + 0x204).is_none(), "forgotten before it was read");
        assert_eq!(s.index.find_in_spans(code + 0x104).map(|e| e.fde), Some(s.bases[1] + 20));
    }

    #[test]
    fn graphs_whose_code_interleaves_are_both_searched() {
        let functions: &[&[(u64, u32)]] = &[&[(0, 8), (0x200, 8)], &[(0x100, 8)]];
        let (mut s, code) = sections(functions, |c| vec![(c[0], c[0] + 0x208), (c[0] + 0x100, c[0] + 0x108)]);
        assert_eq!(s.index.find_in_spans(code + 0x104).map(|e| e.fde), Some(s.bases[1] + 20));
        assert_eq!(s.index.find_in_spans(code + 0x204).map(|e| e.fde), Some(s.bases[0] + 40));
        assert_eq!(s.index.find_in_spans(code + 0x184), None);
    }
}
