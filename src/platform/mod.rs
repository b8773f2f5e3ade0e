//! What a program expects from its loader: initializers before the entry, finalizers at
//! exit, and the few pieces of the C runtime that a static link would bring from `crt1.o` /
//! `libc_nonshared.a` (`atexit`, `__dso_handle`).
//!
//! Order follows what `ld` and glibc do for an executable: `.preinit_array`, then
//! `.init_array`/`.ctors` sorted by priority (unprioritized last), inputs in command-line
//! order, each `.ctors` run backwards; finalizers in exactly the reverse order, after every
//! `atexit` handler the program registered.

pub mod copy_relocation;
mod dso;
mod entry;
mod exec_stack;
mod exit_handlers;
pub(crate) mod frame_index;
mod init_gate;
mod runtime;
pub mod signals;
pub mod single_thread;
pub mod tls;
mod unwind;

pub use entry::call_main;
pub(crate) use exec_stack::made_executable as stack_made_executable;
pub(crate) use unwind::{eh_frame, unwinder_to_register};
pub mod prelinked;
pub use runtime::at_exit;
pub(crate) use runtime::in_this_process as runtime_in_this_process;

use crate::error::Result;
use crate::executor::ProgramArgs;
use crate::layers::{DataUnit, LinkPlugin, ObjectLinkingLayer};
use crate::session::{DylibId, ExecutionSession, InstanceId, SymbolFlags};
use jitld_linker::graph::{EdgeKind, SectionRole};
use jitld_linker::memory::Allocation;
use jitld_linker::LinkGraph;
use std::sync::{Arc, Mutex};

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Phase {
    PreInit,
    /// `.init` fragments: glibc calls an executable's `_init` before its `.init_array`.
    InitFunction,
    Init,
    Fini,
}

/// One function pointer from an init/fini array, with the key that orders it.
#[derive(Clone, Debug)]
struct Entry {
    phase: Phase,
    /// (priority, section name, input ordinal, section, slot). As in ld's
    /// `SORT_BY_INIT_PRIORITY`, prioritized sections of equal priority go by name; the
    /// name is empty for unprioritized ones, which keep input order.
    key: (u32, Arc<str>, u64, u32, i64),
    addr: u64,
    instance: InstanceId,
}

pub struct Platform {
    session: ExecutionSession,
    layer: ObjectLinkingLayer,
    pending: Mutex<Vec<Entry>>,
    finalizers: Mutex<Vec<Entry>>,
    /// Finalizers of code whose initializers have not run yet: they join `finalizers` only
    /// once it is initialized, so code that never ran (it failed before it was ready, or
    /// was removed first) is never finalized either.
    staged: Mutex<Vec<Entry>>,
    /// Registered `.eh_frame` sections, by the code they describe.
    frames: Mutex<Vec<(InstanceId, u64)>>,
    /// An unwinder linked into the program itself (from `libgcc_eh.a`), and the frames it
    /// has not been told about yet.
    jit_unwinder: Mutex<unwind::JitUnwinder>,
    /// Where each instance's memory is, to find its exit handlers when it is removed.
    ranges: Mutex<Vec<(InstanceId, u64, u64)>>,
    /// What initializers receive: the program's `argc`, `argv`, `envp` in the executor.
    args: Mutex<ProgramArgs>,
    /// Held while initializers run, so no thread gets a symbol whose constructors are still
    /// running on another.
    init_gate: init_gate::InitGate,
    /// Each instance's static TLS block (offset from the thread pointer), given back on removal.
    tls_blocks: Mutex<Vec<(InstanceId, i64)>>,
    /// The executor process's `atexit`, once finalizers go there (`run_finalizers_at_exit`).
    executor_atexit: Mutex<Option<u64>>,
}

impl Platform {
    /// Tracks initializers and finalizers of everything `layer` links. Call `setup_dylib` for
    /// each JITDylib that holds program code.
    pub fn install(layer: &ObjectLinkingLayer) -> Arc<Platform> {
        let session = layer.session().clone();
        let platform = Arc::new(Platform {
            session: session.clone(),
            layer: layer.clone(),
            pending: Mutex::new(Vec::new()),
            finalizers: Mutex::new(Vec::new()),
            staged: Mutex::new(Vec::new()),
            frames: Mutex::new(Vec::new()),
            jit_unwinder: Mutex::new(unwind::JitUnwinder::default()),
            ranges: Mutex::new(Vec::new()),
            args: Mutex::new(ProgramArgs { argc: 0, argv: 0, envp: 0 }),
            init_gate: init_gate::InitGate::default(),
            tls_blocks: Mutex::new(Vec::new()),
            executor_atexit: Mutex::new(None),
        });
        layer.add_plugin(platform.clone());
        // The installing thread is the one that runs the program (or calls JIT'd functions).
        tls::register_thread();
        let weak = Arc::downgrade(&platform);
        session.add_removal_listener(Arc::new(move |removed: &[InstanceId]| {
            if let Some(platform) = weak.upgrade() {
                platform.remove(removed);
            }
        }));
        platform
    }

