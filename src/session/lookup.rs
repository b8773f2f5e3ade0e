//! Lookups: find each name along a search order (running generators where it is missing),
//! claim the pending units that define them, and register a query that completes when
//! every symbol reaches the state the caller needs.

use super::query::{Answer, Completion};
use super::*;
use jitld_linker::LookupName;

impl ExecutionSession {
    /// Looks `names` up in `order` and waits until each is ready to run. Every name must be
    /// found. The calling thread runs materializations while it waits.
    pub fn lookup(&self, order: &[(DylibId, LookupFlags)], names: &[SymbolName]) -> Result<Vec<FoundSymbol>> {
        let wanted: Vec<LookupName> = names.iter().map(|&n| LookupName::required(n)).collect();
        let found = self.lookup_blocking(order, &wanted, Required::Ready, None, "lookup")?;
        Ok(found.into_iter().map(|f| f.expect("strong names are found or fail")).collect())
    }

    /// The flags of each name's definition, without materializing anything (generators may
    /// still add definitions). Every name must be found.
    pub fn lookup_flags(&self, order: &[(DylibId, LookupFlags)], names: &[SymbolName]) -> Result<Vec<SymbolFlags>> {
        let wanted: Vec<LookupName> = names.iter().map(|&n| LookupName::required(n)).collect();
        let found = self.search(order, &wanted)?;
        let state = self.lock();
        let mut flags = Vec::with_capacity(names.len());
        let mut missing = Vec::new();
        for (name, slot) in names.iter().zip(found) {
            match slot.and_then(|(dylib, name)| state.dylibs[dylib.0 as usize].symbols.get(&name)) {
                Some(entry) => flags.push(entry.flags),
                None => missing.push((self.inner.names.resolve(*name).to_string(), "lookup_flags".to_string())),
            }
        }
        if missing.is_empty() {
            Ok(flags)
        } else {
            Err(JitError::Undefined(missing))
        }
    }

    pub(super) fn lookup_blocking(
        &self,
        order: &[(DylibId, LookupFlags)],
        names: &[LookupName],
        required: Required,
        requester: Option<InstanceId>,
        referrer: &str,
    ) -> Answer {
        let cell = Arc::new(Mutex::new(None));
        self.lookup_async(order, names, required, requester, referrer, Completion::Wake(cell.clone()));
        let mut answer = None;
        self.run_until(|| {
            answer = cell.lock().unwrap_or_else(|e| e.into_inner()).take();
            answer.is_some()
        });
        let answer = answer.unwrap_or_else(|| Err(JitError::other("lookup ended without an answer")))?;
        if required == Required::Ready {
            // The caller may run what it found: protections the memory manager deferred
            // (see `InProcessMemoryManager::with_deferred_protection`) apply now.
            self.memory().protect_finalized()?;
        }
        Ok(answer)
    }

    /// Starts a lookup; `completion` hears the answer. Generators run on this thread, the
    /// units found are queued, and nothing here waits for a materialization.
    pub(super) fn lookup_async(
        &self,
        order: &[(DylibId, LookupFlags)],
        names: &[LookupName],
        required: Required,
        requester: Option<InstanceId>,
        referrer: &str,
        completion: Completion,
    ) {
        let found = match self.search(order, names) {
            Ok(found) => found,
            Err(e) => return self.complete(&mut self.lock(), completion, Err(e)),
        };
        let missing: Vec<(String, String)> = names
            .iter()
            .zip(&found)
            .filter(|(wanted, f)| f.is_none() && !wanted.weak)
            .map(|(wanted, _)| (self.inner.names.resolve(wanted.name).to_string(), referrer.to_string()))
            .collect();
        let mut state = self.lock();
        if !missing.is_empty() {
            return self.complete(&mut state, completion, Err(JitError::Undefined(missing)));
        }
        for &(dylib, name) in found.iter().flatten() {
            if let Some(unit) = state.dylibs[dylib.0 as usize].symbols.get(&name).and_then(|e| e.unit) {
                self.claim(&mut state, unit);
            }
        }
        self.register_query(&mut state, &found, required, requester, completion);
    }

