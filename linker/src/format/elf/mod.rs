//! ELF relocatable objects → `LinkGraph`: the ELF row of the format × architecture grid.
//!
//! Every allocatable section becomes a section with one block (`.eh_frame` is split into
//! records later, by a pass). Symbols in COMDAT groups are treated as weak definitions, so
//! the session keeps one copy and the others become references to it. Every index and offset
//! read from the file is checked; errors name the file, section, symbol and offset. What a
//! relocation type means is the architecture's cell (`x86_64.rs`, `aarch64.rs`), chosen by
//! `e_machine`.

mod aarch64;
mod x86_64;

use super::{machine_name, Format, GatheredSection, Interface, InterfaceSymbol, Strength};
use crate::arch::Arch;
use crate::flags::SymbolFlags;
use crate::graph::{
    BlockId, Content, Definition, Edge, EdgeKind, InputBuffer, LinkGraph, MemProt, Scope, SectionRole, Symbol, SymbolId,
};
use crate::names::NamePool;
use crate::{LinkError, Location, Result};
use object::elf::*;
use object::read::elf::{FileHeader as _, Rela as _, SectionHeader as _, SectionTable, Sym as _, SymbolTable};
use object::LittleEndian as LE;
use std::borrow::Cow;
use std::sync::Arc;

type Header = FileHeader64<LE>;

/// Large-model tentative definitions (gcc `-mcmodel=medium/large -fcommon`); `object` lacks it.
const SHN_X86_64_LCOMMON: u16 = 0xff02;

fn is_common(sym: &Sym64<LE>) -> bool {
    matches!(sym.st_shndx(LE), SHN_COMMON | SHN_X86_64_LCOMMON)
}

/// What an ELF relocation becomes in the graph (each architecture's cell maps its types).
pub enum ElfEdge {
    /// An ordinary edge to the relocation's symbol.
    Edge(EdgeKind),
    /// An edge to the graph's `_GLOBAL_OFFSET_TABLE_`, whatever the relocation's symbol.
    ToGotBase(EdgeKind),
    /// No fix-up needed.
    None,
}

/// The architectures jitld links ELF objects for: `e_machine` → architecture.
fn arch_for_machine(machine: u16) -> Option<Arch> {
    match machine {
        EM_X86_64 => Some(Arch::X86_64),
        EM_AARCH64 => Some(Arch::AArch64),
        _ => None,
    }
}

/// The architecture's cell: an ELF relocation type → an edge; `Err` names the type.
fn relocation_edge(arch: Arch, r_type: u32) -> std::result::Result<ElfEdge, String> {
    match arch {
        Arch::X86_64 => x86_64::relocation_edge(r_type),
        Arch::AArch64 => aarch64::relocation_edge(r_type),
    }
}

/// Arm's mapping symbols (`$x`, `$d`, `$x.name`) mark where code and data start in a
/// section, for disassemblers; they name nothing a program uses.
fn is_mapping_symbol(arch: Arch, name: &[u8]) -> bool {
    match arch {
        Arch::AArch64 => matches!(name, [b'$', b'x' | b'd'] | [b'$', b'x' | b'd', b'.', ..]),
        Arch::X86_64 => false,
    }
}

/// Whether a section's content goes into memory.
fn loads(section: &SectionHeader64<LE>) -> bool {
    section.sh_flags(LE) & u64::from(SHF_ALLOC) != 0
        && matches!(
            section.sh_type(LE),
            SHT_PROGBITS | SHT_NOBITS | SHT_INIT_ARRAY | SHT_FINI_ARRAY | SHT_PREINIT_ARRAY | SHT_X86_64_UNWIND
        )
}

/// A parsed view of one object: header, section table, symbol table and COMDAT membership.
struct ElfObject<'a> {
    input: &'a InputBuffer,
    arch: Arch,
    data: &'a [u8],
    sections: SectionTable<'a, Header>,
    symbols: SymbolTable<'a, Header>,
    /// Section index → it belongs to a COMDAT group.
    in_comdat: Vec<bool>,
    /// Section index → its name, read once (every pass asks for names).
    section_names: Vec<&'a [u8]>,
    /// Section index → its content is loaded into memory (asked per section and per symbol).
    loaded: Vec<bool>,
}