    /// Gives `dylib` what a C program's loader provides: the C runtime pieces from
    /// `libc_nonshared.a` and a `__dso_handle` of its own.
    pub fn setup_dylib(&self, dylib: DylibId) -> Result<()> {
        let session = &self.session;
        session.define_absolute(dylib, &runtime::symbols(session)?)?;
        let dso_handle = DataUnit {
            layer: self.layer.clone(),
            origin: format!("__dso_handle of {}", session.dylib_name(dylib)),
            name: session.intern("__dso_handle"),
            bytes: vec![0; 8],
            align: 8,
            flags: SymbolFlags { scope: jitld_linker::Scope::Hidden, ..SymbolFlags::strong_data() },
        };
        session.define(dylib, Box::new(dso_handle))
    }

    pub fn session(&self) -> &ExecutionSession {
        &self.session
    }

    /// The arguments initializers receive, as glibc passes them.
    pub fn set_args(&self, args: ProgramArgs) {
        *self.args.lock().unwrap_or_else(|e| e.into_inner()) = args;
    }

    fn call(&self, addr: u64, args: &[u64]) {
        if let Err(e) = self.session.executor().call(addr, args) {
            eprintln!("error: calling {addr:#x} in the executor: {e}");
        }
    }

    /// Runs every initializer of linked, ready code not run yet, in order. Initializers that
    /// cause more linking get their new initializers run too.
    pub fn run_initializers(&self) {
        let _one_thread_at_a_time = self.init_gate.enter();
        // A program with its own unwinder must know every frame before any constructor runs.
        if !self.protect_ready_code() {
            return;
        }
        let ready = |i: InstanceId| self.session.is_ready(i);
        let executor = &**self.session.executor();
        self.jit_unwinder.lock().unwrap_or_else(|e| e.into_inner()).register_pending(ready, executor);
        loop {
            // Ready code is initialized by this call: from now on its finalizers are due.
            let due: Vec<Entry> = {
                let mut staged = self.staged.lock().unwrap_or_else(|e| e.into_inner());
                let (due, rest) = staged.drain(..).partition(|e| self.session.is_ready(e.instance));
                *staged = rest;
                due
            };
            self.finalizers_due(due);
            let mut batch: Vec<Entry> = {
                let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
                let (ready, rest) = pending.drain(..).partition(|e| self.session.is_ready(e.instance));
                *pending = rest;
                ready
            };
            if batch.is_empty() {
                return;
            }
            if !self.protect_ready_code() {
                return;
            }
            batch.sort_by(|a, b| (a.phase, &a.key).cmp(&(b.phase, &b.key)));
            let args = *self.args.lock().unwrap_or_else(|e| e.into_inner());
            for entry in batch {
                // An init array entry of linked, finalized code: `f(argc, argv, envp)`.
                self.call(entry.addr, &[args.argc, args.argv, args.envp]);
            }
        }
    }

    /// Code that became ready without a lookup of ours (which would have done it) may still
    /// wait for its protection (see `MemoryManager::protect_finalized`): apply it before
    /// running any. False (and an error printed) if that failed.
    fn protect_ready_code(&self) -> bool {
        match self.session.memory().protect_finalized() {
            Ok(()) => true,
            Err(e) => {
                eprintln!("jitld: error: initializers not run: {e}");
                false
            }
        }
    }

    /// The addresses of the initializers not run yet, in the order `run_initializers` would
    /// run them, and of the finalizers in the order they would run at exit: what a prelinked
    /// image replays.
    pub fn startup_order(&self) -> (Vec<u64>, Vec<u64>) {
        let mut init: Vec<Entry> = self.pending.lock().unwrap_or_else(|e| e.into_inner()).clone();
        init.sort_by(|a, b| (a.phase, &a.key).cmp(&(b.phase, &b.key)));
        let mut fini: Vec<Entry> = self.staged.lock().unwrap_or_else(|e| e.into_inner()).clone();
        fini.extend(self.finalizers.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned());
        fini.sort_by(|a, b| a.key.cmp(&b.key));
        (init.iter().map(|e| e.addr).collect(), fini.iter().rev().map(|e| e.addr).collect())
    }

