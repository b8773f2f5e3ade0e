//! Input formats: the rows of the format × architecture grid. Each reads bytes into a
//! `LinkGraph`, and into the cheaper "interface" (which symbols an object defines) that the
//! session needs before deciding to link it. An input is sniffed once (`sniff`); everything
//! downstream asks its `Format`, never a format module by name: adding a format is a module
//! plus one arm in each `match` of `Format`.
// Parsing and fix-ups read untrusted input: no panicking index or overflow.
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

pub mod archive;
pub mod coff;
pub mod elf;
pub mod exports;
pub mod macho;
pub mod thread_locals;
pub mod universal;

use crate::flags::SymbolFlags;
use crate::graph::{InputBuffer, LinkGraph};
use crate::names::{NamePool, SymbolName};
use crate::passes::PassConfig;
use crate::Result;
use std::sync::Arc;

/// A relocatable object format.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Format {
    Elf,
    MachO,
    Coff,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Elf => "ELF",
            Format::MachO => "MachO",
            Format::Coff => "COFF",
        }
    }

    /// What the format's compilers put before a C name (`main` is `_main` in MachO).
    pub fn global_prefix(self) -> &'static str {
        match self {
            Format::Elf | Format::Coff => "",
            Format::MachO => "_",
        }
    }

    /// The symbols an object defines, without building its graph.
    pub fn interface(self, input: &InputBuffer, names: &NamePool) -> Result<Interface> {
        match self {
            Format::Elf => elf::interface(input, names),
            Format::MachO => macho::interface(input, names),
            Format::Coff => coff::interface(input, names),
        }
    }

    /// The architecture an object is for, from its header alone (no sections are read):
    /// what a caller needs to choose where the code will run before linking anything.
    pub fn arch(self, input: &InputBuffer) -> Result<crate::arch::Arch> {
        match self {
            Format::Elf => elf::arch(input),
            Format::MachO => macho::arch(input),
            Format::Coff => coff::arch(input),
        }
    }

    /// Builds the link graph of one object.
    pub fn build_graph(self, input: &InputBuffer, names: &Arc<NamePool>) -> Result<LinkGraph> {
        match self {
            Format::Elf => elf::build_graph(input, names),
            Format::MachO => macho::build_graph(input, names),
            Format::Coff => coff::build_graph(input, names),
        }
    }

    /// Passes the format's own structures need (unwind records, before pruning): both
    /// formats' `eh_frame` records split the same way once MachO's implicit pointers are
    /// edges.
    pub fn add_passes(self, graph: &LinkGraph, config: &mut PassConfig) {
        match self {
            Format::Elf | Format::MachO => {
                let kinds = graph.arch.eh_frame_kinds();
                config.pre_prune.push(Box::new(move |graph| crate::passes::split_eh_frame(graph, &kinds)));
            }
            // Unwind tables (`.pdata`/`.xdata`) live with their functions already.
            Format::Coff => {}
        }
    }

    /// The symbols that bound the run a gathered section is part of: its start and its end.
    pub fn section_bounds(self, section: &str) -> [String; 2] {
        match self {
            Format::Elf => elf::section_bounds(section),
            Format::MachO => macho::section_bounds(section),
            // COFF gathers by `$` suffix, not by bounding symbols: nothing is gathered.
            Format::Coff => [format!("{section}$start"), format!("{section}$end")],
        }
    }

    /// The bytes of a function that calls the function at `callee`, of this format's calling
    /// convention, from the System V one the platform calls entries with (arguments moved);
    /// `None` where the conventions are the same.
    pub fn entry_thunk(self, arch: crate::arch::Arch, callee: u64) -> Option<Vec<u8>> {
        match self {
            Format::Elf | Format::MachO => None,
            Format::Coff => coff::entry_thunk(arch, callee),
        }
    }

    /// Functions the format's C start-up provides that jitld's platform makes unnecessary:
    /// their names and the code of one that does nothing.
    pub fn startup_no_ops(self, arch: crate::arch::Arch) -> Vec<(&'static str, &'static [u8])> {
        match self {
            Format::Elf | Format::MachO => Vec::new(),
            Format::Coff => coff::startup_no_ops(arch),
        }
    }

    /// The input with each loaded section's address set to where it was placed, for
    /// debuggers (the GDB JIT interface reads object files). None for MachO: GDB on Linux
    /// reads ELF.
    pub fn debug_object(self, graph: &LinkGraph) -> Option<Vec<u8>> {
        match self {
            Format::Elf => elf::debug_object(graph),
            Format::MachO | Format::Coff => None,
        }
    }
}

