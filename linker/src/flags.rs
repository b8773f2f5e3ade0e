//! One model of what a symbol is, beyond its name and address: read from an object's
//! interface, carried by graph symbols, kept in the session's tables. And the one type a
//! lookup asks with.

use crate::names::SymbolName;

/// How a definition competes with others of the same name.
///
/// Sixteen bytes: every graph symbol, session entry and query slot carries one. Alignments
/// fit 32 bits (formats allow at most 2^15, ELF's value is checked), and so do COMDAT
/// section sizes (a COFF section's size is 32-bit).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Strength {
    Strong,
    Weak,
    /// A tentative definition (`SHN_COMMON`): merged with others to the largest size and
    /// strictest alignment.
    Common {
        size: u64,
        align: u32,
    },
    /// One of copies that must agree (a COFF COMDAT that is not "any"): one is kept, as for
    /// weak definitions, if `rule` holds between them.
    Selected {
        rule: Selection,
        size: u32,
        /// A hash of the copy's contents.
        contents: u64,
    },
}

/// What copies of a `Selected` definition must have in common, or which is kept.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Selection {
    SameSize,
    SameContents,
    /// The largest copy is kept (while none has been used).
    Largest,
}

/// Who may see a symbol.
#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord)]
pub enum Scope {
    /// Visible to other JITDylibs.
    Default,
    /// Visible to other objects in the same JITDylib only.
    Hidden,
    /// Visible inside its graph only.
    Local,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SymbolFlags {
    pub strength: Strength,
    pub scope: Scope,
    /// Code (a function), as opposed to data: lazy stubs and far-call stubs only stand in
    /// for code.
    pub callable: bool,
}

impl SymbolFlags {
    pub fn strong_function() -> Self {
        SymbolFlags { strength: Strength::Strong, scope: Scope::Default, callable: true }
    }

    pub fn strong_data() -> Self {
        SymbolFlags { strength: Strength::Strong, scope: Scope::Default, callable: false }
    }

    /// A local, strong, data symbol: what the linker makes for its own blocks.
    pub fn local() -> Self {
        SymbolFlags { strength: Strength::Strong, scope: Scope::Local, callable: false }
    }

    /// Visible to other JITDylibs.
    pub fn exported(self) -> bool {
        self.scope == Scope::Default
    }

    /// Loses to a strong definition (weak and common ones do).
    pub fn is_weak(self) -> bool {
        self.strength != Strength::Strong
    }
}

/// A name a lookup asks for; a `weak` one may be missing (a weak reference is then null).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct LookupName {
    pub name: SymbolName,
    pub weak: bool,
}

impl LookupName {
    /// A name that must be found.
    pub fn required(name: SymbolName) -> Self {
        LookupName { name, weak: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every graph symbol, session entry and query slot carries flags, and every graph
    /// symbol a name: their size is the link's memory (and its page faults).
    #[test]
    fn flags_and_names_stay_small() {
        assert_eq!(std::mem::size_of::<Strength>(), 16);
        assert_eq!(std::mem::size_of::<SymbolFlags>(), 24);
        assert_eq!(std::mem::size_of::<Option<SymbolName>>(), 4);
        assert!(std::mem::size_of::<crate::graph::Symbol>() <= 64);
    }
}
