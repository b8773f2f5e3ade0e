//! `ObjectLinkingLayer`: relocatable objects → materialization units → `linker::link`.
//!
//! Adding an object reads only its symbol table; the graph is built when one of its symbols
//! is first looked up. Definitions that lost to others (weak ones, COMDAT copies) become
//! references to the winner before linking.

use super::ahead::Ahead;
use super::{GatheredSections, SectionBoundsUnit};
use crate::error::{JitError, Result};
use crate::platform::tls::{ExecutorTls, SimulatedTls, StaticTls, TlsAllocator};
use crate::session::{
    DylibId, ExecutionSession, InstanceId, MaterializationResponsibility, MaterializationUnit, ResourceTracker,
    SymbolFlags,
};
use jitld_linker::format::{self, Format, Strength};
use jitld_linker::graph::{Content, Definition};
use jitld_linker::memory::{Allocation, Layout, MemoryManager};
use jitld_linker::LookupName;
use jitld_linker::{InputBuffer, LinkContext, LinkGraph, ResolvedSymbol, SymbolName};
use std::any::Any;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// What adding an object defined.
pub struct AddedObject {
    /// Looking this up links the object even when nothing refers to it (its initializers).
    pub init_symbol: Option<SymbolName>,
    /// The names the object defines.
    pub defined: Vec<SymbolName>,
}

/// An object read up to its interface, not added yet (`ObjectLinkingLayer::read`).
pub struct ReadObject {
    input: InputBuffer,
    format: Format,
    interface: jitld_linker::format::Interface,
}

/// Sees every graph once it is linked (platform support, dumps, debugger registration).
pub trait LinkPlugin: Send + Sync {
    /// Adds passes to every link.
    fn modify_passes(&self, _config: &mut jitld_linker::passes::PassConfig) {}

    fn notify_finalized(&self, instance: InstanceId, ordinal: u64, graph: &LinkGraph, alloc: &Allocation)
        -> Result<()>;
}

#[derive(Clone)]
pub struct ObjectLinkingLayer {
    inner: Arc<LayerInner>,
}

struct LayerInner {
    session: ExecutionSession,
    plugins: Mutex<Vec<Arc<dyn LinkPlugin>>>,
    next_ordinal: AtomicU64,
    stats: LinkStats,
    tls: Arc<dyn TlsAllocator>,
    /// Runs of gathered sections (`__start_`/`__stop_` registries).
    gathered: Arc<GatheredSections>,
    /// Keep each object's bytes until its code is ready, so a failed link can be tried
    /// again (`MaterializationUnit::retry`). A one-shot link (`jitld run`) turns it off and
    /// frees every input as soon as its own link is done.
    retry_failed: std::sync::atomic::AtomicBool,
    /// How many more objects have their graphs built as soon as they are added
    /// (`build_graphs_early`).
    build_early: AtomicUsize,
}

/// What the layer linked, for `--stats`.
#[derive(Default)]
pub struct LinkStats {
    pub objects: AtomicU64,
    pub archive_members: AtomicU64,
    /// Graphs jitld made itself: copies, `__dso_handle`, lazy stubs.
    pub synthesized: AtomicU64,
    /// Time per link phase, in first-seen order.
    phases: PhaseTimes,
}

