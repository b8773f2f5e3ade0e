//! The key of a prelinked image: everything that, changed, could change the linked program.
//! The contents of every object and archive; each shared library's identity (path, size,
//! modification time, inode), both those named on the command line and those the process
//! has loaded; the flags that change the link; and this jitld's version and build (its
//! executable's identity). Any change gives another key, so a cold link and a new entry.

use crate::cache::{CacheKey, KeyBuilder};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Collects a key's parts.
pub struct ImageKey {
    parts: KeyBuilder,
}

/// A key with no parts yet: what `std::mem::take` leaves behind while a part is added.
impl Default for ImageKey {
    fn default() -> Self {
        ImageKey { parts: KeyBuilder::default() }
    }
}

impl ImageKey {
    /// A key for this jitld: the format's version, the crate's version and the executable.
    pub fn new() -> Self {
        let parts = CacheKey::builder().part("format", "prelinked image 3").part("version", env!("CARGO_PKG_VERSION"));
        let exe = std::env::current_exe().map(|p| identity(&p)).unwrap_or_default();
        ImageKey { parts: parts.part("jitld", exe) }
    }

    /// A flag and its value.
    pub fn flag(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.parts = self.parts.part(name, value);
        self
    }

    /// An input linked from its bytes (object, archive, linker script): its path and the
    /// digest of its contents.
    pub fn contents(mut self, path: &Path, digest: &[u8; 32]) -> Self {
        self.parts = self.parts.part("input", path.as_os_str().as_encoded_bytes()).part("contents", digest);
        self
    }

    /// A shared library bound to: its identity, not its bytes.
    pub fn library(mut self, path: &Path) -> Self {
        self.parts = self.parts.part("library", identity(path));
        self
    }

    /// Every object loaded in this process now (the C library and jitld's other
    /// dependencies), by identity.
    pub fn process_libraries(mut self) -> Self {
        for path in loaded_objects() {
            self.parts = self.parts.part("loaded", identity(Path::new(&path)));
        }
        self
    }

    pub fn finish(self) -> CacheKey {
        self.parts.finish()
    }
}

/// Path, size, modification time and inode: what changes when a file is replaced or
/// rewritten (a library upgrade, a rebuild of jitld).
fn identity(path: &Path) -> Vec<u8> {
    let mut out = path.as_os_str().as_encoded_bytes().to_vec();
    if let Ok(meta) = std::fs::metadata(path) {
        for n in [meta.len(), meta.mtime() as u64, meta.mtime_nsec() as u64, meta.ino(), meta.dev()] {
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
    out
}

/// The paths of the objects the dynamic loader has loaded (the main program has none).
pub fn loaded_objects() -> Vec<String> {
    unsafe extern "C" fn visit(info: *mut libc::dl_phdr_info, _: usize, out: *mut libc::c_void) -> libc::c_int {
        // SAFETY: glibc passes a valid entry and our vector.
        let (info, out) = unsafe { (&*info, &mut *(out as *mut Vec<String>)) };
        if !info.dlpi_name.is_null() {
            // SAFETY: a C string owned by the loader.
            let name = unsafe { std::ffi::CStr::from_ptr(info.dlpi_name) };
            if !name.is_empty() {
                out.push(name.to_string_lossy().into_owned());
            }
        }
        0
    }
    let mut out: Vec<String> = Vec::new();
    // SAFETY: the callback only reads each entry.
    unsafe { libc::dl_iterate_phdr(Some(visit), &mut out as *mut _ as *mut libc::c_void) };
    out
}
