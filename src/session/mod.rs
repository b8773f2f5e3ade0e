//! The ORC core: an `ExecutionSession` holds JITDylibs (symbol tables with link orders and
//! definition generators), materialization units waiting to be asked for, and the state of
//! every unit that was asked for.
//!
//! A symbol is *pending* (its unit not yet asked for), then *materializing*, *resolved* (its
//! address is known), *emitted* (its memory is final), and *ready* (it and everything it
//! depends on are emitted). A lookup names a search order of JITDylibs; it claims the units
//! that define what it finds, queues their materialization, and registers a query that
//! completes once every symbol reaches the state it needs: linking needs *resolved* (so
//! that mutually dependent objects can both link), running needs *ready*.
//!
//! Nothing waits on the call stack. Materializations and query continuations are jobs on
//! one work queue (`dispatch`); a link that needs its externals registers a query and
//! returns, and its continuation finishes the link when the answers are in. A thread that
//! blocks in `lookup` runs queued jobs while it waits, and so do the pool's threads. So a
//! chain of 100,000 objects needs no more stack than one, and a unit that waits for
//! another never holds a thread the other needs.

mod dispatch;
mod lookup;
mod query;
mod readiness;
mod rules;
mod state;
mod symbols;
mod sync;
mod tracker;
mod unit;

pub use dispatch::{StoppingThreads, ThreadPlacement};
pub use lookup::LinkResolver;
pub use symbols::ReexportsUnit;
pub use tracker::ResourceTracker;
pub use unit::{MaterializationResponsibility, MaterializationUnit};

use crate::error::{JitError, Result};
use crate::executor::{Executor, InProcessExecutor};
use crate::generators::DefinitionGenerator;
pub use jitld_linker::flags::SymbolFlags;
use jitld_linker::format::Strength;
use jitld_linker::memory::MemoryManager;
use jitld_linker::{NameMap, NamePool, ResolvedSymbol, SymbolName};
use rules::Outcome;
use std::any::Any;
use std::sync::Arc;
use sync::{Condvar, Mutex, MutexGuard};

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct DylibId(pub u32);

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct InstanceId(pub u32);

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct UnitId(u32);

/// Everything defined through one tracker can be removed together.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct TrackerId(pub u32);

/// Which symbols of a JITDylib a search may see.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LookupFlags {
    MatchAllSymbols,
    MatchExportedSymbolsOnly,
}

/// The state a lookup waits for.
#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord)]
pub enum Required {
    Resolved,
    Ready,
}

#[derive(Debug)]
enum InstanceState {
    Materializing,
    Resolved,
    Emitted,
    Ready,
    Failed(Arc<JitError>),
}

impl InstanceState {
    fn reaches(&self, required: Required) -> bool {
        match self {
            InstanceState::Ready => true,
            InstanceState::Resolved | InstanceState::Emitted => required == Required::Resolved,
            InstanceState::Materializing | InstanceState::Failed(_) => false,
        }
    }

    /// Still waiting to be emitted (what readiness waits on).
    fn unemitted(&self) -> bool {
        matches!(self, InstanceState::Materializing | InstanceState::Resolved)
    }
}

/// A claimed unit: the definitions it is producing or has produced.
struct Instance {
    state: InstanceState,
    dylib: DylibId,
    tracker: TrackerId,
    origin: Arc<str>,
    /// The unit afresh, to define again if this instance fails (until it is ready).
    retry: Option<Box<dyn MaterializationUnit>>,
    /// The names it defines in its JITDylib's table.
    symbols: Vec<SymbolName>,
    /// Instances whose symbols this one's code refers to (not yet ready when looked up).
    deps: Vec<InstanceId>,
    /// The reverse of `deps`: a failure here reaches them.
    dependents: Vec<InstanceId>,
    /// Queries waiting for this instance to reach a state: (query, slot in it).
    queries: Vec<(query::QueryId, u32)>,
    /// Readiness groups of emitted instances that wait for this one to be emitted.
    waited_by: Vec<readiness::GroupId>,
    /// While emitted but not ready: the group it becomes ready with.
    group: Option<readiness::GroupId>,
    resources: Vec<Box<dyn Any + Send>>,
}

