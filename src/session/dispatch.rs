//! The work queue: materializations and query continuations, run by whichever thread is
//! free.
//!
//! Jobs never wait for each other on the stack: a job that needs an answer registers a
//! query and ends, and the answer arrives as a new job. The threads that run jobs are the
//! pool's (`set_materialization_threads`) and any thread blocked in a lookup, which works
//! through the queue until its own answer is in. A panicking job fails only the unit it
//! was materializing (its responsibility is dropped while unwinding) and the thread goes on.
//!
//! `stop_materialization_threads` ends the session's threads: a program run after its link
//! then has the process to itself, as natively.
//!
//! A helper (`set_prepare_ahead`) may meanwhile do the next materializations' preparations,
//! which touch no session state.

use super::sync::MutexGuard;
use super::{ExecutionSession, Inner, Job, State};
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

/// Pool threads look at the queue at least this often, so they notice a dropped session.
const IDLE_CHECK: Duration = Duration::from_millis(100);

/// Pool threads run long links and generators; this is generous address space, not memory.
const POOL_STACK: usize = 16 << 20;

/// How many queued materializations the helper prepares ahead of the threads that run
/// them: each holds what it prepared (a graph) until its turn.
const PREPARE_AHEAD: usize = 4;

/// Continuations (links whose externals are in) go before new materializations, so a link
/// in progress finishes and frees its graph before another starts. Otherwise a lookup that
/// claims 10,000 units would build all 10,000 graphs before finishing any.
#[derive(Default)]
pub(super) struct WorkQueue {
    continuations: VecDeque<Job>,
    materializations: VecDeque<Queued>,
    /// Work that may go unused (`dispatch_when_idle`): taken only when nothing else is.
    idle: VecDeque<Job>,
    /// A helper prepares ahead (`set_prepare_ahead`): only then do units hand over their
    /// preparations.
    pub(super) prepared_ahead: bool,
}

/// A materialization, and its unit's preparation until the helper takes it
/// (`MaterializationUnit::prepare`).
struct Queued {
    job: Job,
    prepare: Option<Job>,
}

/// Where the pool's threads run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadPlacement {
    /// Wherever the scheduler puts them.
    Anywhere,
    /// Each on a CPU of its own, not the one the thread that starts them is on, which
    /// keeps to that one until they stop: for threads that live through one link (`jitld
    /// run`'s). Woken, a thread may be placed on the busy CPU of the thread that woke it,
    /// and wait there for the next balancing (milliseconds) while another CPU idles: on
    /// this project's virtual machines, a second thread did not run beside the first
    /// through a whole 4 ms link in half the runs traced. The starting thread, left free,
    /// moved onto its pool thread's CPU just as often: the two took turns there for half
    /// of a sqlite link (4-5 ms of each thread's 8-11 ms, in 3 of 6 runs traced).
    OwnCpu,
}

/// The session's own threads (the pool, a helper).
#[derive(Default)]
pub(super) struct Pool {
    started: Vec<JoinHandle<()>>,
    /// Of those, the pool's (not a helper).
    workers: usize,
    /// `stop_materialization_threads` was called: threads end once idle.
    stopping: bool,
    /// With `ThreadPlacement::OwnCpu`, the thread that started the pool, kept to its CPU
    /// until the pool stops.
    starter: Option<crate::cpus::KeptHere>,
}

impl WorkQueue {
    fn pop(&mut self) -> Option<Job> {
        let job = self.continuations.pop_front().or_else(|| self.materializations.pop_front().map(|q| q.job));
        job.or_else(|| self.idle.pop_front())
    }

    /// The preparation of one of the next few materializations, if one is left to do.
    fn take_prepare(&mut self) -> Option<Job> {
        self.materializations.iter_mut().take(PREPARE_AHEAD).find_map(|q| q.prepare.take())
    }

    fn has_prepare(&self) -> bool {
        self.materializations.iter().take(PREPARE_AHEAD).any(|q| q.prepare.is_some())
    }
}

