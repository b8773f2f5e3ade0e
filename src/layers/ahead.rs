//! Work that another thread may do ahead of the one that needs it (an object's graph, built
//! by a helper before its materialization; an archive member read by an idle pool thread
//! before its pull), or the one that needs it does itself: whichever starts first does it,
//! and the other takes or leaves the result.

use std::sync::{Condvar, Mutex};

pub(crate) struct Ahead<T> {
    state: Mutex<Stage<T>>,
    done: Condvar,
}

impl<T> Default for Ahead<T> {
    fn default() -> Self {
        Ahead { state: Mutex::new(Stage::NotStarted), done: Condvar::new() }
    }
}

enum Stage<T> {
    NotStarted,
    /// A thread ahead is doing it.
    Working,
    /// Boxed: a graph is large, and the other stages are nothing.
    Done(Box<T>),
    /// The one that needs it has it, or does it itself.
    Taken,
}

impl<T> Ahead<T> {
    /// Does the work unless someone already started (the side ahead).
    pub fn build(&self, work: impl FnOnce() -> T) {
        {
            let mut stage = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if !matches!(*stage, Stage::NotStarted) {
                return;
            }
            *stage = Stage::Working;
        }
        // Work that panics is handed back: `take` must not wait for it forever.
        let unstarted = Unstart(self);
        let result = work();
        std::mem::forget(unstarted);
        self.finish(Stage::Done(Box::new(result)));
    }

    fn finish(&self, stage: Stage<T>) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = stage;
        self.done.notify_all();
    }

    /// The result: as the side ahead made it, once it is done, or made here if nobody
    /// started.
    pub fn take(&self, work: impl FnOnce() -> T) -> T {
        let mut stage = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            match std::mem::replace(&mut *stage, Stage::Taken) {
                Stage::NotStarted | Stage::Taken => {
                    drop(stage);
                    return work();
                }
                Stage::Done(result) => return *result,
                Stage::Working => {
                    *stage = Stage::Working;
                    stage = self.done.wait(stage).unwrap_or_else(|e| e.into_inner());
                }
            }
        }
    }
}

/// Puts work that panicked back to `NotStarted`, for `take` to do itself.
struct Unstart<'a, T>(&'a Ahead<T>);

impl<T> Drop for Unstart<'_, T> {
    fn drop(&mut self) {
        self.0.finish(Stage::NotStarted);
    }
}
