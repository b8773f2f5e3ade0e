//! Registering JIT'd `.eh_frame` sections with the unwinder, so that C++ exceptions and Rust
//! panics unwind through JIT'd frames (and through the C++ library's frames between them).
//!
//! libgcc's `__register_frame` takes the start of an `.eh_frame` section that ends with a
//! zero terminator; the linker's eh_frame pass keeps the records contiguous and adds that
//! terminator. Frames are deregistered before their memory is freed.
//!
//! In this process the executor registers them with `frame_index` instead, which answers
//! the unwinders' `_dl_find_object` as the loader does for a native executable; an unwinder
//! is given them through `__register_frame` only when it does not ask there.

use crate::executor::{EhFrame, Executor};
use crate::session::InstanceId;
use jitld_linker::graph::{MemProt, SectionRole};
use jitld_linker::memory::Allocation;
use jitld_linker::LinkGraph;

/// The address of `graph`'s `.eh_frame`, if it describes any code.
fn eh_frame_start(graph: &LinkGraph) -> Option<u64> {
    let section = graph.sections.iter().find(|s| s.role == SectionRole::EhFrame)?;
    // One block is only the terminator: nothing to register.
    (section.blocks.len() > 1).then(|| graph.blocks[section.blocks[0].index()].addr)
}

/// `graph`'s `.eh_frame`, if it describes any code, with the span of the graph's executable
/// memory in `alloc` (empty if it has none).
pub fn eh_frame(graph: &LinkGraph, alloc: &Allocation) -> Option<EhFrame> {
    let start = eh_frame_start(graph)?;
    let code = alloc.parts().iter().filter(|p| p.prot == MemProt::ReadExec).map(|p| (p.addr, p.addr + p.size));
    let code = code.reduce(|a, b| (a.0.min(b.0), a.1.max(b.1))).unwrap_or((0, 0));
    Some(EhFrame { start, code })
}

/// The registration functions (`__register_frame`, `__deregister_frame`) of an unwinder
/// that `graph` defines, if frames must be registered with it: one that looks frames up
/// through `_dl_find_object` finds JIT'd ones there when the executor answers that call
/// (see `frame_index`), and skips the sorting that registered frames cost at the first throw.
/// `runtime` is what the executor's runtime answers (`Executor::runtime_symbols`), asked
/// only of a graph that defines an unwinder.
pub fn unwinder_to_register<'a>(
    graph: &LinkGraph,
    runtime: impl FnOnce() -> Vec<(&'a str, u64)>,
) -> Option<(u64, Option<u64>)> {
    let find = |wanted: &str| graph.defined_globals().find(|(_, name, _)| graph.names.resolve(*name) == wanted);
    let (_, _, register) = find("__register_frame")?;
    let asks_the_loader = graph.externals.keys().any(|&name| graph.names.resolve(name) == FIND_OBJECT);
    if asks_the_loader && runtime().iter().any(|&(name, _)| name == FIND_OBJECT) {
        return None;
    }
    Some((register.addr, find("__deregister_frame").map(|(_, _, s)| s.addr)))
}

const FIND_OBJECT: &str = "_dl_find_object";

/// An unwinder linked into the JIT'd program (GCC's `libgcc_eh.a`, with `-static-libgcc`):
/// it keeps its own list of frames and never sees the process unwinder's, so every JIT'd
/// `.eh_frame` is registered with it too, once its code is ready to run, unless it finds
/// frames through the executor's `_dl_find_object` (`unwinder_to_register`).
#[derive(Default)]
pub struct JitUnwinder {
    /// (its instance, `__register_frame`, `__deregister_frame`) once linked.
    functions: Option<(InstanceId, u64, Option<u64>)>,
    /// Frames it has not been given yet.
    pending: Vec<u64>,
    /// Frames it has.
    registered: Vec<u64>,
}

impl JitUnwinder {
    pub fn add_frame(&mut self, start: u64) {
        self.pending.push(start);
    }

    /// Notices a graph that defines the unwinder's registration functions.
    pub fn notice<'a>(
        &mut self,
        graph: &LinkGraph,
        instance: InstanceId,
        runtime: impl FnOnce() -> Vec<(&'a str, u64)>,
    ) {
        if let Some((register, deregister)) = unwinder_to_register(graph, runtime) {
            self.functions = Some((instance, register, deregister));
        }
    }

    /// Gives the unwinder every pending frame, if its code is ready.
    pub fn register_pending(&mut self, ready: impl Fn(InstanceId) -> bool, executor: &dyn Executor) {
        let Some((instance, register, _)) = self.functions else { return };
        if !ready(instance) {
            return;
        }
        // `register` is the linked, ready `__register_frame`; each start is a finalized
        // `.eh_frame` ending in a terminator.
        for start in self.pending.drain(..) {
            if let Err(e) = executor.call(register, &[start]) {
                eprintln!("error: registering unwind information with the program's unwinder: {e}");
            }
            self.registered.push(start);
        }
    }

    /// Frames whose code is going away; the unwinder too, if it is among `removed`.
    pub fn forget(&mut self, doomed: &[u64], removed: &[InstanceId], executor: &dyn Executor) {
        self.pending.retain(|start| !doomed.contains(start));
        let Some((instance, _, deregister)) = self.functions else { return };
        if removed.contains(&instance) {
            // Its frames go back to pending, for an unwinder linked later.
            let mut pending = std::mem::take(&mut self.registered);
            pending.retain(|start| !doomed.contains(start));
            *self = JitUnwinder { pending, ..JitUnwinder::default() };
            return;
        }
        for start in self.registered.iter().filter(|s| doomed.contains(s)) {
            if let Some(deregister) = deregister {
                // The unwinder is still linked; the frame was registered with it.
                let _ = executor.call(deregister, &[*start]);
            }
        }
        self.registered.retain(|start| !doomed.contains(start));
    }
}
