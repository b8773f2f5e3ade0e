//! Input formats: bytes → `LinkGraph`, and the cheaper "interface" (which symbols an object
//! defines) that the session needs before deciding to link it.

pub mod archive;
pub mod elf;

use crate::graph::{InputBuffer, Linkage, Scope};
use crate::names::SymbolName;

/// How a definition competes with others of the same name.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Strength {
    Strong,
    Weak,
    /// A tentative definition (`SHN_COMMON`): merged with others to the largest size and
    /// strictest alignment.
    Common {
        size: u64,
        align: u64,
    },
}

/// One symbol an object defines, as the session sees it.
#[derive(Clone, Debug)]
pub struct InterfaceSymbol {
    pub name: SymbolName,
    pub strength: Strength,
    pub scope: Scope,
    pub callable: bool,
}

impl InterfaceSymbol {
    pub fn linkage(&self) -> Linkage {
        match self.strength {
            Strength::Strong => Linkage::Strong,
            _ => Linkage::Weak,
        }
    }
}

/// What an object provides, read from its symbol table alone.
#[derive(Clone, Debug, Default)]
pub struct Interface {
    pub symbols: Vec<InterfaceSymbol>,
    /// It has initializer or finalizer sections, which run even if nothing references it.
    pub has_initializers: bool,
}

/// What kind of file some bytes are.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FileKind {
    ElfRelocatable,
    ElfShared,
    Archive,
    /// A GNU ld script (`libc.so`, `libm.so` on Debian are ones).
    LinkerScript,
    Unknown,
}

pub fn sniff(input: &InputBuffer) -> FileKind {
    let bytes = input.bytes();
    if bytes.starts_with(b"!<arch>\n") || bytes.starts_with(b"!<thin>\n") {
        return FileKind::Archive;
    }
    if bytes.starts_with(b"\x7fELF") {
        return match bytes.get(16) {
            Some(1) => FileKind::ElfRelocatable,
            Some(3) => FileKind::ElfShared,
            _ => FileKind::Unknown,
        };
    }
    let head = &bytes[..bytes.len().min(512)];
    let text = String::from_utf8_lossy(head);
    if ["GROUP", "INPUT", "OUTPUT_FORMAT", "/*"].iter().any(|k| text.trim_start().starts_with(k)) {
        return FileKind::LinkerScript;
    }
    FileKind::Unknown
}
