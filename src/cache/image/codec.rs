//! An image's description as bytes (the part of an entry before its pages, see `file`):
//! each field little-endian, lists and byte strings prefixed by their length. The segments'
//! bytes are not here: the pages they lie in follow in the entry file, described by the
//! page runs. Decoding checks every length against what is left, so bad bytes give `None`,
//! never a panic or a huge allocation.

use super::{CopiedVariable, ExternalFixup, PageRun, PrelinkedImage, TlsBlock};
use crate::executor::EhFrame;
use jitld_linker::graph::MemProt;

/// Whether `head` (an entry's first bytes) starts an image, of any format version.
pub fn is_image(head: &[u8]) -> bool {
    head.starts_with(super::file::MAGIC_STEM)
}

/// `image` without its segments, and the page runs that hold them.
pub fn encode(image: &PrelinkedImage<'_>, runs: &[PageRun]) -> Vec<u8> {
    let mut out = Writer(Vec::with_capacity(4096));
    out.u64(image.entry);
    out.u64(runs.len() as u64);
    for run in runs {
        out.u64(run.addr);
        out.u64(run.len);
        out.u64(prot_tag(run.prot));
        out.u64(run.offset);
        out.0.extend_from_slice(&run.checksum);
    }
    out.u64(image.names.len() as u64);
    for name in &image.names {
        out.bytes(name.as_bytes());
    }
    out.u64(image.externals.len() as u64);
    for fixup in &image.externals {
        out.u64(fixup.place);
        out.u64(u64::from(fixup.kind));
        out.u64(fixup.addend as u64);
        out.u64(u64::from(fixup.name));
    }
    out.u64(image.copies.len() as u64);
    for copy in &image.copies {
        out.u64(copy.addr);
        out.u64(copy.size);
        out.bytes(copy.name.as_bytes());
    }
    out.u64(image.tls.len() as u64);
    for block in &image.tls {
        out.u64(block.tp_offset as u64);
        out.u64(block.init_size);
        out.u64(block.size);
        out.u64(block.align);
        out.bytes(&block.image);
    }
    out.u64(image.ifuncs.len() as u64);
    for &(slot, resolver) in &image.ifuncs {
        out.u64(slot);
        out.u64(resolver);
    }
    out.u64(image.eh_frames.len() as u64);
    for frame in &image.eh_frames {
        [frame.start, frame.code.0, frame.code.1].into_iter().for_each(|w| out.u64(w));
    }
    out.words(image.unwinder.as_slice());
    out.words(&image.initializers);
    out.words(&image.finalizers);
    out.u64(image.libraries.len() as u64);
    for library in &image.libraries {
        out.bytes(library.as_bytes());
    }
    out.0
}

/// An image (without segments) and its page runs.
pub fn decode(bytes: &[u8]) -> Option<(PrelinkedImage<'static>, Vec<PageRun>)> {
    let mut r = Reader(bytes);
    let mut image = PrelinkedImage { entry: r.u64()?, ..Default::default() };
    let mut runs = Vec::new();
    for _ in 0..r.count(48)? {
        let (addr, len, prot, offset) = (r.u64()?, r.u64()?, prot_from_tag(r.u64()?)?, r.u64()?);
        let checksum = r.take(16)?.try_into().ok()?;
        runs.push(PageRun { addr, len, prot, offset, checksum });
    }
    for _ in 0..r.count(8)? {
        image.names.push(String::from_utf8(r.bytes()?.to_vec()).ok()?);
    }
    for _ in 0..r.count(32)? {
        let (place, kind, addend, name) = (r.u64()?, r.u64()?, r.u64()? as i64, r.u64()?);
        let (kind, name) = (u8::try_from(kind).ok()?, u32::try_from(name).ok()?);
        if name as usize >= image.names.len() {
            return None;
        }
        image.externals.push(ExternalFixup { place, kind, addend, name });
    }
    for _ in 0..r.count(24)? {
        let (addr, size) = (r.u64()?, r.u64()?);
        image.copies.push(CopiedVariable { addr, size, name: String::from_utf8(r.bytes()?.to_vec()).ok()? });
    }
    for _ in 0..r.count(40)? {
        let (tp_offset, init_size, size, align) = (r.u64()? as i64, r.u64()?, r.u64()?, r.u64()?);
        image.tls.push(TlsBlock { tp_offset, init_size, size, align, image: r.bytes()?.to_vec() });
    }
    for _ in 0..r.count(16)? {
        image.ifuncs.push((r.u64()?, r.u64()?));
    }
    for _ in 0..r.count(24)? {
        image.eh_frames.push(EhFrame { start: r.u64()?, code: (r.u64()?, r.u64()?) });
    }
    image.unwinder = r.words()?.first().copied();
    image.initializers = r.words()?;
    image.finalizers = r.words()?;
    for _ in 0..r.count(8)? {
        image.libraries.push(String::from_utf8(r.bytes()?.to_vec()).ok()?);
    }
    r.0.is_empty().then_some((image, runs))
}

