//! jitld: a JIT linker and loader. An ORC-style session (`session`) over the graph linker
//! (`jitld_linker`), with generators for archives and shared libraries (`generators`), the
//! object linking layer (`layers`), loader support for running programs (`platform`), and
//! the process that runs the code (`executor`), and the command line (`cli`).

pub mod cache;
pub mod cli;
mod cpus;
pub mod debug;
pub mod error;
pub mod executor;
pub mod generators;
mod jit;
pub mod layers;
pub mod lazy;
pub mod link_heap;
pub mod platform;
pub mod session;
pub mod tools;

pub use error::{JitError, Result};
pub use jit::{Jit, JitBuilder, JitFn};
pub use jitld_linker as linker;
