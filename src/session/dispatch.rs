//! Materialization on several threads.
//!
//! A lookup that finds several pending units offers them to the pool; pool threads and the
//! asking thread all claim units one at a time (`claim_next`), so each unit runs exactly
//! once, and a unit is claimed only by the thread that then runs it. Nobody ever waits for a
//! unit that is claimed but not running, which is what keeps a fixed-size pool from
//! deadlocking.

use super::{DylibId, ExecutionSession};
use jitld_linker::SymbolName;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};

type Work = (ExecutionSession, Vec<Option<(DylibId, SymbolName)>>);

pub(super) struct Pool {
    sender: Sender<Work>,
    threads: usize,
}

impl Pool {
    fn start(threads: usize) -> Pool {
        let (sender, receiver) = channel::<Work>();
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..threads {
            let receiver: Arc<Mutex<Receiver<Work>>> = receiver.clone();
            let spawned = std::thread::Builder::new().name(format!("jitld-materialize-{index}")).spawn(move || loop {
                let work = receiver.lock().unwrap_or_else(|e| e.into_inner()).recv();
                let Ok((session, found)) = work else { return };
                while let Some((unit, mr)) = session.claim_next(&found) {
                    unit.materialize(mr);
                }
            });
            if spawned.is_err() {
                break;
            }
        }
        Pool { sender, threads }
    }
}

impl ExecutionSession {
    /// Materialize on `threads` threads in all (1: only on the thread that looks up).
    pub fn set_materialization_threads(&self, threads: usize) {
        let pool = (threads > 1).then(|| Pool::start(threads - 1));
        *self.inner.pool.lock().unwrap_or_else(|e| e.into_inner()) = pool;
    }

    pub(super) fn offer_to_pool(&self, found: &[Option<(DylibId, SymbolName)>]) {
        let pool = self.inner.pool.lock().unwrap_or_else(|e| e.into_inner());
        let Some(pool) = pool.as_ref() else { return };
        let helpers = found.iter().flatten().count().saturating_sub(1).min(pool.threads);
        for _ in 0..helpers {
            let _ = pool.sender.send((self.clone(), found.to_vec()));
        }
    }
}
