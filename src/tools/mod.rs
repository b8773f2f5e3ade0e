//! Tooling for people who test linkers: dumps of what the linker did.

mod relocation_dump;

pub use relocation_dump::RelocationDump;
