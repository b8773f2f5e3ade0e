//! MachO relocatable objects → `LinkGraph`: the MachO row of the format × architecture grid.
//!
//! A MachO object is one unnamed segment of sections at made-up addresses; relocations
//! either name a symbol or (non-extern) leave the target's address in the bytes they fix
//! up. Sections become graph sections named `SEG,SECT`. With `MH_SUBSECTIONS_VIA_SYMBOLS`
//! (what compilers set) a section is split into one block per symbol ("atom"), so what is
//! unused can be dropped; `__cstring` is split per string and literal sections per
//! literal, identical literals sharing one block. `__eh_frame` records carry no relocation
//! for the function they describe: the builder adds those edges from the values in place.
//! What a relocation type means is the architecture's cell (`x86_64.rs`, `arm64.rs`).

mod arm64;
mod eh_frame;
mod x86_64;

use super::{Format, GatheredSection, Interface, InterfaceSymbol, Strength};
use crate::arch::Arch;
use crate::flags::SymbolFlags;
use crate::graph::{
    BlockId, Content, Definition, Edge, EdgeKind, InputBuffer, LinkGraph, MemProt, Scope, SectionRole, Symbol, SymbolId,
};
use crate::names::NamePool;
use crate::{LinkError, Location, Result};
use object::macho::*;
use object::read::macho::{MachHeader as _, Nlist as _, Section as _, Segment as _};
use object::read::StringTable;
use object::LittleEndian as LE;
use std::collections::HashMap;
use std::sync::Arc;

type Header = MachHeader64<LE>;

/// One relocation entry, as the cells read it.
#[derive(Clone, Copy, Debug)]
pub struct RawReloc {
    /// Offset of the fixed-up bytes in their section.
    pub offset: u32,
    /// Symbol index (extern) or 1-based section number.
    pub symbolnum: u32,
    pub pcrel: bool,
    /// log2 of the fixed-up width.
    pub length: u8,
    pub is_extern: bool,
    pub r_type: u8,
}

/// What an edge points at before the graph's symbols are known.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    /// The symbol of this symbol-table index.
    Symbol(u32),
    /// Whatever lies at this address of the object (a non-extern relocation).
    Address(u64),
}

/// What a cell makes of one relocation.
#[derive(Clone, Copy, Debug)]
pub enum Decoded {
    Edge {
        kind: EdgeKind,
        target: Target,
        addend: i64,
    },
    /// The first half of `B - A`: `A` is this relocation's symbol, `B` the next one's.
    Subtractor,
    /// An explicit addend for the next relocation (arm64 `ADDEND`).
    Addend(i64),
}

/// What a cell can see at the fixed-up place.
pub struct Site<'a> {
    /// The section's bytes from the fixed-up offset on (empty for zero-fill).
    pub bytes: &'a [u8],
    /// The place's address in the object.
    pub address: u64,
    /// An explicit addend from a preceding `ADDEND` relocation.
    pub addend: Option<i64>,
}

impl Site<'_> {
    pub fn read(&self, width: usize) -> Option<i64> {
        let bytes = self.bytes.get(..width)?;
        let mut buffer = [0u8; 8];
        buffer.get_mut(..width)?.copy_from_slice(bytes);
        let value = u64::from_le_bytes(buffer);
        let shift = 64u32.checked_sub(u32::try_from(width).ok()?.checked_mul(8)?)?;
        // Sign-extend narrower fields.
        Some(((value << shift) as i64) >> shift)
    }

    pub fn instruction(&self) -> Option<u32> {
        self.read(4).map(|v| v as u32)
    }
}

/// The architectures jitld links MachO objects for.
fn arch_for_cpu(cputype: u32) -> Option<Arch> {
    match cputype {
        CPU_TYPE_X86_64 => Some(Arch::X86_64),
        CPU_TYPE_ARM64 => Some(Arch::AArch64),
        _ => None,
    }
}

/// The architecture's cell.
fn decode(arch: Arch, reloc: &RawReloc, site: &Site) -> std::result::Result<Decoded, String> {
    match arch {
        Arch::X86_64 => x86_64::decode(reloc, site),
        Arch::AArch64 => arm64::decode(reloc, site),
    }
}

/// The kinds `B - A` becomes: `(delta, negated delta)` for a field of `width` bytes.
fn subtractor_kinds(arch: Arch, width: u8) -> Option<(EdgeKind, EdgeKind)> {
    arch.delta_kinds(width)
}

