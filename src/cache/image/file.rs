//! An image's entry file, laid out so that a warm start reads only its first page or two and
//! maps the rest:
//!
//! ```text
//!   0  magic ("jitldI", format version)        8 bytes
//!   8  checksum of bytes 24 .. 80 + description  16
//!  24  key                                      32
//!  56  description length                        8
//!  64  offset of the pages (page-aligned)        8
//!  72  length of the pages                       8
//!  80  description (`codec`: entry, page runs with their checksums, external fix-ups, ...)
//!      zeros up to the pages
//!      the pages of each run, in order
//! ```
//!
//! A file whose length is not what its header says is truncated; a description that does
//! not match its checksum, or pages that do not match their run's (checked as they are
//! mapped, before anything uses them), are corrupt. Either way the entry is reported and
//! linked over, never run. Checksums are `checksum::checksum`, fast enough to check every
//! byte at every start.

use super::checksum::checksum;
use super::{codec, PageRun, PrelinkedImage, Segment};
use crate::cache::CacheKey;
use std::fmt;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Every image format starts with this; the byte after says which one.
pub const MAGIC_STEM: &[u8; 6] = b"jitldI";
/// Changes whenever the layout does: another version is not read (its key differs anyway,
/// as jitld's build is part of it).
pub const MAGIC: &[u8; 8] = b"jitldI\x00\x04";
const HEADER: usize = 80;
const PAGE: u64 = jitld_linker::arch::Arch::host().page_size();
/// What a warm start reads first (on the stack): the header and, for small images, the
/// whole description.
const FIRST_READ: usize = 16 << 10;

/// Why an entry cannot be used.
#[derive(Debug, PartialEq, Eq)]
pub enum Defect {
    Truncated {
        len: u64,
        expected: u64,
    },
    /// The description or a run's pages do not match their checksum.
    Corrupt(&'static str),
    /// A whole entry, stored for another key (a file renamed by hand).
    OtherKey,
    /// An image of another format version.
    OtherVersion,
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Defect::Truncated { len, expected } => {
                write!(f, "truncated ({len} bytes, where its header or format needs {expected})")
            }
            Defect::Corrupt(what) => write!(f, "corrupt (its {what} do not match their checksum)"),
            Defect::OtherKey => f.write_str("stored for another key"),
            Defect::OtherVersion => f.write_str("an image of another jitld"),
        }
    }
}

/// The bytes of `image`'s entry under `key`; an error if its segments cannot be laid out in
/// pages of their own protection.
pub fn encode(key: &CacheKey, image: &PrelinkedImage<'_>) -> Result<Vec<u8>, String> {
    let mut runs = page_runs(&image.segments)?;
    let pages_len: u64 = runs.iter().map(|r| r.len).sum();
    // The description's length does not depend on the runs' offsets and checksums.
    let description_len = codec::encode(image, &runs).len();
    let pages_offset = ((HEADER + description_len) as u64).next_multiple_of(PAGE);
    let total = usize::try_from(pages_offset + pages_len).map_err(|_| "the image is too large")?;
    let mut out = vec![0u8; total];
    let mut offset = pages_offset;
    for run in &mut runs {
        run.offset = offset;
        let pages = &mut out[offset as usize..(offset + run.len) as usize];
        for segment in image.segments.iter().filter(|s| s.addr >= run.addr && s.addr < run.addr + run.len) {
            let at = (segment.addr - run.addr) as usize;
            pages[at..at + segment.bytes.len()].copy_from_slice(&segment.bytes);
        }
        run.checksum = checksum(pages);
        offset += run.len;
    }
    let description = codec::encode(image, &runs);
    debug_assert_eq!(description.len(), description_len);
    out[..8].copy_from_slice(MAGIC);
    out[24..56].copy_from_slice(&key.0);
    out[56..64].copy_from_slice(&(description_len as u64).to_le_bytes());
    out[64..72].copy_from_slice(&pages_offset.to_le_bytes());
    out[72..80].copy_from_slice(&pages_len.to_le_bytes());
    out[HEADER..HEADER + description_len].copy_from_slice(&description);
    let sum = checksum(&out[24..HEADER + description_len]);
    out[8..24].copy_from_slice(&sum);
    Ok(out)
}