impl ExecutionSession {
    pub(super) fn push_continuation(&self, state: &mut State, job: Job) {
        state.work.continuations.push_back(job);
        self.wake(state);
    }

    /// Queues a materialization, with what its unit can do ahead of it (`prepare`).
    pub(super) fn push_materialization(&self, state: &mut State, job: Job, prepare: Option<Job>) {
        state.work.materializations.push_back(Queued { job, prepare });
        self.wake(state);
    }

    /// Queues work that touches no session state (a unit's `prepare`) for the next free
    /// thread that runs jobs.
    pub fn dispatch(&self, job: Box<dyn FnOnce() + Send>) {
        let mut state = self.lock();
        self.push_materialization(&mut state, job, None);
    }

    /// Queues work that touches no session state and may go unused (reading an archive's
    /// members ahead of their pulls): a thread takes it only when no other job is queued,
    /// so it fills time the pool would sleep through (while the main thread reads the
    /// command line, or links the first object alone), and a job waits behind one piece
    /// of it at most.
    pub fn dispatch_when_idle(&self, job: Box<dyn FnOnce() + Send>) {
        let mut state = self.lock();
        state.work.idle.push_back(job);
        self.wake(&mut state);
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

    /// Materialize on `threads` threads in all (1: only on the threads that look up): starts
    /// the pool threads missing.
    pub fn set_materialization_threads(&self, threads: usize) {
        self.set_materialization_threads_placed(threads, ThreadPlacement::Anywhere);
    }

    /// `set_materialization_threads`, with the threads it starts placed as `placement` says.
    pub fn set_materialization_threads_placed(&self, threads: usize, placement: ThreadPlacement) {
        let mut state = self.lock();
        // The CPUs counted from the one this thread is on, before it keeps to it (threads
        // start with their starter's CPUs).
        let cpus = match placement {
            ThreadPlacement::Anywhere => Vec::new(),
            ThreadPlacement::OwnCpu => cpus_from_this_one(),
        };
        let mut kept = false;
        while !state.pool.stopping && state.pool.workers + 1 < threads {
            let session = Arc::downgrade(&self.inner);
            let name = format!("jitld-materialize-{}", state.pool.workers + 1);
            match spawn_worker(name, move || work_until_dropped(session)) {
                Some(thread) => {
                    // With one CPU there is nothing to keep to.
                    if cpus.len() > 1 {
                        crate::cpus::keep_to(&thread, cpus[(state.pool.workers + 1) % cpus.len()]);
                        kept = true;
                    }
                    state.pool.started.push(thread);
                    state.pool.workers += 1;
                }
                None => break,
            }
        }
        if kept && state.pool.starter.is_none() {
            state.pool.starter = crate::cpus::keep_here(cpus[0]);
        }
    }

    /// The threads it materializes on (or did, before `stop_materialization_threads`): the
    /// pool's and the one looking up.
    pub fn materialization_threads(&self) -> usize {
        self.lock().pool.workers + 1
    }

    /// Ends the session's threads (the pool, a helper): each finishes the job it runs and
    /// ends, and no new one starts. Returns once they have ended, with how many there were.
    /// Queued work is left to the threads that look up, but for work queued for idle time,
    /// which is dropped: it was for the pool. A thread that started the pool
    /// kept to its CPU (`ThreadPlacement::OwnCpu`) may run anywhere it could before again.
    pub fn stop_materialization_threads(&self) -> usize {
        self.begin_stopping_materialization_threads().wait()
    }

    /// `stop_materialization_threads` in two steps: the threads are told to end now, and
    /// `StoppingThreads::wait` waits for them, so the caller can work while they wake
    /// (a sleeping thread is slow to wake on a virtual machine's idle CPU) and end.
    pub fn begin_stopping_materialization_threads(&self) -> StoppingThreads {
        let (stopping, idle) = {
            let mut state = self.lock();
            state.pool.stopping = true;
            self.inner.changed.notify_all();
            let stopping = StoppingThreads {
                started: std::mem::take(&mut state.pool.started),
                starter: state.pool.starter.take(),
            };
            (stopping, std::mem::take(&mut state.work.idle))
        };
        // Dropped without the lock: a job's captures may take it as they go.
        drop(idle);
        stopping
    }

    /// Starts a helper thread that does the next queued materializations' preparations
    /// (`MaterializationUnit::prepare`: parsing objects into graphs) and readies the memory
    /// of links waiting for their externals (`MemoryManager::populate_ahead`), while other
    /// threads run them. It changes no session state: what the session does, and in which
    /// order (so where everything goes), stays the same; only the waiting for that work
    /// goes.
    pub fn set_prepare_ahead(&self) {
        let session = Arc::downgrade(&self.inner);
        if let Some(thread) = spawn_worker("jitld-prepare".to_string(), move || prepare_until_dropped(session)) {
            let mut state = self.lock();
            state.work.prepared_ahead = true;
            state.pool.started.push(thread);
        }
    }
}

/// The session's threads, told to end (`begin_stopping_materialization_threads`).
#[must_use = "wait for the threads to end"]
pub struct StoppingThreads {
    started: Vec<JoinHandle<()>>,
    starter: Option<crate::cpus::KeptHere>,
}

impl StoppingThreads {
    /// Returns once every thread has ended, with how many there were.
    pub fn wait(self) -> usize {
        let ended = self.started.len();
        for thread in self.started {
            let _ = thread.join();
        }
        if let Some(starter) = self.starter {
            starter.release();
        }
        ended
    }
}

/// Starts a thread of the session's own. It blocks every signal from its first instruction
/// (a thread starts with its creator's mask, so the creator blocks them around the spawn),
/// so that the program's signals (an alarm, a child's exit, one its main thread holds
/// blocked for a while) reach the program's own threads, as natively.
fn spawn_worker(name: String, work: impl FnOnce() + Send + 'static) -> Option<JoinHandle<()>> {
    // SAFETY: full and saved sets built in place; the masks are this thread's own, and the
    // old one is put back before returning.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        let spawned = std::thread::Builder::new().name(name).stack_size(POOL_STACK).spawn(work);
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        spawned.ok()
    }
}

