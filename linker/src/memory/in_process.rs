//! Memory in this process, below 2 GiB.
//!
//! Non-PIC code holds absolute 32-bit addresses, and code in one graph reaches data in another
//! with 32-bit displacements, so all JIT'd memory comes from the low 2 GiB of the address
//! space (where a non-PIE executable lives too). We reserve it in chunks, on demand, wherever
//! the space is free; inside the chunks a best-fit free list hands out runs, freed runs are
//! returned to the kernel and reused, and a chunk that is entirely free again is unmapped.

use super::free_list::FreeList;
use super::read_only_runs::{ReadOnlyRuns, RUN};
/// The host's pages: in-process memory is protected in them.
const PAGE_SIZE: u64 = crate::arch::Arch::host().page_size();
use super::{Allocation, Layout, MemoryManager, Part, Segment, Working};
use crate::graph::MemProt;
use crate::{LinkError, Result};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Segments of one protection, from chunks of the low 2 GiB. Every graph's code goes to the
/// code arena, and so on: once finalized, neighbours have the same protection and the
/// kernel merges their mappings, so a process holds a handful of mappings however many
/// graphs it links (three per graph would reach the kernel's limit of 65,530 at ~21,000).
/// The arenas belong to the process, not to a manager: the low 2 GiB is one resource that
/// every session shares, and what one session frees the next can use.
struct Arena {
    free: FreeList,
    /// The reservations `(start, len)`; one that is entirely free again is unmapped, so
    /// sessions that come and go leave the low 2 GiB as they found it.
    chunks: Vec<(u64, u64)>,
}

const fn empty_arena() -> Mutex<Arena> {
    Mutex::new(Arena { free: FreeList::new(), chunks: Vec::new() })
}

/// Code, read-only data, read-write data, GOTs.
static ARENAS: [Mutex<Arena>; 4] = [empty_arena(), empty_arena(), empty_arena(), empty_arena()];

/// Allocates from the process's low-memory arenas; everything it hands out goes back to
/// them when deallocated.
pub struct InProcessMemoryManager {
    /// With deferred protection: what waits for `protect_finalized`.
    deferred: Option<Mutex<Deferred>>,
    /// Code segments and read-only runs handed out and not yet populated (`populate_ahead`):
    /// on pages of their own, they are most of the fresh pages a link writes. Kept from the
    /// first `populate_ahead` on: without a helper that calls it, nothing is.
    fresh: Mutex<Option<Vec<(u64, u64)>>>,
}

/// What waits for `protect_finalized`.
#[derive(Default)]
struct Deferred {
    /// Finalized code segments, still read-write, by address: their footprint.
    code: BTreeMap<u64, u64>,
    /// Read-only segments, on pages they share (see `read_only_runs`).
    read_only: ReadOnlyRuns,
}

const CHUNK: u64 = 64 << 20;
const LOW_START: u64 = 0x0100_0000;
const LOW_END: u64 = 0x8000_0000;
/// Where the search for free space starts: above where a non-PIE executable would sit.
const PREFERRED: u64 = 0x1000_0000;
/// Read-write segments share pages; each starts at least this aligned.
const DATA_GRANULE: u64 = 16;

impl InProcessMemoryManager {
    /// Each segment gets its final protection when its graph is finalized.
    pub fn new() -> Self {
        InProcessMemoryManager { deferred: None, fresh: Mutex::default() }
    }

    /// Finalized segments keep read-write until `protect_finalized`, which protects them
    /// all at once (for a session, which calls it before any code it linked can run).
    ///
    /// Neighbouring segments then change protection in one `mprotect`: linking 1,000
    /// objects makes a handful of calls instead of two per object. Each call takes the
    /// process's memory-map lock for writing and, since it takes write permission away,
    /// interrupts every other core running this process to flush its TLB: with two
    /// materialization threads, per-graph calls cost more than the second thread gained.
    /// Code is still never writable and executable at once: it is read-write, not yet
    /// executable, until protected. Read-only data of every graph shares pages meanwhile
    /// (`read_only_runs`), as read-write data does: a page is protected once every segment
    /// on it is finalized.
    pub fn with_deferred_protection() -> Self {
        InProcessMemoryManager { deferred: Some(Mutex::default()), fresh: Mutex::default() }
    }