fn prot_tag(prot: MemProt) -> u64 {
    match prot {
        MemProt::ReadExec => 0,
        MemProt::Read => 1,
        MemProt::ReadWrite => 2,
    }
}

fn prot_from_tag(tag: u64) -> Option<MemProt> {
    Some(match tag {
        0 => MemProt::ReadExec,
        1 => MemProt::Read,
        2 => MemProt::ReadWrite,
        _ => return None,
    })
}

struct Writer(Vec<u8>);

impl Writer {
    fn u64(&mut self, value: u64) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    fn bytes(&mut self, bytes: &[u8]) {
        self.u64(bytes.len() as u64);
        self.0.extend_from_slice(bytes);
    }

    fn words(&mut self, words: &[u64]) {
        self.u64(words.len() as u64);
        words.iter().for_each(|&w| self.u64(w));
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.0.get(..len)?, self.0.get(len..)?);
        self.0 = rest;
        Some(head)
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.u64()?).ok()?;
        self.take(len)
    }

    /// A list's length, if at least `min_each` bytes per item are left for it: a corrupt
    /// count cannot make us reserve or loop for more than the bytes could hold.
    fn count(&mut self, min_each: usize) -> Option<usize> {
        let count = usize::try_from(self.u64()?).ok()?;
        (count <= self.0.len() / min_each).then_some(count)
    }

    fn words(&mut self) -> Option<Vec<u64>> {
        (0..self.count(8)?).map(|_| self.u64()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PrelinkedImage<'static> {
        PrelinkedImage {
            entry: 0x1000_0040,
            segments: Vec::new(),
            names: vec!["puts".into()],
            externals: vec![ExternalFixup { place: 0x1400_0000, kind: 1, addend: -4, name: 0 }],
            copies: vec![CopiedVariable { addr: 0x1800_0000, size: 8, name: "stdout".into() }],
            tls: vec![TlsBlock { tp_offset: -64, init_size: 4, size: 16, align: 8, image: vec![1, 2, 3, 4] }],
            ifuncs: vec![(0x1800_0010, 0x1000_0000)],
            eh_frames: vec![EhFrame { start: 0x1400_0100, code: (0x1000_0000, 0x1000_2000) }],
            unwinder: Some(0x1000_0020),
            initializers: vec![0x1000_0010],
            finalizers: vec![0x1000_0030, 0x1000_0038],
            libraries: vec!["/lib/x86_64-linux-gnu/libm.so.6".into(), "./libown.so".into()],
        }
    }

    fn runs() -> Vec<PageRun> {
        let run =
            PageRun { addr: 0x1000_0000, len: 0x2000, prot: MemProt::ReadExec, offset: 0x1000, checksum: [7; 16] };
        vec![run]
    }

    #[test]
    fn round_trip() {
        assert_eq!(decode(&encode(&sample(), &runs())), Some((sample(), runs())));
        let empty = PrelinkedImage::default();
        assert_eq!(decode(&encode(&empty, &[])), Some((empty, Vec::new())));
    }

    #[test]
    fn every_cut_and_every_flipped_count_fails_cleanly() {
        let bytes = encode(&sample(), &runs());
        for len in 0..bytes.len() {
            assert_eq!(decode(&bytes[..len]), None, "cut at {len}");
        }
        for at in (0..bytes.len() - 8).step_by(8) {
            let mut bad = bytes.clone();
            bad[at + 7] ^= 0x80;
            let _ = decode(&bad);
        }
    }
}