struct MachSection<'a> {
    raw: &'a Section64<LE>,
    /// `SEG,SECT`.
    name: String,
    kind: u32,
    attributes: u32,
    addr: u64,
    size: u64,
    align: u64,
}

impl MachSection<'_> {
    fn is_zero_fill(&self) -> bool {
        matches!(self.kind, S_ZEROFILL | S_GB_ZEROFILL | S_THREAD_LOCAL_ZEROFILL)
    }

    fn is_code(&self) -> bool {
        self.attributes & (S_ATTR_PURE_INSTRUCTIONS | S_ATTR_SOME_INSTRUCTIONS) != 0
    }

    /// Debug info, the linker's own records (but compact unwind) and LLVM's side tables
    /// are not loaded.
    fn is_loaded(&self) -> bool {
        let segment = self.raw.segment_name();
        let section = self.raw.name();
        // Compact unwind is marked as debug information too.
        self.is_compact_unwind()
            || (self.attributes & S_ATTR_DEBUG == 0
                && !matches!(segment, b"__DWARF" | b"__LLVM" | b"__LD")
                && section != b"__llvm_addrsig")
    }

    fn is_compact_unwind(&self) -> bool {
        self.raw.segment_name() == b"__LD" && self.raw.name() == b"__compact_unwind"
    }

    fn role(&self) -> SectionRole {
        match self.kind {
            S_MOD_INIT_FUNC_POINTERS => SectionRole::Init { priority: 65536, reversed: false },
            S_MOD_TERM_FUNC_POINTERS => SectionRole::Fini { priority: 65536, reversed: false },
            S_THREAD_LOCAL_REGULAR | S_THREAD_LOCAL_ZEROFILL => SectionRole::ThreadLocal,
            _ if self.raw.name() == b"__eh_frame" => SectionRole::EhFrame,
            _ if self.is_gathered() => SectionRole::Gathered,
            _ => SectionRole::Plain,
        }
    }

    /// A data section the program named itself (`__attribute__((section("__DATA,name")))`):
    /// every object's copy is gathered into one run, which `section$start$__DATA$name` and
    /// `section$end$__DATA$name` bound, as ld64 lays out one output section.
    fn is_gathered(&self) -> bool {
        const OWN: &[&[u8]] = &[b"__data", b"__const", b"__cfstring", b"__got", b"__la_symbol_ptr", b"__nl_symbol_ptr"];
        let name = self.raw.name();
        self.kind == S_REGULAR
            && !self.is_code()
            && matches!(self.raw.segment_name(), b"__DATA" | b"__DATA_CONST")
            && !OWN.contains(&name)
            && !name.starts_with(b"__objc_")
            && !name.starts_with(b"__swift")
            && name != b"__llvm_addrsig"
    }

    fn prot(&self) -> MemProt {
        if self.is_code() {
            MemProt::ReadExec
        } else if matches!(self.raw.segment_name(), b"__TEXT" | b"__DATA_CONST") {
            MemProt::Read
        } else {
            MemProt::ReadWrite
        }
    }

    fn contains(&self, address: u64) -> bool {
        address >= self.addr && address.wrapping_sub(self.addr) <= self.size
    }
}

/// A parsed view of one object.
struct MachObject<'a> {
    input: &'a InputBuffer,
    arch: Arch,
    data: &'a [u8],
    subsections: bool,
    sections: Vec<MachSection<'a>>,
    symbols: &'a [Nlist64<LE>],
    strings: StringTable<'a>,
}

/// The architecture of a MachO object, from its header alone.
pub fn arch(input: &InputBuffer) -> Result<Arch> {
    let at = || Location::file(&*input.name);
    let header = Header::parse(input.bytes(), 0).map_err(|e| LinkError::malformed(at(), e.to_string()))?;
    header_arch(input, header.cputype(LE))
}

fn header_arch(input: &InputBuffer, cputype: u32) -> Result<Arch> {
    arch_for_cpu(cputype).ok_or_else(|| {
        LinkError::unsupported(
            Location::file(&*input.name),
            format!("a MachO object for CPU type {cputype:#x}; x86-64 and arm64 are supported"),
        )
    })
}