impl<'a> ElfObject<'a> {
    fn open(input: &'a InputBuffer) -> Result<Self> {
        let data = input.bytes();
        let at = || Location::file(&*input.name);
        let bad = |e: object::read::Error| LinkError::malformed(at(), e.to_string());
        let arch = check_ident(data).map_err(|message| LinkError::unsupported(at(), message))?;
        let header = Header::parse(data).map_err(bad)?;
        let arch = arch
            .or_else(|| arch_for_machine(header.e_machine(LE)))
            .ok_or_else(|| LinkError::unsupported(at(), format!("machine {}", header.e_machine(LE))))?;
        if header.e_ident().class != ELFCLASS64 || header.e_ident().data != ELFDATA2LSB {
            return Err(LinkError::malformed(at(), "not a 64-bit little-endian ELF file"));
        }
        if header.e_type(LE) != ET_REL {
            return Err(LinkError::malformed(at(), format!("not a relocatable object (e_type {})", header.e_type(LE))));
        }
        let sections = header.sections(LE, data).map_err(bad)?;
        let symbols = sections.symbols(LE, data, SHT_SYMTAB).map_err(|e| {
            // Name the symbol table: its sh_link, offset or size is what is wrong.
            let symtab = sections.iter().enumerate().find(|(_, s)| s.sh_type(LE) == SHT_SYMTAB);
            let Some((index, symtab)) = symtab else { return bad(e) };
            let name = sections.section_name(LE, symtab).map(|n| String::from_utf8_lossy(n).into_owned());
            LinkError::malformed(at().section(name.unwrap_or_else(|_| section_label(index))), e.to_string())
        })?;
        let mut in_comdat = vec![false; sections.len()];
        let section_names: Vec<&[u8]> =
            sections.iter().map(|section| sections.section_name(LE, section).unwrap_or_default()).collect();
        let loaded = sections.iter().map(loads).collect();
        for ((index, section), &name) in sections.iter().enumerate().zip(&section_names) {
            // Before COMDAT groups, `.gnu.linkonce.*` sections were the one-copy mechanism.
            if let (true, Some(flag)) = (name.starts_with(b".gnu.linkonce."), in_comdat.get_mut(index)) {
                *flag = true;
            }
            let Some((flags, members)) = section.group(LE, data).map_err(|e| bad_section(input, index, e))? else {
                continue;
            };
            if flags & GRP_COMDAT == 0 {
                continue;
            }
            for member in members {
                let member = member.get(LE) as usize;
                *in_comdat.get_mut(member).ok_or_else(|| {
                    LinkError::malformed(
                        at().section(section_label(index)),
                        format!("group member {member} is not a section"),
                    )
                })? = true;
            }
        }
        let obj = ElfObject { input, arch, data, sections, symbols, in_comdat, section_names, loaded };
        if obj.is_gcc_lto_only() {
            return Err(LinkError::unsupported(at(), super::GCC_LTO));
        }
        Ok(obj)
    }

    /// A slim GCC LTO object: `.gnu.lto_*` sections and no code of its own (gcc marks it with
    /// `__gnu_lto_slim`). Fat LTO objects carry real code too and link as usual.
    fn is_gcc_lto_only(&self) -> bool {
        let lto = self.section_names.iter().any(|n| n.starts_with(b".gnu.lto_"));
        lto && !self.symbols.iter().any(|sym| {
            let name = self.symbols.symbol_name(LE, sym).unwrap_or_default();
            name != b"__gnu_lto_slim" && sym.st_bind() != STB_LOCAL && !sym.is_undefined(LE) && !is_common(sym)
        })
    }

    fn at(&self) -> Location {
        Location::file(&*self.input.name)
    }

