//! One thread at a time runs initializers; the others wait until it is done.
//!
//! Two threads asking for symbols of a newly linked object must not both get them while
//! only one has started the object's constructors: the one that runs them holds the gate,
//! and the other waits at it, so it returns only once the constructors have finished. The
//! gate is re-entrant, because a constructor may itself look up (and so initialize) more.

use std::sync::{Condvar, Mutex};
use std::thread::ThreadId;

#[derive(Default)]
pub struct InitGate {
    /// The thread inside, and how many times it entered.
    holder: Mutex<Option<(ThreadId, usize)>>,
    left: Condvar,
}

pub struct Pass<'a> {
    gate: &'a InitGate,
}

impl InitGate {
    /// Waits until no other thread is running initializers, then enters.
    pub fn enter(&self) -> Pass<'_> {
        let me = std::thread::current().id();
        let mut holder = self.holder.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            match &mut *holder {
                None => {
                    *holder = Some((me, 1));
                    break;
                }
                Some((thread, depth)) if *thread == me => {
                    *depth += 1;
                    break;
                }
                Some(_) => holder = self.left.wait(holder).unwrap_or_else(|e| e.into_inner()),
            }
        }
        Pass { gate: self }
    }
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        let mut holder = self.gate.holder.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, depth)) = &mut *holder {
            *depth -= 1;
            if *depth == 0 {
                *holder = None;
                self.gate.left.notify_all();
            }
        }
    }
}
