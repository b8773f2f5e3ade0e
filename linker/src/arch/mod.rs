//! Architectures. Only x86-64 today; each architecture owns its edge kinds, fix-ups,
//! tables and relaxations.

pub mod x86_64;
