//! Inputs as bytes: a file mapped or read, or one member of an archive (`lib.a(member.o)`).

use crate::error::JitError;
use jitld_linker::format::archive::Archive;
use jitld_linker::format::{self, FileKind};
use jitld_linker::{InputBuffer, NamePool};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Inputs up to this size are read into the heap; bigger ones (archives, mostly) are
/// mapped, so that only the members a link pulls in are ever paged in. Mapping a small
/// object costs more than reading it: an `mmap`, a page fault, and an `munmap` that must
/// flush the TLB of every core running a materialization thread. Read bytes are freed as
/// soon as the object's link is done (a heap block the next input reuses), and reading
/// keeps the mappings few: each is one of the 65,530 the kernel allows a process.
const SMALL_INPUT: u64 = 64 << 10;

/// Inputs read before the link, to decide whether jitld starts again for thread-locals
/// (`reexec`: lazy ones), kept for the link: it then maps each once, and the pages that
/// decision read (a lazy archive's member headers) are paged in once. By path: a command
/// line may name 10,000 lazy objects, each opened once more.
static KEPT: Mutex<Option<HashMap<PathBuf, InputBuffer>>> = Mutex::new(None);

/// Keeps `buffer` for the next `open_input` of `path`.
pub fn keep_for_link(path: &Path, buffer: &InputBuffer) {
    let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    kept.get_or_insert_with(HashMap::new).insert(path.to_path_buf(), buffer.clone());
}

/// Drops what `keep_for_link` kept and the link did not open.
pub fn forget_kept() {
    *KEPT.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

/// The bytes of an input: small regular files are read, big ones mapped; pipes and other
/// streams (`<(cat x.o)`) are read to the end.
pub fn open_input(path: &Path) -> Result<InputBuffer, JitError> {
    use std::io::Read;
    if let Some(kept) = KEPT.lock().unwrap_or_else(|e| e.into_inner()).as_mut().and_then(|kept| kept.remove(path)) {
        return Ok(kept);
    }
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| JitError::other(format!("{name}: cannot open: {e}")))?;
    let meta = file.metadata().map_err(|e| JitError::other(format!("{name}: cannot open: {e}")))?;
    if meta.is_dir() {
        return Err(JitError::other(format!("{name}: is a directory")));
    }
    let cannot_read = |e: std::io::Error| JitError::other(format!("{name}: cannot read: {e}"));
    if !meta.is_file() {
        let mut bytes = Vec::new();
        (&file).read_to_end(&mut bytes).map_err(cannot_read)?;
        return Ok(InputBuffer::from_vec(name, bytes));
    }
    if meta.len() <= SMALL_INPUT {
        // One read of the size the file has, into memory not zeroed first.
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        (&file).take(meta.len()).read_to_end(&mut bytes).map_err(cannot_read)?;
        return Ok(InputBuffer::from_vec(name, bytes));
    }
    // SAFETY: inputs are not expected to change while we link; a truncation under us would be
    // the same hazard every linker accepts.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| JitError::other(format!("{name}: cannot map: {e}")))?;
    Ok(InputBuffer::new(name, Arc::new(map)))
}

/// `lib.a(member.o)`, when no file has that name: the archive and the member's name.
pub fn member_spec(path: &Path) -> Option<(&Path, &str)> {
    let text = path.to_str()?;
    let (archive, member) = text.strip_suffix(')')?.split_once('(')?;
    (!path.exists() && !archive.is_empty() && !member.is_empty()).then_some((Path::new(archive), member))
}

/// One member of an archive, named as `ld` names it in messages (`lib.a(member.o)`).
pub fn open_member(archive_path: &Path, member: &str, names: &NamePool) -> Result<InputBuffer, JitError> {
    let buffer = open_input(archive_path)?;
    if format::sniff(&buffer) != FileKind::Archive {
        return Err(JitError::other(format!(
            "{}: not an archive, so it has no member {member}",
            archive_path.display()
        )));
    }
    let archive = Archive::parse(buffer, names)?;
    let index = archive.member_named(member).ok_or_else(|| {
        let names: Vec<&str> = archive.member_names().collect();
        JitError::other(format!("{}: no member named {member} (it has {})", archive_path.display(), names.join(", ")))
    })?;
    archive.member(index).ok_or_else(|| JitError::other(format!("{}({member}): cannot read", archive_path.display())))
}
