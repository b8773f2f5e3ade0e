//! The ORC core: an `ExecutionSession` holds JITDylibs (symbol tables with link orders and
//! definition generators), materialization units waiting to be asked for, and the state of
//! every unit that was asked for.
//!
//! A symbol is *pending* (its unit not yet asked for), then *materializing*, *resolved* (its
//! address is known), *emitted* (its memory is final), and *ready* (it and everything it
//! depends on are emitted). A lookup names a search order of JITDylibs; it starts the
//! materialization of what it finds and returns once every symbol reaches the state it
//! needs: linking needs *resolved* (so that mutually dependent objects can both link),
//! running needs *ready*. All table updates happen under one lock; materialization runs
//! outside it, on the thread that asked.

mod dispatch;
mod lookup;
mod rules;
mod state;
mod symbols;
mod tracker;
mod unit;

pub use lookup::nested_materialization_time;
pub use symbols::ReexportsUnit;
pub use tracker::ResourceTracker;
pub use unit::{MaterializationResponsibility, MaterializationUnit};

use crate::error::{JitError, Result};
use crate::generators::DefinitionGenerator;
use indexmap::IndexMap;
use jitld_linker::format::Strength;
use jitld_linker::memory::MemoryManager;
use jitld_linker::{NamePool, ResolvedSymbol, SymbolName};
use rules::Outcome;
use std::any::Any;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct DylibId(pub u32);

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct InstanceId(pub u32);

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct UnitId(u32);

/// Everything defined through one tracker can be removed together.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct TrackerId(pub u32);

/// How a symbol competes with others and who may see it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SymbolFlags {
    pub strength: Strength,
    /// Visible to other JITDylibs (default visibility); hidden symbols are not.
    pub exported: bool,
    pub callable: bool,
}

impl SymbolFlags {
    pub fn strong_function() -> Self {
        SymbolFlags { strength: Strength::Strong, exported: true, callable: true }
    }
    pub fn strong_data() -> Self {
        SymbolFlags { strength: Strength::Strong, exported: true, callable: false }
    }
}

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

struct Instance {
    state: InstanceState,
    dylib: DylibId,
    tracker: TrackerId,
    origin: Arc<str>,
    /// Instances whose symbols this one's code refers to (not yet ready when looked up).
    deps: Vec<InstanceId>,
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
}

struct Dylib {
    name: String,
    symbols: IndexMap<SymbolName, Entry>,
    link_order: Vec<(DylibId, LookupFlags)>,
    generators: Vec<Arc<dyn DefinitionGenerator>>,
    default_tracker: TrackerId,
    /// Searched before its link order (ORC's default); off for JITDylibs that must find
    /// another's definitions first (the implementations behind lazy stubs).
    searches_itself: bool,
    /// Removed from the session: its name is free again and lookups in it fail.
    removed: bool,
}

struct PendingUnit {
    unit: Box<dyn MaterializationUnit>,
    dylib: DylibId,
    tracker: TrackerId,
}

#[derive(Default)]
struct State {
    dylibs: Vec<Dylib>,
    units: Vec<Option<PendingUnit>>,
    /// Unit → the instance it became when claimed.
    claimed: Vec<Option<InstanceId>>,
    instances: Vec<Instance>,
    /// Tracker → the JITDylib it belongs to.
    trackers: Vec<DylibId>,
    /// Root causes of failed materializations, in order, for reporting.
    errors: Vec<Arc<JitError>>,
    /// Told which instances are about to be removed, before their memory goes.
    removal_listeners: Vec<RemovalListener>,
}

struct Inner {
    names: Arc<NamePool>,
    memory: Arc<dyn MemoryManager>,
    state: Mutex<State>,
    changed: Condvar,
    /// Extra materialization threads (none: everything runs on the thread that asks).
    pool: Mutex<Option<dispatch::Pool>>,
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

impl ExecutionSession {
    pub fn new(memory: Arc<dyn MemoryManager>) -> Self {
        ExecutionSession {
            inner: Arc::new(Inner {
                names: NamePool::new(),
                memory,
                state: Mutex::new(State::default()),
                changed: Condvar::new(),
                pool: Mutex::new(None),
            }),
        }
    }

    pub fn names(&self) -> &Arc<NamePool> {
        &self.inner.names
    }

    pub fn intern(&self, name: &str) -> SymbolName {
        self.inner.names.intern(name)
    }

