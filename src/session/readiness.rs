//! When emitted instances become ready.
//!
//! An instance is ready once it and everything it depends on, transitively, are emitted.
//! An emitted instance that still waits joins a *readiness group*: the instances that will
//! become ready together, with the set of not-yet-emitted instances the group waits for.
//! Emitting an instance that depends on a waiting group, or that a waiting group depends
//! on, merges the groups (a cycle, or a chain, becomes one group). Merges move the smaller
//! group into the larger, so emitting n instances costs O(n log n) however they depend on
//! each other, where rescanning every instance on every emit cost O(n²).

use super::{InstanceId, State};
use jitld_linker::NameHasher;
use std::collections::HashSet;
use std::hash::BuildHasherDefault;

type InstanceSet = HashSet<InstanceId, BuildHasherDefault<NameHasher>>;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(super) struct GroupId(u32);

struct Group {
    members: Vec<InstanceId>,
    /// Not yet emitted instances the members depend on.
    waiting: InstanceSet,
    /// Every id merged into this group (freed together when it becomes ready).
    ids: Vec<GroupId>,
}

#[derive(Default)]
pub(super) struct Groups {
    /// Union-find over group ids: a merged id points at the group it went into.
    parent: Vec<u32>,
    groups: Vec<Option<Group>>,
    free: Vec<u32>,
}

impl Groups {
    fn find(&mut self, id: GroupId) -> GroupId {
        let mut root = id.0;
        while self.parent[root as usize] != root {
            root = self.parent[root as usize];
        }
        let mut at = id.0;
        while self.parent[at as usize] != root {
            let next = self.parent[at as usize];
            self.parent[at as usize] = root;
            at = next;
        }
        GroupId(root)
    }

    fn create(&mut self, member: InstanceId, waiting: InstanceSet) -> GroupId {
        let group = Group { members: vec![member], waiting, ids: Vec::new() };
        let index = match self.free.pop() {
            Some(index) => {
                self.parent[index as usize] = index;
                self.groups[index as usize] = Some(group);
                index
            }
            None => {
                self.parent.push(self.groups.len() as u32);
                self.groups.push(Some(group));
                self.groups.len() as u32 - 1
            }
        };
        let id = GroupId(index);
        if let Some(group) = self.groups[index as usize].as_mut() {
            group.ids.push(id);
        }
        id
    }

    /// Merges two groups (roots); returns the root of the result.
    fn merge(&mut self, a: GroupId, b: GroupId) -> GroupId {
        if a == b {
            return a;
        }
        let size = |g: &Option<Group>| g.as_ref().map_or(0, |g| g.members.len() + g.waiting.len());
        let (big, small) =
            if size(&self.groups[a.0 as usize]) >= size(&self.groups[b.0 as usize]) { (a, b) } else { (b, a) };
        let Some(moved) = self.groups[small.0 as usize].take() else { return big };
        self.parent[small.0 as usize] = big.0;
        if let Some(into) = self.groups[big.0 as usize].as_mut() {
            into.members.extend(moved.members);
            into.waiting.extend(moved.waiting);
            into.ids.extend(moved.ids);
        }
        big
    }

    fn group(&mut self, id: GroupId) -> Option<&mut Group> {
        self.groups[id.0 as usize].as_mut()
    }

    /// A group that waits for nothing more: its members, and its ids freed.
    fn dissolve(&mut self, id: GroupId) -> Vec<InstanceId> {
        let Some(group) = self.groups[id.0 as usize].take() else { return Vec::new() };
        for merged in &group.ids {
            self.free.push(merged.0);
        }
        group.members
    }
}

/// `x` was just emitted. Returns the instances that became ready (perhaps `x` among them).
pub(super) fn on_emitted(state: &mut State, x: InstanceId) -> Vec<InstanceId> {
    let mut unemitted = InstanceSet::default();
    let mut groups = Vec::new();
    for &dep in &state.instances[x.0 as usize].deps {
        let record = &state.instances[dep.0 as usize];
        if record.state.unemitted() && dep != x {
            unemitted.insert(dep);
        } else if let Some(group) = record.group {
            // Members keep the id they joined with; `find` gives the group it is now in.
            groups.push(group);
        }
    }
    // Groups that waited for `x` now wait for whatever `x` waits for.
    let waited_by = std::mem::take(&mut state.instance(x).waited_by);
    let mut ready = Vec::new();
    if unemitted.is_empty() && groups.is_empty() {
        ready.push(x);
        for group in waited_by {
            ready.extend(stop_waiting(state, group, x));
        }
        return ready;
    }
    let own = state.groups.create(x, unemitted.clone());
    state.instance(x).group = Some(own);
    for dep in unemitted {
        state.instance(dep).waited_by.push(own);
    }
    let mut root = own;
    for group in groups.into_iter().chain(waited_by) {
        let other = state.groups.find(group);
        root = state.groups.merge(root, other);
    }
    stop_waiting(state, root, x)
}

/// `instance` is emitted (or gone): `group` stops waiting for it. Returns the members that
/// became ready.
pub(super) fn stop_waiting(state: &mut State, group: GroupId, instance: InstanceId) -> Vec<InstanceId> {
    let root = state.groups.find(group);
    let Some(record) = state.groups.group(root) else { return Vec::new() };
    record.waiting.remove(&instance);
    if !record.waiting.is_empty() {
        return Vec::new();
    }
    let members = state.groups.dissolve(root);
    for &member in &members {
        state.instance(member).group = None;
    }
    members
}

/// `instance` failed or was removed before being emitted: groups waiting for it stop.
pub(super) fn forget(state: &mut State, instance: InstanceId) -> Vec<InstanceId> {
    let waited_by = std::mem::take(&mut state.instance(instance).waited_by);
    let mut ready = Vec::new();
    for group in waited_by {
        ready.extend(stop_waiting(state, group, instance));
    }
    ready
}
