//! Prelinked images: a linked program kept whole, so that the next run with the same inputs
//! maps it back at its addresses and starts it without parsing or linking anything.
//!
//! An image holds what a cold link left in memory (every segment's fixed-up bytes, at their
//! addresses) and what depends on this run's process rather than on the inputs: the fix-ups
//! whose targets lie outside the image (library functions, jitld's runtime pieces — their
//! addresses change with ASLR), the library variables copied into it, thread-local blocks,
//! indirect functions, unwind tables, the order of initializers and finalizers, and the
//! shared libraries the link loaded.
//!
//! - `file`: an entry file: a header, the image's description (`codec`), then its pages,
//!   each run of them page-aligned in the file so that a warm start maps them straight
//!   from it; everything checked against checksums (`checksum`) before it runs.
//! - `recorder`: what a cold link records, and the image it makes of it.
//! - `symbols`: resolving an external name the way the cold link did.
//! - `mapping`: placing the image's pages at their exact addresses, and protecting them.
//! - `key`: the key of a command line (inputs, flags, jitld's build, the libraries);
//!   `digests` remembers the inputs' content digests by file identity, and `manifest` a
//!   command line's key by the identities of everything it was computed from (and which
//!   entry was checked in full).

pub mod checksum;
pub mod codec;
pub mod digests;
pub mod file;
pub mod key;
pub mod manifest;
pub mod mapping;
pub mod recorder;
pub mod symbols;

use crate::executor::EhFrame;
use jitld_linker::graph::MemProt;
use std::borrow::Cow;

/// One segment of linked memory, as it was before any of the program's code ran. A
/// decoded image borrows the bytes from the entry it was read from (they are copied once,
/// into place).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment<'a> {
    pub addr: u64,
    pub prot: MemProt,
    pub bytes: Cow<'a, [u8]>,
}

/// Pages of the image with one protection, in address order: `len` bytes (whole pages) at
/// `addr`, stored at `offset` in the entry file. The segments lie in them; the bytes
/// between segments are zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRun {
    pub addr: u64,
    pub len: u64,
    pub prot: MemProt,
    pub offset: u64,
    /// `checksum::checksum` of the run's bytes as stored.
    pub checksum: [u8; 16],
}

/// A fix-up whose target lies outside the image: written again once `name` is resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalFixup {
    pub place: u64,
    /// The edge kind of the image's architecture.
    pub kind: u8,
    pub addend: i64,
    /// Index into `PrelinkedImage::names`.
    pub name: u32,
}

/// A library variable copied into the image (a copy relocation): copied again from the
/// library, whose GOT slots are pointed at the copy again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopiedVariable {
    pub addr: u64,
    pub size: u64,
    pub name: String,
}

/// A thread-local block: reserved again, which must give the same offset from the thread
/// pointer (the code holds it), and given its initial content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsBlock {
    pub tp_offset: i64,
    pub init_size: u64,
    pub size: u64,
    pub align: u64,
    pub image: Vec<u8>,
}

/// Everything needed to start a linked program again.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrelinkedImage<'a> {
    /// The address the platform calls as `main`.
    pub entry: u64,
    /// What the cold link left in memory. Empty in an image read back from its entry, whose
    /// pages are mapped from the file instead (`file::Entry::runs`).
    pub segments: Vec<Segment<'a>>,
    pub names: Vec<String>,
    pub externals: Vec<ExternalFixup>,
    pub copies: Vec<CopiedVariable>,
    pub tls: Vec<TlsBlock>,
    /// GNU indirect functions: (slot, resolver), called again at start.
    pub ifuncs: Vec<(u64, u64)>,
    /// `.eh_frame` sections, in registration order.
    pub eh_frames: Vec<EhFrame>,
    /// The program's own `__register_frame` (an unwinder linked into it), if any.
    pub unwinder: Option<u64>,
    /// In the order they run.
    pub initializers: Vec<u64>,
    pub finalizers: Vec<u64>,
    /// The shared libraries the cold link loaded, in its search order, spelled as it opened
    /// them: what a warm start loads (an as-needed library it bound nothing to is not here).
    pub libraries: Vec<String>,
}