    pub fn memory(&self) -> &Arc<dyn MemoryManager> {
        &self.inner.memory
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates a JITDylib; names are unique. It searches itself first, then its link order.
    pub fn create_jit_dylib(&self, name: &str) -> Result<DylibId> {
        let mut state = self.lock();
        if state.dylibs.iter().any(|d| d.name == name && !d.removed) {
            return Err(JitError::DuplicateDylib(name.to_string()));
        }
        let id = DylibId(state.dylibs.len() as u32);
        let default_tracker = TrackerId(state.trackers.len() as u32);
        state.trackers.push(id);
        state.dylibs.push(Dylib {
            name: name.to_string(),
            symbols: IndexMap::new(),
            link_order: Vec::new(),
            generators: Vec::new(),
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
        let table = &mut state.dylibs[dylib.0 as usize].symbols;
        for &(name, _, _) in symbols {
            if table.contains_key(&name) {
                return Err(JitError::DuplicateDefinition {
                    name: self.inner.names.resolve(name).to_string(),
                    first: table[&name].origin.to_string(),
                    second: "absolute symbols".into(),
                });
            }
        }
        let origin: Arc<str> = Arc::from("absolute symbols");
        for &(name, addr, flags) in symbols {
            table.insert(
                name,
                Entry { flags, origin: origin.clone(), tracker, unit: None, instance: None, addr: Some(addr), size: 0 },
            );
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
        let mut state = self.lock();
        let dylib = state.trackers[tracker.0 as usize];
        if state.dylibs[dylib.0 as usize].removed {
            return Err(JitError::other(format!("JITDylib {} was removed", state.dylibs[dylib.0 as usize].name)));
        }
        let unit_id = UnitId(state.units.len() as u32);
        let symbols = unit.symbols();
        // Decide everything first, so a duplicate leaves the table untouched.
        let mut decisions = Vec::with_capacity(symbols.len());
        for &(name, flags) in &symbols {
            let outcome = match state.dylibs[dylib.0 as usize].symbols.get(&name) {
                None => None,
                Some(existing) => {
                    let outcome = match rules::resolve(existing.flags.strength, flags.strength) {
                        // Only a definition nobody has used yet can still be replaced.
                        Outcome::Replace if existing.unit.is_none() => Outcome::KeepExisting,
                        other => other,
                    };
                    if outcome == Outcome::Duplicate {
                        return Err(JitError::DuplicateDefinition {
                            name: self.inner.names.resolve(name).to_string(),
                            first: existing.origin.to_string(),
                            second: origin.to_string(),
                        });
                    }
                    Some(outcome)
                }
            };
            decisions.push(outcome);
        }
        for (&(name, flags), outcome) in symbols.iter().zip(decisions) {
            let fresh = Entry {
                flags,
                origin: origin.clone(),
                tracker,
                unit: Some(unit_id),
                instance: None,
                addr: None,
                size: 0,
            };
            match outcome {
                None => {
                    state.dylibs[dylib.0 as usize].symbols.insert(name, fresh);
                }
                Some(Outcome::Replace) => {
                    let old = state.dylibs[dylib.0 as usize].symbols.insert(name, fresh);
                    if let Some(UnitId(loser)) = old.and_then(|e| e.unit) {
                        if let Some(pending) = state.units[loser as usize].as_mut() {
                            pending.unit.discard(name);
                        }
                    }
                }
                Some(Outcome::MergeCommon { size, align }) => {
                    let entry = &mut state.dylibs[dylib.0 as usize].symbols[&name];
                    entry.flags.strength = Strength::Common { size, align };
                    unit.discard(name);
                }
                Some(Outcome::KeepExisting | Outcome::Duplicate) => unit.discard(name),
            }
        }
        state.units.push(Some(PendingUnit { unit, dylib, tracker }));
        state.claimed.push(None);
        Ok(())
    }

    /// Looks `names` up in `order` and waits until each is ready to run. Every name must be
    /// found.
    pub fn lookup(&self, order: &[(DylibId, LookupFlags)], names: &[SymbolName]) -> Result<Vec<FoundSymbol>> {
        let wanted: Vec<(SymbolName, bool)> = names.iter().map(|&n| (n, false)).collect();
        let found = self.lookup_impl(order, &wanted, Required::Ready, None, "lookup")?;
        Ok(found.into_iter().map(|f| f.expect("strong names are found or fail")).collect())
    }

    fn lookup_for_link(
        &self,
        order: &[(DylibId, LookupFlags)],
        instance: InstanceId,
        names: &[(SymbolName, bool)],
        referrer: &str,
    ) -> Result<Vec<Option<ResolvedSymbol>>> {
        let found = self.lookup_impl(order, names, Required::Resolved, Some(instance), referrer)?;
        Ok(found
            .into_iter()
            .map(|f| {
                f.map(|f| ResolvedSymbol {
                    addr: f.addr,
                    callable: f.flags.callable,
                    size: f.size.max(state::common_size(f.flags)),
                })
            })
            .collect())
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