impl<'a> MachObject<'a> {
    fn open(input: &'a InputBuffer) -> Result<Self> {
        let data = input.bytes();
        let at = || Location::file(&*input.name);
        let bad = |e: object::read::Error| LinkError::malformed(at(), e.to_string());
        let header = Header::parse(data, 0).map_err(bad)?;
        let arch = header_arch(input, header.cputype(LE))?;
        if header.filetype(LE) != MH_OBJECT {
            return Err(LinkError::unsupported(
                at(),
                format!("a MachO file of type {}, not a relocatable object", header.filetype(LE)),
            ));
        }
        let mut sections = Vec::new();
        let mut symbols: &[Nlist64<LE>] = &[];
        let mut strings = StringTable::default();
        let mut commands = header.load_commands(LE, data, 0).map_err(bad)?;
        while let Some(command) = commands.next().map_err(bad)? {
            if let Some((segment, section_data)) = command.segment_64().map_err(bad)? {
                for raw in segment.sections(LE, section_data).map_err(bad)? {
                    sections.push(section(raw).map_err(|message| LinkError::malformed(at(), message))?);
                }
            } else if let Some(symtab) = command.symtab().map_err(bad)? {
                let table = symtab.symbols::<Header, _>(LE, data).map_err(bad)?;
                strings = table.strings();
                symbols = table.iter().as_slice();
            }
        }
        let subsections = header.flags(LE) & MH_SUBSECTIONS_VIA_SYMBOLS != 0;
        Ok(MachObject { input, arch, data, subsections, sections, symbols, strings })
    }

    fn at(&self) -> Location {
        Location::file(&*self.input.name)
    }

    fn symbol_name(&self, sym: &Nlist64<LE>) -> Result<&'a [u8]> {
        sym.name(LE, self.strings).map_err(|e| LinkError::malformed(self.at(), format!("symbol name: {e}")))
    }

    /// The loaded section a symbol is defined in (`n_sect` is 1-based).
    fn symbol_section(&self, sym: &Nlist64<LE>) -> Option<&MachSection<'a>> {
        let index = usize::from(sym.n_sect()).checked_sub(1)?;
        self.sections.get(index).filter(|s| s.is_loaded())
    }

    fn flags(&self, sym: &Nlist64<LE>) -> SymbolFlags {
        let (n_type, n_desc) = (sym.n_type(), sym.n_desc(LE));
        let scope = if n_type & N_EXT == 0 {
            Scope::Local
        } else if n_type & N_PEXT != 0 {
            Scope::Hidden
        } else {
            Scope::Default
        };
        let strength = if n_type & N_TYPE == N_UNDF && sym.n_value(LE) != 0 {
            // GET_COMM_ALIGN: log2 of the alignment in bits 8..12 of n_desc.
            Strength::Common { size: sym.n_value(LE), align: 1u32 << ((n_desc >> 8) & 0xf) }
        } else if n_desc & N_WEAK_DEF != 0 {
            Strength::Weak
        } else {
            Strength::Strong
        };
        let callable = self.symbol_section(sym).is_some_and(|s| s.is_code());
        SymbolFlags { strength, scope, callable }
    }

    /// Defined, non-debugging symbols with their table index.
    fn definitions(&self) -> impl Iterator<Item = (usize, &'a Nlist64<LE>)> + '_ {
        self.symbols.iter().enumerate().filter(|(_, sym)| {
            let n_type = sym.n_type();
            n_type & N_STAB == 0
                && match n_type & N_TYPE {
                    N_SECT => self.symbol_section(sym).is_some(),
                    N_ABS => true,
                    N_UNDF => sym.n_value(LE) != 0, // common
                    _ => false,
                }
        })
    }
}

fn section(raw: &Section64<LE>) -> std::result::Result<MachSection<'_>, String> {
    let name = format!("{},{}", String::from_utf8_lossy(raw.segment_name()), String::from_utf8_lossy(raw.name()));
    let align_log2 = raw.align(LE);
    if align_log2 > 30 {
        return Err(format!("section {name}: alignment 2^{align_log2} is not sane"));
    }
    let flags = raw.flags(LE);
    Ok(MachSection {
        raw,
        name,
        kind: flags & SECTION_TYPE,
        attributes: flags & SECTION_ATTRIBUTES,
        addr: raw.addr(LE),
        size: raw.size(LE),
        align: 1 << align_log2,
    })
}

