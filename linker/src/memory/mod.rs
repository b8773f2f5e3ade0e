//! Target memory. A graph's layout groups its blocks into segments by protection (code,
//! read-only, read-write); a memory manager places each segment, together (the slab, for
//! deterministic addresses) or apart (in-process: one arena per protection, so neighbouring
//! graphs share mappings instead of adding three each). Bytes are written while a segment
//! is writable, then it gets its final protection: code is never writable and executable
//! at once.

mod free_list;
pub use free_list::FreeList;
mod in_process;
mod layout;
mod read_only_runs;
mod slab;

pub use in_process::InProcessMemoryManager;
pub use layout::{layout, Layout, Segment};
pub use slab::SlabMemoryManager;

use crate::graph::MemProt;
use crate::Result;

pub trait MemoryManager: Send + Sync {
    /// Memory for each segment of `layout`, readable and writable through `working`. The
    /// segments need not be placed together.
    fn allocate(&self, layout: &Layout) -> Result<Allocation>;
    /// Give each segment its final protection (or, for a manager that defers it, queue it
    /// for `protect_finalized`).
    fn finalize(&self, alloc: &mut Allocation) -> Result<()>;
    /// Applies the protections that `finalize` queued: after this, every finalized segment
    /// can run. A session calls it before it hands out code to run.
    fn protect_finalized(&self) -> Result<()> {
        Ok(())
    }
    /// Return the memory. Code in it must not run again.
    fn deallocate(&self, alloc: Allocation);
    /// Whether code placed here runs (here or in another process); a slab that only stands
    /// in for memory does not.
    fn executable(&self) -> bool;
    /// The pages a layout for this memory is cut into, so that no page holds two
    /// protections: the executor's page size (the host's by default).
    fn page_size(&self) -> u64 {
        crate::arch::Arch::host().page_size()
    }
    /// Addresses `[start, end)` that every segment this manager hands out lies within, if
    /// it promises such a window. The linker then knows, before allocating, that a field
    /// reaches anything placed here (a definition of another graph of the session), and
    /// makes no far-call stub for it. `None` (the default): nothing is promised, and every
    /// external reached by a field that may fall short gets a stub.
    fn span(&self) -> Option<(u64, u64)> {
        None
    }
    /// Readies, off the linking thread, the memory handed out since the previous call (the
    /// first call starts keeping track; a helper thread calls this while links wait for
    /// their externals): in this process, the kernel's first touch of each fresh page,
    /// which is most of what copying code into it costs. Nothing placed or written changes.
    fn populate_ahead(&self) {}

    /// Whether a graph's GOT gets a read-write segment of its own (`Segment::tables`), for
    /// the manager to pack with every other graph's. The pointers to libraries, which a warm
    /// start redoes, then share a few pages instead of dirtying one page per graph beside
    /// its read-only data. The GOT stays writable, as a lazily bound executable's is.
    fn gathers_tables(&self) -> bool {
        false
    }
}

/// Memory for one graph: where each segment went in the executor, and where we write it.
pub struct Allocation {
    /// Where the layout's start went (for messages; the segments' own addresses are in
    /// `parts`).
    pub addr: u64,
    parts: Vec<Part>,
}

/// One segment of an allocation.
pub struct Part {
    pub prot: MemProt,
    /// A GOT segment (`Segment::tables`).
    pub tables: bool,
    /// Where the segment starts in the layout.
    pub layout_offset: u64,
    pub size: u64,
    /// Where it is in the executor.
    pub addr: u64,
    working: Working,
}

enum Working {
    /// The target memory itself, mapped in this process.
    Mapped(*mut u8),
    /// A buffer standing in for memory that is not here (slab, `--noexec`).
    Buffer(Vec<u8>),
}

// The mapped pointers are owned by this allocation alone.
unsafe impl Send for Allocation {}

impl Part {
    /// Whether its bytes are written into a buffer that must be copied to the executor,
    /// rather than where the executor reads them.
    pub fn is_buffered(&self) -> bool {
        matches!(self.working, Working::Buffer(_))
    }

    fn working(&self) -> &[u8] {
        match &self.working {
            // SAFETY: the mapping is `size` bytes and lives as long as the allocation.
            Working::Mapped(ptr) => unsafe { std::slice::from_raw_parts(*ptr, self.size as usize) },
            Working::Buffer(buf) => buf,
        }
    }

    fn working_mut(&mut self) -> &mut [u8] {
        match &mut self.working {
            // SAFETY: as above; the memory is writable until finalized.
            Working::Mapped(ptr) => unsafe { std::slice::from_raw_parts_mut(*ptr, self.size as usize) },
            Working::Buffer(buf) => buf,
        }
    }
}