    /// Finds which JITDylib defines each name, running generators where a name is missing.
    pub(super) fn search(
        &self,
        order: &[(DylibId, LookupFlags)],
        names: &[LookupName],
    ) -> Result<Vec<Option<(DylibId, SymbolName)>>> {
        let mut found: Vec<Option<(DylibId, SymbolName)>> = vec![None; names.len()];
        for &(dylib, flags) in order {
            let (generators, generating) = {
                let state = self.lock();
                let record = &state.dylibs[dylib.0 as usize];
                if record.removed {
                    continue;
                }
                if search_dylib(&state, dylib, flags, names, &mut found) {
                    break;
                }
                if record.generators.is_empty() {
                    continue;
                }
                (record.generators.clone(), record.generating.clone())
            };
            let missing: Vec<LookupName> =
                names.iter().zip(&found).filter(|(_, f)| f.is_none()).map(|(n, _)| *n).collect();
            for generator in &generators {
                generator.prepare(&missing);
            }
            let _one_at_a_time = generating.lock().unwrap_or_else(|e| e.into_inner());
            // Another thread may have generated these while we waited for our turn.
            if search_dylib(&self.lock(), dylib, flags, names, &mut found) {
                break;
            }
            for generator in generators {
                let still: Vec<LookupName> =
                    names.iter().zip(&found).filter(|(_, f)| f.is_none()).map(|(n, _)| *n).collect();
                if still.is_empty() {
                    break;
                }
                generator.try_to_generate(self, dylib, flags, &still)?;
                search_dylib(&self.lock(), dylib, flags, names, &mut found);
            }
        }
        let stand_ins = self.inner.has_stand_ins.load(std::sync::atomic::Ordering::Relaxed);
        if stand_ins && found.iter().any(Option::is_none) {
            self.take_stand_ins(order, names, &mut found)?;
        }
        Ok(found)
    }

    /// Names nothing along `order` defines take the stand-in of the first JITDylib in it that
    /// has one: that JITDylib defines the name as an alias of the stand-in's target.
    fn take_stand_ins(
        &self,
        order: &[(DylibId, LookupFlags)],
        names: &[LookupName],
        found: &mut [Option<(DylibId, SymbolName)>],
    ) -> Result<()> {
        for &(dylib, flags) in order {
            let taken: Vec<(SymbolName, StandIn)> = {
                let state = self.lock();
                let record = &state.dylibs[dylib.0 as usize];
                let missing = names.iter().zip(found.iter()).filter(|(_, f)| f.is_none());
                let taken = missing.filter_map(|(w, _)| Some((w.name, record.stand_ins.get(&w.name)?.clone())));
                taken.filter(|(name, _)| !stands_for_itself(record, *name)).collect()
            };
            if taken.is_empty() {
                continue;
            }
            for (name, stand_in) in taken {
                let aliases = vec![(name, stand_in.target, stand_in.flags)];
                let unit = ReexportsUnit::new(self.search_order(dylib), aliases, stand_in.origin);
                self.define(dylib, Box::new(unit))?;
            }
            if search_dylib(&self.lock(), dylib, flags, names, found) {
                break;
            }
        }
        Ok(())
    }

    /// Turns a pending unit into a materializing instance and queues its materialization.
    fn claim(&self, state: &mut State, unit_id: UnitId) {
        let Some(pending) = state.units[unit_id.0 as usize].take() else { return };
        state.free_units.push(unit_id);
        let instance = state.free_instances.pop().unwrap_or(InstanceId(state.instances.len() as u32));
        let origin: Arc<str> = Arc::from(pending.unit.name());
        let table = &mut state.dylibs[pending.dylib.0 as usize].symbols;
        let mut symbols = Vec::with_capacity(pending.symbols.len());
        for name in pending.symbols {
            if let Some(entry) = table.get_mut(&name).filter(|e| e.unit == Some(unit_id)) {
                entry.unit = None;
                entry.instance = Some(instance);
                symbols.push((name, entry.flags));
            }
        }
        let record = Instance {
            state: InstanceState::Materializing,
            dylib: pending.dylib,
            tracker: pending.tracker,
            origin: origin.clone(),
            retry: pending.unit.retry(),
            symbols: symbols.iter().map(|&(name, _)| name).collect(),
            deps: Vec::new(),
            dependents: Vec::new(),
            queries: Vec::new(),
            waited_by: Vec::new(),
            group: None,
            resources: Vec::new(),
        };
        match state.instances.get_mut(instance.0 as usize) {
            Some(slot) => *slot = record,
            None => state.instances.push(record),
        }
        state.trackers[pending.tracker.0 as usize].instances.push(instance);
        let mr = MaterializationResponsibility::new(self.clone(), instance, pending.dylib, symbols, origin);
        let unit = pending.unit;
        let prepare = if state.work.prepared_ahead { unit.prepare() } else { None };
        self.push_materialization(state, Box::new(move || unit.materialize(mr)), prepare);
    }
}

