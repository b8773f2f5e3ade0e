//! Target memory. One graph gets one contiguous allocation, split into page-aligned segments
//! by protection (code, read-only, read-write). Bytes are written while the allocation is
//! read-write, then each segment gets its final protection: code is never writable and
//! executable at once.

mod in_process;
mod layout;
mod slab;

pub use in_process::InProcessMemoryManager;
pub use layout::{layout, Layout, Segment};
pub use slab::SlabMemoryManager;

use crate::Result;

pub trait MemoryManager: Send + Sync {
    /// `size` bytes at a multiple of `align`, readable and writable through `working`.
    fn allocate(&self, size: u64, align: u64) -> Result<Allocation>;
    /// Give each segment its final protection.
    fn finalize(&self, alloc: &mut Allocation, segments: &[Segment]) -> Result<()>;
    /// Return the memory. Code in it must not run again.
    fn deallocate(&self, alloc: Allocation);
    /// Whether code placed here can run in this process.
    fn executable(&self) -> bool;
}

/// Memory for one graph: its address in the executor, and where we write it.
pub struct Allocation {
    pub addr: u64,
    pub size: u64,
    working: Working,
}

enum Working {
    /// The target memory itself, mapped in this process.
    Mapped(*mut u8),
    /// A buffer standing in for memory that is not here (slab, `--noexec`).
    Buffer(Vec<u8>),
}

// The mapped pointer is owned by this allocation alone.
unsafe impl Send for Allocation {}

impl Allocation {
    pub fn working(&self) -> &[u8] {
        match &self.working {
            // SAFETY: the mapping is `size` bytes and lives as long as the allocation.
            Working::Mapped(ptr) => unsafe { std::slice::from_raw_parts(*ptr, self.size as usize) },
            Working::Buffer(buf) => buf,
        }
    }

    /// Writable only before `finalize`.
    pub fn working_mut(&mut self) -> &mut [u8] {
        match &mut self.working {
            // SAFETY: as above; the memory is read-write until finalized.
            Working::Mapped(ptr) => unsafe { std::slice::from_raw_parts_mut(*ptr, self.size as usize) },
            Working::Buffer(buf) => buf,
        }
    }

    /// The bytes at target address `addr`, if they are in this allocation.
    pub fn bytes_at(&self, addr: u64, len: u64) -> Option<&[u8]> {
        let start = addr.checked_sub(self.addr)? as usize;
        self.working().get(start..start.checked_add(len as usize)?)
    }
}
