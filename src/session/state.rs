//! Symbol state transitions: resolved (addresses known), emitted (memory final), ready
//! (everything it depends on is emitted too), and failed, which reaches every dependent.
//! Each transition wakes exactly the queries registered on the instance that changed.

use super::*;

impl ExecutionSession {
    pub(super) fn resolve_instance(
        &self,
        instance: InstanceId,
        dylib: DylibId,
        addrs: &[(SymbolName, u64, u64)],
    ) -> Result<()> {
        let mut state = self.lock();
        let state = &mut *state;
        if let InstanceState::Failed(e) = &state.instances[instance.0 as usize].state {
            return Err(JitError::clone(e));
        }
        let table = &mut state.dylibs[dylib.0 as usize].symbols;
        for &(name, addr, size) in addrs {
            if let Some(entry) = table.get_mut(&name).filter(|e| e.instance == Some(instance)) {
                entry.addr = Some(addr);
                entry.size = size;
            }
        }
        state.instance(instance).state = InstanceState::Resolved;
        self.notify_queries(state, instance);
        Ok(())
    }

    pub(super) fn emit_instance(&self, instance: InstanceId, resources: Vec<Box<dyn Any + Send>>) -> Result<()> {
        let mut state = self.lock();
        let state = &mut *state;
        let record = state.instance(instance);
        if let InstanceState::Failed(e) = &record.state {
            // A dependency failed while we linked: drop what we made.
            let e = JitError::clone(e);
            drop(resources);
            return Err(e);
        }
        record.state = InstanceState::Emitted;
        record.resources = resources;
        let ready = readiness::on_emitted(state, instance);
        self.make_ready(state, &ready);
        self.notify_queries(state, instance);
        Ok(())
    }

    pub(super) fn make_ready(&self, state: &mut State, instances: &[InstanceId]) {
        for &id in instances {
            let record = state.instance(id);
            record.group = None;
            // Ready code cannot fail any more: no copy to retry with is needed.
            record.retry = None;
            if matches!(record.state, InstanceState::Emitted) {
                record.state = InstanceState::Ready;
                self.notify_queries(state, id);
            }
        }
    }

    /// A failed instance's names go back to a fresh copy of its unit, waiting to be linked
    /// again (and replaced by any new definition); without a copy they leave the table.
    fn define_again_or_forget(
        &self,
        state: &mut State,
        failed: InstanceId,
        retry: Option<Box<dyn MaterializationUnit>>,
        dylib: DylibId,
        tracker: TrackerId,
        symbols: Vec<SymbolName>,
    ) {
        let unit = state.free_units.last().copied().unwrap_or(UnitId(state.units.len() as u32));
        let table = &mut state.dylibs[dylib.0 as usize].symbols;
        let mut kept = Vec::new();
        for name in symbols {
            let Some(entry) = table.get_mut(&name).filter(|e| e.instance == Some(failed)) else { continue };
            if retry.is_some() {
                entry.unit = Some(unit);
                entry.instance = None;
                entry.addr = None;
                entry.size = 0;
                entry.failed_before = true;
                kept.push(name);
            } else {
                table.remove(&name);
            }
        }
        if let Some(retry) = retry {
            state.put_unit(unit, PendingUnit { unit: retry, dylib, tracker, symbols: kept });
        }
    }

    /// Fails `instance` and, transitively, every unready instance that depends on it.
    pub(super) fn fail_instance(&self, instance: InstanceId, error: JitError, root: bool) {
        let mut freed = Vec::new();
        // Emitted code that fails with a dependency is unloaded as removed code is: the
        // platform withdraws what it registered (unwind tables, finalizers) before the
        // memory goes.
        let mut unloaded = Vec::new();
        let listeners = {
            let mut state = self.lock();
            let state = &mut *state;
            let error = Arc::new(error);
            if root && !matches!(*error, JitError::DependencyFailed { .. }) {
                state.errors.push(error.clone());
            }
            let mut work = vec![(instance, error)];
            let mut unemitted = Vec::new();
            while let Some((id, error)) = work.pop() {
                let record = state.instance(id);
                if matches!(record.state, InstanceState::Failed(_) | InstanceState::Ready) {
                    continue;
                }
                let was_unemitted = record.state.unemitted();
                if matches!(record.state, InstanceState::Emitted) {
                    unloaded.push(id);
                }
                record.state = InstanceState::Failed(error.clone());
                freed.append(&mut record.resources);
                let retry = record.retry.take();
                let (dylib, tracker, symbols) = (record.dylib, record.tracker, std::mem::take(&mut record.symbols));
                self.define_again_or_forget(state, id, retry, dylib, tracker, symbols);
                for &dependent in &state.instances[id.0 as usize].dependents {
                    let other = &state.instances[dependent.0 as usize];
                    if !matches!(other.state, InstanceState::Failed(_) | InstanceState::Ready) {
                        let cause = Arc::new(JitError::DependencyFailed {
                            unit: other.origin.to_string(),
                            cause: error.clone(),
                        });
                        work.push((dependent, cause));
                    }
                }
                self.notify_queries(state, id);
                if was_unemitted {
                    unemitted.push(id);
                }
            }
            // Only now, with every dependent failed, may groups that waited for these
            // become ready: what is left in them did not depend on the failure.
            for id in unemitted {
                let ready = readiness::forget(state, id);
                self.make_ready(state, &ready);
            }
            self.wake(state);
            state.removal_listeners.clone()
        };
        if !unloaded.is_empty() {
            for listener in listeners {
                listener(&unloaded);
            }
        }
        drop(freed);
    }
}