/// Nanoseconds per phase, added to without a lock: every link of every thread reports its
/// phases here, and a mutex taken six times per graph was a point where materialization
/// threads queued behind each other.
#[derive(Default)]
struct PhaseTimes {
    slots: [(std::sync::OnceLock<&'static str>, AtomicU64); MAX_PHASES],
}

/// More phases than the linker and layer have (extra ones are not counted).
const MAX_PHASES: usize = 16;

impl PhaseTimes {
    fn add(&self, phase: &'static str, elapsed: std::time::Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        // The first slot that has this phase, or that this call names after it.
        let slot = self.slots.iter().find(|(name, _)| *name.get_or_init(|| phase) == phase);
        if let Some((_, total)) = slot {
            total.fetch_add(nanos, Ordering::Relaxed);
        }
    }

    fn list(&self) -> Vec<(&'static str, std::time::Duration)> {
        let named = self.slots.iter().map_while(|(name, total)| Some((*name.get()?, total)));
        named.map(|(name, total)| (name, std::time::Duration::from_nanos(total.load(Ordering::Relaxed)))).collect()
    }
}

impl LinkStats {
    /// Counts a graph a unit is about to link; archive members are named `lib.a(member.o)`.
    pub(crate) fn count(&self, graph: &LinkGraph, synthesized: bool) {
        let counter = match (synthesized, graph.name.ends_with(')') && graph.name.contains(".a(")) {
            (true, _) => &self.synthesized,
            (false, true) => &self.archive_members,
            (false, false) => &self.objects,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn add_time(&self, phase: &'static str, elapsed: std::time::Duration) {
        self.phases.add(phase, elapsed);
    }

    pub fn phase_times(&self) -> Vec<(&'static str, std::time::Duration)> {
        self.phases.list()
    }
}

impl ObjectLinkingLayer {
    pub fn new(session: ExecutionSession) -> Self {
        // Thread-local blocks are real only where the code can run. This process standing
        // in for another architecture's memory (`--noexec`) simulates that one's layout.
        let executor = session.executor();
        let arch = executor.target().arch;
        let here = executor.in_this_process() && arch == jitld_linker::arch::Arch::host();
        let tls: Arc<dyn TlsAllocator> = match (here, executor.runs_code()) {
            (true, _) => Arc::new(StaticTls::default()),
            (false, false) => Arc::new(SimulatedTls::new(arch)),
            (false, true) => Arc::new(ExecutorTls::new(executor.clone())),
        };
        ObjectLinkingLayer {
            inner: Arc::new(LayerInner {
                session,
                plugins: Mutex::new(Vec::new()),
                next_ordinal: AtomicU64::new(0),
                stats: LinkStats::default(),
                tls,
                gathered: Arc::default(),
                retry_failed: std::sync::atomic::AtomicBool::new(true),
                build_early: AtomicUsize::new(0),
            }),
        }
    }

    pub fn session(&self) -> &ExecutionSession {
        &self.inner.session
    }

    pub fn stats(&self) -> &LinkStats {
        &self.inner.stats
    }

    pub(crate) fn gathered(&self) -> &Arc<GatheredSections> {
        &self.inner.gathered
    }

    /// Whether a failed object is kept to be linked again (the default) or dropped.
    pub fn set_retry_failed(&self, retry: bool) {
        self.inner.retry_failed.store(retry, Ordering::Relaxed);
    }

    /// The next `count` objects added have their graphs built at once by the session's
    /// materialization threads, while the caller goes on (a command line's other inputs:
    /// a `dlopen` of libstdc++ takes ~1.3 ms); a session without threads of its own builds
    /// them when it links them, as always. For objects that will surely be linked (a
    /// program's own): a graph built for nothing is held as long as its unit.
    pub fn build_graphs_early(&self, count: usize) {
        self.inner.build_early.store(count, Ordering::Relaxed);
    }

    /// Whether the object being added has its graph built now (`build_graphs_early`).
    fn builds_early(&self) -> bool {
        self.inner.session.materialization_threads() > 1
            && self.inner.build_early.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok()
    }

    pub fn add_plugin(&self, plugin: Arc<dyn LinkPlugin>) {
        self.inner.plugins.lock().unwrap_or_else(|e| e.into_inner()).push(plugin);
    }

    /// Adds an object to `dylib`. Returns its initializer symbol, if it has one: looking that
    /// up links the object even when nothing refers to it.
    pub fn add(&self, dylib: DylibId, input: InputBuffer) -> Result<Option<SymbolName>> {
        self.add_tracked(&self.inner.session.default_tracker(dylib), input)
    }

    /// Adds an object whose code `tracker` can remove again.
    pub fn add_tracked(&self, tracker: &ResourceTracker, input: InputBuffer) -> Result<Option<SymbolName>> {
        let ordinal = self.inner.next_ordinal.fetch_add(1, Ordering::Relaxed) * 1_000_000_000;
        self.add_with_ordinal(tracker, input, ordinal).map(|added| added.init_symbol)
    }

    /// `ordinal` orders this object's initializers among others' (input order, as `ld`).
    pub fn add_with_ordinal(&self, tracker: &ResourceTracker, input: InputBuffer, ordinal: u64) -> Result<AddedObject> {
        self.add_object(tracker, input, ordinal, false)
    }

    /// As `add_with_ordinal`, with every symbol the object exports hidden in its JITDylib
    /// (members of an archive loaded with llvm-jitlink's `-load_hidden`).
    pub fn add_hidden_with_ordinal(
        &self,
        tracker: &ResourceTracker,
        input: InputBuffer,
        ordinal: u64,
    ) -> Result<AddedObject> {
        self.add_object(tracker, input, ordinal, true)
    }

    /// Reads what adding `input` takes (its format and interface), so that the adding
    /// itself (`add_read`) is quick: an archive's members are read ahead of their pulls.
    pub fn read(&self, input: InputBuffer) -> Result<ReadObject> {
        let session = &self.inner.session;
        let input = format::universal::thin(input, session.executor().target().arch)?;
        let format = format::object_format(&input)?;
        let interface = format.interface(&input, session.names())?;
        Ok(ReadObject { input, format, interface })
    }

    fn add_object(
        &self,
        tracker: &ResourceTracker,
        input: InputBuffer,
        ordinal: u64,
        hide: bool,
    ) -> Result<AddedObject> {
        self.add_read(tracker, self.read(input)?, ordinal, hide)
    }

    /// Adds an object `read` read, as `add_with_ordinal` does; `hide`: as
    /// `add_hidden_with_ordinal`.
    pub fn add_read(
        &self,
        tracker: &ResourceTracker,
        read: ReadObject,
        ordinal: u64,
        hide: bool,
    ) -> Result<AddedObject> {
        let session = &self.inner.session;
        let ReadObject { input, format, interface } = read;
        let scope = |flags: SymbolFlags| match (hide, flags.scope) {
            (true, jitld_linker::Scope::Default) => SymbolFlags { scope: jitld_linker::Scope::Hidden, ..flags },
            _ => flags,
        };
        let mut symbols: Vec<(SymbolName, SymbolFlags)> =
            interface.symbols.iter().map(|s| (s.name, scope(s.flags))).collect();
        let init_symbol = interface.has_initializers.then(|| {
            let name = session.intern(&format!("$jitld.init#{ordinal}:{}", input.name));
            symbols.push((name, SymbolFlags { scope: jitld_linker::Scope::Hidden, ..SymbolFlags::strong_data() }));
            name
        });
        // Gathered sections make their object a root: its init symbol links it.
        if let Some(root) = init_symbol {
            let dylib = tracker.dylib();
            for section in &interface.gathered {
                if self.inner.gathered.reserve(dylib, section, ordinal, root, &input.name)? {
                    session.define(dylib, Box::new(SectionBoundsUnit::new(self, dylib, format, &section.name)))?;
                }
            }
        }
        let defined = interface.symbols.iter().map(|s| s.name).collect();
        for stand_in in &interface.stand_ins {
            let flags = SymbolFlags {
                strength: Strength::Weak,
                scope: jitld_linker::Scope::Default,
                callable: stand_in.callable,
            };
            let origin = format!("{}, standing in for {}", input.name, session.names().resolve(stand_in.name));
            session.add_stand_in(tracker.dylib(), stand_in.name, stand_in.target, scope(flags), &origin);
        }
        let unit =
            ObjectUnit { layer: self.clone(), input, format, symbols, init_symbol, ordinal, graph: Arc::default() };
        let early = self.builds_early().then(|| unit.prepare()).flatten();
        session.define_tracked(tracker.id(), Box::new(unit))?;
        if let Some(build) = early {
            session.dispatch(build);
        }
        Ok(AddedObject { init_symbol, defined })
    }

    /// Links a graph on behalf of `mr` and reports the outcome to it. Custom layers that
    /// make graphs of their own emit them here, and get the platform's support (initializers,
    /// unwind tables, thread-local storage) with them.
    pub fn emit(
        &self,
        mr: MaterializationResponsibility,
        graph: LinkGraph,
        ordinal: u64,
        init_symbol: Option<SymbolName>,
    ) {
        self.emit_with(mr, graph, ordinal, init_symbol, |_| Box::new(()));
    }

    /// Like `emit`; `on_linked` sees the finalized graph and returns what must live as long as
    /// its code does.
    ///
    /// The link runs up to its external lookup here; the rest runs as a continuation once
    /// every external has an address, so this returns without waiting for other units.
    pub fn emit_with(
        &self,
        mr: MaterializationResponsibility,
        graph: LinkGraph,
        ordinal: u64,
        init_symbol: Option<SymbolName>,
        on_linked: impl FnOnce(&LinkGraph) -> Box<dyn Any + Send> + Send + 'static,
    ) {
        let mut ctx = SessionLinkContext {
            layer: self.clone(),
            mr,
            ordinal,
            init_symbol,
            resources: Vec::new(),
            on_linked: Some(Box::new(on_linked)),
        };
        let pending = match jitld_linker::begin(graph, &mut ctx) {
            Ok(pending) => pending,
            Err(e) => return ctx.complete(Err(e)),
        };
        let names = pending.externals();
        if names.is_empty() {
            let linked = pending.finish(&mut ctx, Vec::new());
            return ctx.complete(linked);
        }
        let started = std::time::Instant::now();
        let resolver = ctx.mr.resolver();
        let referrer = pending.graph().name.to_string();
        resolver.lookup_then(&names, &referrer, move |found| {
            let linked = match found {
                Ok(found) => pending.finish(&mut ctx, found),
                Err(e) => {
                    pending.abandon(&**ctx.layer.session().memory());
                    Err(stash(e))
                }
            };
            ctx.complete(linked);
        });
        self.inner.stats.add_time("resolve externals", started.elapsed());
    }
}

/// Session errors travel through the linker boxed; unwrap them again.
fn lookup_error_or(e: jitld_linker::LinkError) -> JitError {
    match e {
        jitld_linker::LinkError::Context(inner) => match inner.downcast::<JitError>() {
            Ok(jit) => *jit,
            Err(other) => JitError::other(other.to_string()),
        },
        other => other.into(),
    }
}

struct ObjectUnit {
    layer: ObjectLinkingLayer,
    input: InputBuffer,
    /// Sniffed once, when the object was added.
    format: Format,
    symbols: Vec<(SymbolName, SymbolFlags)>,
    init_symbol: Option<SymbolName>,
    ordinal: u64,
    /// Built by a helper while the unit waits, or by `materialize`.
    graph: Arc<Ahead<jitld_linker::Result<LinkGraph>>>,
}

impl MaterializationUnit for ObjectUnit {
    fn name(&self) -> &str {
        &self.input.name
    }

    fn symbols(&self) -> Vec<(SymbolName, SymbolFlags)> {
        self.symbols.clone()
    }

    fn discard(&mut self, name: SymbolName) {
        self.symbols.retain(|(n, _)| *n != name);
    }

    /// Its blocks are; an absolute symbol of an object (`SHN_ABS`) is not, but a call to one
    /// from another object is unheard of (and fails the link rather than going astray).
    fn defines_in_session_memory(&self) -> bool {
        true
    }

    fn retry(&self) -> Option<Box<dyn MaterializationUnit>> {
        if !self.layer.inner.retry_failed.load(Ordering::Relaxed) {
            return None;
        }
        Some(Box::new(ObjectUnit {
            layer: self.layer.clone(),
            input: self.input.clone(),
            format: self.format,
            symbols: self.symbols.clone(),
            init_symbol: self.init_symbol,
            ordinal: self.ordinal,
            graph: Arc::default(),
        }))
    }

    fn prepare(&self) -> Option<Box<dyn FnOnce() + Send>> {
        let (graph, format, input) = (self.graph.clone(), self.format, self.input.clone());
        let names = self.layer.session().names().clone();
        Some(Box::new(move || graph.build(|| format.build_graph(&input, &names))))
    }

    fn materialize(self: Box<Self>, mr: MaterializationResponsibility) {
        let started = std::time::Instant::now();
        let graph = match self.graph.take(|| self.format.build_graph(&self.input, self.layer.session().names())) {
            Ok(graph) => graph,
            Err(e) => return mr.fail(e.into()),
        };
        self.layer.inner.stats.add_time("build graph", started.elapsed());
        self.layer.inner.stats.count(&graph, false);
        let graph = claim_definitions(graph, &mr);
        self.layer.emit(mr, graph, self.ordinal, self.init_symbol);
    }
}

/// Definitions this unit no longer owns become references; owned commons get their merged
/// size.
fn claim_definitions(mut graph: LinkGraph, mr: &MaterializationResponsibility) -> LinkGraph {
    let globals: Vec<_> = graph.defined_globals().map(|(id, name, s)| (id, name, s.def)).collect();
    for (id, name, def) in globals {
        // The unit's flags are the graph's, but hidden where the object was added hidden.
        if let Some(flags) = mr.flags(name) {
            graph.symbols[id.index()].flags.scope = flags.scope;
        }
        match (mr.flags(name).map(|f| f.strength), def) {
            (None, _) => graph.make_external(id),
            (Some(Strength::Common { size, align }), Definition::Block { block, .. }) => {
                let block = &mut graph.blocks[block.index()];
                block.content = Content::Zero(size.max(block.size()));
                block.align = block.align.max(u64::from(align));
                graph.symbols[id.index()].size = size;
            }
            _ => {}
        }
    }
    graph
}

/// Memory that goes back to its manager when the definitions in it are removed.
struct OwnedAllocation {
    alloc: Option<Allocation>,
    memory: Arc<dyn MemoryManager>,
}

impl Drop for OwnedAllocation {
    fn drop(&mut self) {
        if let Some(alloc) = self.alloc.take() {
            self.memory.deallocate(alloc);
        }
    }
}

type OnLinked = Box<dyn FnOnce(&LinkGraph) -> Box<dyn Any + Send> + Send>;

struct SessionLinkContext {
    layer: ObjectLinkingLayer,
    mr: MaterializationResponsibility,
    ordinal: u64,
    init_symbol: Option<SymbolName>,
    resources: Vec<Box<dyn Any + Send>>,
    on_linked: Option<OnLinked>,
}

impl SessionLinkContext {
    /// Reports the link's outcome to the session.
    fn complete(self, linked: jitld_linker::Result<()>) {
        let SessionLinkContext { mr, resources, .. } = self;
        match linked {
            Ok(()) => {
                let _ = mr.notify_emitted(resources);
            }
            Err(e) => {
                drop(resources);
                mr.fail(lookup_error_or(e));
            }
        }
    }
}

impl LinkContext for SessionLinkContext {
    fn modify_passes(&mut self, config: &mut jitld_linker::passes::PassConfig) {
        for plugin in self.layer.inner.plugins.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            plugin.modify_passes(config);
        }
        crate::platform::tls::add_passes(config, self.layer.inner.tls.clone());
        let memory = self.layer.session().memory().clone();
        self.layer.inner.gathered.add_passes(config, memory, self.mr.dylib(), self.ordinal);
    }

    fn memory(&self) -> &dyn MemoryManager {
        &**self.layer.session().memory()
    }

    fn resolve_within(
        &mut self,
        _graph: &LinkGraph,
        names: &[LookupName],
        span: (u64, u64),
    ) -> jitld_linker::Result<Vec<bool>> {
        self.mr.resolver().resolve_within(names, span).map_err(stash)
    }

    fn notify_resolved(&mut self, graph: &LinkGraph) -> jitld_linker::Result<()> {
        // By position in the unit's symbols: whether the graph defines it.
        let mut defined = vec![false; self.mr.symbols().len()];
        let mut resolved: Vec<(SymbolName, u64, u64)> = Vec::with_capacity(defined.len());
        let globals = graph.defined_globals().map(|(_, name, s)| (name, s.addr, s.size));
        for (name, addr, size) in globals.chain(self.init_symbol.map(|init| (init, 0, 0))) {
            let promised = self.mr.position(name);
            if let Some(flag) = promised.and_then(|i| defined.get_mut(i)) {
                *flag = true;
            }
            if promised.is_some() || Some(name) == self.init_symbol {
                resolved.push((name, addr, size));
            }
        }
        let missing = defined.iter().position(|d| !d).and_then(|i| self.mr.symbols().get(i));
        if let Some(&(missing, _)) = missing {
            return Err(jitld_linker::LinkError::malformed(
                jitld_linker::Location::file(&*graph.name).symbol(graph.names.resolve(missing).to_string()),
                "symbol table promised a definition the graph does not have",
            ));
        }
        self.mr.notify_resolved_with_sizes(&resolved).map_err(stash)
    }

    fn lookup(&mut self, graph: &LinkGraph, names: &[LookupName]) -> jitld_linker::Result<Vec<Option<ResolvedSymbol>>> {
        self.mr.lookup(names, &graph.name).map_err(stash)
    }

    fn notify_finalized(&mut self, graph: LinkGraph, alloc: Allocation, _layout: Layout) -> jitld_linker::Result<()> {
        let plugins = self.layer.inner.plugins.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let result =
            plugins.iter().try_for_each(|p| p.notify_finalized(self.mr.instance(), self.ordinal, &graph, &alloc));
        if let Some(on_linked) = self.on_linked.take() {
            self.resources.push(on_linked(&graph));
        }
        let memory = self.layer.session().memory().clone();
        self.resources.push(Box::new(OwnedAllocation { alloc: Some(alloc), memory }));
        result.map_err(stash)
    }

    fn record_phase(&mut self, phase: &'static str, elapsed: std::time::Duration) {
        self.layer.inner.stats.add_time(phase, elapsed);
    }
}

fn stash(e: JitError) -> jitld_linker::LinkError {
    jitld_linker::LinkError::Context(Box::new(e))
}
