//! Executors: the processes that run linked code.

pub mod protocol;
pub mod remote;
