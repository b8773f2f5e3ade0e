//! Symbol state transitions: resolved (addresses known), emitted (memory final), ready
//! (everything it depends on is emitted too), and failed, which reaches every dependent.

use super::*;

impl ExecutionSession {
    pub(super) fn resolve_instance(
        &self,
        instance: InstanceId,
        dylib: DylibId,
        addrs: &[(SymbolName, u64, u64)],
    ) -> Result<()> {
        let mut state = self.lock();
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
        state.instances[instance.0 as usize].state = InstanceState::Resolved;
        self.inner.changed.notify_all();
        Ok(())
    }

    pub(super) fn emit_instance(&self, instance: InstanceId, resources: Vec<Box<dyn Any + Send>>) -> Result<()> {
        let mut state = self.lock();
        let record = &mut state.instances[instance.0 as usize];
        if let InstanceState::Failed(e) = &record.state {
            // A dependency failed while we linked: drop what we made.
            let e = JitError::clone(e);
            drop(state);
            drop(resources);
            return Err(e);
        }
        record.state = InstanceState::Emitted;
        record.resources = resources;
        promote_ready(&mut state);
        self.inner.changed.notify_all();
        Ok(())
    }

    /// Fails `instance` and, transitively, every unready instance that depends on it.
    pub(super) fn fail_instance(&self, instance: InstanceId, error: JitError, root: bool) {
        let mut freed = Vec::new();
        {
            let mut state = self.lock();
            let error = Arc::new(error);
            if root && !matches!(*error, JitError::DependencyFailed { .. }) {
                state.errors.push(error.clone());
            }
            let mut work = vec![(instance, error)];
            while let Some((id, error)) = work.pop() {
                let record = &mut state.instances[id.0 as usize];
                if matches!(record.state, InstanceState::Failed(_) | InstanceState::Ready) {
                    continue;
                }
                record.state = InstanceState::Failed(error.clone());
                freed.append(&mut record.resources);
                let dylib = record.dylib;
                state.dylibs[dylib.0 as usize].symbols.retain(|_, e| e.instance != Some(id));
                for (i, other) in state.instances.iter().enumerate() {
                    if other.deps.contains(&id)
                        && !matches!(other.state, InstanceState::Failed(_) | InstanceState::Ready)
                    {
                        let cause = Arc::new(JitError::DependencyFailed {
                            unit: other.origin.to_string(),
                            cause: error.clone(),
                        });
                        work.push((InstanceId(i as u32), cause));
                    }
                }
            }
            self.inner.changed.notify_all();
        }
        drop(freed);
    }
}

/// A common symbol's merged size, so the unit that owns it can allocate enough.
pub(super) fn common_size(flags: SymbolFlags) -> u64 {
    match flags.strength {
        Strength::Common { size, .. } => size,
        _ => 0,
    }
}

/// Emitted instances whose dependencies are all emitted (or ready) become ready. Cycles are
/// fine: we start from every emitted instance and drop those that wait on something else.
pub(super) fn promote_ready(state: &mut State) {
    let mut candidates: Vec<usize> =
        (0..state.instances.len()).filter(|&i| matches!(state.instances[i].state, InstanceState::Emitted)).collect();
    loop {
        let before = candidates.len();
        let is_candidate = |d: InstanceId, c: &[usize]| c.binary_search(&(d.0 as usize)).is_ok();
        let snapshot = candidates.clone();
        candidates.retain(|&i| {
            state.instances[i].deps.iter().all(|&d| {
                matches!(state.instances[d.0 as usize].state, InstanceState::Ready) || is_candidate(d, &snapshot)
            })
        });
        if candidates.len() == before {
            break;
        }
    }
    for i in candidates {
        state.instances[i].state = InstanceState::Ready;
    }
}
