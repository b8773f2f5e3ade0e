//! Resource trackers: everything defined through a tracker (symbols, the memory of linked
//! code, its registered finalizers) can be removed together. Removing runs the code's
//! finalizers, then frees its memory; the names can be defined again afterwards.

use super::{DylibId, ExecutionSession, InstanceId, InstanceState, TrackerId};
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
        self.session.lock().trackers[self.id.0 as usize]
    }

    /// Removes everything defined through this tracker.
    pub fn remove(&self) -> Result<()> {
        self.session.remove_where(|tracker, _| tracker == self.id)
    }
}

impl ExecutionSession {
    /// A new tracker for definitions in `dylib`.
    pub fn create_resource_tracker(&self, dylib: DylibId) -> ResourceTracker {
        let mut state = self.lock();
        let id = TrackerId(state.trackers.len() as u32);
        state.trackers.push(dylib);
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
        self.remove_where(|_, owner| owner == dylib)
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

    fn remove_where(&self, doomed: impl Fn(TrackerId, DylibId) -> bool) -> Result<()> {
        let (instances, resources, units, listeners) = {
            let mut state = self.lock();
            let state = &mut *state;
            let trackers = &state.trackers;
            let removes = |t: TrackerId| doomed(t, trackers[t.0 as usize]);
            let units: Vec<_> = state
                .units
                .iter_mut()
                .filter(|u| u.as_ref().is_some_and(|u| removes(u.tracker)))
                .filter_map(Option::take)
                .collect();
            for dylib in &mut state.dylibs {
                dylib.symbols.retain(|_, entry| !removes(entry.tracker));
            }
            let removed = Arc::new(JitError::other("removed by its resource tracker"));
            let mut instances = Vec::new();
            let mut resources = Vec::new();
            for (i, instance) in state.instances.iter_mut().enumerate() {
                if removes(instance.tracker) && !matches!(instance.state, InstanceState::Failed(_)) {
                    instance.state = InstanceState::Failed(removed.clone());
                    instance.deps.clear();
                    resources.append(&mut instance.resources);
                    instances.push(InstanceId(i as u32));
                }
            }
            self.inner.changed.notify_all();
            (instances, resources, units, state.removal_listeners.clone())
        };
        // Finalizers run while the code is still mapped; then the memory goes.
        for listener in listeners {
            listener(&instances);
        }
        drop(resources);
        drop(units);
        Ok(())
    }
}