/// Whether `name`'s stand-ins lead back to it through names the JITDylib does not define:
/// taking it would make aliases that wait for each other, so it stays undefined.
fn stands_for_itself(record: &Dylib, name: SymbolName) -> bool {
    let mut target = name;
    for _ in 0..=record.stand_ins.len() {
        match record.stand_ins.get(&target) {
            Some(next) if next.target == name => return true,
            Some(next) if !record.symbols.contains_key(&next.target) => target = next.target,
            _ => return false,
        }
    }
    false
}

/// Fills the names `dylib` defines into `found`; true once every name is found.
fn search_dylib(
    state: &State,
    dylib: DylibId,
    flags: LookupFlags,
    names: &[LookupName],
    found: &mut [Option<(DylibId, SymbolName)>],
) -> bool {
    let table = &state.dylibs[dylib.0 as usize].symbols;
    let mut all = true;
    for (wanted, slot) in names.iter().zip(found.iter_mut()) {
        if slot.is_some() {
            continue;
        }
        match table.get(&wanted.name) {
            Some(entry) if flags == LookupFlags::MatchAllSymbols || entry.flags.exported() => {
                *slot = Some((dylib, wanted.name));
            }
            _ => all = false,
        }
    }
    all
}

/// How a unit's link resolves its externals: through its JITDylib's search order (or one
/// given), recording what it found as its dependencies.
#[derive(Clone)]
pub struct LinkResolver {
    session: ExecutionSession,
    order: Vec<(DylibId, LookupFlags)>,
    instance: InstanceId,
}

impl LinkResolver {
    pub(super) fn new(session: ExecutionSession, order: Vec<(DylibId, LookupFlags)>, instance: InstanceId) -> Self {
        LinkResolver { session, order, instance }
    }

    /// Resolves `names` (each with whether a missing definition is allowed) and calls `then`
    /// once every one has an address, on whichever session thread gets there; returns at
    /// once. `referrer` names the code that refers to them, for errors.
    pub fn lookup_then(
        &self,
        names: &[LookupName],
        referrer: &str,
        then: impl FnOnce(Result<Vec<Option<ResolvedSymbol>>>) + Send + 'static,
    ) {
        let then = move |answer: Answer| then(answer.map(for_link));
        let completion = Completion::Then(Box::new(then));
        self.session.lookup_async(&self.order, names, Required::Resolved, Some(self.instance), referrer, completion);
    }

    /// Which of `names` will resolve inside `[start, end)`, the window of the session's
    /// memory, as far as the session can promise it now: a name already resolved there, or
    /// defined by a unit that places its definitions in that memory (`MaterializationUnit::
    /// defines_in_session_memory`). Finds the names as `lookup_then` will (generators run
    /// for missing ones) but claims nothing. A name that is not found, or may land anywhere
    /// (a library's, an absolute one), is `false`. A generator's error is returned: the
    /// generator may not report it again when the link's lookup comes.
    pub fn resolve_within(&self, names: &[LookupName], (start, end): (u64, u64)) -> Result<Vec<bool>> {
        let found = self.session.search(&self.order, names)?;
        let state = self.session.lock();
        Ok(found
            .iter()
            .map(|slot| {
                let entry = slot.and_then(|(dylib, name)| state.dylibs[dylib.0 as usize].symbols.get(&name));
                entry.is_some_and(|e| match e.addr {
                    Some(addr) => (start..end).contains(&addr),
                    None => e.in_session_memory,
                })
            })
            .collect())
    }

    /// Like `lookup_then`, but waits (running other materializations meanwhile).
    pub fn lookup(&self, names: &[LookupName], referrer: &str) -> Result<Vec<Option<ResolvedSymbol>>> {
        let answer =
            self.session.lookup_blocking(&self.order, names, Required::Resolved, Some(self.instance), referrer);
        answer.map(for_link)
    }
}

fn for_link(found: Vec<Option<FoundSymbol>>) -> Vec<Option<ResolvedSymbol>> {
    found.into_iter().map(|f| f.map(FoundSymbol::for_link)).collect()
}
