//! Memory in this process, below 2 GiB.
//!
//! Non-PIC code holds absolute 32-bit addresses, and code in one graph reaches data in another
//! with 32-bit displacements, so all JIT'd memory comes from one region reserved low in the
//! address space (a non-PIE executable lives there too). Inside it, a first-fit free list hands
//! out page runs; freed runs are returned to the kernel and reused.

use super::layout::PAGE_SIZE;
use super::{Allocation, MemoryManager, Segment, Working};
use crate::graph::MemProt;
use crate::{LinkError, Result};
use std::sync::Mutex;

pub struct InProcessMemoryManager {
    region: Mutex<Region>,
}

struct Region {
    /// Reserved lazily, on the first allocation; 0 until then.
    size: u64,
    /// Free runs `(start, len)`, sorted by start, never adjacent.
    free: Vec<(u64, u64)>,
}

/// Where we try to reserve: low, well above where a non-PIE executable would sit.
const HINTS: [u64; 4] = [0x1000_0000, 0x2000_0000, 0x4000_0000, 0x0100_0000];
const REGION_SIZES: [u64; 3] = [0x4000_0000, 0x1000_0000, 0x0400_0000];

impl InProcessMemoryManager {
    pub fn new() -> Self {
        InProcessMemoryManager { region: Mutex::new(Region { size: 0, free: Vec::new() }) }
    }
}

impl Default for InProcessMemoryManager {
    fn default() -> Self {
        Self::new()
    }
}

fn reserve() -> Result<(u64, u64)> {
    for size in REGION_SIZES {
        for hint in HINTS {
            // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping.
            let ptr = unsafe {
                libc::mmap(
                    hint as *mut libc::c_void,
                    size as usize,
                    libc::PROT_NONE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED_NOREPLACE,
                    -1,
                    0,
                )
            };
            if ptr != libc::MAP_FAILED {
                if ptr as u64 == hint {
                    return Ok((hint, size));
                }
                // An old kernel ignored the flag and put it elsewhere: give it back.
                unsafe { libc::munmap(ptr, size as usize) };
            }
        }
    }
    Err(LinkError::Memory("could not reserve JIT memory below 2 GiB".into()))
}

fn protect(addr: u64, len: u64, prot: libc::c_int) -> Result<()> {
    // SAFETY: the range lies inside our reservation.
    let rc = unsafe { libc::mprotect(addr as *mut libc::c_void, len as usize, prot) };
    if rc != 0 {
        return Err(LinkError::Memory(format!("mprotect {addr:#x}+{len:#x}: {}", std::io::Error::last_os_error())));
    }
    Ok(())
}

impl MemoryManager for InProcessMemoryManager {
    fn allocate(&self, size: u64, align: u64) -> Result<Allocation> {
        let size = size.next_multiple_of(PAGE_SIZE);
        let mut region = self.region.lock().unwrap_or_else(|e| e.into_inner());
        if region.size == 0 {
            let (base, len) = reserve()?;
            *region = Region { size: len, free: vec![(base, len)] };
        }
        let found = region.free.iter().enumerate().find_map(|(i, &(start, len))| {
            let addr = start.next_multiple_of(align);
            (addr + size <= start + len).then_some((i, addr))
        });
        let (i, addr) =
            found.ok_or_else(|| LinkError::Memory(format!("out of JIT memory allocating {size:#x} bytes")))?;
        let (start, len) = region.free[i];
        let mut rest = Vec::new();
        if addr > start {
            rest.push((start, addr - start));
        }
        if addr + size < start + len {
            rest.push((addr + size, start + len - addr - size));
        }
        region.free.splice(i..=i, rest);
        protect(addr, size, libc::PROT_READ | libc::PROT_WRITE)?;
        Ok(Allocation { addr, size, working: Working::Mapped(addr as *mut u8) })
    }

    fn finalize(&self, alloc: &mut Allocation, segments: &[Segment]) -> Result<()> {
        for segment in segments {
            let prot = match segment.prot {
                MemProt::ReadExec => libc::PROT_READ | libc::PROT_EXEC,
                MemProt::Read => libc::PROT_READ,
                MemProt::ReadWrite => continue,
            };
            protect(alloc.addr + segment.offset, segment.size.next_multiple_of(PAGE_SIZE), prot)?;
        }
        // x86-64 keeps instruction caches coherent with stores; nothing to flush.
        Ok(())
    }

    fn deallocate(&self, alloc: Allocation) {
        // SAFETY: the range is ours; after this it is inaccessible and its pages are dropped.
        unsafe {
            libc::mmap(
                alloc.addr as *mut libc::c_void,
                alloc.size as usize,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED,
                -1,
                0,
            );
        }
        let mut region = self.region.lock().unwrap_or_else(|e| e.into_inner());
        let at = region.free.partition_point(|&(start, _)| start < alloc.addr);
        region.free.insert(at, (alloc.addr, alloc.size));
        // Merge with neighbours so runs stay maximal.
        if at + 1 < region.free.len() && region.free[at].0 + region.free[at].1 == region.free[at + 1].0 {
            region.free[at].1 += region.free[at + 1].1;
            region.free.remove(at + 1);
        }
        if at > 0 && region.free[at - 1].0 + region.free[at - 1].1 == region.free[at].0 {
            region.free[at - 1].1 += region.free[at].1;
            region.free.remove(at);
        }
    }

    fn executable(&self) -> bool {
        true
    }
}
