//! The image's pages at their exact addresses, mapped straight from the entry file
//! (`MAP_PRIVATE`: pages are read from the page cache, and only those written — the
//! external fix-ups, the program's data — get copies of their own). Each run is placed with
//! `MAP_FIXED_NOREPLACE`, so a range something else already holds makes the start fail (and
//! the caller link cold) instead of mapping over it. Every run is checked against its
//! checksum before anything is written to it or run from it.
//!
//! A cache directory on a file system mounted `noexec` cannot give executable pages, and
//! some file systems cannot be mapped at all: there the runs are read into fresh anonymous
//! pages instead.

use super::checksum::checksum;
use super::file::{Defect, Entry};
use super::PageRun;
use jitld_linker::graph::MemProt;
use std::os::fd::AsRawFd;

/// Pages mapped for an image, read-write until `protect`; unmapped on drop unless kept.
pub struct MappedImage {
    runs: Vec<(u64, u64)>,
    kept: bool,
}

/// Why an image's pages could not be placed.
pub enum MapError {
    /// A range is taken, or the system refused: link cold.
    Unavailable(String),
    /// The pages are not what was stored.
    Damaged(Defect),
}

impl MappedImage {
    /// Maps every run of `entry` read-write at its address and, with `check`, checks its
    /// bytes (without, the caller knows they were checked and have not changed since).
    /// Nothing stays mapped after an error.
    pub fn map(entry: &Entry, check: bool) -> Result<MappedImage, MapError> {
        Self::map_with(entry, check, on_noexec_file_system(entry.file.as_raw_fd()))
    }

    /// As `map`; with `noexec`, every run is read into fresh pages.
    fn map_with(entry: &Entry, check: bool, noexec: bool) -> Result<MappedImage, MapError> {
        let mut mapped = MappedImage { runs: Vec::with_capacity(entry.runs.len()), kept: false };
        let fd = entry.file.as_raw_fd();
        for run in &entry.runs {
            let len = run.len as usize;
            // From the file; or read into fresh pages where the file system cannot give
            // executable (noexec) or any (no mmap) mappings of it.
            let mut copy = noexec;
            let ptr = loop {
                let (flags, from, offset) = match copy {
                    true => (libc::MAP_ANONYMOUS, -1, 0),
                    false => (0, fd, run.offset as libc::off_t),
                };
                // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping.
                let ptr = unsafe {
                    libc::mmap(
                        run.addr as *mut libc::c_void,
                        len,
                        libc::PROT_READ | libc::PROT_WRITE,
                        libc::MAP_PRIVATE | libc::MAP_NORESERVE | libc::MAP_FIXED_NOREPLACE | flags,
                        from,
                        offset,
                    )
                };
                let error = std::io::Error::last_os_error().raw_os_error();
                if ptr == libc::MAP_FAILED && !copy && !matches!(error, Some(libc::EEXIST) | Some(libc::ENOMEM)) {
                    copy = true;
                    continue;
                }
                break ptr;
            };
            if ptr == libc::MAP_FAILED || ptr as u64 != run.addr {
                let error = std::io::Error::last_os_error();
                if ptr != libc::MAP_FAILED {
                    // An old kernel placed it elsewhere: not ours to keep.
                    unsafe { libc::munmap(ptr, len) };
                }
                let (start, end) = (run.addr, run.addr + run.len);
                return Err(MapError::Unavailable(match error.raw_os_error() {
                    Some(libc::EEXIST) | Some(0) | None => format!("the range {start:#x}..{end:#x} is taken"),
                    _ => format!("the range {start:#x}..{end:#x} cannot be mapped ({error})"),
                }));
            }
            mapped.runs.push((run.addr, run.addr + run.len));
            // SAFETY: the run's pages, just mapped read-write and ours.
            let pages = unsafe { std::slice::from_raw_parts_mut(run.addr as *mut u8, len) };
            if copy {
                use std::os::unix::fs::FileExt;
                if entry.file.read_exact_at(pages, run.offset).is_err() {
                    return Err(MapError::Damaged(Defect::Corrupt("pages (unreadable)")));
                }
            }
            // The check reads every page: read faults on a file map the page cache's pages
            // sixteen at a time, which costs less than MADV_POPULATE_READ's page by page.
            if check && checksum(pages) != run.checksum {
                return Err(MapError::Damaged(Defect::Corrupt("pages")));
            }
        }
        Ok(mapped)
    }

    /// About to write at `places` (sorted or not): each page written to gets its own copy
    /// now, one call per stretch of such pages, instead of one copy-on-write fault per page
    /// (which costs about twice as much). Best effort: kernels before 5.14 fault instead.
    pub fn prepare_writes(&self, places: impl Iterator<Item = u64>) {
        const PAGE: u64 = jitld_linker::arch::Arch::host().page_size();
        // A field may straddle into the next page: 8 bytes at most.
        let mut pages: Vec<u64> = places.flat_map(|p| [p / PAGE, p.saturating_add(7) / PAGE]).collect();
        // Fix-ups are recorded in address order, mostly: a run-merging sort is near linear.
        pages.sort();
        pages.dedup();
        let mut i = 0;
        while i < pages.len() {
            let start = pages[i];
            let mut end = start + 1;
            while i + 1 < pages.len() && pages[i + 1] == end {
                end += 1;
                i += 1;
            }
            i += 1;
            let (addr, len) = (start * PAGE, (end - start) * PAGE);
            if self.contains(addr, len) {
                // SAFETY: pages of this image, mapped read-write.
                unsafe { libc::madvise(addr as *mut libc::c_void, len as usize, libc::MADV_POPULATE_WRITE) };
            }
        }
    }