    fn arena(&self, prot: MemProt, tables: bool) -> std::sync::MutexGuard<'static, Arena> {
        let index = match prot {
            _ if tables => 3,
            MemProt::ReadExec => 0,
            MemProt::Read => 1,
            MemProt::ReadWrite => 2,
        };
        ARENAS[index].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A segment in its protection's arena: read-write data beside its neighbours, code and
    /// read-only data on pages of their own (writable until finalized).
    fn place(&self, segment: &Segment) -> Result<u64> {
        let size = footprint(segment.prot, segment.size);
        let align = match segment.prot {
            MemProt::ReadWrite => segment.align.max(DATA_GRANULE),
            MemProt::ReadExec | MemProt::Read => segment.align.max(PAGE_SIZE),
        };
        let addr = self.arena(segment.prot, segment.tables).take(size, align)?;
        if segment.prot != MemProt::ReadWrite {
            if let Some(fresh) = self.fresh.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
                fresh.push((addr, size));
            }
        }
        Ok(addr)
    }

    /// A read-only segment on pages it may share (deferred protection only).
    fn place_read_only(&self, deferred: &Mutex<Deferred>, size: u64, align: u64) -> Result<u64> {
        let align = align.max(DATA_GRANULE);
        let mut waiting = deferred.lock().unwrap_or_else(|e| e.into_inner());
        let addr = match waiting.read_only.place(size, align) {
            Some(addr) => addr,
            None => {
                let len = (size + align).max(RUN).next_multiple_of(PAGE_SIZE);
                let start = self.arena(MemProt::Read, false).take(len, PAGE_SIZE)?;
                if let Some((emptied, emptied_len)) = waiting.read_only.open_run(start, len) {
                    self.give_back(MemProt::Read, false, emptied, emptied_len);
                }
                let placed = waiting.read_only.place(size, align);
                placed.ok_or_else(|| LinkError::Memory(format!("no room for {size:#x} bytes")))?
            }
        };
        if let Some(fresh) = self.fresh.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            // Its pages only: the rest of the run may never be used.
            let first = addr / PAGE_SIZE * PAGE_SIZE;
            fresh.push((first, (addr + size.max(1)).next_multiple_of(PAGE_SIZE) - first));
        }
        Ok(addr)
    }

    /// Returns `[addr, addr + size)` to its arena, as fresh memory.
    fn give_back(&self, prot: MemProt, tables: bool, addr: u64, size: u64) {
        match prot {
            // Neighbours live on the same pages: zero our bytes (dropping whole pages),
            // so whoever gets them next finds fresh zeroes, as from the kernel.
            MemProt::ReadWrite => clear(addr, size),
            // SAFETY: the pages are ours; after this they are fresh, free, read-write
            // pages again (no longer executable), and their old contents are dropped.
            MemProt::ReadExec | MemProt::Read => unsafe {
                libc::mmap(
                    addr as *mut libc::c_void,
                    size as usize,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED,
                    -1,
                    0,
                );
            },
        }
        let mut arena = self.arena(prot, tables);
        arena.free.give_back(addr, size);
        arena.release_empty_chunks();
    }
}

/// Protects `ranges` (in address order), one call per run of touching ones.
fn protect_runs(ranges: impl Iterator<Item = (u64, u64)>, prot: libc::c_int) -> Result<()> {
    let mut run: Option<(u64, u64)> = None;
    for (start, end) in ranges {
        match &mut run {
            Some((_, run_end)) if *run_end == start => *run_end = end,
            _ => {
                if let Some((run_start, run_end)) = run.replace((start, end)) {
                    protect(run_start, run_end - run_start, prot)?;
                }
            }
        }
    }
    match run {
        Some((start, end)) => protect(start, end - start, prot),
        None => Ok(()),
    }
}

impl Default for InProcessMemoryManager {
    fn default() -> Self {
        Self::new()
    }
}