/// The symbols an object defines, without building its graph.
pub fn interface(input: &InputBuffer, names: &NamePool) -> Result<Interface> {
    let obj = MachObject::open(input)?;
    let has_initializers =
        obj.sections.iter().any(|s| s.is_loaded() && (s.role().is_root() || s.attributes & S_ATTR_NO_DEAD_STRIP != 0));
    let mut iface = Interface { has_initializers, ..Interface::default() };
    for section in obj.sections.iter().filter(|s| s.is_loaded() && s.role() == SectionRole::Gathered) {
        iface.gathered.push(GatheredSection { name: section.name.clone(), size: section.size, align: section.align });
    }
    for (_, sym) in obj.definitions() {
        if sym.n_type() & N_EXT == 0 {
            continue;
        }
        iface.symbols.push(InterfaceSymbol { name: names.intern_bytes(obj.symbol_name(sym)?), flags: obj.flags(sym) });
    }
    Ok(iface)
}

/// Where each address of the object went: runs of `[start, end)` → block (a literal's run
/// may map to the block of an identical literal).
#[derive(Default)]
struct AddressMap {
    /// `(section index, start, end, block)`, sorted by start.
    runs: Vec<(usize, u64, u64, BlockId)>,
    /// Each block's address in the object.
    starts: HashMap<BlockId, u64>,
}

impl AddressMap {
    /// The block holding `address` of section `section`, and the offset in it; an address
    /// just past a run belongs to that run when nothing starts there. Runs do not overlap,
    /// so only those starting at or before `address` and not ending before it are looked
    /// at (every symbol and relocation asks: no scan of the whole object).
    fn locate(&self, section: Option<usize>, address: u64) -> Option<(BlockId, u64)> {
        let upto = self.runs.partition_point(|r| r.1 <= address);
        let mut fallback = None;
        for &(s, start, end, block) in self.runs.get(..upto).unwrap_or(&[]).iter().rev() {
            if end < address {
                break;
            }
            if section.is_some_and(|wanted| wanted != s) {
                continue;
            }
            if address < end {
                return Some((block, address.wrapping_sub(start)));
            }
            fallback = fallback.or(Some((block, address.wrapping_sub(start))));
        }
        fallback
    }

    /// Where `block` was in the object.
    fn start(&self, block: BlockId) -> Option<u64> {
        self.starts.get(&block).copied()
    }
}

/// Builds the link graph of one object.
pub fn build_graph(input: &InputBuffer, names: &Arc<NamePool>) -> Result<LinkGraph> {
    let obj = MachObject::open(input)?;
    let mut graph = LinkGraph::new(input.clone(), names.clone(), obj.arch);
    graph.format = Some(Format::MachO);
    let map = add_sections(&obj, &mut graph)?;
    let mut builder = Builder { obj: &obj, map, symbols: vec![None; obj.symbols.len()], block_symbols: HashMap::new() };
    builder.add_symbols(&mut graph)?;
    builder.add_relocations(&mut graph)?;
    eh_frame::add_implicit_edges(&mut graph, &mut builder)?;
    attach_compact_unwind(&mut graph, &obj);
    define_tlv_thunk(&mut graph);
    Ok(graph)
}

/// `__LD,__compact_unwind` entries: function address, length, encoding, personality, LSDA.
const COMPACT_UNWIND_ENTRY: u64 = 32;

/// A compact-unwind entry lives and dies with the function it describes: the function's
/// block keeps it alive, and nothing else refers to it.
fn attach_compact_unwind(graph: &mut LinkGraph, obj: &MachObject) {
    let Some(index) = obj.sections.iter().position(|s| s.is_compact_unwind()) else { return };
    let Some(section) = graph.sections.iter().position(|s| s.input_index == u32::try_from(index).ok()) else {
        return;
    };
    let entries = graph.sections.get(section).map(|s| s.blocks.clone()).unwrap_or_default();
    for entry in entries {
        graph.block_mut(entry).live = false;
        let function = graph.block(entry).edges.iter().find(|e| e.offset == 0).map(|e| graph.symbol(e.target()).def);
        let Some(Definition::Block { block: function, .. }) = function else { continue };
        let symbol = graph.add_anonymous_symbol(entry, 0, COMPACT_UNWIND_ENTRY);
        let keep = Edge::new(EdgeKind::KEEP_ALIVE, 0, symbol, 0);
        graph.block_mut(function).edges.push(keep);
    }
}