    /// Runs finalizers of ready code, last-registered order first, each once.
    pub fn run_finalizers(&self) {
        let mut batch: Vec<Entry> = std::mem::take(&mut *self.finalizers.lock().unwrap_or_else(|e| e.into_inner()));
        batch.retain(|e| self.session.is_ready(e.instance));
        batch.sort_by(|a, b| a.key.cmp(&b.key));
        for entry in batch.into_iter().rev() {
            self.call(entry.addr, &[]);
        }
    }

    /// Code is being removed: its initializers will never run, its finalizers run now, and
    /// its unwind information is withdrawn.
    fn remove(&self, removed: &[InstanceId]) {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).retain(|e| !removed.contains(&e.instance));
        self.staged.lock().unwrap_or_else(|e| e.into_inner()).retain(|e| !removed.contains(&e.instance));
        let mut batch: Vec<Entry> = {
            let mut finalizers = self.finalizers.lock().unwrap_or_else(|e| e.into_inner());
            let (doomed, kept) = finalizers.drain(..).partition(|e| removed.contains(&e.instance));
            *finalizers = kept;
            doomed
        };
        batch.sort_by(|a, b| a.key.cmp(&b.key));
        // `__cxa_atexit` handlers first (static C++ objects), as exit runs them before
        // finalizers; then the finalizer arrays.
        let ranges: Vec<(u64, u64)> = {
            let mut ranges = self.ranges.lock().unwrap_or_else(|e| e.into_inner());
            let doomed = ranges.iter().filter(|(i, _, _)| removed.contains(i)).map(|&(_, s, e)| (s, e)).collect();
            ranges.retain(|(i, _, _)| !removed.contains(i));
            doomed
        };
        exit_handlers::run_handlers_in(&ranges);
        for entry in batch.into_iter().rev() {
            // The code is still mapped; removal frees it only after this returns.
            self.call(entry.addr, &[]);
        }
        let mut frames = self.frames.lock().unwrap_or_else(|e| e.into_inner());
        let doomed: Vec<u64> = frames.iter().filter(|(i, _)| removed.contains(i)).map(|&(_, start)| start).collect();
        let executor = &**self.session.executor();
        self.jit_unwinder.lock().unwrap_or_else(|e| e.into_inner()).forget(&doomed, removed, executor);
        for &start in &doomed {
            // Registered by us; the memory is freed only after this returns.
            let _ = self.session.executor().deregister_eh_frame(start);
        }
        frames.retain(|(instance, _)| !removed.contains(instance));
        let mut blocks = self.tls_blocks.lock().unwrap_or_else(|e| e.into_inner());
        for &(_, tp_offset) in blocks.iter().filter(|(i, _)| removed.contains(i)) {
            tls::release(tp_offset);
        }
        blocks.retain(|(i, _)| !removed.contains(i));
    }

    /// Arranges for finalizers to run when the process exits (after `atexit` handlers
    /// registered from now on, as `_dl_fini` does).
    ///
    /// In another process, each finalizer is handed to that process's `atexit` as soon as its
    /// code is initialized (before its constructors run, as `_dl_fini` is registered before
    /// any), so the program's own handlers still run first.
    pub fn run_finalizers_at_exit(self: &Arc<Self>) -> Result<()> {
        let executor = self.session.executor();
        if !executor.in_this_process() {
            let atexit = executor.runtime_symbols()?.into_iter().find(|&(name, _)| name == "atexit");
            let (_, atexit) = atexit.ok_or_else(|| crate::error::JitError::other("the executor has no atexit"))?;
            *self.executor_atexit.lock().unwrap_or_else(|e| e.into_inner()) = Some(atexit);
            let due = std::mem::take(&mut *self.finalizers.lock().unwrap_or_else(|e| e.into_inner()));
            self.finalizers_due(due);
            return Ok(());
        }
        extern "C" fn at_exit(platform: *mut libc::c_void) {
            // SAFETY: the pointer is an `Arc<Platform>` leaked for this call.
            let platform = unsafe { Arc::from_raw(platform as *const Platform) };
            platform.run_finalizers();
        }
        let raw = Arc::into_raw(self.clone()) as *mut libc::c_void;
        // SAFETY: registering a handler with its argument; glibc calls it once at exit.
        unsafe { runtime::__cxa_atexit(at_exit, raw, std::ptr::null_mut()) };
        Ok(())
    }

    /// Finalizers of code being initialized now: kept to run at exit or removal, or handed
    /// to the executor's `atexit` (see `run_finalizers_at_exit`), in reverse of their order.
    fn finalizers_due(&self, mut due: Vec<Entry>) {
        let executor_atexit = *self.executor_atexit.lock().unwrap_or_else(|e| e.into_inner());
        match executor_atexit {
            Some(atexit) => {
                // `atexit` runs the last registered first: register in order.
                due.sort_by(|a, b| a.key.cmp(&b.key));
                for entry in due {
                    self.call(atexit, &[entry.addr]);
                }
            }
            None => self.finalizers.lock().unwrap_or_else(|e| e.into_inner()).extend(due),
        }
    }
}

