//! Free address ranges, found by size and by position in O(log n).
//!
//! A first-fit scan of a sorted list costs a pass over every fragment left by alignment,
//! per allocation: quadratic over thousands of graphs. Here runs are indexed twice, by
//! start (to merge neighbours) and by length (to find the smallest run that fits).

use std::collections::{BTreeMap, BTreeSet};

#[derive(Default)]
pub struct FreeList {
    /// start → length; runs never touch (touching runs are merged).
    by_start: BTreeMap<u64, u64>,
    /// (length, start), for best fit.
    by_len: BTreeSet<(u64, u64)>,
}

impl FreeList {
    pub const fn new() -> Self {
        FreeList { by_start: BTreeMap::new(), by_len: BTreeSet::new() }
    }

    fn insert(&mut self, start: u64, len: u64) {
        self.by_start.insert(start, len);
        self.by_len.insert((len, start));
    }

    fn remove(&mut self, start: u64, len: u64) {
        self.by_start.remove(&start);
        self.by_len.remove(&(len, start));
    }

    /// Takes `size` bytes at a multiple of `align` from the smallest run that holds them.
    pub fn take(&mut self, size: u64, align: u64) -> Option<u64> {
        let (len, start, addr) = self.by_len.range((size, 0)..).find_map(|&(len, start)| {
            let addr = start.checked_next_multiple_of(align.max(1))?;
            (addr.checked_add(size)? <= start + len).then_some((len, start, addr))
        })?;
        self.remove(start, len);
        if addr > start {
            self.insert(start, addr - start);
        }
        if addr + size < start + len {
            self.insert(addr + size, start + len - addr - size);
        }
        Some(addr)
    }

    /// Returns a run, merging it with the runs it touches.
    pub fn give_back(&mut self, mut start: u64, mut len: u64) {
        if let Some((&before, &before_len)) = self.by_start.range(..start).next_back() {
            if before + before_len == start {
                self.remove(before, before_len);
                start = before;
                len += before_len;
            }
        }
        if let Some(&after_len) = self.by_start.get(&(start + len)) {
            self.remove(start + len, after_len);
            len += after_len;
        }
        self.insert(start, len);
    }

    /// Takes `[start, start + len)` out if it is entirely free; says whether it was.
    pub fn take_range(&mut self, start: u64, len: u64) -> bool {
        let Some((&run, &run_len)) = self.by_start.range(..=start).next_back() else { return false };
        if run + run_len < start + len {
            return false;
        }
        self.remove(run, run_len);
        if run < start {
            self.insert(run, start - run);
        }
        if start + len < run + run_len {
            self.insert(start + len, run + run_len - start - len);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::FreeList;

    #[test]
    fn takes_aligned_merges_and_releases() {
        let mut free = FreeList::new();
        free.give_back(0x1000, 0x10000);
        let a = free.take(0x20, 0x10).unwrap();
        let b = free.take(0x1000, 0x1000).unwrap();
        assert_eq!(a, 0x1000);
        assert_eq!(b % 0x1000, 0);
        assert!(b >= a + 0x20);
        // The alignment gap is a run of its own, used by a small request.
        assert_eq!(free.take(0x10, 0x10), Some(0x1020));
        free.give_back(a, 0x20);
        free.give_back(0x1020, 0x10);
        free.give_back(b, 0x1000);
        // Everything merged back into one run, which can be taken whole.
        assert!(free.take_range(0x1000, 0x10000));
        assert_eq!(free.take(1, 1), None);
    }

    #[test]
    fn a_range_partly_in_use_is_not_taken() {
        let mut free = FreeList::new();
        free.give_back(0, 0x4000);
        let used = free.take(0x1000, 0x1000).unwrap();
        assert!(!free.take_range(0, 0x4000));
        free.give_back(used, 0x1000);
        assert!(free.take_range(0, 0x4000));
    }
}
