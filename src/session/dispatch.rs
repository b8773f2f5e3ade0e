//! The work queue: materializations and query continuations, run by whichever thread is
//! free.
//!
//! Jobs never wait for each other on the stack: a job that needs an answer registers a
//! query and ends, and the answer arrives as a new job. The threads that run jobs are the
//! pool's (`set_materialization_threads`) and any thread blocked in a lookup, which works
//! through the queue until its own answer is in. A panicking job fails only the unit it
//! was materializing (its responsibility is dropped while unwinding) and the thread goes on.

use super::sync::MutexGuard;
use super::{ExecutionSession, Inner, Job, State};
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Pool threads look at the queue at least this often, so they notice a dropped session.
const IDLE_CHECK: Duration = Duration::from_millis(100);

/// Pool threads run long links and generators; this is generous address space, not memory.
const POOL_STACK: usize = 16 << 20;

/// What kind of work a job is: continuations (links whose externals are in) go before new
/// materializations, so a link in progress finishes and frees its graph before another
/// starts. Otherwise a lookup that claims 10,000 units would build all 10,000 graphs
/// before finishing any.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum JobKind {
    Continuation,
    Materialization,
}

#[derive(Default)]
pub(super) struct WorkQueue {
    continuations: VecDeque<Job>,
    materializations: VecDeque<Job>,
}

impl WorkQueue {
    fn pop(&mut self) -> Option<Job> {
        self.continuations.pop_front().or_else(|| self.materializations.pop_front())
    }
}

impl ExecutionSession {
    pub(super) fn push_job(&self, state: &mut State, kind: JobKind, job: Job) {
        match kind {
            JobKind::Continuation => state.work.continuations.push_back(job),
            JobKind::Materialization => state.work.materializations.push_back(job),
        }
        self.wake(state);
    }

    /// Runs queued jobs on this thread until `done` says the caller has what it waits for.
    pub(super) fn run_until(&self, mut done: impl FnMut() -> bool) {
        let mut state = self.lock();
        loop {
            if done() {
                return;
            }
            if let Some(job) = state.work.pop() {
                drop(state);
                run_job(job);
                state = self.lock();
                continue;
            }
            state = self.sleep(state, None);
        }
    }

    /// Waits for a change (`wake`), or until `timeout` passes.
    fn sleep<'a>(&'a self, mut state: MutexGuard<'a, State>, timeout: Option<Duration>) -> MutexGuard<'a, State> {
        state.sleepers += 1;
        state.all_woken = false;
        let changed = &self.inner.changed;
        let mut state = match timeout {
            None => changed.wait(state).unwrap_or_else(|e| e.into_inner()),
            Some(timeout) => changed.wait_timeout(state, timeout).unwrap_or_else(|e| e.into_inner()).0,
        };
        state.sleepers -= 1;
        state
    }

    /// Materialize on `threads` threads in all (1: only on the threads that look up).
    pub fn set_materialization_threads(&self, threads: usize) {
        for index in 1..threads {
            let session = Arc::downgrade(&self.inner);
            let spawned = std::thread::Builder::new()
                .name(format!("jitld-materialize-{index}"))
                .stack_size(POOL_STACK)
                .spawn(move || work_until_dropped(session));
            if spawned.is_err() {
                break;
            }
        }
    }
}

/// A pool thread: runs jobs while the session lives. It holds the session only while it
/// works or naps, so dropping the last handle ends it.
fn work_until_dropped(session: Weak<Inner>) {
    while let Some(inner) = session.upgrade() {
        let session = ExecutionSession { inner };
        let mut state = session.lock();
        match state.work.pop() {
            Some(job) => {
                drop(state);
                run_job(job);
            }
            None => drop(session.sleep(state, Some(IDLE_CHECK))),
        }
    }
}

fn run_job(job: Job) {
    // The unwinding drops the job's responsibility, which fails its unit with an error.
    let _ = catch_unwind(AssertUnwindSafe(job));
}
