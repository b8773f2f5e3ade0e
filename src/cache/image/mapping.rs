//! The image's pages at their exact addresses: reserved with `MAP_FIXED_NOREPLACE`, so a
//! range something else already holds makes the start fail (and the caller link cold)
//! instead of mapping over it.

use super::Segment;
use jitld_linker::graph::MemProt;

const PAGE: u64 = jitld_linker::arch::Arch::host().page_size();

/// Pages mapped for an image, read-write until `protect`; unmapped on drop unless kept.
pub struct MappedImage {
    runs: Vec<(u64, u64)>,
    kept: bool,
}

/// The page-aligned runs covering the segments, merged where they touch or overlap.
pub fn page_runs(segments: &[Segment<'_>]) -> Vec<(u64, u64)> {
    let mut spans: Vec<(u64, u64)> = segments
        .iter()
        .filter(|s| !s.bytes.is_empty())
        .map(|s| (s.addr / PAGE * PAGE, (s.addr.saturating_add(s.bytes.len() as u64)).next_multiple_of(PAGE)))
        .collect();
    spans.sort_unstable();
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for (start, end) in spans {
        match runs.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => runs.push((start, end)),
        }
    }
    runs
}

impl MappedImage {
    /// Maps fresh read-write pages under every segment and copies the segments in. An error
    /// says which range was not free (nothing stays mapped then).
    pub fn map(segments: &[Segment<'_>]) -> Result<MappedImage, String> {
        let mut mapped = MappedImage { runs: Vec::new(), kept: false };
        for (start, end) in page_runs(segments) {
            let len = (end - start) as usize;
            // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping.
            let ptr = unsafe {
                libc::mmap(
                    start as *mut libc::c_void,
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED_NOREPLACE,
                    -1,
                    0,
                )
            };
            if ptr == libc::MAP_FAILED || ptr as u64 != start {
                if ptr != libc::MAP_FAILED {
                    // An old kernel placed it elsewhere: not ours to keep.
                    unsafe { libc::munmap(ptr, len) };
                }
                return Err(format!("the range {start:#x}..{end:#x} is taken"));
            }
            mapped.runs.push((start, end));
        }
        for segment in segments {
            // SAFETY: the segment lies inside the runs just mapped read-write.
            unsafe {
                std::ptr::copy_nonoverlapping(segment.bytes.as_ptr(), segment.addr as *mut u8, segment.bytes.len())
            };
        }
        Ok(mapped)
    }

    /// Whether `[addr, addr + len)` lies in the image's pages.
    pub fn contains(&self, addr: u64, len: u64) -> bool {
        self.runs.iter().any(|&(start, end)| addr >= start && addr.saturating_add(len) <= end)
    }

    /// Gives code and read-only segments their protection (their pages are their own, as
    /// the memory manager placed them); read-write data stays as mapped.
    pub fn protect(&self, segments: &[Segment<'_>]) -> Result<(), String> {
        for segment in segments {
            let prot = match segment.prot {
                MemProt::ReadExec => libc::PROT_READ | libc::PROT_EXEC,
                MemProt::Read => libc::PROT_READ,
                MemProt::ReadWrite => continue,
            };
            let len = (segment.bytes.len() as u64).max(1).next_multiple_of(PAGE);
            // SAFETY: page-aligned segment pages of this image.
            if unsafe { libc::mprotect(segment.addr as *mut libc::c_void, len as usize, prot) } != 0 {
                return Err(format!("mprotect {:#x}: {}", segment.addr, std::io::Error::last_os_error()));
            }
        }
        Ok(())
    }

    /// The program runs from these pages now: they stay mapped for good.
    pub fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for MappedImage {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        for &(start, end) in &self.runs {
            // SAFETY: pages this value mapped, which nothing runs from (the start failed).
            unsafe { libc::munmap(start as *mut libc::c_void, (end - start) as usize) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_merge_touching_pages() {
        let seg = |addr: u64, len: usize| Segment { addr, prot: MemProt::ReadWrite, bytes: vec![0; len].into() };
        let runs = page_runs(&[seg(0x2000, 16), seg(0x2010, 16), seg(0x3000, 0x1001), seg(0x9000, 1)]);
        assert_eq!(runs, vec![(0x2000, 0x5000), (0x9000, 0xa000)]);
    }

    #[test]
    fn a_taken_range_is_not_mapped_over() {
        let taken = vec![7u8; 4096];
        let addr = taken.as_ptr() as u64 / PAGE * PAGE;
        let segments = [Segment { addr, prot: MemProt::ReadWrite, bytes: vec![1; 8].into() }];
        assert!(MappedImage::map(&segments).is_err());
        assert_eq!(taken[0], 7);
    }
}