    /// The section's name; borrowed from the file when it is UTF-8, as it nearly always is.
    fn section_name(&self, index: usize) -> Cow<'a, str> {
        match self.section_names.get(index).copied().filter(|n| !n.is_empty()) {
            Some(name) => text(name),
            None => section_label(index).into(),
        }
    }

    fn symbol_name(&self, sym: &Sym64<LE>) -> Result<&'a [u8]> {
        self.symbols.symbol_name(LE, sym).map_err(|e| LinkError::malformed(self.at(), format!("symbol name: {e}")))
    }

    /// Sections we load: allocatable content, not notes.
    fn is_loaded(&self, index: usize) -> bool {
        self.loaded.get(index).copied().unwrap_or(false)
    }

    /// What a loaded section is for: thread-local template, gathered run (a data section
    /// named like a C identifier, as ld gathers them for `__start_`/`__stop_`), init/fini
    /// array, unwind tables, or plain content.
    fn role(&self, index: usize, name: &str) -> SectionRole {
        let Ok(section) = self.sections.section(object::SectionIndex(index)) else { return SectionRole::Plain };
        let flags = section.sh_flags(LE);
        if flags & u64::from(SHF_TLS) != 0 {
            return SectionRole::ThreadLocal;
        }
        if is_c_identifier(name) {
            // Gathered code would need its run to be executable; such sections link as plain ones.
            let code = flags & u64::from(SHF_EXECINSTR) != 0;
            return if code { SectionRole::Plain } else { SectionRole::Gathered };
        }
        section_role(name)
    }

    /// The section index a symbol is defined in, if any (handles `SHN_XINDEX`). The index is
    /// checked: `object` passes any value below `SHN_LORESERVE` through.
    fn symbol_section(&self, sym: &Sym64<LE>, index: usize) -> Result<Option<usize>> {
        let at = || {
            let name = self.symbol_name(sym).ok().filter(|n| !n.is_empty());
            self.at().symbol(name.map_or_else(|| format!("#{index}"), |n| String::from_utf8_lossy(n).into_owned()))
        };
        let shndx = sym.st_shndx(LE);
        if shndx >= SHN_LORESERVE && !matches!(shndx, SHN_ABS | SHN_COMMON | SHN_XINDEX | SHN_X86_64_LCOMMON) {
            return Err(LinkError::unsupported(at(), format!("special section index {shndx:#x}")));
        }
        let section = self
            .symbols
            .symbol_section(LE, sym, object::SymbolIndex(index))
            .map_err(|e| LinkError::malformed(at(), e.to_string()))?
            .map(|s| s.0);
        if let Some(section) = section.filter(|&s| s >= self.sections.len()) {
            return Err(LinkError::malformed(
                at(),
                format!("section index {section} out of range ({} sections)", self.sections.len()),
            ));
        }
        Ok(section)
    }

    /// Strength, scope and callability of a global definition.
    fn definition_flags(&self, sym: &Sym64<LE>, section: Option<usize>) -> SymbolFlags {
        let weak =
            sym.st_bind() == STB_WEAK || section.is_some_and(|s| self.in_comdat.get(s).copied().unwrap_or(false));
        let strength = if is_common(sym) {
            // An alignment beyond 32 bits becomes one that is not a power of two: refused.
            let align = u32::try_from(sym.st_value(LE)).unwrap_or(u32::MAX).max(1);
            Strength::Common { size: sym.st_size(LE), align }
        } else if weak {
            Strength::Weak
        } else {
            Strength::Strong
        };
        let scope = match sym.st_visibility() {
            STV_HIDDEN | STV_INTERNAL => Scope::Hidden,
            _ => Scope::Default,
        };
        // An untyped label in code (hand-written assembly) is code too.
        let in_code = || {
            section
                .and_then(|s| self.sections.section(object::SectionIndex(s)).ok())
                .is_some_and(|s| s.sh_flags(LE) & u64::from(SHF_EXECINSTR) != 0)
        };
        let callable = match sym.st_type() {
            STT_FUNC | STT_GNU_IFUNC => true,
            STT_NOTYPE => in_code(),
            _ => false,
        };
        SymbolFlags { strength, scope, callable }
    }
}

/// A name from the file as text: borrowed when it is UTF-8 (checked word by word, where
/// `from_utf8_lossy` goes byte by byte), else with replacement characters.
fn text(name: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(name) {
        Ok(name) => Cow::Borrowed(name),
        Err(_) => String::from_utf8_lossy(name),
    }
}

/// What the identification bytes say about the file, before a 64-bit header is parsed: its
/// architecture, or a message naming bitcode, 32-bit objects and unsupported machines
/// instead of "Unsupported ELF header".
fn check_ident(data: &[u8]) -> std::result::Result<Option<Arch>, String> {
    if super::is_llvm_bitcode(data) {
        return Err(super::LLVM_BITCODE.into());
    }
    let (true, Some(&class), Some(&[lo, hi])) = (data.starts_with(b"\x7fELF"), data.get(4), data.get(18..20)) else {
        return Ok(None); // too short to say: the header parser reports it
    };
    let machine = match data.get(5) {
        Some(&ELFDATA2MSB) => u16::from_be_bytes([lo, hi]),
        _ => u16::from_le_bytes([lo, hi]),
    };
    // Named only for a message: formatting it for every object opened was most of the cost.
    let what = || match machine_name(machine) {
        Some(name) => format!("machine {machine}, {name}"),
        None => format!("machine {machine}"),
    };
    let supported = "x86-64 (machine 62) and AArch64 (machine 183) objects are supported";
    if class == ELFCLASS32 {
        let what = if machine == EM_X86_64 { "machine 62, x86-64 with 32-bit pointers (x32)".into() } else { what() };
        return Err(format!("a 32-bit ELF object ({what}); only 64-bit {supported}"));
    }
    arch_for_machine(machine).map(Some).ok_or_else(|| format!("an object for {}; only {supported}", what()))
}