impl Allocation {
    /// The layout placed contiguously at `addr`, each segment written into a buffer of its
    /// own: memory that is not here (a slab, another process) until it is finalized.
    pub fn buffered(addr: u64, layout: &Layout) -> Result<Allocation> {
        let segments = layout.segments.iter().map(|s| (*s, addr + s.offset, None)).collect();
        // SAFETY: no segment is mapped: each gets a buffer of its own.
        unsafe { Allocation::placed(segments) }
    }

    /// Segments placed by a memory manager of another crate: each at its executor address,
    /// written through `local` (this process's mapping of the same pages, for memory shared
    /// with an executor process) or, without one, into a zeroed buffer.
    ///
    /// # Safety
    /// Each `local` pointer must be valid for reads and writes of its segment's size for as
    /// long as the allocation lives, and nothing else may write there meanwhile.
    pub unsafe fn placed(segments: Vec<(Segment, u64, Option<*mut u8>)>) -> Result<Allocation> {
        let mut parts = Vec::with_capacity(segments.len());
        for (segment, addr, local) in segments {
            let working =
                match local {
                    Some(local) => Working::Mapped(local),
                    None => Working::Buffer(zeroed(segment.size).ok_or_else(|| {
                        crate::LinkError::Memory(format!("cannot allocate {:#x} bytes", segment.size))
                    })?),
                };
            parts.push(Part {
                prot: segment.prot,
                tables: segment.tables,
                layout_offset: segment.offset,
                size: segment.size,
                addr,
                working,
            });
        }
        let addr = parts.first().map_or(0, |p| p.addr);
        Ok(Allocation { addr, parts })
    }

    /// Each segment's address and its bytes as written (finalized or not).
    pub fn segments(&self) -> impl Iterator<Item = (&Part, &[u8])> + '_ {
        self.parts.iter().map(|p| (p, p.working()))
    }

    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// The part holding layout offset `offset`: the last one starting at or before it (a
    /// segment that ends on a page ends where the next begins; that offset is the next's).
    fn part_index(&self, offset: u64) -> Option<usize> {
        let index = self.parts.iter().rposition(|p| offset >= p.layout_offset)?;
        let part = self.parts.get(index)?;
        (offset - part.layout_offset <= part.size).then_some(index)
    }

    /// The executor address of layout offset `offset`.
    pub fn address_of(&self, offset: u64) -> Option<u64> {
        let part = self.parts.get(self.part_index(offset)?)?;
        Some(part.addr + (offset - part.layout_offset))
    }

    /// Working memory for `len` bytes at layout offset `offset`; writable only before
    /// `finalize`.
    pub fn working_at(&mut self, offset: u64, len: u64) -> Option<&mut [u8]> {
        let index = self.part_index(offset)?;
        let part = self.parts.get_mut(index)?;
        let start = usize::try_from(offset - part.layout_offset).ok()?;
        part.working_mut().get_mut(start..start.checked_add(usize::try_from(len).ok()?)?)
    }

    /// The bytes at executor address `addr`, if they are in this allocation.
    pub fn bytes_at(&self, addr: u64, len: u64) -> Option<&[u8]> {
        self.parts.iter().find_map(|p| {
            let start = usize::try_from(addr.checked_sub(p.addr)?).ok()?;
            p.working().get(start..start.checked_add(usize::try_from(len).ok()?)?)
        })
    }

    /// The executor address ranges `[start, end)` of the segments.
    pub fn ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.parts.iter().map(|p| (p.addr, p.addr + p.size))
    }
}

/// A zeroed buffer of `size` bytes, or `None` if there is no memory for it. Sizes come from
/// inputs, so a corrupt one must be an error, not an aborted process; and the zeroes come
/// from the allocator (fresh pages), so a huge `.bss` costs nothing until it is touched.
fn zeroed(size: u64) -> Option<Vec<u8>> {
    let size = usize::try_from(size).ok()?;
    if size == 0 {
        return Some(Vec::new());
    }
    let layout = std::alloc::Layout::array::<u8>(size).ok()?;
    // SAFETY: a non-zero layout; on success the pointer owns `size` zeroed bytes, allocated by
    // the global allocator with the layout `Vec<u8>` uses, so `Vec` may own and free it.
    unsafe {
        let ptr = std::alloc::alloc_zeroed(layout);
        (!ptr.is_null()).then(|| Vec::from_raw_parts(ptr, size, size))
    }
}
