//! A slab at a fixed address that is never executed: addresses are chosen as if memory
//! started at `base`, bytes live in ordinary buffers. Same inputs, same addresses, same bytes.

use super::{Allocation, Layout, MemoryManager};
use crate::{LinkError, Result};
use std::sync::Mutex;

pub struct SlabMemoryManager {
    next: Mutex<u64>,
    end: u64,
    /// The pages layouts are cut into: the host's, or the target's when it differs (16 KiB
    /// for arm64 Darwin).
    page_size: u64,
}

impl SlabMemoryManager {
    /// A slab of the host's pages.
    pub fn new(base: u64, size: u64) -> Self {
        let page_size = crate::arch::Arch::host().page_size();
        SlabMemoryManager { next: Mutex::new(base), end: base.saturating_add(size), page_size }
    }

    /// A slab of `page_size`-byte pages that starts on a page and ends inside the address
    /// space; anything else would move the first allocation (`0x123` became `0x1000`) or
    /// wrap around to 0.
    pub fn try_new(base: u64, size: u64, page_size: u64) -> std::result::Result<Self, String> {
        if !page_size.is_power_of_two() {
            return Err(format!("page size {page_size} is not a power of two"));
        }
        if !base.is_multiple_of(page_size) {
            return Err(format!("slab address {base:#x} is not a multiple of the page size ({page_size:#x})"));
        }
        let Some(end) = base.checked_add(size) else {
            return Err(format!(
                "a slab of {size:#x} bytes at {base:#x} runs past the end of the 64-bit address space"
            ));
        };
        Ok(SlabMemoryManager { next: Mutex::new(base), end, page_size })
    }
}

impl MemoryManager for SlabMemoryManager {
    /// The whole layout, contiguous, at the next free address.
    fn allocate(&self, layout: &Layout) -> Result<Allocation> {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let addr = next
            .checked_next_multiple_of(layout.align.max(1))
            .ok_or_else(|| LinkError::Memory(format!("slab exhausted allocating {:#x} bytes", layout.size)))?;
        let end = addr
            .checked_add(layout.size)
            .filter(|&e| e <= self.end)
            .ok_or_else(|| LinkError::Memory(format!("slab exhausted allocating {:#x} bytes", layout.size)))?;
        let alloc = Allocation::buffered(addr, layout)?;
        *next = end;
        Ok(alloc)
    }

    fn finalize(&self, _alloc: &mut Allocation) -> Result<()> {
        Ok(())
    }

    fn deallocate(&self, _alloc: Allocation) {}

    fn executable(&self) -> bool {
        false
    }

    fn page_size(&self) -> u64 {
        self.page_size
    }
}
