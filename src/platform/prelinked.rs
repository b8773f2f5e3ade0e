//! Starting a prelinked image (see `cache::image`): what the platform did during the cold
//! link, done again for this process. The image's pages go back to their addresses, its
//! thread-local blocks get the same offsets, its external fix-ups follow the libraries to
//! where ASLR put them this time, library variables are copied in again; then protection,
//! unwind tables, indirect functions, and the program starts as after a cold link:
//! finalizers queued for exit, initializers in order, `main`.
//!
//! Until the image's memory is committed to (`Fallback`), nothing outside this process's
//! fresh mappings and TLS blocks has changed, and the caller links cold instead.

use super::tls::{self, StaticTls, TlsAllocator};
use crate::cache::image::mapping::MappedImage;
use crate::cache::image::symbols::ExternalResolver;
use crate::cache::image::{PageRun, PrelinkedImage};
use crate::error::JitError;
use crate::executor::Executor;
use jitld_linker::arch::{self, Arch};
use jitld_linker::graph::EdgeKind;
use jitld_linker::tls::TlsLayout;
use std::sync::Arc;

pub enum StartError {
    /// The image cannot start in this process (a range is taken, a block lands elsewhere):
    /// nothing was changed that a cold link would trip over.
    Fallback(String),
    /// The image was committed to and then failed.
    Failed(JitError),
}

/// Fixes and runs `image`, whose pages `mapped` holds at their addresses (read-write, as
/// stored); calls `ready` once it is ready to run (initializers next); returns `main`'s status.
pub fn start(
    image: &PrelinkedImage<'_>,
    runs: &[PageRun],
    mapped: MappedImage,
    resolver: &ExternalResolver,
    executor: &Arc<dyn Executor>,
    argv: &[String],
    ready: &dyn Fn(),
) -> Result<i32, StartError> {
    let fallback = StartError::Fallback;
    tls::register_thread();
    let blocks = reserve_tls(image).map_err(fallback)?;
    mapped.prepare_writes(image.externals.iter().map(|f| f.place));
    if let Err(why) = fix_externals(image, resolver, &mapped) {
        blocks.give_back();
        return Err(fallback(why));
    }
    // From here on the image is this process's program.
    blocks.keep();
    let failed = StartError::Failed;
    let mut moves = Vec::with_capacity(image.copies.len());
    for copy in &image.copies {
        let source = resolver.variable(&copy.name).map_err(failed)?;
        let Some((source, size)) = source.filter(|&(_, size)| size == copy.size) else {
            return Err(failed(JitError::other(format!("{}: the library's variable changed", copy.name))));
        };
        // SAFETY: `size` readable bytes of the library's variable; the copy lies in the image.
        unsafe { std::ptr::copy_nonoverlapping(source as *const u8, copy.addr as *mut u8, size as usize) };
        moves.push((source, copy.addr));
    }
    executor.interpose(&moves).map_err(failed)?;
    mapped.protect(runs).map_err(|e| failed(JitError::other(e)))?;
    mapped.keep();
    for &(slot, resolver) in &image.ifuncs {
        let chosen = executor.call(resolver, &[]).map_err(failed)?;
        executor.write(slot, &chosen.to_le_bytes()).map_err(failed)?;
    }
    for &frame in &image.eh_frames {
        executor.register_eh_frame(frame).map_err(failed)?;
        if let Some(register) = image.unwinder {
            executor.call(register, &[frame.start]).map_err(failed)?;
        }
    }
    let args = executor.program_args(argv).map_err(failed)?;
    run_finalizers_at_exit(image.finalizers.clone());
    ready();
    super::signals::restore_start_state();
    for &init in &image.initializers {
        executor.call(init, &[args.argc, args.argv, args.envp]).map_err(failed)?;
    }
    executor.run_main(image.entry, args).map_err(failed)
}

/// The image's thread-local blocks, reserved in the order the cold link reserved them
/// (nearest the thread pointer first); each must land where the code expects it.
fn reserve_tls(image: &PrelinkedImage<'_>) -> Result<TlsBlocks, String> {
    let mut order: Vec<_> = image.tls.iter().collect();
    order.sort_by_key(|b| std::cmp::Reverse(b.tp_offset));
    let mut blocks = TlsBlocks(Vec::new());
    for block in order {
        let layout =
            TlsLayout { init_size: block.init_size, size: block.size, align: block.align, offsets: Vec::new() };
        let placed = StaticTls::default().allocate("prelinked image", &layout).map_err(|e| e.to_string())?;
        blocks.0.push(placed);
        if placed != block.tp_offset {
            blocks.give_back();
            return Err(format!("a thread-local block went to {placed:#x}, not {:#x}", block.tp_offset));
        }
        StaticTls::default().initialize(placed, &block.image).map_err(|e| e.to_string())?;
    }
    Ok(blocks)
}

/// Reserved thread-local blocks, by offset.
struct TlsBlocks(Vec<i64>);

impl TlsBlocks {
    fn give_back(&self) {
        self.0.iter().for_each(|&offset| tls::release(offset));
    }

    fn keep(self) {}
}

/// Writes every external fix-up for where its target is in this process.
fn fix_externals(image: &PrelinkedImage<'_>, resolver: &ExternalResolver, mapped: &MappedImage) -> Result<(), String> {
    let names: Vec<&str> = image.names.iter().map(String::as_str).collect();
    let found = resolver.resolve(&names).map_err(|e| e.to_string())?;
    let arch = Arch::host();
    for fixup in &image.externals {
        let name = names.get(fixup.name as usize).copied().unwrap_or("?");
        let target = found.get(fixup.name as usize).copied().flatten().ok_or_else(|| format!("{name} is gone"))?;
        let kind = EdgeKind(fixup.kind);
        let width = arch::field_width(arch, kind);
        if width == 0 || !mapped.contains(fixup.place, width as u64) {
            return Err(format!("a fix-up to {name} lies outside the image"));
        }
        // SAFETY: `width` bytes inside the image's pages, which are still read-write.
        let field = unsafe { std::slice::from_raw_parts_mut(fixup.place as *mut u8, width) };
        match arch::refit(arch, kind, target, fixup.addend, fixup.place, field) {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(format!("{name}: {e}")),
            None => return Err(format!("a fix-up to {name} cannot be redone")),
        }
    }
    Ok(())
}

/// Finalizers run at exit after the handlers the program registers, as `_dl_fini` does.
fn run_finalizers_at_exit(finalizers: Vec<u64>) {
    extern "C" fn run(list: *mut libc::c_void) {
        // SAFETY: a `Vec<u64>` leaked for this one call.
        let list = unsafe { Box::from_raw(list as *mut Vec<u64>) };
        for &finalizer in list.iter() {
            // SAFETY: a finalizer of the started image, whose code stays mapped.
            let f: extern "C" fn() = unsafe { std::mem::transmute(finalizer as usize) };
            f();
        }
    }
    let raw = Box::into_raw(Box::new(finalizers)) as *mut libc::c_void;
    // SAFETY: a handler with its argument; glibc calls it once at exit.
    unsafe { super::runtime::__cxa_atexit(run, raw, std::ptr::null_mut()) };
}
