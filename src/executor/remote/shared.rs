//! The shared-memory fast path: the executor maps ranges of a memfd at the addresses it
//! reserves, and we map the same ranges here, so linked bytes are written once, directly.

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Mutex;

pub(super) struct SharedMemory {
    file: OwnedFd,
    page_size: u64,
    /// Executor address → (our address, length) of each shared reservation.
    views: Mutex<BTreeMap<u64, (usize, usize)>>,
}

impl SharedMemory {
    pub fn new(file: OwnedFd) -> SharedMemory {
        // SAFETY: sysconf has no preconditions.
        let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
        SharedMemory { file, page_size, views: Mutex::new(BTreeMap::new()) }
    }

    /// Maps the file range the executor put at `addr`; false if we cannot (the caller then
    /// writes over the stream).
    pub fn map(&self, addr: u64, size: u64, offset: u64) -> bool {
        if offset & (self.page_size - 1) != 0 {
            return false;
        }
        let len = size.next_multiple_of(self.page_size) as usize;
        // SAFETY: a fresh shared mapping of our own memfd; nothing else is placed there.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                self.file.as_raw_fd(),
                offset as libc::off_t,
            )
        };
        if ptr == libc::MAP_FAILED {
            return false;
        }
        self.lock().insert(addr, (ptr as usize, len));
        true
    }

    /// Our address for the executor's `[addr, addr + len)`, if it lies in one shared range.
    pub fn view(&self, addr: u64, len: u64) -> Option<*mut u8> {
        let views = self.lock();
        let (&start, &(ptr, size)) = views.range(..=addr).next_back()?;
        let offset = addr - start;
        (offset.checked_add(len)? <= size as u64).then(|| (ptr + offset as usize) as *mut u8)
    }

    pub fn unmap(&self, addr: u64) {
        if let Some((ptr, len)) = self.lock().remove(&addr) {
            // SAFETY: a mapping `map` made, given back once.
            unsafe { libc::munmap(ptr as *mut libc::c_void, len) };
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, (usize, usize)>> {
        self.views.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for SharedMemory {
    fn drop(&mut self) {
        for (_, (ptr, len)) in std::mem::take(&mut *self.lock()) {
            // SAFETY: our mappings, no longer handed out once we are dropped.
            unsafe { libc::munmap(ptr as *mut libc::c_void, len) };
        }
    }
}
