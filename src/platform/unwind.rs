//! Registering JIT'd `.eh_frame` sections with the unwinder, so that C++ exceptions and Rust
//! panics unwind through JIT'd frames (and through the C++ library's frames between them).
//!
//! libgcc's `__register_frame` takes the start of an `.eh_frame` section that ends with a
//! zero terminator; the linker's eh_frame pass keeps the records contiguous and adds that
//! terminator. Frames are deregistered before their memory is freed.

use jitld_linker::graph::SectionRole;
use jitld_linker::LinkGraph;

extern "C" {
    fn __register_frame(begin: *const u8);
    fn __deregister_frame(begin: *const u8);
}

/// The address of `graph`'s `.eh_frame`, if it describes any code.
pub fn eh_frame_start(graph: &LinkGraph) -> Option<u64> {
    let section = graph.sections.iter().find(|s| s.role == SectionRole::EhFrame)?;
    // One block is only the terminator: nothing to register.
    (section.blocks.len() > 1).then(|| graph.blocks[section.blocks[0].index()].addr)
}

/// # Safety
/// `start` must be a finalized `.eh_frame` section in JIT'd memory, ending in a terminator.
pub unsafe fn register(start: u64) {
    unsafe { __register_frame(start as *const u8) }
}

/// # Safety
/// `start` must have been registered and its memory must still be mapped.
pub unsafe fn deregister(start: u64) {
    unsafe { __deregister_frame(start as *const u8) }
}