struct Entry {
    flags: SymbolFlags,
    origin: Arc<str>,
    tracker: TrackerId,
    unit: Option<UnitId>,
    instance: Option<InstanceId>,
    addr: Option<u64>,
    /// The definition's size in bytes, once known (for `R_X86_64_SIZE*`).
    size: u64,
    /// A definition whose link failed and that waits to be tried again: a new definition
    /// of the name replaces it instead of clashing with it.
    failed_before: bool,
    /// Its unit places it in the session's memory (`MaterializationUnit::
    /// defines_in_session_memory`): within reach of every link, before it has an address.
    in_session_memory: bool,
}

struct Dylib {
    name: String,
    symbols: NameMap<Entry>,
    link_order: Vec<(DylibId, LookupFlags)>,
    generators: Vec<Arc<dyn DefinitionGenerator>>,
    /// Names that mean another name should nothing along a lookup's whole search order
    /// define them (`add_stand_in`); the first one added for a name counts.
    stand_ins: NameMap<StandIn>,
    /// Generators of one JITDylib run one lookup at a time, so two threads missing the same
    /// name don't both define it.
    generating: Arc<Mutex<()>>,
    default_tracker: TrackerId,
    /// Searched before its link order (ORC's default); off for JITDylibs that must find
    /// another's definitions first (the implementations behind lazy stubs).
    searches_itself: bool,
    /// Removed from the session: its name is free again and lookups in it fail.
    removed: bool,
}

/// What a name means when nothing defines it (`ExecutionSession::add_stand_in`).
#[derive(Clone)]
struct StandIn {
    target: SymbolName,
    flags: SymbolFlags,
    origin: String,
}

struct PendingUnit {
    unit: Box<dyn MaterializationUnit>,
    dylib: DylibId,
    tracker: TrackerId,
    /// The names whose table entries point at this unit (unless a later definition won).
    symbols: Vec<SymbolName>,
}

/// What a tracker owns, so that removing it touches only that.
struct TrackerRecord {
    dylib: DylibId,
    units: Vec<UnitId>,
    instances: Vec<InstanceId>,
    absolutes: Vec<SymbolName>,
}

type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct State {
    dylibs: Vec<Dylib>,
    units: Vec<Option<PendingUnit>>,
    /// Slots of `units` whose unit was claimed or removed, for the next definitions.
    free_units: Vec<UnitId>,
    instances: Vec<Instance>,
    /// Slots of `instances` whose code was removed when ready and that nothing refers to
    /// any more, for the next claims.
    free_instances: Vec<InstanceId>,
    trackers: Vec<TrackerRecord>,
    queries: query::Queries,
    groups: readiness::Groups,
    /// Jobs waiting for a thread (see `dispatch`).
    work: dispatch::WorkQueue,
    /// The threads that run them besides those that look up.
    pool: dispatch::Pool,
    /// Threads asleep on `Inner::changed` (only then is a notification worth a syscall).
    sleepers: usize,
    /// Every sleeper has been woken since the last one went to sleep: further changes need
    /// no notification until someone sleeps again (see `wake`).
    all_woken: bool,
    /// Root causes of failed materializations, in order, for reporting.
    errors: Vec<Arc<JitError>>,
    /// Told which instances are about to be removed, before their memory goes.
    removal_listeners: Vec<RemovalListener>,
}

struct Inner {
    names: Arc<NamePool>,
    executor: Arc<dyn Executor>,
    state: Mutex<State>,
    changed: Condvar,
    /// Some JITDylib has a stand-in (`add_stand_in`): only then does a lookup that misses a
    /// name look for one.
    has_stand_ins: std::sync::atomic::AtomicBool,
}

/// Hears which instances are about to be removed (see `add_removal_listener`).
pub type RemovalListener = Arc<dyn Fn(&[InstanceId]) + Send + Sync>;