/// The page-aligned runs covering the segments: one per stretch of touching pages of one
/// protection. Two protections sharing a page cannot be mapped, so that is an error.
pub fn page_runs(segments: &[Segment<'_>]) -> Result<Vec<PageRun>, String> {
    let mut spans: Vec<(u64, u64, jitld_linker::graph::MemProt)> = segments
        .iter()
        .filter(|s| !s.bytes.is_empty())
        .map(|s| (s.addr / PAGE * PAGE, s.addr.saturating_add(s.bytes.len() as u64).next_multiple_of(PAGE), s.prot))
        .collect();
    spans.sort_unstable_by_key(|&(start, end, _)| (start, end));
    let mut runs: Vec<PageRun> = Vec::new();
    for (start, end, prot) in spans {
        match runs.last_mut() {
            Some(last) if start < last.addr + last.len && last.prot != prot => {
                return Err(format!("segments of two protections share the page at {start:#x}"));
            }
            Some(last) if start <= last.addr + last.len && last.prot == prot => {
                last.len = last.len.max(end - last.addr);
            }
            _ => runs.push(PageRun { addr: start, len: end - start, prot, offset: 0, checksum: [0; 16] }),
        }
    }
    Ok(runs)
}

/// An entry opened for a warm start: its description read and checked; its pages are
/// checked as they are mapped (`mapping::MappedImage::map`).
pub struct Entry {
    pub file: File,
    /// The file's identity when it was opened.
    pub identity: super::manifest::Identity,
    pub image: PrelinkedImage<'static>,
    pub runs: Vec<PageRun>,
}

/// Why no entry could be opened.
pub enum OpenError {
    Missing,
    Unreadable(std::io::Error),
    Damaged(Defect),
}

pub fn open(path: &Path, key: &CacheKey) -> Result<Entry, OpenError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(OpenError::Missing),
        Err(e) => return Err(OpenError::Unreadable(e)),
    };
    let meta = file.metadata().map_err(OpenError::Unreadable)?;
    let len = meta.len();
    touch_if_stale(&file, &meta);
    // Most descriptions fit in the first read; a bigger one is read whole after it.
    let mut first = [0u8; FIRST_READ];
    let head = &mut first[..FIRST_READ.min(len as usize)];
    read_at(&file, head, 0).map_err(OpenError::Unreadable)?;
    let more = |buf: &mut [u8], offset: u64| file.read_exact_at(buf, offset).is_ok();
    let (image, runs) = describe(head, len, key, &more).map_err(OpenError::Damaged)?;
    Ok(Entry { file, identity: super::manifest::Identity::of(&meta), image, runs })
}

/// An entry's modification time is its last use, for eviction (`cache::eviction`); a use
/// within the last hour leaves it as it is (the order needs no finer grain, and changing
/// it costs a write of the inode).
fn touch_if_stale(file: &File, meta: &std::fs::Metadata) {
    const FRESH: std::time::Duration = std::time::Duration::from_secs(3600);
    let age = meta.modified().ok().and_then(|m| std::time::SystemTime::now().duration_since(m).ok());
    if age.is_some_and(|age| age < FRESH) {
        return;
    }
    let now = libc::timespec { tv_sec: 0, tv_nsec: libc::UTIME_NOW };
    // SAFETY: an open descriptor and two timestamps. Best effort: a directory shared
    // read-only just keeps its order.
    unsafe { libc::futimens(std::os::fd::AsRawFd::as_raw_fd(file), [now, now].as_ptr()) };
}

fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    file.read_exact_at(buf, offset)
}

/// Reads more of the entry into the buffer from the offset; `false` if it could not.
type ReadMore<'a> = dyn Fn(&mut [u8], u64) -> bool + 'a;

fn word(bytes: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(w)
}

/// Checks the header and the description (reading the rest of it if `head` holds only its
/// start) and decodes it.
fn describe(
    head: &[u8],
    len: u64,
    key: &CacheKey,
    more: &ReadMore<'_>,
) -> Result<(PrelinkedImage<'static>, Vec<PageRun>), Defect> {
    if head.len() < HEADER {
        let expected = HEADER as u64;
        return Err(if head.starts_with(MAGIC_STEM) || head.len() < 8 {
            Defect::Truncated { len, expected }
        } else {
            Defect::OtherVersion
        });
    }
    if !head.starts_with(MAGIC) {
        return Err(Defect::OtherVersion);
    }
    let (description_len, pages_offset, pages_len) = (word(head, 56), word(head, 64), word(head, 72));
    let expected = pages_offset.checked_add(pages_len).ok_or(Defect::Corrupt("header's lengths"))?;
    if len != expected {
        return Err(Defect::Truncated { len, expected });
    }
    let end = (HEADER as u64).checked_add(description_len).filter(|&end| end <= pages_offset);
    let end = end.ok_or(Defect::Corrupt("header's lengths"))? as usize;
    let mut whole;
    let checked = match head.get(..end) {
        Some(checked) => checked,
        None => {
            whole = vec![0u8; end];
            whole[..head.len()].copy_from_slice(head);
            if !more(&mut whole[head.len()..], head.len() as u64) {
                return Err(Defect::Truncated { len, expected });
            }
            &whole[..]
        }
    };
    if checksum(&checked[24..]) != checked[8..24] {
        return Err(Defect::Corrupt("header and description"));
    }
    if checked[24..56] != key.0 {
        return Err(Defect::OtherKey);
    }
    let (image, runs) = codec::decode(&checked[HEADER..]).ok_or(Defect::Corrupt("description's fields"))?;
    // Runs whole pages, inside the pages part of the file, at page-aligned addresses.
    let fits = |r: &PageRun| {
        let aligned = [r.addr, r.len, r.offset].iter().all(|n| n.is_multiple_of(PAGE)) && r.len > 0;
        aligned && r.offset >= pages_offset && r.offset.checked_add(r.len).is_some_and(|e| e <= expected)
    };
    if !runs.iter().all(fits) {
        return Err(Defect::Corrupt("page runs"));
    }
    Ok((image, runs))
}