/// Reserves at least `min` bytes of address space below 2 GiB, readable and writable (and
/// never executable).
///
/// Free space is read-write in every arena, so handing a segment out needs no system call:
/// only `finalize` changes a protection, once per code or read-only segment. (Free code
/// pages used to be `PROT_NONE`, which cost a second `mprotect` per segment, and each
/// `mprotect` takes the process's memory-map lock for writing, stalling the page faults of
/// the other materialization threads.)
fn reserve(min: u64) -> Result<(u64, u64)> {
    let prot = libc::PROT_READ | libc::PROT_WRITE;
    let size = min.next_multiple_of(CHUNK);
    let candidates = (PREFERRED..LOW_END).chain(LOW_START..PREFERRED).step_by(CHUNK as usize);
    for hint in candidates.filter(|&h| h + size <= LOW_END) {
        // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping.
        let ptr = unsafe {
            libc::mmap(
                hint as *mut libc::c_void,
                size as usize,
                prot,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED_NOREPLACE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            continue;
        }
        if ptr as u64 == hint {
            return Ok((hint, size));
        }
        // An old kernel ignored the flag and put it elsewhere: give it back.
        unsafe { libc::munmap(ptr, size as usize) };
    }
    Err(LinkError::Memory(format!("no free address space below 2 GiB for {size:#x} bytes")))
}

fn protect(addr: u64, len: u64, prot: libc::c_int) -> Result<()> {
    // SAFETY: the range lies inside our reservation.
    let rc = unsafe { libc::mprotect(addr as *mut libc::c_void, len as usize, prot) };
    if rc != 0 {
        return Err(LinkError::Memory(format!("mprotect {addr:#x}+{len:#x}: {}", std::io::Error::last_os_error())));
    }
    Ok(())
}

impl Arena {
    /// `size` bytes at a multiple of `align`, reserving another chunk when none is free.
    fn take(&mut self, size: u64, align: u64) -> Result<u64> {
        if let Some(addr) = self.free.take(size, align) {
            return Ok(addr);
        }
        let (base, len) = reserve(size + align)?;
        self.chunks.push((base, len));
        self.free.give_back(base, len);
        self.free.take(size, align).ok_or_else(|| LinkError::Memory(format!("out of JIT memory for {size:#x} bytes")))
    }

    /// Unmaps every chunk that is entirely free.
    fn release_empty_chunks(&mut self) {
        let Arena { free, chunks } = self;
        chunks.retain(|&(start, len)| {
            if !free.take_range(start, len) {
                return true;
            }
            // SAFETY: our own reservation, and nothing in it is allocated.
            unsafe { libc::munmap(start as *mut libc::c_void, len as usize) };
            false
        });
    }
}

/// How much of its arena a segment takes: whole pages where the protection changes.
fn footprint(prot: MemProt, size: u64) -> u64 {
    match prot {
        MemProt::ReadWrite => size.max(1).next_multiple_of(DATA_GRANULE),
        MemProt::ReadExec | MemProt::Read => size.max(1).next_multiple_of(PAGE_SIZE),
    }
}

impl MemoryManager for InProcessMemoryManager {
    fn allocate(&self, layout: &Layout) -> Result<Allocation> {
        let mut parts: Vec<Part> = Vec::with_capacity(layout.segments.len());
        for segment in &layout.segments {
            let placed = match (&self.deferred, segment.prot) {
                (Some(deferred), MemProt::Read) => self.place_read_only(deferred, segment.size, segment.align),
                _ => self.place(segment),
            };
            match placed {
                Ok(addr) => parts.push(Part {
                    prot: segment.prot,
                    tables: segment.tables,
                    layout_offset: segment.offset,
                    size: segment.size,
                    addr,
                    working: Working::Mapped(addr as *mut u8),
                }),
                Err(e) => {
                    self.deallocate(Allocation { addr: 0, parts });
                    return Err(e);
                }
            }
        }
        let addr = parts.first().map_or(0, |p| p.addr);
        Ok(Allocation { addr, parts })
    }

    fn finalize(&self, alloc: &mut Allocation) -> Result<()> {
        let mut deferred = self.deferred.as_ref().map(|d| d.lock().unwrap_or_else(|e| e.into_inner()));
        for part in &alloc.parts {
            let prot = match part.prot {
                MemProt::ReadExec => libc::PROT_READ | libc::PROT_EXEC,
                MemProt::Read => libc::PROT_READ,
                MemProt::ReadWrite => continue,
            };
            let len = footprint(part.prot, part.size);
            match (deferred.as_mut(), part.prot) {
                (Some(waiting), MemProt::Read) => waiting.read_only.finalized(part.addr),
                (Some(waiting), _) => drop(waiting.code.insert(part.addr, len)),
                (None, _) => protect(part.addr, len, prot)?,
            }
        }
        // x86-64 keeps instruction caches coherent with stores; nothing to flush.
        Ok(())
    }

    fn protect_finalized(&self) -> Result<()> {
        let Some(deferred) = &self.deferred else { return Ok(()) };
        // Held until done: a segment deallocated meanwhile must not be protected after its
        // pages have gone back to the arena.
        let mut waiting = deferred.lock().unwrap_or_else(|e| e.into_inner());
        let code = std::mem::take(&mut waiting.code).into_iter().map(|(addr, len)| (addr, addr + len));
        protect_runs(code, libc::PROT_READ | libc::PROT_EXEC)?;
        protect_runs(waiting.read_only.protectable(PAGE_SIZE).into_iter(), libc::PROT_READ)
    }

    fn deallocate(&self, alloc: Allocation) {
        let mut emptied_runs = Vec::new();
        if let Some(deferred) = &self.deferred {
            // Whoever gets these pages next must not find them protected under its feet.
            let mut waiting = deferred.lock().unwrap_or_else(|e| e.into_inner());
            for part in &alloc.parts {
                match part.prot {
                    MemProt::Read => emptied_runs.extend(waiting.read_only.release(part.addr)),
                    _ => drop(waiting.code.remove(&part.addr)),
                }
            }
        }
        // A read-only run goes back whole, once its last segment has gone.
        for (start, len) in emptied_runs {
            self.give_back(MemProt::Read, false, start, len);
        }
        for part in &alloc.parts {
            if self.deferred.is_some() && part.prot == MemProt::Read {
                continue;
            }
            self.give_back(part.prot, part.tables, part.addr, footprint(part.prot, part.size));
        }
    }

    fn populate_ahead(&self) {
        let fresh = self.fresh.lock().unwrap_or_else(|e| e.into_inner()).replace(Vec::new());
        for (start, len) in fresh.into_iter().flatten() {
            // SAFETY: pages of our reservation; populating changes no byte (pages already
            // written are left as they are), and fails harmlessly on pages that are no
            // longer writable.
            unsafe { libc::madvise(start as *mut libc::c_void, len as usize, libc::MADV_POPULATE_WRITE) };
        }
    }

    /// Everything comes from the low 2 GiB (`LOW_START..LOW_END`).
    fn span(&self) -> Option<(u64, u64)> {
        Some((LOW_START, LOW_END))
    }

    fn gathers_tables(&self) -> bool {
        true
    }

    fn executable(&self) -> bool {
        true
    }
}

/// Zeroes `[addr, addr + len)` of read-write memory: whole pages are handed back to the
/// kernel (they read as zero again, and cost nothing until touched), the ends are cleared.
fn clear(addr: u64, len: u64) {
    let first_page = addr.next_multiple_of(PAGE_SIZE);
    let last_page = (addr + len) / PAGE_SIZE * PAGE_SIZE;
    // SAFETY: the range is read-write memory of ours that nothing uses any more.
    unsafe {
        if first_page < last_page {
            std::ptr::write_bytes(addr as *mut u8, 0, (first_page - addr) as usize);
            libc::madvise(first_page as *mut libc::c_void, (last_page - first_page) as usize, libc::MADV_DONTNEED);
            std::ptr::write_bytes(last_page as *mut u8, 0, (addr + len - last_page) as usize);
        } else {
            std::ptr::write_bytes(addr as *mut u8, 0, len as usize);
        }
    }
}