/// Thread-local variables are descriptors `{thunk, key, offset}` in `__thread_vars`; code
/// calls the thunk with the descriptor to get the calling thread's copy. The thunk they name,
/// `__tlv_bootstrap`, becomes the architecture's: thread-local blocks sit at fixed offsets
/// from the thread pointer, and the third word (an edge to the variable's template in
/// `__thread_data`/`__thread_bss`) holds that offset.
fn define_tlv_thunk(graph: &mut LinkGraph) {
    let name = graph.names.intern("__tlv_bootstrap");
    let Some(symbol) = graph.externals.shift_remove(&name) else { return };
    let code = graph.arch.tlv_thunk();
    let section = graph.add_section("$__TLV_THUNK", MemProt::ReadExec, SectionRole::Plain);
    let block = graph.add_block(section, Content::Owned(code.to_vec()), 4);
    let thunk = graph.symbol_mut(symbol);
    thunk.def = Definition::Block { block, offset: 0 };
    thunk.size = code.len() as u64;
    thunk.flags = SymbolFlags::local();
    thunk.flags.callable = true;
}

fn add_sections(obj: &MachObject, graph: &mut LinkGraph) -> Result<AddressMap> {
    let mut map = AddressMap::default();
    for (index, section) in obj.sections.iter().enumerate() {
        if !section.is_loaded() {
            continue;
        }
        let at = || obj.at().section(&*section.name);
        let file_start = if section.is_zero_fill() {
            None
        } else {
            let start = u64::from(section.raw.offset(LE));
            start.checked_add(section.size).filter(|&end| end <= obj.data.len() as u64).ok_or_else(|| {
                LinkError::malformed(
                    at(),
                    format!(
                        "content {start:#x}..+{:#x} lies outside the file ({:#x} bytes)",
                        section.size,
                        obj.data.len()
                    ),
                )
            })?;
            Some(usize::try_from(start).map_err(|_| LinkError::malformed(at(), "content beyond the address space"))?)
        };
        let id = graph.add_section(&section.name, section.prot(), section.role());
        graph.section_mut(id).input_index = u32::try_from(index).ok();
        let bytes = file_start.and_then(|start| obj.data.get(start..start.checked_add(section.size as usize)?));
        let mut literals: HashMap<&[u8], BlockId> = HashMap::new();
        let no_dead_strip = section.attributes & S_ATTR_NO_DEAD_STRIP != 0;
        let cuts = split_points(obj, index, section, bytes.unwrap_or(&[]));
        for (i, &start) in cuts.iter().enumerate() {
            let end = cuts.get(i.wrapping_add(1)).copied().unwrap_or(section.size);
            let len = end.wrapping_sub(start);
            let literal = match section.kind {
                S_CSTRING_LITERALS | S_4BYTE_LITERALS | S_8BYTE_LITERALS | S_16BYTE_LITERALS => {
                    bytes.and_then(|b| b.get(start as usize..end as usize))
                }
                _ => None,
            };
            if let Some(&same) = literal.and_then(|l| literals.get(l)) {
                map.runs.push((index, section.addr.wrapping_add(start), section.addr.wrapping_add(end), same));
                continue;
            }
            let content = match file_start {
                None => Content::Zero(len),
                Some(file) => Content::Input { start: file.wrapping_add(start as usize), len: len as usize },
            };
            // A block keeps the alignment its offset in the section had.
            let align = if start == 0 { section.align } else { section.align.min(1 << start.trailing_zeros()) };
            let block = graph.add_block(id, content, align);
            graph.block_mut(block).input_offset = start;
            graph.block_mut(block).live = no_dead_strip;
            if let Some(literal) = literal {
                literals.insert(literal, block);
            }
            map.runs.push((index, section.addr.wrapping_add(start), section.addr.wrapping_add(end), block));
            map.starts.insert(block, section.addr.wrapping_add(start));
        }
    }
    map.runs.sort_by_key(|r| (r.1, r.2));
    Ok(map)
}