    /// Whether `[addr, addr + len)` lies in the image's pages.
    pub fn contains(&self, addr: u64, len: u64) -> bool {
        self.runs.iter().any(|&(start, end)| addr >= start && addr.saturating_add(len) <= end)
    }

    /// Gives code and read-only runs their protection (one call per run); read-write data
    /// stays as mapped.
    pub fn protect(&self, runs: &[PageRun]) -> Result<(), String> {
        for run in runs {
            let prot = match run.prot {
                MemProt::ReadExec => libc::PROT_READ | libc::PROT_EXEC,
                MemProt::Read => libc::PROT_READ,
                MemProt::ReadWrite => continue,
            };
            // SAFETY: page-aligned pages of this image.
            if unsafe { libc::mprotect(run.addr as *mut libc::c_void, run.len as usize, prot) } != 0 {
                return Err(format!("mprotect {:#x}: {}", run.addr, std::io::Error::last_os_error()));
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

/// Whether the file lives where mappings of it may not execute.
fn on_noexec_file_system(fd: std::os::fd::RawFd) -> bool {
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: an open descriptor and a buffer of the right type.
    unsafe { libc::fstatvfs(fd, &mut stat) == 0 && stat.f_flag & libc::ST_NOEXEC != 0 }
}

#[cfg(test)]
mod tests {
    use super::super::file::{self, Entry};
    use super::super::{PrelinkedImage, Segment};
    use super::*;

    const PAGE: u64 = jitld_linker::arch::Arch::host().page_size();

    fn entry_for(segments: Vec<Segment<'static>>, name: &str) -> (Entry, std::path::PathBuf) {
        let key = crate::cache::CacheKey::builder().part("mapping test", name).finish();
        let image = PrelinkedImage { segments, ..Default::default() };
        let bytes = file::encode(&key, &image).unwrap();
        let path = std::env::temp_dir().join(format!("jitld-mapping-{}-{name}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        match file::open(&path, &key) {
            Ok(entry) => (entry, path),
            Err(_) => panic!("cannot open the entry"),
        }
    }

    #[test]
    fn a_taken_range_is_not_mapped_over() {
        let taken = vec![7u8; 4096];
        let addr = taken.as_ptr() as u64 / PAGE * PAGE;
        let segments = vec![Segment { addr, prot: MemProt::ReadWrite, bytes: vec![1; 8].into() }];
        let (entry, path) = entry_for(segments, "taken");
        assert!(matches!(MappedImage::map(&entry, true), Err(MapError::Unavailable(_))));
        assert_eq!(taken[0], 7);
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn maps_and_checks_the_pages() {
        for copy in [false, true] {
            maps_and_checks(copy);
        }
    }

    fn maps_and_checks(copy: bool) {
        let (addr, entry, path, mapped) = map_at_a_free_range(copy, false);
        let Ok(mapped) = mapped else { panic!("the pages are intact") };
        assert!(mapped.contains(addr + 0x2000, 8) && !mapped.contains(addr + 0x1000, 8));
        mapped.protect(&entry.runs).unwrap();
        assert_eq!(unsafe { *((addr + 99) as *const u8) }, 5);
        assert_eq!(unsafe { *((addr + 0x2009) as *const u8) }, 6);
        drop(mapped);
        let _ = std::fs::remove_file(path);
        // A damaged page is found whichever way the pages came.
        let (_, _, path, damaged) = map_at_a_free_range(copy, true);
        assert!(matches!(damaged, Err(MapError::Damaged(_))));
        let _ = std::fs::remove_file(path);
    }

    /// An entry of two runs at a free range (its last byte flipped if `damage`), and what
    /// mapping it gave. A range is free when probed: other tests' threads may take it before
    /// the image is mapped there, and then another is tried.
    fn map_at_a_free_range(
        copy: bool,
        damage: bool,
    ) -> (u64, Entry, std::path::PathBuf, Result<MappedImage, MapError>) {
        (0..20)
            .find_map(|_| {
                let probe = unsafe {
                    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
                    libc::mmap(std::ptr::null_mut(), 0x3000, libc::PROT_NONE, flags, -1, 0)
                };
                assert_ne!(probe, libc::MAP_FAILED);
                let addr = probe as u64;
                unsafe { libc::munmap(probe, 0x3000) };
                let segments = vec![
                    Segment { addr, prot: MemProt::Read, bytes: vec![5; 100].into() },
                    Segment { addr: addr + 0x2000, prot: MemProt::ReadWrite, bytes: vec![6; 10].into() },
                ];
                let name = format!("maps-{copy}-{damage}");
                let (entry, path) = entry_for(segments, &name);
                let entry = match damage {
                    false => entry,
                    true => {
                        let mut bytes = std::fs::read(&path).unwrap();
                        let last = bytes.len() - 1;
                        bytes[last] ^= 1;
                        std::fs::write(&path, bytes).unwrap();
                        let key = crate::cache::CacheKey::builder().part("mapping test", name).finish();
                        let Ok(entry) = file::open(&path, &key) else { panic!("the description is intact") };
                        entry
                    }
                };
                match MappedImage::map_with(&entry, true, copy) {
                    Err(MapError::Unavailable(_)) => None,
                    mapped => Some((addr, entry, path, mapped)),
                }
            })
            .expect("a free range within 20 tries")
    }
}