/// A handle to the session; clones share it.
#[derive(Clone)]
pub struct ExecutionSession {
    inner: Arc<Inner>,
}

/// A symbol a lookup found: its address and flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FoundSymbol {
    pub addr: u64,
    pub flags: SymbolFlags,
    /// Size of the definition in bytes, where known (0 otherwise).
    pub size: u64,
}

impl FoundSymbol {
    fn for_link(self) -> ResolvedSymbol {
        ResolvedSymbol { addr: self.addr, callable: self.flags.callable, size: self.size.max(common_size(self.flags)) }
    }
}

/// A common symbol's merged size, so the unit that owns it can allocate enough.
fn common_size(flags: SymbolFlags) -> u64 {
    match flags.strength {
        Strength::Common { size, .. } => size,
        _ => 0,
    }
}

impl ExecutionSession {
    /// A session whose code goes into `memory` in this process.
    pub fn new(memory: Arc<dyn MemoryManager>) -> Self {
        Self::with_executor(Arc::new(InProcessExecutor::with_memory(memory)))
    }

    /// A session whose code runs in `executor`.
    pub fn with_executor(executor: Arc<dyn Executor>) -> Self {
        ExecutionSession {
            inner: Arc::new(Inner {
                names: NamePool::new(),
                executor,
                state: Mutex::new(State::default()),
                changed: Condvar::new(),
                has_stand_ins: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    pub fn names(&self) -> &Arc<NamePool> {
        &self.inner.names
    }

    pub fn intern(&self, name: &str) -> SymbolName {
        self.inner.names.intern(name)
    }

    /// The process that runs the code.
    pub fn executor(&self) -> &Arc<dyn Executor> {
        &self.inner.executor
    }

    /// The executor's memory for linked code.
    pub fn memory(&self) -> &Arc<dyn MemoryManager> {
        self.inner.executor.memory()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes sleeping threads after a change they may wait for.
    ///
    /// A woken thread looks at everything (its answer, the whole queue) once it has the lock
    /// again, so one notification covers every change made before it gets there: a lookup
    /// that queues 1,000 units wakes the pool once, not 1,000 times (each a `futex` call).
    /// A thread that goes to sleep clears `all_woken` (`sleep`), so it hears the next change.
    fn wake(&self, state: &mut State) {
        if state.sleepers > 0 && !state.all_woken {
            state.all_woken = true;
            self.inner.changed.notify_all();
        }
    }

    /// Creates a JITDylib; names are unique. It searches itself first, then its link order.
    pub fn create_jit_dylib(&self, name: &str) -> Result<DylibId> {
        let mut state = self.lock();
        if state.dylibs.iter().any(|d| d.name == name && !d.removed) {
            return Err(JitError::DuplicateDylib(name.to_string()));
        }
        let id = DylibId(state.dylibs.len() as u32);
        let default_tracker = state.new_tracker(id);
        state.dylibs.push(Dylib {
            name: name.to_string(),
            symbols: NameMap::default(),
            link_order: Vec::new(),
            generators: Vec::new(),
            stand_ins: NameMap::default(),
            generating: Arc::new(Mutex::new(())),
            default_tracker,
            searches_itself: true,
            removed: false,
        });
        Ok(id)
    }

    pub fn dylib_by_name(&self, name: &str) -> Option<DylibId> {
        self.lock().dylibs.iter().position(|d| d.name == name && !d.removed).map(|i| DylibId(i as u32))
    }

    pub fn dylib_name(&self, dylib: DylibId) -> String {
        self.lock().dylibs.get(dylib.0 as usize).map(|d| d.name.clone()).unwrap_or_default()
    }

    /// What `dylib` searches after itself.
    pub fn set_link_order(&self, dylib: DylibId, order: Vec<(DylibId, LookupFlags)>) {
        self.set_link_order_with(dylib, order, true);
    }

    /// Sets the link order; with `self_first` false the JITDylib searches only `order`
    /// (which may name it somewhere else).
    pub fn set_link_order_with(&self, dylib: DylibId, order: Vec<(DylibId, LookupFlags)>, self_first: bool) {
        let mut state = self.lock();
        let record = &mut state.dylibs[dylib.0 as usize];
        record.link_order = order;
        record.searches_itself = self_first;
    }

    pub fn link_order(&self, dylib: DylibId) -> Vec<(DylibId, LookupFlags)> {
        self.lock().dylibs[dylib.0 as usize].link_order.clone()
    }

    /// Generators run, in the order added, for names the JITDylib does not define.
    pub fn add_generator(&self, dylib: DylibId, generator: Arc<dyn DefinitionGenerator>) {
        self.lock().dylibs[dylib.0 as usize].generators.push(generator);
    }

    /// Makes `name` mean `target` in `dylib` when a lookup finds no definition of it along its
    /// whole search order, generators included: the JITDylib then defines `name` with
    /// `flags`, as an alias of `target` looked up in its own search order (see
    /// `lookup::take_stand_ins`). `origin` names who asked, for errors. A name's first stand-in
    /// counts; later ones are ignored. It lasts as long as the JITDylib: removing the code of
    /// the object that asked for it does not take it back.
    pub fn add_stand_in(&self, dylib: DylibId, name: SymbolName, target: SymbolName, flags: SymbolFlags, origin: &str) {
        let mut state = self.lock();
        let record = &mut state.dylibs[dylib.0 as usize];
        record.stand_ins.entry(name).or_insert_with(|| StandIn { target, flags, origin: origin.to_string() });
        self.inner.has_stand_ins.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Root causes of every failed materialization so far.
    pub fn errors(&self) -> Vec<Arc<JitError>> {
        self.lock().errors.clone()
    }

    /// Whether a unit's definitions are ready (used by the platform before running them).
    pub fn is_ready(&self, instance: InstanceId) -> bool {
        matches!(self.lock().instances.get(instance.0 as usize).map(|i| &i.state), Some(InstanceState::Ready))
    }

    /// Defines symbols that are already in memory.
    pub fn define_absolute(&self, dylib: DylibId, symbols: &[(SymbolName, u64, SymbolFlags)]) -> Result<()> {
        let mut state = self.lock();
        let tracker = state.dylibs[dylib.0 as usize].default_tracker;
        let table = &state.dylibs[dylib.0 as usize].symbols;
        for &(name, _, _) in symbols {
            if let Some(existing) = table.get(&name) {
                return Err(JitError::DuplicateDefinition {
                    name: self.inner.names.resolve(name).to_string(),
                    first: existing.origin.to_string(),
                    second: "absolute symbols".into(),
                });
            }
        }
        let origin: Arc<str> = Arc::from("absolute symbols");
        for &(name, addr, flags) in symbols {
            let entry = Entry {
                flags,
                origin: origin.clone(),
                tracker,
                unit: None,
                instance: None,
                addr: Some(addr),
                size: 0,
                failed_before: false,
                in_session_memory: false,
            };
            state.dylibs[dylib.0 as usize].symbols.insert(name, entry);
            state.trackers[tracker.0 as usize].absolutes.push(name);
        }
        Ok(())
    }

    /// Adds a unit's definitions to `dylib` under its default tracker.
    pub fn define(&self, dylib: DylibId, unit: Box<dyn MaterializationUnit>) -> Result<()> {
        let tracker = self.lock().dylibs[dylib.0 as usize].default_tracker;
        self.define_tracked(tracker, unit)
    }

    /// Adds a unit's definitions to the tracker's JITDylib, settling clashes by the weak and
    /// common rules; removing the tracker removes them.
    pub fn define_tracked(&self, tracker: TrackerId, mut unit: Box<dyn MaterializationUnit>) -> Result<()> {
        let origin: Arc<str> = Arc::from(unit.name());
        let symbols = unit.symbols();
        let in_session_memory = unit.defines_in_session_memory();
        let mut state = self.lock();
        let state = &mut *state;
        let dylib = state.trackers[tracker.0 as usize].dylib;
        let record = &mut state.dylibs[dylib.0 as usize];
        if record.removed {
            return Err(JitError::other(format!("JITDylib {} was removed", record.name)));
        }
        let unit_id = state.free_units.last().copied().unwrap_or(UnitId(state.units.len() as u32));
        // Decide everything first, so a duplicate leaves the table untouched.
        let mut decisions = Vec::with_capacity(symbols.len());
        for &(name, flags) in &symbols {
            let outcome = match record.symbols.get(&name) {
                None => None,
                // What failed to link gives way to a new definition.
                Some(existing) if existing.failed_before => Some(Outcome::Replace),
                Some(existing) => {
                    let outcome = match rules::resolve(existing.flags.strength, flags.strength) {
                        // Only a definition nobody has used yet can still be replaced.
                        Outcome::Replace if existing.unit.is_none() => Outcome::KeepExisting,
                        other => other,
                    };
                    let (first, second) = (existing.origin.to_string(), origin.to_string());
                    let name_text = || self.inner.names.resolve(name).to_string();
                    match outcome {
                        Outcome::Duplicate => {
                            return Err(JitError::DuplicateDefinition { name: name_text(), first, second })
                        }
                        Outcome::Mismatch(why) => {
                            return Err(JitError::MismatchedCopies { name: name_text(), first, second, why })
                        }
                        _ => {}
                    }
                    Some(outcome)
                }
            };
            decisions.push(outcome);
        }
        let mut owned = Vec::with_capacity(symbols.len());
        for (&(name, flags), outcome) in symbols.iter().zip(decisions) {
            let fresh = Entry {
                flags,
                origin: origin.clone(),
                tracker,
                unit: Some(unit_id),
                instance: None,
                addr: None,
                size: 0,
                failed_before: false,
                in_session_memory,
            };
            match outcome {
                None => {
                    record.symbols.insert(name, fresh);
                    owned.push(name);
                }
                Some(Outcome::Replace) => {
                    let old = record.symbols.insert(name, fresh);
                    owned.push(name);
                    if let Some(UnitId(loser)) = old.and_then(|e| e.unit) {
                        if let Some(pending) = state.units[loser as usize].as_mut() {
                            pending.unit.discard(name);
                        }
                    }
                }
                Some(Outcome::MergeCommon { size, align }) => {
                    if let Some(entry) = record.symbols.get_mut(&name) {
                        entry.flags.strength = Strength::Common { size, align };
                    }
                    unit.discard(name);
                }
                Some(Outcome::KeepExisting | Outcome::Duplicate | Outcome::Mismatch(_)) => unit.discard(name),
            }
        }
        state.put_unit(unit_id, PendingUnit { unit, dylib, tracker, symbols: owned });
        Ok(())
    }

    /// A JITDylib's own symbols first (all of them), then its link order.
    pub fn search_order(&self, dylib: DylibId) -> Vec<(DylibId, LookupFlags)> {
        let state = self.lock();
        let record = &state.dylibs[dylib.0 as usize];
        if !record.searches_itself {
            return record.link_order.clone();
        }
        let mut order = vec![(dylib, LookupFlags::MatchAllSymbols)];
        order.extend(record.link_order.iter().filter(|(d, _)| *d != dylib));
        order
    }
}

impl State {
    /// Stores a pending unit in slot `id` (a free one, or the next) and files it under its
    /// tracker.
    fn put_unit(&mut self, id: UnitId, pending: PendingUnit) {
        self.trackers[pending.tracker.0 as usize].units.push(id);
        if self.free_units.last() == Some(&id) {
            self.free_units.pop();
            self.units[id.0 as usize] = Some(pending);
        } else {
            self.units.push(Some(pending));
        }
    }

    fn new_tracker(&mut self, dylib: DylibId) -> TrackerId {
        let id = TrackerId(self.trackers.len() as u32);
        self.trackers.push(TrackerRecord { dylib, units: Vec::new(), instances: Vec::new(), absolutes: Vec::new() });
        id
    }

    fn instance(&mut self, id: InstanceId) -> &mut Instance {
        &mut self.instances[id.0 as usize]
    }
}
