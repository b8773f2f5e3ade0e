//! The session's locks: the standard library's, or `shuttle`'s when the `shuttle` feature
//! is on, so that tests can explore the session's thread interleavings systematically
//! (`tests/session_interleavings.rs`).

#[cfg(feature = "shuttle")]
pub(crate) use shuttle::sync::{Condvar, Mutex, MutexGuard};
#[cfg(not(feature = "shuttle"))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};