/// The image stored in an entry's bytes, segments included (one per run), for tools and
/// tests; a warm start maps the pages instead.
pub fn decode(bytes: &[u8]) -> Result<(CacheKey, PrelinkedImage<'static>), Defect> {
    if bytes.len() < HEADER {
        return Err(Defect::Truncated { len: bytes.len() as u64, expected: HEADER as u64 });
    }
    let key = CacheKey(bytes[24..56].try_into().map_err(|_| Defect::OtherKey)?);
    let no_more = |_: &mut [u8], _: u64| false;
    let (mut image, runs) = describe(bytes, bytes.len() as u64, &key, &no_more)?;
    for run in runs {
        let pages = &bytes[run.offset as usize..(run.offset + run.len) as usize];
        if checksum(pages) != run.checksum {
            return Err(Defect::Corrupt("pages"));
        }
        image.segments.push(Segment { addr: run.addr, prot: run.prot, bytes: pages.to_vec().into() });
    }
    Ok((key, image))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jitld_linker::graph::MemProt;

    fn image() -> PrelinkedImage<'static> {
        let seg = |addr: u64, prot, len: usize, fill: u8| Segment { addr, prot, bytes: vec![fill; len].into() };
        PrelinkedImage {
            entry: 0x1000_0010,
            segments: vec![
                seg(0x1000_0000, MemProt::ReadExec, 100, 0xc3),
                seg(0x1000_0100, MemProt::ReadExec, 0x1000, 0x90),
                seg(0x1400_0000, MemProt::Read, 8, 1),
                seg(0x1800_0000, MemProt::ReadWrite, 16, 2),
                seg(0x1800_0010, MemProt::ReadWrite, 16, 3),
            ],
            names: vec!["puts".into()],
            ..Default::default()
        }
    }

    fn key() -> CacheKey {
        CacheKey::builder().part("test", "file").finish()
    }

    #[test]
    fn runs_merge_touching_pages_of_one_protection() {
        let runs = page_runs(&image().segments).unwrap();
        let spans: Vec<(u64, u64, MemProt)> = runs.iter().map(|r| (r.addr, r.len, r.prot)).collect();
        assert_eq!(
            spans,
            vec![
                (0x1000_0000, 0x2000, MemProt::ReadExec),
                (0x1400_0000, 0x1000, MemProt::Read),
                (0x1800_0000, 0x1000, MemProt::ReadWrite)
            ]
        );
        let mut shared = image().segments;
        shared.push(Segment { addr: 0x1000_1800, prot: MemProt::ReadWrite, bytes: vec![0; 8].into() });
        assert!(page_runs(&shared).is_err());
    }

    #[test]
    fn round_trip_and_damage() {
        let bytes = encode(&key(), &image()).unwrap();
        let (stored_key, decoded) = decode(&bytes).unwrap();
        assert_eq!(stored_key, key());
        assert_eq!(decoded.entry, 0x1000_0010);
        assert_eq!(decoded.segments.len(), 3);
        assert_eq!(&decoded.segments[0].bytes[..100], &[0xc3; 100][..]);
        assert_eq!(&decoded.segments[2].bytes[..32], &[[2u8; 16], [3u8; 16]].concat()[..]);
        for cut in [0, 10, HEADER, bytes.len() / 2, bytes.len() - 1] {
            assert!(matches!(decode(&bytes[..cut]), Err(Defect::Truncated { .. })), "cut at {cut}");
        }
        for at in [8, 30, 60, HEADER + 3, bytes.len() - 5, 0x1000 + 50] {
            let mut bad = bytes.clone();
            bad[at] ^= 0x20;
            assert!(decode(&bad).is_err(), "flipped byte {at}");
        }
    }
}