/// The CPUs this thread may run on, from the one it runs on now round to the one before
/// (none if the kernel cannot say which it runs on).
fn cpus_from_this_one() -> Vec<usize> {
    let mut cpus = crate::cpus::allowed();
    match crate::cpus::current().and_then(|here| cpus.iter().position(|&cpu| cpu == here)) {
        Some(at) => cpus.rotate_left(at),
        None => cpus.clear(),
    }
    cpus
}

/// A pool thread: runs jobs while the session lives and its pool is not stopped. It holds
/// the session only while it works or naps, so dropping the last handle ends it.
fn work_until_dropped(session: Weak<Inner>) {
    while let Some(inner) = session.upgrade() {
        let session = ExecutionSession { inner };
        let mut state = session.lock();
        if state.pool.stopping {
            return;
        }
        match state.work.pop() {
            Some(job) => {
                drop(state);
                run_job(job);
            }
            None => drop(session.sleep(state, Some(IDLE_CHECK))),
        }
    }
}

/// The helper of `set_prepare_ahead`: prepares what it can, then naps until more is queued.
fn prepare_until_dropped(session: Weak<Inner>) {
    while let Some(inner) = session.upgrade() {
        let session = ExecutionSession { inner };
        let prepare = {
            let mut state = session.lock();
            if state.pool.stopping {
                state.work.prepared_ahead = false;
                return;
            }
            state.work.take_prepare()
        };
        if let Some(prepare) = prepare {
            run_job(prepare);
        }
        session.memory().populate_ahead();
        let state = session.lock();
        if !state.work.has_prepare() {
            drop(session.sleep(state, Some(IDLE_CHECK)));
        }
    }
}

fn run_job(job: Job) {
    // The unwinding drops the job's responsibility, which fails its unit with an error.
    let _ = catch_unwind(AssertUnwindSafe(job));
}