impl Drop for Platform {
    /// The session goes (its memory with it): whatever code is still linked is unloaded as
    /// `dlclose` would, so nothing outside keeps pointing into freed memory — the unwinder's
    /// registered frames, the C library's exit handlers.
    fn drop(&mut self) {
        let mut live: Vec<InstanceId> = {
            let frames = self.frames.lock().unwrap_or_else(|e| e.into_inner());
            let ranges = self.ranges.lock().unwrap_or_else(|e| e.into_inner());
            let finalizers = self.finalizers.lock().unwrap_or_else(|e| e.into_inner());
            let from_frames = frames.iter().map(|&(i, _)| i);
            let from_ranges = ranges.iter().map(|&(i, _, _)| i);
            from_frames.chain(from_ranges).chain(finalizers.iter().map(|e| e.instance)).collect()
        };
        live.sort_unstable();
        live.dedup();
        self.remove(&live);
    }
}

impl Platform {
    /// Calls each GNU indirect function's resolver and stores the implementation it picks
    /// where the function's stub jumps through.
    fn resolve_indirect_functions(&self, graph: &LinkGraph) -> Result<()> {
        let executor = self.session.executor();
        for &(slot, resolver) in &graph.ifuncs {
            // The resolver is finalized code taking no arguments (glibc passes hwcaps, which
            // x86-64 resolvers ignore); the slot is a writable word of this graph.
            let chosen = executor.call(graph.symbol_addr(resolver), &[])?;
            executor.write(graph.symbol_addr(slot), &chosen.to_le_bytes())?;
        }
        Ok(())
    }
}

/// What `crti.o` opens `_init` / `_fini` with and `crtn.o` closes them with, per architecture.
/// x86-64: `sub $8, %rsp` (realigning the stack) … `add $8, %rsp; ret`. AArch64:
/// `stp x29, x30, [sp, #-16]!; mov x29, sp` … `ldp x29, x30, [sp], #16; ret` (the fragments
/// call functions, so the link register is saved).
fn fragment_frame(arch: jitld_linker::arch::Arch) -> (&'static [u8], &'static [u8]) {
    match arch {
        jitld_linker::arch::Arch::X86_64 => (&[0x48, 0x83, 0xec, 0x08], &[0x48, 0x83, 0xc4, 0x08, 0xc3]),
        jitld_linker::arch::Arch::AArch64 => {
            (&[0xfd, 0x7b, 0xbf, 0xa9, 0xfd, 0x03, 0x00, 0x91], &[0xfd, 0x7b, 0xc1, 0xa8, 0xc0, 0x03, 0x5f, 0xd6])
        }
    }
}

/// Makes each object's `.init` / `.fini` fragment a function of its own, as `crti.o` and
/// `crtn.o` do around all of them in an executable.
fn wrap_init_fragments(graph: &mut LinkGraph) -> jitld_linker::Result<()> {
    let (prologue, epilogue) = fragment_frame(graph.arch);
    for index in 0..graph.sections.len() {
        let role = match graph.sections[index].name.as_str() {
            ".init" => SectionRole::InitFunction,
            ".fini" => SectionRole::FiniFunction,
            _ => continue,
        };
        graph.sections[index].role = role;
        for block in graph.sections[index].blocks.clone() {
            let mut code = prologue.to_vec();
            code.extend_from_slice(graph.block_bytes(&graph.blocks[block.index()]));
            code.extend_from_slice(epilogue);
            let b = &mut graph.blocks[block.index()];
            b.content = jitld_linker::graph::Content::Owned(code);
            for edge in &mut b.edges {
                edge.offset += prologue.len() as u32;
            }
            for symbol in graph.symbols.iter_mut() {
                if let jitld_linker::graph::Definition::Block { block: b, offset } = &mut symbol.def {
                    if *b == block {
                        *offset += prologue.len() as u64;
                    }
                }
            }
        }
    }
    Ok(())
}

