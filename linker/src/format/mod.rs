//! Input formats: bytes → `LinkGraph`, and the cheaper "interface" (which symbols an object
//! defines) that the session needs before deciding to link it.
// Parsing and fix-ups read untrusted input: no panicking index or overflow.
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

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
    /// LLVM bitcode: what `clang -flto` writes instead of an object.
    LlvmBitcode,
    Unknown,
}

pub fn sniff(input: &InputBuffer) -> FileKind {
    let bytes = input.bytes();
    if bytes.starts_with(b"!<arch>\n") || bytes.starts_with(b"!<thin>\n") {
        return FileKind::Archive;
    }
    if is_llvm_bitcode(bytes) {
        return FileKind::LlvmBitcode;
    }
    if bytes.starts_with(b"\x7fELF") {
        return match bytes.get(16) {
            Some(1) => FileKind::ElfRelocatable,
            Some(3) => FileKind::ElfShared,
            _ => FileKind::Unknown,
        };
    }
    let head = bytes.get(..512).unwrap_or(bytes);
    let text = String::from_utf8_lossy(head);
    if ["GROUP", "INPUT", "OUTPUT_FORMAT", "/*"].iter().any(|k| text.trim_start().starts_with(k)) {
        return FileKind::LinkerScript;
    }
    FileKind::Unknown
}

/// Bare bitcode (`BC 0xC0DE`) or bitcode in Apple's wrapper header (`0x0B17C0DE`).
pub fn is_llvm_bitcode(bytes: &[u8]) -> bool {
    bytes.starts_with(b"BC\xc0\xde") || bytes.starts_with(&[0xde, 0xc0, 0x17, 0x0b])
}

/// Why an LLVM bitcode input can't be linked, and what to do instead.
pub const LLVM_BITCODE: &str =
    "an LLVM bitcode (LTO) object, not machine code: compile it with -fno-lto, or link a real object";

/// Why a GCC LTO object can't be linked, and what to do instead.
pub const GCC_LTO: &str = "a GCC LTO object (GIMPLE bytecode in .gnu.lto_* sections, no machine code): \
compile it with -fno-lto (or -ffat-lto-objects), or link a real object";

/// The name of an ELF machine, for messages about objects built for another one.
pub fn machine_name(machine: u16) -> Option<&'static str> {
    Some(match machine {
        2 => "SPARC",
        3 => "32-bit x86 (i386)",
        8 => "MIPS",
        20 => "PowerPC",
        21 => "64-bit PowerPC",
        22 => "IBM S/390",
        40 => "32-bit ARM",
        43 => "SPARC V9",
        50 => "IA-64",
        62 => "x86-64",
        183 => "AArch64",
        243 => "RISC-V",
        247 => "BPF",
        258 => "LoongArch",
        _ => return None,
    })
}
