//! Lookups: find each name along a search order (running generators where it is missing),
//! materialize the pending units that define them, and wait until each symbol reaches the
//! state the caller needs.

use super::*;

impl ExecutionSession {
    /// The flags of each name's definition, without materializing anything (generators may
    /// still add definitions). Every name must be found.
    pub fn lookup_flags(&self, order: &[(DylibId, LookupFlags)], names: &[SymbolName]) -> Result<Vec<SymbolFlags>> {
        let wanted: Vec<(SymbolName, bool)> = names.iter().map(|&n| (n, false)).collect();
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

    pub(super) fn lookup_impl(
        &self,
        order: &[(DylibId, LookupFlags)],
        names: &[(SymbolName, bool)],
        required: Required,
        requester: Option<InstanceId>,
        referrer: &str,
    ) -> Result<Vec<Option<FoundSymbol>>> {
        let found = self.search(order, names)?;
        let missing: Vec<(String, String)> = names
            .iter()
            .zip(&found)
            .filter(|((_, weak), f)| f.is_none() && !weak)
            .map(|((name, _), _)| (self.inner.names.resolve(*name).to_string(), referrer.to_string()))
            .collect();
        if !missing.is_empty() {
            return Err(JitError::Undefined(missing));
        }
        let origins = self.origins(&found);
        self.start_materializing(&found);
        self.wait_for(&found, origins, required, requester)
    }

    /// Finds which JITDylib defines each name, running generators where a name is missing.
    pub(super) fn search(
        &self,
        order: &[(DylibId, LookupFlags)],
        names: &[(SymbolName, bool)],
    ) -> Result<Vec<Option<(DylibId, SymbolName)>>> {
        let mut found: Vec<Option<(DylibId, SymbolName)>> = vec![None; names.len()];
        for &(dylib, flags) in order {
            let generators = {
                let state = self.lock();
                if state.dylibs[dylib.0 as usize].removed {
                    continue;
                }
                self.search_dylib(&state, dylib, flags, names, &mut found);
                state.dylibs[dylib.0 as usize].generators.clone()
            };
            if generators.is_empty() || found.iter().all(Option::is_some) {
                continue;
            }
            for generator in generators {
                let still: Vec<(SymbolName, bool)> =
                    names.iter().zip(&found).filter(|(_, f)| f.is_none()).map(|(n, _)| *n).collect();
                if still.is_empty() {
                    break;
                }
                generator.try_to_generate(self, dylib, flags, &still)?;
                let state = self.lock();
                self.search_dylib(&state, dylib, flags, names, &mut found);
            }
        }
        Ok(found)
    }

    fn search_dylib(
        &self,
        state: &State,
        dylib: DylibId,
        flags: LookupFlags,
        names: &[(SymbolName, bool)],
        found: &mut [Option<(DylibId, SymbolName)>],
    ) {
        let table = &state.dylibs[dylib.0 as usize].symbols;
        for ((name, _), slot) in names.iter().zip(found.iter_mut()) {
            if slot.is_some() {
                continue;
            }
            if let Some(entry) = table.get(name) {
                if flags == LookupFlags::MatchAllSymbols || entry.flags.exported {
                    *slot = Some((dylib, *name));
                }
            }
        }
    }

    /// Materializes every pending unit among `found`, one at a time on this thread. Each unit
    /// is claimed just before it runs, so no claimed unit ever waits behind another.
    fn start_materializing(&self, found: &[Option<(DylibId, SymbolName)>]) {
        self.offer_to_pool(found);
        while let Some((unit, mr)) = self.claim_next(found) {
            timed_materialization(|| unit.materialize(mr));
        }
    }

    pub(super) fn claim_next(
        &self,
        found: &[Option<(DylibId, SymbolName)>],
    ) -> Option<(Box<dyn MaterializationUnit>, MaterializationResponsibility)> {
        let mut state = self.lock();
        let (unit_id, pending) = found.iter().flatten().find_map(|&(dylib, name)| {
            let unit_id = state.dylibs[dylib.0 as usize].symbols.get(&name)?.unit?;
            let pending = state.units[unit_id.0 as usize].take()?;
            Some((unit_id, pending))
        })?;
        let instance = InstanceId(state.instances.len() as u32);
        state.claimed[unit_id.0 as usize] = Some(instance);
        let origin: Arc<str> = Arc::from(pending.unit.name());
        state.instances.push(Instance {
            state: InstanceState::Materializing,
            dylib: pending.dylib,
            tracker: pending.tracker,
            origin: origin.clone(),
            deps: Vec::new(),
            resources: Vec::new(),
        });
        let mut symbols = Vec::new();
        for (name, entry) in state.dylibs[pending.dylib.0 as usize].symbols.iter_mut() {
            if entry.unit == Some(unit_id) {
                entry.unit = None;
                entry.instance = Some(instance);
                symbols.push((*name, entry.flags));
            }
        }
        let mr = MaterializationResponsibility {
            session: self.clone(),
            instance,
            dylib: pending.dylib,
            index: symbols.iter().enumerate().map(|(i, (name, _))| (*name, i)).collect(),
            symbols,
            origin: origin.to_string(),
            done: false,
        };
        Some((pending.unit, mr))
    }

    /// Which unit (or instance) defines each found symbol now; if it fails, its entries leave
    /// the table, and this is how the lookup still finds the cause.
    fn origins(&self, found: &[Option<(DylibId, SymbolName)>]) -> Vec<(Option<UnitId>, Option<InstanceId>)> {
        let state = self.lock();
        found
            .iter()
            .map(|slot| {
                let entry = slot.and_then(|(d, n)| state.dylibs[d.0 as usize].symbols.get(&n));
                (entry.and_then(|e| e.unit), entry.and_then(|e| e.instance))
            })
            .collect()
    }

    /// Blocks until every found symbol reaches `required`, or one of them fails.
    fn wait_for(
        &self,
        found: &[Option<(DylibId, SymbolName)>],
        origins: Vec<(Option<UnitId>, Option<InstanceId>)>,
        required: Required,
        requester: Option<InstanceId>,
    ) -> Result<Vec<Option<FoundSymbol>>> {
        let mut state = self.lock();
        let mut seen: Vec<Option<InstanceId>> = origins
            .into_iter()
            .map(|(unit, instance)| instance.or_else(|| unit.and_then(|u| state.claimed[u.0 as usize])))
            .collect();
        loop {
            let mut results = Vec::with_capacity(found.len());
            let mut deps = Vec::new();
            let mut waiting = false;
            for (slot, seen) in found.iter().zip(seen.iter_mut()) {
                let Some((dylib, name)) = *slot else {
                    results.push(None);
                    continue;
                };
                let entry = state.dylibs[dylib.0 as usize].symbols.get(&name);
                if let Some(instance) = entry.and_then(|e| e.instance) {
                    *seen = Some(instance);
                }
                if let Some(InstanceState::Failed(e)) = seen.map(|i| &state.instances[i.0 as usize].state) {
                    return Err(JitError::clone(e));
                }
                let Some(entry) = entry else {
                    let name = self.inner.names.resolve(name);
                    return Err(JitError::other(format!("{name} was removed while being looked up")));
                };
                let reached = match entry.instance.map(|i| (i, &state.instances[i.0 as usize].state)) {
                    None => entry.addr.is_some(),
                    Some((_, InstanceState::Ready)) => true,
                    Some((i, InstanceState::Resolved | InstanceState::Emitted)) if required == Required::Resolved => {
                        deps.push(i);
                        true
                    }
                    Some(_) => false,
                };
                if !reached || entry.addr.is_none() {
                    waiting = true;
                    break;
                }
                results.push(Some(FoundSymbol { addr: entry.addr.unwrap_or(0), flags: entry.flags, size: entry.size }));
            }
            if !waiting {
                if let Some(requester) = requester {
                    let own = &mut state.instances[requester.0 as usize].deps;
                    own.extend(deps.into_iter().filter(|&d| d != requester));
                }
                return Ok(results);
            }
            state = self.inner.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
}

thread_local! {
    /// Per running materialization on this thread (innermost last): time spent in the
    /// materializations it caused, which ran nested inside it.
    static CHILD_TIME: std::cell::RefCell<Vec<std::time::Duration>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs one materialization, charging its time to the one it is nested in (if any).
pub(crate) fn timed_materialization(run: impl FnOnce()) {
    CHILD_TIME.with(|stack| stack.borrow_mut().push(std::time::Duration::ZERO));
    let started = std::time::Instant::now();
    run();
    let elapsed = started.elapsed();
    CHILD_TIME.with(|stack| {
        let mut stack = stack.borrow_mut();
        stack.pop();
        if let Some(parent) = stack.last_mut() {
            *parent += elapsed;
        }
    });
}

/// Time the running materialization has spent in nested ones so far (for statistics that
/// must not count nested links twice).
pub fn nested_materialization_time() -> std::time::Duration {
    CHILD_TIME.with(|stack| stack.borrow().last().copied().unwrap_or_default())
}