/// Offsets in the section where blocks start.
fn split_points(obj: &MachObject, index: usize, section: &MachSection, bytes: &[u8]) -> Vec<u64> {
    let mut cuts = vec![0];
    match section.kind {
        S_CSTRING_LITERALS => {
            let ends = bytes.iter().enumerate().filter(|(_, &b)| b == 0).map(|(i, _)| (i as u64).wrapping_add(1));
            cuts.extend(ends.filter(|&e| e < section.size));
        }
        S_4BYTE_LITERALS | S_8BYTE_LITERALS | S_16BYTE_LITERALS => {
            let width = match section.kind {
                S_4BYTE_LITERALS => 4,
                S_8BYTE_LITERALS => 8,
                _ => 16,
            };
            // Split what is there: a zero-fill section claiming literals has no bytes.
            let count = (bytes.len() as u64).checked_div(width).unwrap_or(0);
            cuts.extend((1..count).map(|i| i.wrapping_mul(width)));
        }
        _ if section.is_compact_unwind() => {
            let entries = (bytes.len() as u64).checked_div(COMPACT_UNWIND_ENTRY).unwrap_or(0);
            cuts.extend((1..entries).map(|i| i.wrapping_mul(COMPACT_UNWIND_ENTRY)));
        }
        _ if obj.subsections && !matches!(section.role(), SectionRole::EhFrame | SectionRole::Gathered) => {
            let sect = u8::try_from(index.wrapping_add(1)).unwrap_or(0);
            for sym in obj.symbols {
                let defined_here = sym.n_type() & (N_STAB | N_TYPE) == N_SECT && sym.n_sect() == sect;
                if defined_here && sym.n_desc(LE) & N_ALT_ENTRY == 0 && section.contains(sym.n_value(LE)) {
                    cuts.push(sym.n_value(LE).wrapping_sub(section.addr));
                }
            }
        }
        _ => {}
    }
    cuts.retain(|&c| c < section.size || c == 0);
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

/// Symbols and edges, once the blocks exist.
pub struct Builder<'o, 'a> {
    obj: &'o MachObject<'a>,
    map: AddressMap,
    /// Symbol-table index → graph symbol.
    symbols: Vec<Option<SymbolId>>,
    /// An anonymous symbol at the start of each block that a non-extern relocation targets.
    block_symbols: HashMap<BlockId, SymbolId>,
}

impl Builder<'_, '_> {
    fn add_symbols(&mut self, graph: &mut LinkGraph) -> Result<()> {
        let obj = self.obj;
        let mut common: Option<crate::graph::SectionId> = None;
        for (index, sym) in obj.definitions() {
            let raw_name = obj.symbol_name(sym)?;
            let at = || obj.at().symbol(String::from_utf8_lossy(raw_name).into_owned());
            let flags = obj.flags(sym);
            let value = sym.n_value(LE);
            let def = match (sym.n_type() & N_TYPE, flags.strength) {
                (N_ABS, _) => Definition::Absolute,
                (N_UNDF, Strength::Common { size, align }) => {
                    let section = *common.get_or_insert_with(|| {
                        graph.add_section("__DATA,__common", MemProt::ReadWrite, SectionRole::Plain)
                    });
                    Definition::Block {
                        block: graph.add_block(section, Content::Zero(size), u64::from(align)),
                        offset: 0,
                    }
                }
                _ => {
                    let section = usize::from(sym.n_sect()).wrapping_sub(1);
                    let (block, offset) = self.map.locate(Some(section), value).ok_or_else(|| {
                        LinkError::malformed(at().offset(value), "symbol address lies outside its section")
                    })?;
                    Definition::Block { block, offset }
                }
            };
            let local = flags.scope == Scope::Local;
            let id = graph.add_symbol(Symbol {
                name: (!raw_name.is_empty()).then(|| graph.names.intern_bytes(raw_name)),
                def,
                size: 0,
                flags,
                addr: if def == Definition::Absolute { value } else { 0 },
                live: !local || sym.n_desc(LE) & N_NO_DEAD_STRIP != 0,
            });
            if let Some(slot) = self.symbols.get_mut(index) {
                *slot = Some(id);
            }
        }
        set_sizes(graph);
        Ok(())
    }

    /// The graph symbol for symbol-table index `index`: a definition, or an external made on
    /// first reference.
    fn symbol(&mut self, graph: &mut LinkGraph, index: u32) -> std::result::Result<SymbolId, String> {
        let slot = usize::try_from(index).ok().filter(|&i| i < self.symbols.len());
        let slot = slot.ok_or_else(|| format!("symbol index {index} out of range"))?;
        if let Some(id) = self.symbols.get(slot).copied().flatten() {
            return Ok(id);
        }
        let sym = self.obj.symbols.get(slot).ok_or_else(|| format!("symbol index {index} out of range"))?;
        let name = self.obj.symbol_name(sym).map_err(|e| e.to_string())?;
        if !sym.is_undefined() {
            return Err(format!(
                "relocation against symbol {:?} in a section that is not loaded",
                String::from_utf8_lossy(name)
            ));
        }
        let interned = graph.names.intern_bytes(name);
        let id = graph.external(interned, sym.n_desc(LE) & N_WEAK_REF != 0);
        if let Some(s) = self.symbols.get_mut(slot) {
            *s = Some(id);
        }
        Ok(id)
    }

    /// The target of a non-extern relocation: the block holding `address` (in `section`,
    /// when known), as a symbol at its start plus an offset.
    fn address(&mut self, graph: &mut LinkGraph, section: Option<usize>, address: u64) -> Option<(SymbolId, u64)> {
        let (block, offset) = self.map.locate(section, address)?;
        let symbol = *self.block_symbols.entry(block).or_insert_with(|| graph.add_anonymous_symbol(block, 0, 0));
        Some((symbol, offset))
    }

    fn add_relocations(&mut self, graph: &mut LinkGraph) -> Result<()> {
        let obj = self.obj;
        for (index, section) in obj.sections.iter().enumerate() {
            if !section.is_loaded() {
                continue;
            }
            let relocations = section
                .raw
                .relocations(LE, obj.data)
                .map_err(|e| LinkError::malformed(obj.at().section(&*section.name), format!("relocations: {e}")))?;
            let bytes = if section.is_zero_fill() {
                &[][..]
            } else {
                let start = section.raw.offset(LE) as usize;
                obj.data.get(start..start.saturating_add(section.size as usize)).unwrap_or(&[])
            };
            let mut pending_addend = None;
            let mut entries = relocations.iter().map(|r| r.info(LE));
            while let Some(info) = entries.next() {
                let reloc = RawReloc {
                    offset: info.r_address,
                    symbolnum: info.r_symbolnum,
                    pcrel: info.r_pcrel,
                    length: info.r_length,
                    is_extern: info.r_extern,
                    r_type: info.r_type,
                };
                let at = || obj.at().section(&*section.name).offset(u64::from(reloc.offset));
                let offset = u64::from(reloc.offset);
                let width = 1u64 << reloc.length;
                if offset.checked_add(width).is_none_or(|end| end > section.size) {
                    return Err(LinkError::malformed(at(), "relocation past the end of the section"));
                }
                if section.is_zero_fill() {
                    return Err(LinkError::malformed(at(), "relocation in a zero-fill section"));
                }
                let site = Site {
                    bytes: bytes.get(offset as usize..).unwrap_or(&[]),
                    address: section.addr.wrapping_add(offset),
                    addend: pending_addend.take(),
                };
                let decoded =
                    decode(obj.arch, &reloc, &site).map_err(|message| LinkError::unsupported(at(), message))?;
                let (block, block_offset) = self
                    .map
                    .locate(Some(index), site.address)
                    .ok_or_else(|| LinkError::malformed(at(), "relocation outside every block"))?;
                let edge = match decoded {
                    Decoded::Addend(value) => {
                        pending_addend = Some(value);
                        continue;
                    }
                    Decoded::Edge { kind, target, addend } => {
                        let (target, extra) = self.target(graph, target).map_err(|m| LinkError::malformed(at(), m))?;
                        Edge::new(kind, 0, target, addend.wrapping_add(extra as i64))
                    }
                    Decoded::Subtractor => {
                        let pair =
                            entries.next().ok_or_else(|| LinkError::malformed(at(), "SUBTRACTOR without its pair"))?;
                        self.subtractor(graph, &reloc, &pair, &site, block)
                            .map_err(|m| LinkError::malformed(at(), m))?
                    }
                };
                let offset =
                    u32::try_from(block_offset).map_err(|_| LinkError::unsupported(at(), "offset beyond 4 GiB"))?;
                graph.block_mut(block).edges.push(edge.at(offset));
            }
        }
        for block in &mut graph.blocks {
            block.edges.sort_by_key(|e| e.offset);
        }
        Ok(())
    }

    /// A target as a graph symbol and the offset to add to the addend.
    fn target(&mut self, graph: &mut LinkGraph, target: Target) -> std::result::Result<(SymbolId, u64), String> {
        match target {
            Target::Symbol(index) => Ok((self.symbol(graph, index)?, 0)),
            Target::Address(address) => {
                self.address(graph, None, address).ok_or_else(|| format!("no section holds address {address:#x}"))
            }
        }
    }

    /// `B - A + C` at the site, where `A` is `from`'s symbol, `B` the paired `UNSIGNED`'s and
    /// `C` the value in place: one of the two must be in the block being fixed up, so that
    /// the value is a distance from the fix-up to the other.
    fn subtractor(
        &mut self,
        graph: &mut LinkGraph,
        from: &RawReloc,
        pair: &object::macho::RelocationInfo,
        site: &Site,
        block: BlockId,
    ) -> std::result::Result<Edge, String> {
        if pair.r_address != from.offset || pair.r_length != from.length {
            return Err("SUBTRACTOR and its pair fix up different places".into());
        }
        let width = 1u8 << from.length;
        let (delta, neg_delta) =
            subtractor_kinds(self.obj.arch, width).ok_or_else(|| format!("SUBTRACTOR of width {width}"))?;
        let mut value = site.read(usize::from(width)).ok_or("SUBTRACTOR past the end of its section")?;
        if !from.is_extern {
            return Err("SUBTRACTOR without a symbol".into());
        }
        let a = self.symbol(graph, from.symbolnum)?;
        let b = if pair.r_extern {
            self.symbol(graph, pair.r_symbolnum)?
        } else {
            // Non-extern: the value holds B's address too.
            let section = usize::try_from(pair.r_symbolnum).ok().and_then(|s| s.checked_sub(1));
            let start = section.and_then(|s| self.obj.sections.get(s)).map(|s| s.addr).ok_or("bad section number")?;
            let (symbol, offset) = self.address(graph, section, start).ok_or("no block at the section start")?;
            value = value.wrapping_sub(start.wrapping_sub(offset) as i64);
            symbol
        };
        let address_of = |graph: &LinkGraph, s: SymbolId| self.original_address(graph, s);
        let in_block = |s: SymbolId| matches!(graph.symbol(s).def, Definition::Block { block: b, .. } if b == block);
        let (in_block_a, in_block_b) = (in_block(a), in_block(b));
        let site_address = site.address as i64;
        if in_block_a {
            // B - A + C = B + (C + P - A) - P.
            let a_address = address_of(graph, a).ok_or("SUBTRACTOR's A has no address")? as i64;
            Ok(Edge::new(delta, 0, b, value.wrapping_add(site_address.wrapping_sub(a_address))))
        } else if in_block_b {
            // B - A + C = P - A + (C + B - P).
            let b_address = address_of(graph, b).ok_or("SUBTRACTOR's B has no address")? as i64;
            Ok(Edge::new(neg_delta, 0, a, value.wrapping_add(b_address.wrapping_sub(site_address))))
        } else {
            Err("SUBTRACTOR fixes up neither of its two symbols' blocks".into())
        }
    }

    /// Where a defined symbol was in the object.
    fn original_address(&self, graph: &LinkGraph, symbol: SymbolId) -> Option<u64> {
        let Definition::Block { block, offset } = graph.symbol(symbol).def else { return None };
        let start = self.map.start(block)?;
        Some(start.wrapping_add(offset))
    }
}

/// Sizes from the distance to the next symbol in the same block (MachO has none).
fn set_sizes(graph: &mut LinkGraph) {
    let mut starts: Vec<(BlockId, u64, usize)> = Vec::new();
    for (i, symbol) in graph.symbols.iter().enumerate() {
        if let Definition::Block { block, offset } = symbol.def {
            starts.push((block, offset, i));
        }
    }
    starts.sort_unstable();
    for (n, &(block, offset, i)) in starts.iter().enumerate() {
        let later = starts.get(n.wrapping_add(1)..).unwrap_or(&[]).iter().take_while(|s| s.0 == block);
        let next = later.map(|s| s.1).find(|&o| o > offset);
        let end = next.unwrap_or_else(|| graph.block(block).size());
        if let Some(symbol) = graph.symbols.get_mut(i) {
            symbol.size = end.saturating_sub(offset);
        }
    }
}

/// The symbols that bound a section: `section$start$SEG$SECT`, `section$end$SEG$SECT`.
pub fn section_bounds(section: &str) -> [String; 2] {
    let (segment, name) = section.split_once(',').unwrap_or(("", section));
    [format!("section$start${segment}${name}"), format!("section$end${segment}${name}")]
}
