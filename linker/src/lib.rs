//! jitld-linker: the graph JIT linker.
//!
//! Object bytes become a `LinkGraph` (`format`), passes prepare it (`passes`, `arch`), memory
//! is allocated (`memory`), externals are resolved through a `LinkContext` supplied by the
//! caller, and fix-ups write the final bytes (`link`). No global state, no knowledge of
//! sessions: the `jitld` crate builds those on top.

pub mod arch;
pub mod cfi;
pub mod check;
mod error;
pub mod flags;
pub mod format;
pub mod graph;
pub mod link;
pub mod memory;
pub mod names;
pub mod passes;
pub mod tls;

pub use error::{LinkError, Location, Result};
pub use flags::{LookupName, Scope, Selection, Strength, SymbolFlags};
pub use graph::{InputBuffer, LinkGraph};
pub use link::{begin, link, LinkContext, PendingLink, ResolvedSymbol};
pub use names::{NameHasher, NameMap, NamePool, NameSet, SymbolName};
