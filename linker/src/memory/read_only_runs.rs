//! Read-only segments of many graphs on shared pages, while their protection is deferred.
//!
//! Each graph's read-only data (constants, `.eh_frame`) used to take pages of its own: the
//! sqlite program's 88 graphs took 118 pages for 216 KB of it, and a program of 10,000 small
//! objects took 10,000 pages. Read-write data shares pages; read-only data can too while
//! protections wait for `protect_finalized`: a page becomes read-only once every segment on
//! it is finalized, and takes no new segment after that. (Code cannot share this way: a page
//! that also holds a segment still being written must stay writable, and so could not run.)
//!
//! Segments go one after another into runs of pages taken from the arena. A run takes no new
//! segment once a page of it is protected, and goes back to the arena whole when its last
//! segment is deallocated: bytes inside a run are never handed out twice.

use std::collections::{BTreeMap, BTreeSet};

/// Bytes a run takes from the arena at least (untouched pages cost nothing but address space).
pub(super) const RUN: u64 = 64 << 10;

#[derive(Default)]
pub(super) struct ReadOnlyRuns {
    /// The run new segments go to: (next free byte, end).
    open: Option<(u64, u64)>,
    /// Runs by start: (end, segments in it).
    runs: BTreeMap<u64, (u64, usize)>,
    /// Segments not yet protected on all their pages: start → (end, finalized).
    waiting: BTreeMap<u64, (u64, bool)>,
}

impl ReadOnlyRuns {
    /// `size` bytes at a multiple of `align` in the open run, if it has room.
    pub(super) fn place(&mut self, size: u64, align: u64) -> Option<u64> {
        let (next, end) = self.open.as_mut()?;
        let addr = next.checked_next_multiple_of(align.max(1))?;
        let after = addr.checked_add(size.max(1))?;
        if after > *end {
            return None;
        }
        *next = after;
        let run = self.runs.range_mut(..=addr).next_back().map(|(_, run)| run)?;
        run.1 += 1;
        self.waiting.insert(addr, (after, false));
        Some(addr)
    }

    /// A new run `[start, start + len)` from the arena becomes the open one; the previous one
    /// takes no more segments. Returns the previous one if every segment it held has gone
    /// (`release` kept it while it was open): the caller gives it back to the arena.
    pub(super) fn open_run(&mut self, start: u64, len: u64) -> Option<(u64, u64)> {
        let previous = self.open.replace((start, start + len));
        self.runs.insert(start, (start + len, 0));
        let (_, end) = previous?;
        let (&old, &(_, segments)) = self.runs.range(..end).next_back()?;
        (segments == 0).then(|| {
            self.runs.remove(&old);
            (old, end - old)
        })
    }

    pub(super) fn finalized(&mut self, addr: u64) {
        if let Some((_, finalized)) = self.waiting.get_mut(&addr) {
            *finalized = true;
        }
    }

    /// The page ranges to make read-only now (merged, in order): every page of a finalized
    /// segment that no unfinalized segment shares. Their segments stop waiting, and the open
    /// run closes if one of its pages is among them.
    pub(super) fn protectable(&mut self, page: u64) -> Vec<(u64, u64)> {
        let pages_of = |start: u64, end: u64| (start / page)..end.div_ceil(page);
        let blocked: BTreeSet<u64> = self
            .waiting
            .iter()
            .filter(|(_, &(_, finalized))| !finalized)
            .flat_map(|(&s, &(e, _))| pages_of(s, e))
            .collect();
        let mut pages = BTreeSet::new();
        self.waiting.retain(|&start, &mut (end, finalized)| {
            if !finalized {
                return true;
            }
            let mut all = true;
            for p in pages_of(start, end) {
                match blocked.contains(&p) {
                    true => all = false,
                    false => drop(pages.insert(p)),
                }
            }
            !all
        });
        if let Some((next, end)) = self.open {
            let run_start = self.runs.range(..=next.min(end - 1)).next_back().map_or(end, |(&s, _)| s);
            if pages.range(run_start / page..end.div_ceil(page)).next().is_some() {
                self.open = None;
            }
        }
        let mut ranges: Vec<(u64, u64)> = Vec::new();
        for p in pages {
            match ranges.last_mut() {
                Some((_, end)) if *end == p * page => *end += page,
                _ => ranges.push((p * page, (p + 1) * page)),
            }
        }
        ranges
    }

    /// The segment at `addr` is gone. Returns its run once the run holds no segment: the
    /// caller gives it back to the arena.
    pub(super) fn release(&mut self, addr: u64) -> Option<(u64, u64)> {
        self.waiting.remove(&addr);
        let (&start, run) = self.runs.range_mut(..=addr).next_back()?;
        run.1 = run.1.saturating_sub(1);
        if run.1 > 0 {
            return None;
        }
        let end = run.0;
        // The open run stays: it is empty, not finished.
        if self.open.is_some_and(|(_, open_end)| open_end == end) {
            return None;
        }
        self.runs.remove(&start);
        Some((start, end - start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: u64 = 0x1000;

    #[test]
    fn a_page_is_protected_once_every_segment_on_it_is_finalized() {
        let mut runs = ReadOnlyRuns::default();
        runs.open_run(0x10000, 4 * PAGE);
        let a = runs.place(0x800, 16).unwrap();
        let b = runs.place(0x1000, 16).unwrap(); // straddles pages 0 and 1
        let c = runs.place(0x100, 16).unwrap(); // page 1
        assert_eq!((a, b, c), (0x10000, 0x10800, 0x11800));
        runs.finalized(a);
        runs.finalized(c);
        // b, on both pages, is still being written.
        assert_eq!(runs.protectable(PAGE), Vec::new());
        runs.finalized(b);
        assert_eq!(runs.protectable(PAGE), vec![(0x10000, 0x12000)]);
        // Nothing waits any more, and the run took no more segments once protected.
        assert_eq!(runs.protectable(PAGE), Vec::new());
        assert_eq!(runs.place(16, 16), None);
    }

    #[test]
    fn a_run_goes_back_when_its_last_segment_does() {
        let mut runs = ReadOnlyRuns::default();
        runs.open_run(0x10000, 2 * PAGE);
        let a = runs.place(0x100, 16).unwrap();
        runs.finalized(a);
        assert_eq!(runs.protectable(PAGE), vec![(0x10000, 0x11000)]);
        runs.open_run(0x20000, 2 * PAGE);
        let b = runs.place(0x100, 16).unwrap();
        assert_eq!(runs.release(a), Some((0x10000, 2 * PAGE)));
        // The open run is kept for the next segments even when empty.
        assert_eq!(runs.release(b), None);
        assert_eq!(runs.place(0x100, 16), Some(0x20100));
    }

    #[test]
    fn an_open_run_emptied_goes_back_when_the_next_opens() {
        let mut runs = ReadOnlyRuns::default();
        assert_eq!(runs.open_run(0x10000, 2 * PAGE), None);
        let a = runs.place(0x100, 16).unwrap();
        assert_eq!(runs.release(a), None);
        assert_eq!(runs.open_run(0x20000, 2 * PAGE), Some((0x10000, 2 * PAGE)));
        let b = runs.place(0x100, 16).unwrap();
        assert_eq!(runs.open_run(0x30000, 2 * PAGE), None);
        assert_eq!(runs.release(b), Some((0x20000, 2 * PAGE)));
    }
}
