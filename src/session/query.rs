//! Symbol queries: a lookup's wait for every symbol it found to reach a state.
//!
//! A query has one slot per name. Slots of symbols not there yet are registered with the
//! instance that will define them; each state change of that instance looks at exactly
//! those slots. When the last slot fills, the query completes: a blocked `lookup` is woken,
//! or a continuation is queued as a job. Ids are reused, so a registration carries the
//! generation it was made for and a stale one is ignored.

use super::sync::Mutex;
use super::{DylibId, ExecutionSession, FoundSymbol, InstanceId, InstanceState, Required, State};
use crate::error::{JitError, Result};
use jitld_linker::SymbolName;
use std::sync::Arc;

pub(super) type Answer = Result<Vec<Option<FoundSymbol>>>;

/// Who hears a query's answer.
pub(super) enum Completion {
    /// A thread blocked in a lookup; it reads the answer from here.
    Wake(Arc<Mutex<Option<Answer>>>),
    /// Runs as a job on the work queue.
    Then(Box<dyn FnOnce(Answer) + Send>),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct QueryId {
    index: u32,
    generation: u32,
}

enum Slot {
    /// A weak reference nobody defines.
    Missing,
    Waiting(DylibId, SymbolName, InstanceId),
    Found(FoundSymbol, Option<InstanceId>),
}

pub(super) struct Query {
    required: Required,
    /// The instance whose link asked: it comes to depend on what it found.
    requester: Option<InstanceId>,
    slots: Vec<Slot>,
    remaining: usize,
    completion: Completion,
}

#[derive(Default)]
pub(super) struct Queries {
    live: Vec<(u32, Option<Query>)>,
    free: Vec<u32>,
}

impl Queries {
    fn insert(&mut self, query: Query) -> QueryId {
        match self.free.pop() {
            Some(index) => {
                let (generation, slot) = &mut self.live[index as usize];
                *generation = generation.wrapping_add(1);
                *slot = Some(query);
                QueryId { index, generation: *generation }
            }
            None => {
                self.live.push((0, Some(query)));
                QueryId { index: self.live.len() as u32 - 1, generation: 0 }
            }
        }
    }

    fn get(&mut self, id: QueryId) -> Option<&mut Query> {
        match self.live.get_mut(id.index as usize) {
            Some((generation, Some(query))) if *generation == id.generation => Some(query),
            _ => None,
        }
    }