/// The architecture of an ELF object, from its identification and `e_machine` alone.
pub fn arch(input: &InputBuffer) -> Result<Arch> {
    let at = || Location::file(&*input.name);
    match check_ident(input.bytes()) {
        Ok(Some(arch)) => Ok(arch),
        Ok(None) => Err(LinkError::malformed(at(), "too short for an ELF header")),
        Err(message) => Err(LinkError::unsupported(at(), message)),
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`: the section names `__start_`/`__stop_` symbols can be made of.
fn is_c_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The symbols ld defines around a gathered section.
pub fn section_bounds(section: &str) -> [String; 2] {
    [format!("__start_{section}"), format!("__stop_{section}")]
}

fn section_label(index: usize) -> String {
    format!("#{index}")
}

fn bad_section(input: &InputBuffer, index: usize, e: object::read::Error) -> LinkError {
    LinkError::malformed(Location::file(&*input.name).section(section_label(index)), e.to_string())
}

/// What the platform must know about a section, from its name.
fn section_role(name: &str) -> SectionRole {
    let priority = |suffix: &str| suffix.parse::<u32>().ok();
    let (base, suffix) = match name.strip_prefix('.').and_then(|n| n.split_once('.')) {
        Some((base, suffix)) => (base, priority(suffix)),
        None => (name.trim_start_matches('.'), None),
    };
    // Unsuffixed arrays run after every prioritized one; `.ctors.N` means priority 65535-N.
    match (base, suffix) {
        ("init_array", p) => SectionRole::Init { priority: p.unwrap_or(65536), reversed: false },
        ("fini_array", p) => SectionRole::Fini { priority: p.unwrap_or(65536), reversed: false },
        ("ctors", p) => SectionRole::Init { priority: p.map_or(65536, |p| 65535u32.saturating_sub(p)), reversed: true },
        ("dtors", p) => SectionRole::Fini { priority: p.map_or(65536, |p| 65535u32.saturating_sub(p)), reversed: true },
        ("preinit_array", None) => SectionRole::PreInit,
        ("eh_frame", None) => SectionRole::EhFrame,
        _ => SectionRole::Plain,
    }
}

/// The symbols an object defines, without building its graph.
pub fn interface(input: &InputBuffer, names: &NamePool) -> Result<Interface> {
    let obj = ElfObject::open(input)?;
    let mut iface = Interface::default();
    for (index, section) in obj.sections.iter().enumerate() {
        if !obj.is_loaded(index) {
            continue;
        }
        // Sections that link the object even when nothing refers to it: init/fini arrays,
        // `.ctors`/`.dtors`, `.init`/`.fini` fragments, gathered sections.
        let name = obj.section_name(index);
        let role = obj.role(index, &name);
        iface.has_initializers |= role.is_root() || name == ".init" || name == ".fini";
        if role == SectionRole::Gathered {
            let size = section.sh_size(LE);
            iface.gathered.push(GatheredSection {
                name: name.into_owned(),
                size,
                align: section.sh_addralign(LE).max(1),
            });
        }
    }
    for (index, sym) in obj.symbols.iter().enumerate().skip(1) {
        if sym.st_bind() == STB_LOCAL || sym.is_undefined(LE) || matches!(sym.st_type(), STT_FILE | STT_SECTION) {
            continue;
        }
        let section = obj.symbol_section(sym, index)?;
        if section.is_some_and(|s| !obj.is_loaded(s)) {
            continue;
        }
        let flags = obj.definition_flags(sym, section);
        let name = names.intern_bytes(obj.symbol_name(sym)?);
        iface.symbols.push(InterfaceSymbol { name, flags });
    }
    Ok(iface)
}

/// Builds the link graph of one object.
pub fn build_graph(input: &InputBuffer, names: &Arc<NamePool>) -> Result<LinkGraph> {
    let obj = ElfObject::open(input)?;
    let mut graph = LinkGraph::new(input.clone(), names.clone(), obj.arch);
    graph.format = Some(Format::Elf);
    // A section and a block per loaded section, sized once (C++ objects load about a third
    // of their sections: the rest are relocations, groups and symbol tables).
    let loaded = obj.loaded.iter().filter(|&&loaded| loaded).count();
    graph.sections.reserve(loaded);
    graph.blocks.reserve(loaded);
    let blocks = add_sections(&obj, &mut graph)?;
    // `.eh_frame` becomes a block and a symbol per record: room for them now, so that
    // splitting it does not move every block and symbol built before.
    let records = unwind_records(&graph);
    graph.blocks.reserve(records.saturating_add(1));
    graph.symbols.reserve(obj.symbols.len().saturating_add(records));
    let mut symbols = add_symbols(&obj, &mut graph, &blocks)?;
    for (index, sym) in obj.symbols.iter().enumerate() {
        if let (STT_GNU_IFUNC, Some(id)) = (sym.st_type(), symbols.get(index).copied().flatten()) {
            indirect_function(&mut graph, id);
        }
    }
    add_relocations(&obj, &mut graph, &blocks, &mut symbols)?;
    Ok(graph)
}

/// How many records the graph's `.eh_frame` sections hold.
fn unwind_records(graph: &LinkGraph) -> usize {
    let unwind = graph.sections.iter().filter(|s| s.role == SectionRole::EhFrame);
    unwind.flat_map(|s| &s.blocks).map(|&b| crate::passes::eh_frame_records(graph.block_bytes(graph.block(b)))).sum()
}

fn add_sections(obj: &ElfObject, graph: &mut LinkGraph) -> Result<Vec<Option<BlockId>>> {
    let mut blocks = vec![None; obj.sections.len()];
    for (index, section) in obj.sections.iter().enumerate() {
        if !obj.is_loaded(index) {
            continue;
        }
        let name = obj.section_name(index);
        let flags = section.sh_flags(LE);
        let at = || obj.at().section(&*name);
        let prot = if flags & u64::from(SHF_EXECINSTR) != 0 {
            MemProt::ReadExec
        } else if flags & u64::from(SHF_WRITE) != 0 {
            MemProt::ReadWrite
        } else {
            MemProt::Read
        };
        let size = section.sh_size(LE);
        let content = if section.sh_type(LE) == SHT_NOBITS {
            Content::Zero(size)
        } else {
            let start = section.sh_offset(LE);
            start.checked_add(size).filter(|&end| end <= obj.data.len() as u64).ok_or_else(|| {
                LinkError::malformed(
                    at(),
                    format!("content {start:#x}..+{size:#x} lies outside the file ({:#x} bytes)", obj.data.len()),
                )
            })?;
            let (Ok(start), Ok(len)) = (usize::try_from(start), usize::try_from(size)) else {
                return Err(LinkError::malformed(at(), "content beyond the address space"));
            };
            Content::Input { start, len }
        };
        let align = section.sh_addralign(LE);
        if align > 1 << 30 || (align > 1 && !align.is_power_of_two()) {
            return Err(LinkError::malformed(at(), format!("alignment {align} is not a sane power of two")));
        }
        let role = obj.role(index, &name);
        let section_id = graph.add_section(&name, prot, role);
        graph.section_mut(section_id).input_index = u32::try_from(index).ok();
        let block = graph.add_block(section_id, content, align);
        if let Some(slot) = blocks.get_mut(index) {
            *slot = Some(block);
        }
    }
    Ok(blocks)
}

/// Maps ELF symbol indices to graph symbols. Undefined symbols become externals when a
/// relocation first uses them; section symbols become anonymous symbols at the section start.
/// Local names are stored unlisted, all at once: nothing looks them up, and most of a
/// library's names are local (CPython's: 18,000 of 21,000), so hashing them was wasted.
fn add_symbols(obj: &ElfObject, graph: &mut LinkGraph, blocks: &[Option<BlockId>]) -> Result<Vec<Option<SymbolId>>> {
    let mut ids = vec![None; obj.symbols.len()];
    let mut common: Option<crate::graph::SectionId> = None;
    // ELF lists local symbols first.
    let local_count = obj.symbols.symbols().partition_point(|sym| sym.st_bind() == STB_LOCAL);
    let mut locals: Vec<(SymbolId, &[u8])> = Vec::with_capacity(local_count);
    let mut undefined = 0usize;
    for (index, sym) in obj.symbols.iter().enumerate().skip(1) {
        if sym.is_undefined(LE) {
            undefined = undefined.saturating_add(1);
            continue;
        }
        if sym.st_type() == STT_FILE {
            continue;
        }
        let raw_name = obj.symbol_name(sym)?;
        if sym.st_bind() == STB_LOCAL && sym.st_type() == STT_NOTYPE && is_mapping_symbol(obj.arch, raw_name) {
            continue;
        }
        let at = || obj.at().symbol(String::from_utf8_lossy(raw_name).into_owned());
        let section = obj.symbol_section(sym, index)?;
        let local = sym.st_bind() == STB_LOCAL;
        let flags = obj.definition_flags(sym, section);
        let def = if is_common(sym) {
            let Strength::Common { size, align } = flags.strength else { unreachable!() };
            if !align.is_power_of_two() || align > 1 << 30 {
                let align = sym.st_value(LE);
                return Err(LinkError::malformed(at(), format!("common symbol alignment {align}")));
            }
            let section =
                *common.get_or_insert_with(|| graph.add_section(".bss.common", MemProt::ReadWrite, SectionRole::Plain));
            Definition::Block { block: graph.add_block(section, Content::Zero(size), u64::from(align)), offset: 0 }
        } else if sym.st_shndx(LE) == SHN_ABS {
            Definition::Absolute
        } else {
            let Some(section) = section else { continue };
            let Some(block) = blocks.get(section).copied().flatten() else { continue };
            let offset = sym.st_value(LE);
            let size = graph.block(block).size();
            if offset > size {
                return Err(LinkError::malformed(
                    at().section(obj.section_name(section)).offset(offset),
                    format!("symbol lies past the end of its section ({size:#x} bytes)"),
                ));
            }
            Definition::Block { block, offset }
        };
        let named = sym.st_type() != STT_SECTION && !raw_name.is_empty();
        let id = graph.add_symbol(Symbol {
            name: (named && !local).then(|| graph.names.intern_bytes(raw_name)),
            def,
            size: sym.st_size(LE),
            flags: if local { SymbolFlags { strength: Strength::Strong, scope: Scope::Local, ..flags } } else { flags },
            addr: if def == Definition::Absolute { sym.st_value(LE) } else { 0 },
            live: !local,
        });
        if let Some(slot) = ids.get_mut(index) {
            *slot = Some(id);
        }
        if named && local {
            locals.push((id, raw_name));
        }
    }
    // Each undefined symbol a relocation uses becomes an external: room for them all now.
    graph.externals.reserve(undefined);
    let names = graph.names.store_unlisted(locals.iter().map(|&(_, name)| name));
    for (&(id, _), name) in locals.iter().zip(names) {
        graph.symbol_mut(id).name = Some(name);
    }
    Ok(ids)
}

fn add_relocations(
    obj: &ElfObject,
    graph: &mut LinkGraph,
    blocks: &[Option<BlockId>],
    symbols: &mut [Option<SymbolId>],
) -> Result<()> {
    let unwind = unwind_references(obj, graph, blocks);
    for (index, section) in obj.sections.iter().enumerate() {
        let kind = section.sh_type(LE);
        if kind == SHT_REL {
            return Err(LinkError::unsupported(
                obj.at().section(obj.section_name(index)),
                format!("SHT_REL relocations on {}", obj.arch.name()),
            ));
        }
        if kind != SHT_RELA {
            continue;
        }
        let target = section.sh_info(LE) as usize;
        if target >= blocks.len() {
            return Err(LinkError::malformed(
                obj.at().section(obj.section_name(index)),
                format!("relocations for section index {target}, out of range ({} sections)", blocks.len()),
            ));
        }
        let Some(block) = blocks.get(target).copied().flatten() else { continue };
        let (relas, _) = section
            .rela(LE, obj.data)
            .map_err(|e| bad_section(obj.input, index, e))?
            .ok_or_else(|| LinkError::malformed(obj.at().section(obj.section_name(index)), "unreadable relocations"))?;
        let size = graph.block(block).size();
        // One edge per relocation, mostly, and one per unwind record: grow once, not once
        // per doubling.
        let records = unwind.get(target).copied().unwrap_or(0);
        graph.block_mut(block).edges.reserve(relas.len().saturating_add(records));
        let zero_fill = graph.block(block).is_zero_fill();
        // The previous relocation's type and what it maps to: runs of one type are common
        // (a data section's pointers, a function's calls).
        let mut last: Option<(u32, EdgeKind, bool, u64)> = None;
        for rela in relas {
            let offset = rela.r_offset(LE);
            let at = || obj.at().section(obj.section_name(target)).offset(offset);
            let r_type = rela.r_type(LE, false);
            let (kind, to_got_base, width) = match last {
                Some((t, kind, to_got_base, width)) if t == r_type => (kind, to_got_base, width),
                _ => {
                    let (kind, to_got_base) = match relocation_edge(obj.arch, r_type) {
                        Ok(ElfEdge::Edge(kind)) => (kind, false),
                        Ok(ElfEdge::ToGotBase(kind)) => (kind, true),
                        Ok(ElfEdge::None) => continue,
                        // Unnamed types already read "relocation type N".
                        Err(name) if name.starts_with("relocation") => return Err(LinkError::unsupported(at(), name)),
                        Err(name) => return Err(LinkError::unsupported(at(), format!("relocation {name}"))),
                    };
                    let width = obj.arch.edge_info(kind).map_or(0, |info| u64::from(info.width));
                    last = Some((r_type, kind, to_got_base, width));
                    (kind, to_got_base, width)
                }
            };
            if offset.checked_add(width).is_none_or(|end| end > size) {
                return Err(LinkError::malformed(
                    at(),
                    format!("relocation past the end of the section ({size:#x} bytes)"),
                ));
            }
            // Edges hold 32-bit offsets; only a huge zero-fill section could get here.
            if u32::try_from(offset).is_err() {
                return Err(LinkError::unsupported(at(), "relocation at an offset beyond 4 GiB"));
            }
            // Zero-fill has no bytes to fix up (and passes would have to invent them).
            if zero_fill {
                return Err(LinkError::malformed(at(), "relocation in a section without content (SHT_NOBITS)"));
            }
            let sym_index = rela.r_sym(LE, false) as usize;
            let target_symbol = if to_got_base {
                obj.arch.got_base(graph)
            } else {
                relocation_target(obj, graph, symbols, sym_index)
                    .map_err(|message| LinkError::malformed(at(), message))?
            };
            graph.block_mut(block).edges.push(Edge::new(kind, offset as u32, target_symbol, rela.r_addend(LE)));
        }
    }
    Ok(())
}

/// Per section index, about how many `.eh_frame` records describe code in it: splitting
/// `.eh_frame` gives the block of each described function one keep-alive edge per record,
/// and a block's edges are sized for those up front (re-growing the edges of a large
/// `.text` is a copy of all of them). Counts every relocation of `.eh_frame` by the section
/// of its symbol, so LSDA and personality references count too: an estimate from above.
fn unwind_references(obj: &ElfObject, graph: &mut LinkGraph, blocks: &[Option<BlockId>]) -> Vec<usize> {
    let mut counts = vec![0usize; obj.sections.len()];
    let mut relocated = vec![false; obj.sections.len()];
    for section in obj.sections.iter().filter(|s| s.sh_type(LE) == SHT_RELA) {
        let target = section.sh_info(LE) as usize;
        if let Some(flag) = relocated.get_mut(target) {
            *flag = true;
        }
        let block = blocks.get(target).copied().flatten();
        let section_of = |b: BlockId| graph.sections.get(graph.block(b).section.index());
        let unwind = block.and_then(section_of).is_some_and(|s| s.role == SectionRole::EhFrame);
        let Some((relas, _)) = unwind.then(|| section.rela(LE, obj.data).ok().flatten()).flatten() else { continue };
        for rela in relas {
            let symbol = obj.symbols.symbol(object::SymbolIndex(rela.r_sym(LE, false) as usize));
            let shndx = symbol.map_or(0, |sym| usize::from(sym.st_shndx(LE)));
            if let Some(count) = counts.get_mut(shndx) {
                *count = count.saturating_add(1);
            }
        }
    }
    // Sections without relocations of their own get their room here.
    for (index, (&count, relocated)) in counts.iter().zip(relocated).enumerate() {
        match blocks.get(index).copied().flatten() {
            Some(block) if count > 0 && !relocated => graph.block_mut(block).edges.reserve_exact(count),
            _ => {}
        }
    }
    counts
}

/// The graph symbol a relocation refers to. An undefined symbol becomes an external the
/// first time a relocation uses it; later relocations find it in `symbols`.
fn relocation_target(
    obj: &ElfObject,
    graph: &mut LinkGraph,
    symbols: &mut [Option<SymbolId>],
    index: usize,
) -> std::result::Result<SymbolId, String> {
    if index == 0 {
        return Err("relocation without a symbol".into());
    }
    if let Some(id) = symbols.get(index).copied().flatten() {
        return Ok(id);
    }
    let sym =
        obj.symbols.symbol(object::SymbolIndex(index)).map_err(|_| format!("symbol index {index} out of range"))?;
    let name = obj.symbol_name(sym).map_err(|e| e.to_string())?;
    if !sym.is_undefined(LE) {
        let name = String::from_utf8_lossy(name);
        return Err(format!("relocation against symbol {name:?} in a section that is not loaded"));
    }
    if name == b"_GLOBAL_OFFSET_TABLE_" {
        return Ok(obj.arch.got_base(graph));
    }
    let interned = graph.names.intern_bytes(name);
    let id = graph.external(interned, sym.st_bind() == STB_WEAK);
    if let Some(slot) = symbols.get_mut(index) {
        *slot = Some(id);
    }
    Ok(id)
}

/// A GNU indirect function: the symbol's code is a resolver that returns the real
/// implementation. The symbol becomes a stub jumping through a slot; the platform calls the
/// resolver once the code is in place and stores its answer in the slot (`graph.ifuncs`).
fn indirect_function(graph: &mut LinkGraph, symbol: SymbolId) {
    let Definition::Block { block, offset } = graph.symbol(symbol).def else { return };
    let resolver = graph.add_anonymous_symbol(block, offset, graph.symbol(symbol).size);
    let slots = graph
        .find_section("$__IFUNC_SLOTS")
        .unwrap_or_else(|| graph.add_section("$__IFUNC_SLOTS", MemProt::ReadWrite, SectionRole::Plain));
    let stubs = graph
        .find_section("$__IFUNC_STUBS")
        .unwrap_or_else(|| graph.add_section("$__IFUNC_STUBS", MemProt::ReadExec, SectionRole::Plain));
    let slot_block = graph.add_block(slots, Content::Owned(vec![0; 8]), 8);
    // The resolver must survive dead-stripping as long as the slot it fills does.
    graph.block_mut(slot_block).edges.push(Edge::new(EdgeKind::KEEP_ALIVE, 0, resolver, 0));
    let slot = graph.add_anonymous_symbol(slot_block, 0, 8);
    let stub = graph.arch.add_pointer_jump_stub(graph, stubs, slot);
    let Definition::Block { block: stub_block, .. } = graph.symbol(stub).def else { return };
    let size = graph.symbol(stub).size;
    let entry = graph.symbol_mut(symbol);
    entry.def = Definition::Block { block: stub_block, offset: 0 };
    entry.size = size;
    graph.ifuncs.push((slot, resolver));
}

/// The input object with each loaded section's address set to where it was placed: what a
/// debugger reads (through the GDB JIT interface) to name and map JIT'd code.
pub fn debug_object(graph: &LinkGraph) -> Option<Vec<u8>> {
    let mut bytes = graph.input.bytes().to_vec();
    let read = |bytes: &[u8], at: usize, len: usize| -> Option<u64> {
        let field = bytes.get(at..at.checked_add(len)?)?;
        Some(field.iter().rev().fold(0, |value, &b| (value << 8) | u64::from(b)))
    };
    let (shoff, shentsize, shnum) =
        (read(&bytes, 0x28, 8)? as usize, read(&bytes, 0x3a, 2)? as usize, read(&bytes, 0x3c, 2)?);
    for section in &graph.sections {
        let (Some(index), Some(first)) = (section.input_index, section.blocks.first()) else { continue };
        if u64::from(index) >= shnum {
            continue;
        }
        // sh_addr is at offset 16 of an Elf64_Shdr.
        let at = shoff.checked_add((index as usize).checked_mul(shentsize)?)?.checked_add(16)?;
        let block = graph.block(*first);
        let addr = block.addr.wrapping_sub(block.input_offset);
        bytes.get_mut(at..at.checked_add(8)?)?.copy_from_slice(&addr.to_le_bytes());
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_roles_follow_ld_priorities() {
        assert_eq!(section_role(".init_array.00101"), SectionRole::Init { priority: 101, reversed: false });
        assert_eq!(section_role(".init_array"), SectionRole::Init { priority: 65536, reversed: false });
        assert_eq!(section_role(".ctors.65434"), SectionRole::Init { priority: 101, reversed: true });
        assert_eq!(section_role(".dtors"), SectionRole::Fini { priority: 65536, reversed: true });
        assert_eq!(section_role(".text.startup"), SectionRole::Plain);
        assert_eq!(section_role(".eh_frame"), SectionRole::EhFrame);
    }
}
