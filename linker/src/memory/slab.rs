//! A slab at a fixed address that is never executed: addresses are chosen as if memory
//! started at `base`, bytes live in ordinary buffers. Same inputs, same addresses, same bytes.

use super::{Allocation, MemoryManager, Segment, Working};
use crate::{LinkError, Result};
use std::sync::Mutex;

pub struct SlabMemoryManager {
    next: Mutex<u64>,
    end: u64,
}

impl SlabMemoryManager {
    pub fn new(base: u64, size: u64) -> Self {
        SlabMemoryManager { next: Mutex::new(base), end: base.saturating_add(size) }
    }
}

impl MemoryManager for SlabMemoryManager {
    fn allocate(&self, size: u64, align: u64) -> Result<Allocation> {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let addr = next.next_multiple_of(align);
        let end = addr
            .checked_add(size)
            .filter(|&e| e <= self.end)
            .ok_or_else(|| LinkError::Memory(format!("slab exhausted allocating {size:#x} bytes")))?;
        // Sizes come from inputs: a corrupt one must be an error, not an aborted process.
        let mut buffer = Vec::new();
        buffer
            .try_reserve_exact(size as usize)
            .map_err(|_| LinkError::Memory(format!("cannot allocate {size:#x} bytes")))?;
        buffer.resize(size as usize, 0);
        *next = end;
        Ok(Allocation { addr, size, working: Working::Buffer(buffer) })
    }

    fn finalize(&self, _alloc: &mut Allocation, _segments: &[Segment]) -> Result<()> {
        Ok(())
    }

    fn deallocate(&self, _alloc: Allocation) {}

    fn executable(&self) -> bool {
        false
    }
}
