//! Memory in this process, below 2 GiB.
//!
//! Non-PIC code holds absolute 32-bit addresses, and code in one graph reaches data in another
//! with 32-bit displacements, so all JIT'd memory comes from the low 2 GiB of the address
//! space (where a non-PIE executable lives too). We reserve it in chunks, on demand, wherever
//! the space is free, so several sessions in one process can share it; inside the chunks a
//! first-fit free list hands out page runs, and freed runs are returned to the kernel and
//! reused. A chunk that is entirely free again is unmapped, and dropping the manager unmaps
//! every chunk, so sessions that come and go don't use up the low 2 GiB.

use super::layout::PAGE_SIZE;
use super::{Allocation, MemoryManager, Segment, Working};
use crate::graph::MemProt;
use crate::{LinkError, Result};
use std::sync::Mutex;

pub struct InProcessMemoryManager {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Free runs `(start, len)` in the chunks we reserved, sorted by start, never adjacent.
    free: Vec<(u64, u64)>,
    /// The reservations `(start, len)`, each unmapped whole once nothing in it is allocated.
    chunks: Vec<(u64, u64)>,
}

const CHUNK: u64 = 64 << 20;
const LOW_START: u64 = 0x0100_0000;
const LOW_END: u64 = 0x8000_0000;
/// Where the search for free space starts: above where a non-PIE executable would sit.
const PREFERRED: u64 = 0x1000_0000;

impl InProcessMemoryManager {
    pub fn new() -> Self {
        InProcessMemoryManager { state: Mutex::new(State::default()) }
    }
}

/// Whatever is still allocated goes too: nothing can run code from a dropped manager's memory,
/// because every allocation holds the manager alive.
impl Drop for InProcessMemoryManager {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        for &(start, len) in &state.chunks {
            // SAFETY: our own reservation, and no allocation from it is alive.
            unsafe { libc::munmap(start as *mut libc::c_void, len as usize) };
        }
    }
}

impl Default for InProcessMemoryManager {
    fn default() -> Self {
        Self::new()
    }
}

/// Reserves at least `min` bytes of address space below 2 GiB, inaccessible until allocated.
fn reserve(min: u64) -> Result<(u64, u64)> {
    let size = min.next_multiple_of(CHUNK);
    let candidates = (PREFERRED..LOW_END).chain(LOW_START..PREFERRED).step_by(CHUNK as usize);
    for hint in candidates.filter(|&h| h + size <= LOW_END) {
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

/// First fit: the start of a run of `size` bytes at a multiple of `align`.
fn find_fit(free: &[(u64, u64)], size: u64, align: u64) -> Option<(usize, u64)> {
    free.iter().enumerate().find_map(|(i, &(start, len))| {
        let addr = start.next_multiple_of(align);
        (addr + size <= start + len).then_some((i, addr))
    })
}

/// Returns a run to the free list, merging it with its neighbours.
fn give_back(free: &mut Vec<(u64, u64)>, start: u64, len: u64) {
    let at = free.partition_point(|&(s, _)| s < start);
    free.insert(at, (start, len));
    if at + 1 < free.len() && free[at].0 + free[at].1 == free[at + 1].0 {
        free[at].1 += free[at + 1].1;
        free.remove(at + 1);
    }
    if at > 0 && free[at - 1].0 + free[at - 1].1 == free[at].0 {
        free[at - 1].1 += free[at].1;
        free.remove(at);
    }
}

/// Unmaps every chunk that is wholly free, taking it out of the free list.
fn release_free_chunks(state: &mut State) {
    let State { free, chunks } = state;
    chunks.retain(|&(start, len)| {
        let end = start + len;
        let Some(i) = free.iter().position(|&(s, l)| s <= start && end <= s + l) else { return true };
        let (s, l) = free[i];
        let mut rest = Vec::new();
        if s < start {
            rest.push((s, start - s));
        }
        if end < s + l {
            rest.push((end, s + l - end));
        }
        free.splice(i..=i, rest);
        // SAFETY: the chunk is ours and nothing in it is allocated any more.
        unsafe { libc::munmap(start as *mut libc::c_void, len as usize) };
        false
    });
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
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (i, addr) = match find_fit(&state.free, size, align) {
            Some(fit) => fit,
            None => {
                let (base, len) = reserve(size + align)?;
                state.chunks.push((base, len));
                give_back(&mut state.free, base, len);
                find_fit(&state.free, size, align)
                    .ok_or_else(|| LinkError::Memory(format!("out of JIT memory for {size:#x} bytes")))?
            }
        };
        let free = &mut state.free;
        let (start, len) = free[i];
        let mut rest = Vec::new();
        if addr > start {
            rest.push((start, addr - start));
        }
        if addr + size < start + len {
            rest.push((addr + size, start + len - addr - size));
        }
        free.splice(i..=i, rest);
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
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        give_back(&mut state.free, alloc.addr, alloc.size);
        release_free_chunks(&mut state);
    }

    fn executable(&self) -> bool {
        true
    }
}
