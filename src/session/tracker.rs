//! Resource trackers: everything defined through a tracker (symbols, the memory of linked
//! code, its registered finalizers) can be removed together. Removing runs the code's
//! finalizers, then frees its memory; the names can be defined again afterwards.

use super::{readiness, DylibId, ExecutionSession, InstanceId, InstanceState, State, TrackerId};
use crate::error::{JitError, Result};
use std::sync::Arc;

/// A handle to a tracker; cheap to clone. Dropping it does not remove anything.
#[derive(Clone)]
pub struct ResourceTracker {
    session: ExecutionSession,
    id: TrackerId,
}

impl ResourceTracker {
    pub fn id(&self) -> TrackerId {
        self.id
    }

    pub fn dylib(&self) -> DylibId {
        self.session.lock().trackers[self.id.0 as usize].dylib
    }

    /// Removes everything defined through this tracker.
    pub fn remove(&self) -> Result<()> {
        self.session.remove_trackers(|_| vec![self.id])
    }
}

impl ExecutionSession {
    /// A new tracker for definitions in `dylib`.
    pub fn create_resource_tracker(&self, dylib: DylibId) -> ResourceTracker {
        let id = self.lock().new_tracker(dylib);
        ResourceTracker { session: self.clone(), id }
    }

    /// The tracker used when none is given.
    pub fn default_tracker(&self, dylib: DylibId) -> ResourceTracker {
        let id = self.lock().dylibs[dylib.0 as usize].default_tracker;
        ResourceTracker { session: self.clone(), id }
    }

    /// `listener` hears which instances are about to be removed, before their memory is
    /// freed (the platform runs their finalizers then).
    pub fn add_removal_listener(&self, listener: super::RemovalListener) {
        self.lock().removal_listeners.push(listener);
    }

    /// Removes every definition in `dylib` (all its trackers); the JITDylib stays.
    pub fn clear_jit_dylib(&self, dylib: DylibId) -> Result<()> {
        self.remove_trackers(|state| {
            (0..state.trackers.len() as u32)
                .map(TrackerId)
                .filter(|t| state.trackers[t.0 as usize].dylib == dylib)
                .collect()
        })
    }

    /// Clears `dylib` and removes it: its name can be used again, lookups skip it.
    pub fn remove_jit_dylib(&self, dylib: DylibId) -> Result<()> {
        self.clear_jit_dylib(dylib)?;
        let mut state = self.lock();
        let record = &mut state.dylibs[dylib.0 as usize];
        record.removed = true;
        record.generators.clear();
        record.link_order.clear();
        Ok(())
    }

    /// Removes what the trackers `doomed` names own; it costs what they own, not what the
    /// session holds.
    fn remove_trackers(&self, doomed: impl FnOnce(&State) -> Vec<TrackerId>) -> Result<()> {
        let (instances, recyclable, resources, units, listeners) = {
            let mut state = self.lock();
            let state = &mut *state;
            let trackers = doomed(state);
            let removed = Arc::new(JitError::other("removed by its resource tracker"));
            let mut units = Vec::new();
            let mut instances = Vec::new();
            let mut recyclable = Vec::new();
            let mut resources = Vec::new();
            for tracker in trackers {
                let record = &mut state.trackers[tracker.0 as usize];
                let dylib = record.dylib;
                let owned_units = std::mem::take(&mut record.units);
                let owned_instances = std::mem::take(&mut record.instances);
                let absolutes = std::mem::take(&mut record.absolutes);
                let table = &mut state.dylibs[dylib.0 as usize].symbols;
                for name in absolutes {
                    if table
                        .get(&name)
                        .is_some_and(|e| e.tracker == tracker && e.unit.is_none() && e.instance.is_none())
                    {
                        table.remove(&name);
                    }
                }
                for unit in owned_units {
                    // A slot claimed since may hold another tracker's unit by now.
                    let slot = &mut state.units[unit.0 as usize];
                    if slot.as_ref().is_none_or(|p| p.tracker != tracker) {
                        continue;
                    }
                    let Some(pending) = slot.take() else { continue };
                    state.free_units.push(unit);
                    let table = &mut state.dylibs[dylib.0 as usize].symbols;
                    for name in &pending.symbols {
                        if table.get(name).is_some_and(|e| e.unit == Some(unit)) {
                            table.remove(name);
                        }
                    }
                    units.push(pending);
                }
                for id in owned_instances {
                    let instance = state.instance(id);
                    if matches!(instance.state, InstanceState::Failed(_)) {
                        continue;
                    }
                    let was_unemitted = instance.state.unemitted();
                    let was_ready = matches!(instance.state, InstanceState::Ready);
                    instance.state = InstanceState::Failed(removed.clone());
                    resources.append(&mut instance.resources);
                    let symbols = std::mem::take(&mut instance.symbols);
                    let table = &mut state.dylibs[dylib.0 as usize].symbols;
                    for name in symbols {
                        if table.get(&name).is_some_and(|e| e.instance == Some(id)) {
                            table.remove(&name);
                        }
                    }
                    self.notify_queries(state, id);
                    if was_unemitted {
                        let ready = readiness::forget(state, id);
                        self.make_ready(state, &ready);
                    }
                    if was_ready {
                        // Nothing works on ready code any more: once nobody names it, its
                        // slot can serve again (a session that adds and removes code for
                        // ever must not grow for ever).
                        forget_links(state, id);
                        recyclable.push(id);
                    }
                    instances.push(id);
                }
            }
            self.wake(state);
            (instances, recyclable, resources, units, state.removal_listeners.clone())
        };
        // Finalizers run while the code is still mapped; then the memory goes.
        for listener in listeners {
            listener(&instances);
        }
        drop(resources);
        drop(units);
        // Only now have the listeners forgotten these ids too.
        self.lock().free_instances.extend(recyclable);
        Ok(())
    }
}

/// Removes `id` from the dependency lists of the instances it is linked with, and empties
/// its own, so that nothing names it any more.
fn forget_links(state: &mut State, id: InstanceId) {
    let record = state.instance(id);
    let (deps, dependents) = (std::mem::take(&mut record.deps), std::mem::take(&mut record.dependents));
    record.symbols = Vec::new();
    record.queries = Vec::new();
    for dep in deps {
        state.instance(dep).dependents.retain(|&d| d != id);
    }
    for dependent in dependents {
        state.instance(dependent).deps.retain(|&d| d != id);
    }
}
