//! Work that another thread may do ahead of the one that needs it (an object's graph, built
//! by a helper before its materialization; an archive member read by an idle pool thread
//! before its pull), or the one that needs it does itself: whichever starts first does it,
//! and the other takes or leaves the result.

use std::sync::{Condvar, Mutex};

pub(crate) struct Ahead<T> {
    state: Mutex<Slot<T>>,
    done: Condvar,
}

struct Slot<T> {
    stage: Stage<T>,
    /// `take` waits for the side ahead: only then is there anyone to wake. (A `notify_all`
    /// is a system call even with nobody waiting: one per archive member otherwise.)
    waiting: bool,
}

impl<T> Default for Ahead<T> {
    fn default() -> Self {
        Ahead { state: Mutex::new(Slot { stage: Stage::NotStarted, waiting: false }), done: Condvar::new() }
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
            let mut slot = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if !matches!(slot.stage, Stage::NotStarted) {
                return;
            }
            slot.stage = Stage::Working;
        }
        // Work that panics is handed back: `take` must not wait for it forever.
        let unstarted = Unstart(self);
        let result = work();
        std::mem::forget(unstarted);
        self.finish(Stage::Done(Box::new(result)));
    }

    fn finish(&self, stage: Stage<T>) {
        let mut slot = self.state.lock().unwrap_or_else(|e| e.into_inner());
        slot.stage = stage;
        if std::mem::take(&mut slot.waiting) {
            drop(slot);
            self.done.notify_all();
        }
    }

    /// The result: as the side ahead made it, once it is done, or made here if nobody
    /// started.
    pub fn take(&self, work: impl FnOnce() -> T) -> T {
        let mut slot = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            match std::mem::replace(&mut slot.stage, Stage::Taken) {
                Stage::NotStarted | Stage::Taken => {
                    drop(slot);
                    return work();
                }
                Stage::Done(result) => return *result,
                Stage::Working => {
                    slot.stage = Stage::Working;
                    slot.waiting = true;
                    slot = self.done.wait(slot).unwrap_or_else(|e| e.into_inner());
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

#[cfg(test)]
mod tests {
    use super::Ahead;
    use std::sync::mpsc;
    use std::sync::Arc;

    #[test]
    fn take_waits_for_the_side_ahead_and_gets_its_result() {
        let ahead = Arc::new(Ahead::default());
        let (started, builder_started) = mpsc::channel();
        let (release, builder_released) = mpsc::channel::<()>();
        let builder = {
            let ahead = ahead.clone();
            std::thread::spawn(move || {
                ahead.build(|| {
                    started.send(()).unwrap();
                    builder_released.recv().unwrap();
                    "ahead"
                })
            })
        };
        builder_started.recv().unwrap();
        let taker = {
            let ahead = ahead.clone();
            std::thread::spawn(move || ahead.take(|| "taker"))
        };
        // The taker is waiting (or about to): only the builder's result may reach it.
        std::thread::sleep(std::time::Duration::from_millis(20));
        release.send(()).unwrap();
        builder.join().unwrap();
        assert_eq!(taker.join().unwrap(), "ahead");
    }

    #[test]
    fn unstarted_work_is_done_by_the_taker_and_not_again() {
        let ahead = Ahead::default();
        assert_eq!(ahead.take(|| 1), 1);
        ahead.build(|| panic!("taken work must not be built"));
    }

    #[test]
    fn work_that_panicked_is_done_again_by_the_taker() {
        let ahead = Ahead::default();
        let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ahead.build(|| panic!("ahead fails"))));
        assert!(failed.is_err());
        assert_eq!(ahead.take(|| 2), 2);
    }
}
