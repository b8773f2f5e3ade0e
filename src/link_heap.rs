//! `jitld run`'s allocator for its own memory (`#[global_allocator]` in `main.rs`); the
//! program it runs keeps glibc's `malloc`.
//!
//! A large link makes and frees tens of thousands of small blocks on two threads, and a
//! block made on one thread is often freed on the other. In glibc's per-thread arenas
//! that cost the sqlite program's link ~350 futex calls (a free takes the lock of the
//! arena the block came from, which its thread may hold), ~50 `mprotect`s (the pool
//! thread's arena grows a page at a time), and 12% of its instructions.
//!
//! Here each thread cuts blocks from chunks of one reserved region and keeps the blocks
//! it frees in lists of its own, one per size class: no locks, no system calls once a
//! chunk is taken, no headers (a free is told the block's size). A block freed on another
//! thread than the one that made it joins the freeing thread's lists. Only small blocks
//! (up to `LARGEST`) are served: lists of larger classes held memory that smaller blocks
//! could not use (json's peak RSS +250 KB with 32 KiB), where glibc merges neighbours.
//! Larger and over-aligned blocks are the system's, and so is everything until `serve`
//! (`jitld run` calls it for a link large enough for threads) and once the region is
//! used up.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The address space reserved (not memory: pages are taken as blocks are first cut).
const REGION: usize = 1 << 30;
/// What a thread takes from the region at a time.
const CHUNK: usize = 256 << 10;
/// The largest block served here; larger ones are few, and the system's.
const LARGEST: usize = 2 << 10;
/// Size classes: 16 to 128 in steps of 16, then four per doubling up to `LARGEST`.
const CLASSES: usize = 8 + 4 * (LARGEST.trailing_zeros() as usize - 7);

/// The region's base (0 before the first block, `usize::MAX` if it could not be reserved)
/// and how much of it chunks have taken.
static BASE: AtomicUsize = AtomicUsize::new(0);
static TAKEN: AtomicUsize = AtomicUsize::new(0);
/// Whether new blocks come from here (`serve`); until then they are the system's.
static SERVING: AtomicBool = AtomicBool::new(false);

/// A thread's blocks: the free ones of each class, and the chunk it cuts new ones from.
struct Cache {
    free: [*mut u8; CLASSES],
    next: usize,
    end: usize,
}

thread_local! {
    static CACHE: UnsafeCell<Cache> = const { UnsafeCell::new(Cache::EMPTY) };
}

pub struct LinkHeap;

/// The class of a block of `size` bytes (at most `LARGEST`).
fn class_of(size: usize) -> usize {
    if size <= 128 {
        return size.max(1).div_ceil(16) - 1;
    }
    let octave = (usize::BITS - 1 - (size - 1).leading_zeros()) as usize;
    let step = 1 << (octave - 2);
    8 + 4 * (octave - 7) + (size - (1 << octave)).div_ceil(step) - 1
}

/// The size of blocks of class `class`.
fn class_size(class: usize) -> usize {
    if class < 8 {
        return (class + 1) * 16;
    }
    let octave = 7 + (class - 8) / 4;
    (1 << octave) + ((class - 8) % 4 + 1) * (1 << (octave - 2))
}

/// The region's base, reserving it on first use.
fn base() -> usize {
    match BASE.load(Ordering::Acquire) {
        0 => reserve(),
        base => base,
    }
}