pub use crate::flags::Strength;

/// What a name a format's objects publish for jitld's own use stands for, in words (for
/// errors), or `None` for an ordinary name.
pub fn describe_published(name: &str) -> Option<String> {
    coff::describe_published(name)
}

/// One symbol an object defines, as the session sees it.
#[derive(Clone, Debug)]
pub struct InterfaceSymbol {
    pub name: SymbolName,
    pub flags: SymbolFlags,
}

/// A section that every object's copy of is gathered into one run (`SectionRole::Gathered`).
#[derive(Clone, Debug)]
pub struct GatheredSection {
    pub name: String,
    pub size: u64,
    pub align: u64,
}

/// A name that means another one when nothing along the whole search order defines it: the
/// JITDylib then defines `name` (weak) as `target`, looked up from there. COFF's weak
/// externals whose default is another object's, and `/alternatename:name=target`.
#[derive(Clone, Debug)]
pub struct StandIn {
    pub name: SymbolName,
    pub target: SymbolName,
    pub callable: bool,
}

/// What an object provides, read from its symbol table alone.
#[derive(Clone, Debug, Default)]
pub struct Interface {
    pub symbols: Vec<InterfaceSymbol>,
    /// It has sections that must be linked even if nothing references the object:
    /// initializers and finalizers (which run), gathered sections.
    pub has_initializers: bool,
    /// Its gathered sections, in section order.
    pub gathered: Vec<GatheredSection>,
    /// Names it gives a meaning to should nothing define them.
    pub stand_ins: Vec<StandIn>,
}

/// What kind of file some bytes are.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FileKind {
    /// A relocatable object: what jitld links.
    Object(Format),
    /// A shared library or executable (loaded with `dlopen`).
    SharedLibrary,
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
            Some(1) => FileKind::Object(Format::Elf),
            Some(3) => FileKind::SharedLibrary,
            _ => FileKind::Unknown,
        };
    }
    if bytes.starts_with(&[0xcf, 0xfa, 0xed, 0xfe]) {
        // MH_MAGIC_64, little-endian; the file type says what it holds.
        return match bytes.get(12) {
            Some(1) => FileKind::Object(Format::MachO),
            Some(_) => FileKind::SharedLibrary,
            None => FileKind::Unknown,
        };
    }
    if coff::is_coff_object(bytes) {
        return FileKind::Object(Format::Coff);
    }
    let head = bytes.get(..512).unwrap_or(bytes);
    let text = String::from_utf8_lossy(head);
    if ["GROUP", "INPUT", "OUTPUT_FORMAT", "/*"].iter().any(|k| text.trim_start().starts_with(k)) {
        return FileKind::LinkerScript;
    }
    FileKind::Unknown
}

/// The format of a relocatable object, or an error saying what the input is instead.
pub fn object_format(input: &InputBuffer) -> Result<Format> {
    let instead = match sniff(input) {
        FileKind::Object(format) => return Ok(format),
        FileKind::LlvmBitcode => LLVM_BITCODE,
        FileKind::SharedLibrary => "a shared library or executable, not a relocatable object",
        FileKind::Archive => "a static archive, not a relocatable object",
        FileKind::LinkerScript => "a linker script, not a relocatable object",
        FileKind::Unknown => match coff::import_member(input.bytes()) {
            Some(import) => return Err(crate::LinkError::unsupported(crate::Location::file(&*input.name), import)),
            None => "unrecognized file format",
        },
    };
    Err(crate::LinkError::unsupported(crate::Location::file(&*input.name), instead))
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