impl LinkPlugin for Platform {
    fn modify_passes(&self, config: &mut jitld_linker::passes::PassConfig) {
        config.pre_prune.insert(0, Box::new(wrap_init_fragments));
        if self.session.executor().in_this_process() {
            config.pre_prune.push(Box::new(exec_stack::check));
        }
    }

    fn notify_finalized(
        &self,
        instance: InstanceId,
        ordinal: u64,
        graph: &LinkGraph,
        alloc: &Allocation,
    ) -> Result<()> {
        let ranges = alloc.ranges().map(|(start, end)| (instance, start, end));
        self.ranges.lock().unwrap_or_else(|e| e.into_inner()).extend(ranges);
        let mut found = Vec::new();
        for (index, section) in graph.sections.iter().enumerate() {
            let (phase, priority, reversed) = match section.role {
                SectionRole::PreInit => (Phase::PreInit, 0, false),
                SectionRole::Init { priority, reversed } => (Phase::Init, priority, reversed),
                SectionRole::Fini { priority, reversed } => (Phase::Fini, priority, reversed),
                SectionRole::InitFunction | SectionRole::FiniFunction => {
                    // `_fini` runs after every `.fini_array` entry: first in a list run backwards.
                    let phase =
                        if section.role == SectionRole::InitFunction { Phase::InitFunction } else { Phase::Fini };
                    for &block in &section.blocks {
                        let addr = graph.blocks[block.index()].addr;
                        found.push(Entry { phase, key: (0, Arc::from(""), ordinal, index as u32, 0), addr, instance });
                    }
                    continue;
                }
                _ => continue,
            };
            for &block in &section.blocks {
                for edge in &graph.blocks[block.index()].edges {
                    if edge.kind() == EdgeKind::KEEP_ALIVE || edge.offset % 8 != 0 {
                        continue;
                    }
                    let addr = graph.symbol_addr(edge.target()).wrapping_add(edge.addend as u64);
                    if addr == 0 || addr == u64::MAX {
                        continue;
                    }
                    let slot = if reversed { -(edge.offset as i64) } else { edge.offset as i64 };
                    let name: Arc<str> =
                        if priority < 65536 { Arc::from(section.name.as_str()) } else { Arc::from("") };
                    found.push(Entry { phase, key: (priority, name, ordinal, index as u32, slot), addr, instance });
                }
            }
        }
        if self.session.executor().runs_code() {
            if !graph.ifuncs.is_empty() {
                // The resolvers run now, during the link: their code must be executable.
                self.session.memory().protect_finalized()?;
            }
            self.resolve_indirect_functions(graph)?;
        }
        if self.session.executor().in_this_process() {
            // The block starts where its first thread-local block was placed.
            if let Some(&(block, offset)) =
                jitld_linker::tls::layout_tls(graph).as_ref().and_then(|l| l.offsets.first())
            {
                let tp_offset = graph.blocks[block.index()].addr.wrapping_sub(offset) as i64;
                self.tls_blocks.lock().unwrap_or_else(|e| e.into_inner()).push((instance, tp_offset));
            }
        }
        if let Some(frame) = unwind::eh_frame(graph, alloc).filter(|_| self.session.executor().runs_code()) {
            // The graph is finalized; its eh_frame ends with the terminator.
            let start = frame.start;
            self.session.executor().register_eh_frame(frame)?;
            self.frames.lock().unwrap_or_else(|e| e.into_inner()).push((instance, start));
            self.jit_unwinder.lock().unwrap_or_else(|e| e.into_inner()).add_frame(start);
        }
        if self.session.executor().runs_code() {
            let runtime = || self.session.executor().runtime_symbols().unwrap_or_default();
            self.jit_unwinder.lock().unwrap_or_else(|e| e.into_inner()).notice(graph, instance, runtime);
        }
        let (fini, init): (Vec<Entry>, Vec<Entry>) = found.into_iter().partition(|e| e.phase == Phase::Fini);
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).extend(init);
        self.staged.lock().unwrap_or_else(|e| e.into_inner()).extend(fini);
        Ok(())
    }
}