#[cold]
fn reserve() -> usize {
    // SAFETY: a fresh anonymous mapping; nothing else refers to it.
    let mapped = unsafe {
        libc::mmap(
            null_mut(),
            REGION,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    let base = match mapped {
        libc::MAP_FAILED => usize::MAX,
        at => at as usize,
    };
    match BASE.compare_exchange(0, base, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => base,
        Err(first) => {
            if mapped != libc::MAP_FAILED {
                // SAFETY: our own mapping, which another thread's won over.
                unsafe { libc::munmap(mapped, REGION) };
            }
            first
        }
    }
}

/// Whether `ptr` was cut from the region.
fn in_region(ptr: *mut u8) -> bool {
    let base = BASE.load(Ordering::Relaxed);
    (ptr as usize).wrapping_sub(base) < REGION && base != 0 && base != usize::MAX
}

/// The next chunk of the region, if any is left.
fn take_chunk() -> Option<usize> {
    let base = base();
    if base == usize::MAX {
        return None;
    }
    let at = TAKEN.fetch_add(CHUNK, Ordering::Relaxed);
    (at + CHUNK <= REGION).then_some(base + at)
}

/// From now on small blocks come from here: for links whose threads would contend for
/// glibc's arenas. Blocks already made stay the system's, and are freed there.
pub fn serve() {
    SERVING.store(true, Ordering::Relaxed);
}

/// How much of the region threads have taken in chunks, once `serve` was called (`None`
/// before: every block is the system's). For `--stats`.
pub fn chunk_bytes() -> Option<usize> {
    SERVING.load(Ordering::Relaxed).then(|| TAKEN.load(Ordering::Relaxed).min(REGION))
}

impl Cache {
    const EMPTY: Cache = Cache { free: [null_mut(); CLASSES], next: 0, end: 0 };

    fn alloc(&mut self, class: usize) -> *mut u8 {
        let head = self.free[class];
        if !head.is_null() {
            // SAFETY: a free block of this class holds the next one's address.
            self.free[class] = unsafe { *head.cast::<*mut u8>() };
            return head;
        }
        let size = class_size(class);
        if self.end - self.next < size {
            match take_chunk() {
                Some(chunk) => (self.next, self.end) = (chunk, chunk + CHUNK),
                None => return null_mut(),
            }
        }
        let block = self.next;
        self.next += size;
        block as *mut u8
    }

    fn free(&mut self, block: *mut u8, class: usize) {
        // SAFETY: the block is ours again and at least 16 bytes.
        unsafe { *block.cast::<*mut u8>() = self.free[class] };
        self.free[class] = block;
    }
}

/// A block of this thread's for `layout`, or null: too large, over-aligned, before
/// `serve`, or the region used up.
fn cut(layout: &Layout) -> *mut u8 {
    if layout.size() > LARGEST || layout.align() > 16 || !SERVING.load(Ordering::Relaxed) {
        return null_mut();
    }
    // SAFETY: this thread's cache, used by nothing else while it cuts.
    CACHE.with(|cache| unsafe { &mut *cache.get() }.alloc(class_of(layout.size())))
}

// SAFETY: blocks are 16-aligned (chunks are, and every class is a multiple of 16) and at
// least as large as asked; each is handed out once until freed; a thread's lists are its
// own (thread-local), and blocks move between threads only through the caller's frees.
// Out of line: inlined at every allocation site, the three grew jitld's code by a quarter
// (+520 KB), and a short run pages most of its code in.
unsafe impl GlobalAlloc for LinkHeap {
    #[inline(never)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match cut(&layout) {
            block if block.is_null() => unsafe { System.alloc(layout) },
            block => block,
        }
    }

    #[inline(never)]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match cut(&layout) {
            // The system's `calloc` maps large blocks already zeroed, and lazily.
            block if block.is_null() => unsafe { System.alloc_zeroed(layout) },
            block => {
                unsafe { std::ptr::write_bytes(block, 0, layout.size()) };
                block
            }
        }
    }

    #[inline(never)]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if in_region(ptr) {
            CACHE.with(|cache| unsafe { &mut *cache.get() }.free(ptr, class_of(layout.size())));
        } else {
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[inline(never)]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // A system block stays the system's, which may grow it in place.
        if !in_region(ptr) {
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        if new_size <= LARGEST && class_of(new_size) == class_of(layout.size()) {
            return ptr;
        }
        // SAFETY: the caller's layout with its new size is valid (`realloc`'s contract).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let moved = unsafe { self.alloc(new_layout) };
        if !moved.is_null() {
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize) -> Layout {
        Layout::from_size_align(size, 8).unwrap()
    }

    #[test]
    fn classes_cover_every_size_once_in_order() {
        let mut last = 0;
        for class in 0..CLASSES {
            let size = class_size(class);
            assert!(size > last && size.is_multiple_of(16), "class {class}: {size}");
            assert_eq!(class_of(size), class);
            assert_eq!(class_of(last + 1), class, "{} lands in class {class}", last + 1);
            last = size;
        }
        assert_eq!(last, LARGEST);
    }

    #[test]
    fn blocks_are_distinct_aligned_and_reused_after_free() {
        serve();
        let heap = LinkHeap;
        let sizes = [1usize, 16, 17, 100, 129, 1000, 1500, LARGEST];
        let blocks: Vec<*mut u8> = sizes
            .iter()
            .map(|&size| {
                let block = unsafe { heap.alloc(layout(size)) };
                assert!(in_region(block) && (block as usize).is_multiple_of(16));
                unsafe { std::ptr::write_bytes(block, 0xa5, size) };
                block
            })
            .collect();
        let mut starts: Vec<usize> = blocks.iter().map(|&b| b as usize).collect();
        starts.sort_unstable();
        starts.dedup();
        assert_eq!(starts.len(), sizes.len());
        unsafe { heap.dealloc(blocks[3], layout(100)) };
        assert_eq!(unsafe { heap.alloc(layout(100)) }, blocks[3], "a freed block is the next of its class");
    }

    #[test]
    fn realloc_keeps_contents_across_classes_and_to_the_system_and_back() {
        serve();
        let heap = LinkHeap;
        let mut block = unsafe { heap.alloc(layout(24)) };
        let mut size = 24;
        unsafe { std::ptr::copy_nonoverlapping(b"twenty-four bytes, kept!".as_ptr(), block, 24) };
        for grown in [30, 200, 1200, LARGEST + 1, 4 * LARGEST, 100] {
            block = unsafe { heap.realloc(block, layout(size), grown) };
            assert!(!block.is_null());
            assert_eq!(in_region(block), grown <= LARGEST && size <= LARGEST, "{size} -> {grown}");
            size = grown;
            assert_eq!(unsafe { std::slice::from_raw_parts(block, 24) }, b"twenty-four bytes, kept!");
        }
        unsafe { heap.dealloc(block, layout(size)) };
    }

    #[test]
    fn zeroed_blocks_are_zero_when_reused() {
        serve();
        let heap = LinkHeap;
        let block = unsafe { heap.alloc(layout(300)) };
        unsafe { std::ptr::write_bytes(block, 0xff, 300) };
        unsafe { heap.dealloc(block, layout(300)) };
        let zeroed = unsafe { heap.alloc_zeroed(layout(300)) };
        assert_eq!(zeroed, block);
        assert!(unsafe { std::slice::from_raw_parts(zeroed, 300) }.iter().all(|&b| b == 0));
        // Large ones are the system's `calloc`: a gigabyte costs nothing until touched.
        let huge = unsafe { heap.alloc_zeroed(layout(1 << 30)) };
        assert!(!huge.is_null() && !in_region(huge));
        unsafe { heap.dealloc(huge, layout(1 << 30)) };
    }

    #[test]
    fn over_aligned_and_large_blocks_are_the_systems() {
        serve();
        let heap = LinkHeap;
        for layout in [Layout::from_size_align(64, 64).unwrap(), layout(LARGEST + 16)] {
            let block = unsafe { heap.alloc(layout) };
            assert!(!in_region(block) && (block as usize).is_multiple_of(layout.align()));
            unsafe { heap.dealloc(block, layout) };
        }
    }

    #[test]
    fn blocks_freed_on_another_thread_are_reused_there() {
        serve();
        let heap = LinkHeap;
        let made: Vec<usize> = (0..100).map(|_| unsafe { heap.alloc(layout(48)) } as usize).collect();
        let mut expected = made.clone();
        expected.sort_unstable();
        std::thread::spawn(move || {
            let heap = LinkHeap;
            for &block in &made {
                unsafe { heap.dealloc(block as *mut u8, layout(48)) };
            }
            let mut again: Vec<usize> = (0..100).map(|_| unsafe { heap.alloc(layout(48)) } as usize).collect();
            again.sort_unstable();
            assert_eq!(again, expected);
        })
        .join()
        .unwrap();
    }
}