    fn remove(&mut self, id: QueryId) -> Option<Query> {
        let (generation, slot) = self.live.get_mut(id.index as usize)?;
        if *generation != id.generation {
            return None;
        }
        let query = slot.take()?;
        self.free.push(id.index);
        Some(query)
    }
}

impl ExecutionSession {
    /// Registers a query for `found` (which the caller has claimed units for). It may
    /// complete at once.
    pub(super) fn register_query(
        &self,
        state: &mut State,
        found: &[Option<(DylibId, SymbolName)>],
        required: Required,
        requester: Option<InstanceId>,
        completion: Completion,
    ) {
        let mut slots = Vec::with_capacity(found.len());
        let mut remaining = 0;
        for slot in found {
            let Some((dylib, name)) = *slot else {
                slots.push(Slot::Missing);
                continue;
            };
            let Some(entry) = state.dylibs[dylib.0 as usize].symbols.get(&name) else {
                let name = self.inner.names.resolve(name);
                let error = JitError::other(format!("{name} was removed while being looked up"));
                return self.complete(state, completion, Err(error));
            };
            let found = FoundSymbol { addr: entry.addr.unwrap_or(0), flags: entry.flags, size: entry.size };
            match entry.instance {
                None => slots.push(Slot::Found(found, None)),
                Some(instance) => match &state.instances[instance.0 as usize].state {
                    InstanceState::Failed(e) => return self.complete(state, completion, Err(JitError::clone(e))),
                    s if s.reaches(required) => slots.push(Slot::Found(found, Some(instance))),
                    _ => {
                        slots.push(Slot::Waiting(dylib, name, instance));
                        remaining += 1;
                    }
                },
            }
        }
        let query = Query { required, requester, slots, remaining, completion };
        if remaining == 0 {
            return self.finish(state, query);
        }
        let waiting: Vec<(u32, InstanceId)> = query
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                Slot::Waiting(_, _, instance) => Some((i as u32, *instance)),
                _ => None,
            })
            .collect();
        let id = state.queries.insert(query);
        for (slot, instance) in waiting {
            state.instance(instance).queries.push((id, slot));
        }
    }

    /// Tells the queries waiting on `instance` about its new state.
    pub(super) fn notify_queries(&self, state: &mut State, instance: InstanceId) {
        let registered = std::mem::take(&mut state.instance(instance).queries);
        let mut still = Vec::new();
        for (id, slot) in registered {
            let Some(query) = state.queries.get(id) else { continue };
            let record = &state.instances[instance.0 as usize];
            if let InstanceState::Failed(e) = &record.state {
                let error = JitError::clone(e);
                if let Some(query) = state.queries.remove(id) {
                    self.complete(state, query.completion, Err(error));
                }
                continue;
            }
            if !record.state.reaches(query.required) {
                still.push((id, slot));
                continue;
            }
            let Some(Slot::Waiting(dylib, name, _)) = query.slots.get(slot as usize) else { continue };
            let (dylib, name) = (*dylib, *name);
            let found = state.dylibs[dylib.0 as usize]
                .symbols
                .get(&name)
                .filter(|e| e.instance == Some(instance))
                .map(|e| FoundSymbol { addr: e.addr.unwrap_or(0), flags: e.flags, size: e.size });
            let Some(found) = found else {
                let name = self.inner.names.resolve(name);
                let error = JitError::other(format!("{name} was removed while being looked up"));
                if let Some(query) = state.queries.remove(id) {
                    self.complete(state, query.completion, Err(error));
                }
                continue;
            };
            let Some(query) = state.queries.get(id) else { continue };
            query.slots[slot as usize] = Slot::Found(found, Some(instance));
            query.remaining -= 1;
            if query.remaining == 0 {
                if let Some(query) = state.queries.remove(id) {
                    self.finish(state, query);
                }
            }
        }
        // Registrations made while we worked (none today) are kept too.
        still.append(&mut state.instance(instance).queries);
        state.instance(instance).queries = still;
    }

    /// Every slot is filled: the requester now depends on whatever it found not yet ready.
    fn finish(&self, state: &mut State, query: Query) {
        let mut results = Vec::with_capacity(query.slots.len());
        // Sized once: a link's query has a slot per external, most of them in other units.
        let mut deps = Vec::with_capacity(query.slots.len());
        for slot in query.slots {
            match slot {
                Slot::Missing => results.push(None),
                Slot::Found(found, instance) => {
                    deps.extend(instance);
                    results.push(Some(found));
                }
                Slot::Waiting(..) => unreachable!("a finished query has no waiting slots"),
            }
        }
        if let Some(requester) = query.requester {
            deps.sort_unstable();
            deps.dedup();
            state.instance(requester).deps.reserve(deps.len());
            for dep in deps {
                let ready = matches!(state.instances[dep.0 as usize].state, InstanceState::Ready);
                if dep != requester && !ready {
                    state.instance(requester).deps.push(dep);
                    state.instance(dep).dependents.push(requester);
                }
            }
        }
        self.complete(state, query.completion, Ok(results));
    }

    pub(super) fn complete(&self, state: &mut State, completion: Completion, answer: Answer) {
        match completion {
            Completion::Wake(cell) => {
                *cell.lock().unwrap_or_else(|e| e.into_inner()) = Some(answer);
                self.wake(state);
            }
            Completion::Then(then) => self.push_continuation(state, Box::new(move || then(answer))),
        }
    }
}
