//! COFF relocatable objects (what MSVC, clang for Windows and MinGW GCC write) →
//! `LinkGraph`: the COFF row of the format × architecture grid.
//!
//! Every loaded section is one block, laid out with the other parts of its group (`X$a`,
//! `X$m`, ... sorted by suffix); a section that is not COMDAT is kept whole. Symbols are
//! external (defined, undefined, or common: undefined with a size), static (file-local; a
//! section's own symbol names its start), labels, absolute, or weak externals (see `Weak`:
//! weak definitions, or stand-ins the session takes when nothing defines the name). COMDAT
//! sections compete as weak definitions (`NODUPLICATES` ones as strong, so a second copy is
//! an error naming both files), and an `ASSOCIATIVE` section (`.pdata`, `.xdata` of a
//! function) is kept alive by its leader and dropped with it. `__imp_NAME` (a `dllimport`
//! reference) becomes a slot in the graph holding NAME's address. Relocations keep their
//! addend in the bytes they fix up; what a type means is the architecture's cell
//! (`x86_64.rs`).

mod directives;
mod x86_64;

use super::{Format, Interface, InterfaceSymbol, StandIn, Strength};
use crate::arch::Arch;
use crate::flags::{Selection, SymbolFlags};
use crate::graph::{
    BlockId, Content, Definition, Edge, EdgeKind, InputBuffer, LinkGraph, MemProt, Scope, SectionRole, Symbol, SymbolId,
};
use crate::names::NamePool;
use crate::{LinkError, Location, Result};
use object::pe::*;
use object::read::coff::{CoffHeader as _, ImageSymbol as _, SectionTable, SymbolTable};
use std::collections::HashMap;
use std::sync::Arc;

/// What a cell makes of one relocation: an edge of this kind, its addend, and what of the
/// symbol it names the field holds.
pub struct Decoded {
    pub kind: EdgeKind,
    pub addend: i64,
    pub of: Of,
}

/// What of its target a relocation's field holds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Of {
    Address,
    /// `SECREL`: the target's offset from the start of its section.
    SectionOffset,
    /// `SECTION`: the (1-based) number of the target's section in its object.
    SectionIndex,
}

impl Of {
    /// What the name under which an object publishes this value of its symbol starts with.
    fn published_prefix(self) -> Option<&'static str> {
        match self {
            Of::Address => None,
            Of::SectionOffset => Some("$jitld$secrel$"),
            Of::SectionIndex => Some("$jitld$section$"),
        }
    }

    /// The name under which the object that defines `name` publishes this value of it, for
    /// objects that ask for it across objects: thread-local variables (`x@SECREL32` is how
    /// Windows code reaches one), see `section_places`.
    fn published_name(self, name: &[u8]) -> Option<Vec<u8>> {
        Some([self.published_prefix()?.as_bytes(), name].concat())
    }
}

/// The architectures jitld links COFF objects for.
fn arch_for_machine(machine: u16) -> Option<Arch> {
    match machine {
        IMAGE_FILE_MACHINE_AMD64 => Some(Arch::X86_64),
        _ => None,
    }
}

fn decode(arch: Arch, r_type: u16, bytes: &[u8], offset: usize) -> std::result::Result<Option<Decoded>, String> {
    match arch {
        Arch::X86_64 => x86_64::decode(r_type, bytes, offset),
        Arch::AArch64 => Err("COFF objects for AArch64".into()),
    }
}

/// How a COMDAT section's copies compete.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Comdat {
    /// One copy is kept, the first (ANY).
    Any,
    /// One copy is kept, and the copies must agree (SAME_SIZE, EXACT_MATCH), or the largest
    /// is kept (LARGEST): the session checks.
    Selected(Strength),
    /// A second copy is an error.
    NoDuplicates,
    /// Kept if and only if the section with this (0-based) index is.
    Associative(usize),
}

struct CoffObject<'a> {
    input: &'a InputBuffer,
    arch: Arch,
    data: &'a [u8],
    sections: SectionTable<'a>,
    symbols: SymbolTable<'a>,
    /// Section index (0-based) → its COMDAT selection, if it is a COMDAT section.
    comdats: Vec<Option<Comdat>>,
    /// Alignments `.drectve` gives common symbols (`-aligncomm:`).
    common_alignments: HashMap<Vec<u8>, u32>,
}

/// The architecture of a COFF object, from its header alone.
pub fn arch(input: &InputBuffer) -> Result<Arch> {
    let at = || Location::file(&*input.name);
    let header =
        ImageFileHeader::parse(input.bytes(), &mut 0).map_err(|e| LinkError::malformed(at(), e.to_string()))?;
    header_arch(input, header.machine.get(object::LittleEndian))
}

fn header_arch(input: &InputBuffer, machine: u16) -> Result<Arch> {
    arch_for_machine(machine).ok_or_else(|| {
        LinkError::unsupported(
            Location::file(&*input.name),
            format!("a COFF object for machine {machine:#x}; x86-64 (0x8664) is supported"),
        )
    })
}

impl<'a> CoffObject<'a> {
    fn open(input: &'a InputBuffer) -> Result<Self> {
        let data = input.bytes();
        let at = || Location::file(&*input.name);
        let bad = |e: object::read::Error| LinkError::malformed(at(), e.to_string());
        let mut offset = 0;
        let header = ImageFileHeader::parse(data, &mut offset).map_err(bad)?;
        let arch = header_arch(input, header.machine.get(object::LittleEndian))?;
        let sections = header.sections(data, offset).map_err(bad)?;
        let symbols = header.symbols(data).map_err(bad)?;
        let mut obj =
            CoffObject { input, arch, data, sections, symbols, comdats: Vec::new(), common_alignments: HashMap::new() };
        obj.comdats = obj.read_comdats()?;
        let directives = directives::parse(&directive_text(&obj));
        for (name, log2) in directives.common_alignments {
            // 2^15 is more than any section may ask for (IMAGE_SCN_ALIGN_8192BYTES).
            obj.common_alignments.insert(name.into_bytes(), 1 << log2.min(15));
        }
        Ok(obj)
    }

    fn at(&self) -> Location {
        Location::file(&*self.input.name)
    }

    fn section_name(&self, index: usize) -> String {
        let header = self.sections.section(object::SectionIndex(index.wrapping_add(1)));
        let name = header.ok().and_then(|h| h.name(self.symbols.strings()).ok());
        name.map_or_else(|| format!("#{}", index.wrapping_add(1)), |n| String::from_utf8_lossy(n).into_owned())
    }

    /// The selection of each COMDAT section, from its section symbol's auxiliary record.
    fn read_comdats(&self) -> Result<Vec<Option<Comdat>>> {
        let mut comdats = vec![None; self.sections.len()];
        for (index, symbol) in self.symbols.iter() {
            let Some(section) = symbol.section().map(|s| s.0.wrapping_sub(1)) else { continue };
            let is_comdat = self
                .header(section)
                .is_some_and(|h| h.characteristics.get(object::LittleEndian) & IMAGE_SCN_LNK_COMDAT != 0);
            if !is_comdat || symbol.storage_class() != IMAGE_SYM_CLASS_STATIC || !symbol.has_aux_section() {
                continue;
            }
            if comdats.get(section).is_some_and(|c| c.is_some()) {
                continue;
            }
            let aux = self.symbols.aux_section(index).map_err(|e| LinkError::malformed(self.at(), e.to_string()))?;
            let selected = |rule| {
                let contents = self.header(section).and_then(|h| h.coff_data(self.data).ok()).map_or(0, hash);
                let size = aux.length.get(object::LittleEndian);
                Comdat::Selected(Strength::Selected { rule, size, contents })
            };
            let comdat = match aux.selection {
                IMAGE_COMDAT_SELECT_NODUPLICATES => Comdat::NoDuplicates,
                IMAGE_COMDAT_SELECT_ASSOCIATIVE => {
                    Comdat::Associative(usize::from(aux.number.get(object::LittleEndian)).wrapping_sub(1))
                }
                IMAGE_COMDAT_SELECT_SAME_SIZE => selected(Selection::SameSize),
                IMAGE_COMDAT_SELECT_EXACT_MATCH => selected(Selection::SameContents),
                IMAGE_COMDAT_SELECT_LARGEST => selected(Selection::Largest),
                _ => Comdat::Any,
            };
            if let Some(slot) = comdats.get_mut(section) {
                *slot = Some(comdat);
            }
        }
        Ok(comdats)
    }

    fn header(&self, index: usize) -> Option<&'a ImageSectionHeader> {
        self.sections.section(object::SectionIndex(index.wrapping_add(1))).ok()
    }

    /// Sections that are loaded: not linker directives, not debug information.
    fn is_loaded(&self, index: usize) -> bool {
        let Some(header) = self.header(index) else { return false };
        let flags = header.characteristics.get(object::LittleEndian);
        let name = self.section_name(index);
        flags & (IMAGE_SCN_LNK_REMOVE | IMAGE_SCN_LNK_INFO) == 0 && !name.starts_with(".debug")
    }

    fn symbol_name(&self, symbol: &'a ImageSymbol) -> Result<&'a [u8]> {
        symbol.name(self.symbols.strings()).map_err(|e| LinkError::malformed(self.at(), format!("symbol name: {e}")))
    }

    fn flags(&self, symbol: &ImageSymbol) -> SymbolFlags {
        let section = symbol.section().map(|s| s.0.wrapping_sub(1));
        let code = section.and_then(|s| self.header(s)).is_some_and(|h| {
            h.characteristics.get(object::LittleEndian) & (IMAGE_SCN_CNT_CODE | IMAGE_SCN_MEM_EXECUTE) != 0
        });
        let scope = match symbol.storage_class() {
            IMAGE_SYM_CLASS_EXTERNAL | IMAGE_SYM_CLASS_WEAK_EXTERNAL => Scope::Default,
            _ => Scope::Local,
        };
        let strength = if symbol.section_number() == 0 && symbol.value() != 0 {
            // Common: the value is the size; the alignment is the largest power of two
            // that divides it, up to 32, or what `-aligncomm:` asks if that is stricter.
            let size = u64::from(symbol.value());
            let asked = self.symbol_name(symbol).ok().and_then(|n| self.common_alignments.get(n)).copied();
            Strength::Common { size, align: asked.unwrap_or(1).max(1 << size.trailing_zeros().min(5)) }
        } else if symbol.storage_class() == IMAGE_SYM_CLASS_WEAK_EXTERNAL {
            Strength::Weak
        } else {
            match section.and_then(|s| self.comdats.get(s).copied().flatten()) {
                Some(Comdat::NoDuplicates) | None => Strength::Strong,
                Some(Comdat::Selected(strength)) => strength,
                Some(Comdat::Any | Comdat::Associative(_)) => Strength::Weak,
            }
        };
        SymbolFlags { strength, scope, callable: code || symbol.typ() >> 4 == IMAGE_SYM_DTYPE_FUNCTION }
    }
}

/// FNV-1a of a COMDAT copy's bytes: `EXACT_MATCH` copies compare by it (the compilers'
/// own checksum field is optional).
fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// What a section is for: C and C++ initializer and terminator tables (MSVC's
/// `.CRT$XI*`/`.CRT$XC*` and `.CRT$XP*`/`.CRT$XT*`, run in the order of the part after `$`;
/// MinGW's `.ctors`/`.dtors`, run as ELF's), or plain content.
fn section_role(name: &str) -> SectionRole {
    if let Some(suffix) = name.strip_prefix(".CRT$") {
        return match suffix.get(..2) {
            // Initializers: C ones (XI) before C++ ones (XC), each table in the order of its
            // sections' whole names across objects (the platform orders priorities below
            // 65536 by section name), so `.CRT$XCU00200` runs before `.CRT$XCU00300`.
            Some("XI") => SectionRole::Init { priority: 0, reversed: false },
            Some("XC") => SectionRole::Init { priority: 1, reversed: false },
            // Terminators run after the entry, pre-terminators (XP) first, each table in the
            // order of the letters after its group and each section's entries forwards. The
            // platform runs finalizers from the highest key down: the order counts down.
            Some("XP") | Some("XT") => {
                let group = if suffix.starts_with("XP") { 0 } else { 1 << 24 };
                // "XTA" < "XTAB" < "XTB": three letters after the group (missing ones 0), read
                // as a number.
                let letters = suffix.bytes().skip(2).chain([0; 3]).take(3);
                let order = letters.fold(0u32, |n, b| (n << 8) | u32::from(b));
                SectionRole::Fini { priority: !(group | order), reversed: true }
            }
            _ => SectionRole::Plain,
        };
    }
    let priority = |rest: &str| rest.strip_prefix('.').and_then(|p| p.parse::<u32>().ok());
    if let Some(rest) = name.strip_prefix(".ctors") {
        let priority = priority(rest).map_or(65536, |p| 65535u32.saturating_sub(p));
        return SectionRole::Init { priority, reversed: true };
    }
    if let Some(rest) = name.strip_prefix(".dtors") {
        let priority = priority(rest).map_or(65536, |p| 65535u32.saturating_sub(p));
        return SectionRole::Fini { priority, reversed: true };
    }
    SectionRole::Plain
}

/// The symbols an object defines, without building its graph.
pub fn interface(input: &InputBuffer, names: &NamePool) -> Result<Interface> {
    let obj = CoffObject::open(input)?;
    let mut iface = Interface::default();
    for index in 0..obj.sections.len() {
        if obj.is_loaded(index) {
            iface.has_initializers |= section_role(&obj.section_name(index)).is_root();
        }
    }
    for (index, symbol) in obj.symbols.iter() {
        if !is_export(&obj, index.0, symbol) {
            continue;
        }
        let name = obj.symbol_name(symbol)?;
        let flags = obj.flags(symbol);
        iface.symbols.push(InterfaceSymbol { name: names.intern_bytes(name), flags });
        for (published, _) in section_places(&obj, symbol, name) {
            let flags = SymbolFlags { callable: false, ..flags };
            iface.symbols.push(InterfaceSymbol { name: names.intern_bytes(&published), flags });
        }
    }
    iface.stand_ins = stand_ins(&obj, names)?;
    Ok(iface)
}

/// `$jitld$secrel$x` in words: an undefined one means `x` is defined nowhere, or not as a
/// thread-local variable.
pub fn describe_published(name: &str) -> Option<String> {
    [("the section offset", Of::SectionOffset), ("the section number", Of::SectionIndex)].into_iter().find_map(
        |(what, of)| {
            let variable = name.strip_prefix(of.published_prefix()?)?;
            Some(format!(
                "{what} of {variable} (SECREL/SECTION), which objects publish for thread-local variables only"
            ))
        },
    )
}

/// Thread-local variables are what other objects ask the section offset (and number) of:
/// a definition in a `.tls` section publishes both, under `Of::published_name`.
fn section_places(obj: &CoffObject, symbol: &ImageSymbol, name: &[u8]) -> Vec<(Vec<u8>, u64)> {
    let Some(section) = symbol.section().map(|s| s.0.wrapping_sub(1)) else { return Vec::new() };
    let thread_local = obj.section_name(section).split('$').next() == Some(".tls");
    if !thread_local || symbol.storage_class() != IMAGE_SYM_CLASS_EXTERNAL {
        return Vec::new();
    }
    let places = [(Of::SectionOffset, u64::from(symbol.value())), (Of::SectionIndex, (section as u64).wrapping_add(1))];
    places.iter().filter_map(|&(of, value)| Some((of.published_name(name)?, value))).collect()
}

/// A global the object defines: in a loaded section, absolute, common, or a weak external
/// whose default it defines (`Weak::Definition`).
fn is_export(obj: &CoffObject, index: usize, symbol: &ImageSymbol) -> bool {
    match symbol.storage_class() {
        IMAGE_SYM_CLASS_EXTERNAL => match symbol.section_number() {
            0 => symbol.value() != 0,
            IMAGE_SYM_ABSOLUTE => true,
            n if n > 0 => obj.is_loaded((n as usize).wrapping_sub(1)),
            _ => false,
        },
        IMAGE_SYM_CLASS_WEAK_EXTERNAL => matches!(weak(obj, index), Weak::Definition(_)),
        _ => false,
    }
}

/// What a weak external (`IMAGE_SYM_CLASS_WEAK_EXTERNAL`) links as. Its name binds to a
/// definition of that name if anything has one, else to its default symbol's.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Weak {
    /// A weak definition at the default (symbol index), which this object defines: what
    /// compilers write for `__attribute__((weak))` definitions and, with an absolute 0
    /// default, for weak references. No library member is pulled for the name (lld's rule,
    /// and link.exe's for `NOLIBRARY` and `ALIAS`).
    Definition(usize),
    /// Every object's name for the default, another global (symbol index), when nothing else
    /// defines the name: a `StandIn`. References from this object search libraries for the
    /// name only if the flavour says so (`LIBRARY`); a `LIBRARY` weak external whose default
    /// is a global of this object is one too, so that a library member can still win.
    StandIn { default: usize, searches_libraries: bool },
    /// No usable default (none, itself, or a static symbol defined nowhere): a weak
    /// reference, null when nothing defines the name.
    Reference,
}

fn weak(obj: &CoffObject, index: usize) -> Weak {
    let Some((default, search)) = weak_record(obj, index) else { return Weak::Reference };
    let Some(symbol) = obj.symbols.symbol(object::SymbolIndex(default)).ok().filter(|_| default != index) else {
        return Weak::Reference;
    };
    let searches_libraries = search == u32::from(IMAGE_WEAK_EXTERN_SEARCH_LIBRARY);
    let global = matches!(symbol.storage_class(), IMAGE_SYM_CLASS_EXTERNAL | IMAGE_SYM_CLASS_WEAK_EXTERNAL);
    let defined_here = match symbol.section_number() {
        IMAGE_SYM_ABSOLUTE => true,
        n if n > 0 => obj.is_loaded((n as usize).wrapping_sub(1)),
        _ => false,
    };
    match (defined_here, global) {
        (true, true) if searches_libraries => Weak::StandIn { default, searches_libraries },
        (true, _) => Weak::Definition(default),
        (false, true) => Weak::StandIn { default, searches_libraries },
        (false, false) => Weak::Reference,
    }
}

/// The weak external at `index`'s default symbol index and search flavour.
fn weak_record(obj: &CoffObject, index: usize) -> Option<(usize, u32)> {
    let symbol = obj.symbols.symbol(object::SymbolIndex(index)).ok()?;
    if symbol.storage_class() != IMAGE_SYM_CLASS_WEAK_EXTERNAL || symbol.number_of_aux_symbols() == 0 {
        return None;
    }
    let aux: &ImageAuxSymbolWeak = obj.symbols.get(object::SymbolIndex(index), 1).ok()?;
    let default = usize::try_from(aux.weak_default_sym_index.get(object::LittleEndian)).ok()?;
    Some((default, aux.weak_search_type.get(object::LittleEndian)))
}

/// Names the object gives a meaning to should nothing define them: weak externals whose
/// default is another global (`Weak::StandIn`), and `/alternatename:a=b` for an `a` it does
/// not define.
fn stand_ins(obj: &CoffObject, names: &NamePool) -> Result<Vec<StandIn>> {
    let mut stand_ins = Vec::new();
    for (index, symbol) in obj.symbols.iter() {
        let Weak::StandIn { default, .. } = weak(obj, index.0) else { continue };
        let Ok(target) = obj.symbols.symbol(object::SymbolIndex(default)) else { continue };
        let name = names.intern_bytes(obj.symbol_name(symbol)?);
        let callable = obj.flags(symbol).callable || obj.flags(target).callable;
        stand_ins.push(StandIn { name, target: names.intern_bytes(obj.symbol_name(target)?), callable });
    }
    let directives = directives::parse(&directive_text(obj));
    if directives.alternate_names.is_empty() {
        return Ok(stand_ins);
    }
    let mut defined: HashMap<&[u8], bool> = HashMap::new();
    for (index, symbol) in obj.symbols.iter() {
        if is_export(obj, index.0, symbol) {
            defined.insert(obj.symbol_name(symbol)?, obj.flags(symbol).callable);
        }
    }
    for (from, to) in &directives.alternate_names {
        if from == to || defined.contains_key(from.as_bytes()) {
            continue;
        }
        let callable = defined.get(to.as_bytes()).copied().unwrap_or(false);
        stand_ins.push(StandIn { name: names.intern(from), target: names.intern(to), callable });
    }
    Ok(stand_ins)
}

/// The object's `.drectve` text.
fn directive_text(obj: &CoffObject) -> String {
    let mut text = String::new();
    for index in 0..obj.sections.len() {
        let Some(header) = obj.header(index) else { continue };
        let info = header.characteristics.get(object::LittleEndian) & IMAGE_SCN_LNK_INFO != 0;
        if info && obj.section_name(index) == ".drectve" {
            if let Ok(bytes) = header.coff_data(obj.data) {
                text.push_str(&String::from_utf8_lossy(bytes));
                text.push(' ');
            }
        }
    }
    text
}

/// `/include:sym`: a live block keeps `sym` alive, so linking the object looks it up.
/// (`/alternatename` makes stand-ins, see `stand_ins`.) Directives jitld does not follow
/// (`/defaultlib:`, `/merge:`) and unknown ones are reported on stderr, once per object,
/// not dropped silently.
fn apply_directives(obj: &CoffObject, graph: &mut LinkGraph) {
    let directives = directives::parse(&directive_text(obj));
    if !directives.ignored.is_empty() {
        eprintln!(
            "warning: {}: .drectve: {} ignored (jitld links the inputs it is given and lays out no image)",
            obj.input.name,
            directives.ignored.join(" ")
        );
    }
    if !directives.unknown.is_empty() {
        let which = if directives.unknown.len() == 1 { "directive" } else { "directives" };
        eprintln!("warning: {}: .drectve: unknown {which} {} (ignored)", obj.input.name, directives.unknown.join(" "));
    }
    if directives.includes.is_empty() {
        return;
    }
    let section = graph.add_section(".drectve$include", MemProt::Read, SectionRole::Plain);
    let block = graph.add_block(section, Content::Zero(0), 1);
    graph.block_mut(block).live = true;
    for name in &directives.includes {
        let name = graph.names.intern(name);
        let defined =
            graph.symbols.iter().position(|s| s.name == Some(name) && matches!(s.def, Definition::Block { .. }));
        let target = defined.map_or_else(|| graph.external(name, false), |i| SymbolId(i as u32));
        graph.block_mut(block).edges.push(Edge::new(EdgeKind::KEEP_ALIVE, 0, target, 0));
    }
}

/// What calls a function of this format from jitld's convention: the thunk's bytes, where
/// it holds its callee's address and that field's kind.
fn call_thunk(arch: Arch) -> Option<(&'static [u8], u32, EdgeKind)> {
    match arch {
        Arch::X86_64 => {
            let (offset, kind) = x86_64::call_thunk_callee();
            Some((&x86_64::CALL_THUNK, offset, kind))
        }
        Arch::AArch64 => None,
    }
}

/// MinGW's `main` first calls `__main`, its start-up's constructor runner: the platform
/// runs constructors itself, so here it does nothing.
pub fn startup_no_ops(arch: Arch) -> Vec<(&'static str, &'static [u8])> {
    match arch {
        Arch::X86_64 => vec![("__main", &x86_64::RETURN)],
        Arch::AArch64 => Vec::new(),
    }
}

/// A thunk that calls the function at `callee` of this format from jitld's convention, its
/// address in place: how a program's entry is entered.
pub fn entry_thunk(arch: Arch, callee: u64) -> Option<Vec<u8>> {
    let (code, field, kind) = call_thunk(arch)?;
    let mut code = code.to_vec();
    let start = field as usize;
    let bytes = code.get_mut(start..start.checked_add(8)?)?;
    arch.write_field(kind, i128::from(callee), bytes).ok()?;
    Some(code)
}

/// Initializer and terminator tables hold functions of the Microsoft convention, which the
/// platform calls as its own: each entry is pointed at a thunk that makes the call the
/// callee expects.
fn call_table_entries_through_thunks(graph: &mut LinkGraph) {
    let Some((code, field, kind)) = call_thunk(graph.arch) else { return };
    let tables: Vec<BlockId> = graph
        .sections
        .iter()
        .filter(|s| matches!(s.role, SectionRole::Init { .. } | SectionRole::Fini { .. }))
        .flat_map(|s| s.blocks.iter().copied())
        .collect();
    for table in tables {
        for i in 0..graph.block(table).edges.len() {
            let Some(&entry) = graph.block(table).edges.get(i) else { continue };
            let section = graph
                .find_section("$__CALL_THUNKS")
                .unwrap_or_else(|| graph.add_section("$__CALL_THUNKS", MemProt::ReadExec, SectionRole::Plain));
            let thunk = graph.add_block(section, Content::Owned(code.to_vec()), 16);
            let call = Edge::new(kind, field, entry.target(), entry.addend);
            graph.block_mut(thunk).edges.push(call);
            let symbol = graph.add_anonymous_symbol(thunk, 0, code.len() as u64);
            graph.symbol_mut(symbol).flags.callable = true;
            if let Some(e) = graph.block_mut(table).edges.get_mut(i) {
                e.set_target(symbol);
                e.addend = 0;
            }
        }
    }
}

/// Builds the link graph of one object.
pub fn build_graph(input: &InputBuffer, names: &Arc<NamePool>) -> Result<LinkGraph> {
    let obj = CoffObject::open(input)?;
    let mut graph = LinkGraph::new(input.clone(), names.clone(), obj.arch);
    graph.format = Some(Format::Coff);
    let blocks = add_sections(&obj, &mut graph)?;
    // A section that is not COMDAT is kept whole, referenced or not, as link.exe keeps it
    // (a table walked between markers is referenced by nothing); unwind tables live with the
    // functions they describe.
    for (index, block) in blocks.iter().enumerate() {
        let Some(block) = *block else { continue };
        let unwind = matches!(obj.section_name(index).split('$').next(), Some(".pdata" | ".xdata"));
        if obj.comdats.get(index).is_some_and(Option::is_none) && !unwind {
            graph.block_mut(block).live = true;
        }
    }
    let mut symbols = add_symbols(&obj, &mut graph, &blocks)?;
    add_relocations(&obj, &mut graph, &blocks, &mut symbols)?;
    call_table_entries_through_thunks(&mut graph);
    apply_directives(&obj, &mut graph);
    // An associative section lives and dies with its leader.
    for (index, comdat) in obj.comdats.iter().enumerate() {
        let Some(Comdat::Associative(leader)) = comdat else { continue };
        let (Some(Some(block)), Some(Some(leader))) = (blocks.get(index), blocks.get(*leader)) else { continue };
        graph.block_mut(*block).live = false;
        let symbol = graph.add_anonymous_symbol(*block, 0, 0);
        graph.block_mut(*leader).edges.push(Edge::new(EdgeKind::KEEP_ALIVE, 0, symbol, 0));
    }
    Ok(graph)
}

/// The order sections are laid out in: grouped sections (`X$suffix`, and plain `X` with
/// them) together where the group's first one is, sorted by the part after `$` (the plain
/// one first; input order among equal suffixes), as link.exe and lld do. A table bounded by
/// markers in `X$a` and `X$z` then holds what `X$m` sections put between them.
fn layout_order(obj: &CoffObject) -> Vec<usize> {
    let names: Vec<String> = (0..obj.sections.len()).map(|i| obj.section_name(i)).collect();
    let group = |i: usize| names.get(i).map_or("", |n| n.split_once('$').map_or(n.as_str(), |(g, _)| g));
    let suffix = |i: usize| names.get(i).and_then(|n| n.split_once('$')).map_or("", |(_, s)| s);
    let mut first_of_group: HashMap<&str, usize> = HashMap::new();
    for index in 0..names.len() {
        first_of_group.entry(group(index)).or_insert(index);
    }
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by_key(|&i| (first_of_group.get(group(i)).copied().unwrap_or(i), suffix(i), i));
    order
}

fn add_sections(obj: &CoffObject, graph: &mut LinkGraph) -> Result<Vec<Option<BlockId>>> {
    let mut blocks = vec![None; obj.sections.len()];
    for index in layout_order(obj) {
        let Some(header) = obj.header(index).filter(|_| obj.is_loaded(index)) else { continue };
        let name = obj.section_name(index);
        let at = || obj.at().section(&*name);
        let flags = header.characteristics.get(object::LittleEndian);
        let prot = if flags & (IMAGE_SCN_MEM_EXECUTE | IMAGE_SCN_CNT_CODE) != 0 {
            MemProt::ReadExec
        } else if flags & IMAGE_SCN_MEM_WRITE != 0 {
            MemProt::ReadWrite
        } else {
            MemProt::Read
        };
        let size = header.size_of_raw_data.get(object::LittleEndian);
        let content = if flags & IMAGE_SCN_CNT_UNINITIALIZED_DATA != 0 {
            Content::Zero(u64::from(size))
        } else {
            let start = header.pointer_to_raw_data.get(object::LittleEndian) as usize;
            let end = start.checked_add(size as usize).filter(|&e| e <= obj.data.len());
            end.ok_or_else(|| {
                LinkError::malformed(
                    at(),
                    format!("content {start:#x}..+{size:#x} lies outside the file ({:#x} bytes)", obj.data.len()),
                )
            })?;
            Content::Input { start, len: size as usize }
        };
        let id = graph.add_section(&name, prot, section_role(&name));
        graph.section_mut(id).input_index = u32::try_from(index).ok();
        if let Some(slot) = blocks.get_mut(index) {
            *slot = Some(graph.add_block(id, content, header.coff_alignment()));
        }
    }
    Ok(blocks)
}

/// Every symbol the graph needs, by symbol-table index.
fn add_symbols(obj: &CoffObject, graph: &mut LinkGraph, blocks: &[Option<BlockId>]) -> Result<Vec<Option<SymbolId>>> {
    let mut ids = vec![None; obj.symbols.len()];
    let mut common: Option<crate::graph::SectionId> = None;
    let mut weak = Vec::new();
    for (index, symbol) in obj.symbols.iter() {
        let class = symbol.storage_class();
        if !matches!(class, IMAGE_SYM_CLASS_EXTERNAL | IMAGE_SYM_CLASS_STATIC | IMAGE_SYM_CLASS_LABEL) {
            if class == IMAGE_SYM_CLASS_WEAK_EXTERNAL {
                weak.push(index.0);
            }
            continue;
        }
        let raw_name = obj.symbol_name(symbol)?;
        let at = || obj.at().symbol(String::from_utf8_lossy(raw_name).into_owned());
        let flags = obj.flags(symbol);
        let def = match symbol.section_number() {
            IMAGE_SYM_ABSOLUTE => Definition::Absolute,
            0 if class == IMAGE_SYM_CLASS_EXTERNAL && symbol.value() != 0 => {
                let Strength::Common { size, align } = flags.strength else { continue };
                let section = *common
                    .get_or_insert_with(|| graph.add_section(".bss$common", MemProt::ReadWrite, SectionRole::Plain));
                Definition::Block { block: graph.add_block(section, Content::Zero(size), u64::from(align)), offset: 0 }
            }
            n if n > 0 => {
                let section = (n as usize).wrapping_sub(1);
                let Some(block) = blocks.get(section).copied().flatten() else { continue };
                let offset = u64::from(symbol.value());
                if offset > graph.block(block).size() {
                    return Err(LinkError::malformed(
                        at().section(obj.section_name(section)).offset(offset),
                        "symbol lies past the end of its section",
                    ));
                }
                Definition::Block { block, offset }
            }
            _ => continue, // undefined: made on first reference; debug: not ours
        };
        // A section's own symbol (static, with a section record) names its start anonymously.
        let section_symbol = class == IMAGE_SYM_CLASS_STATIC && symbol.has_aux_section();
        let named = !section_symbol && !raw_name.is_empty();
        let local = flags.scope == Scope::Local;
        let id = graph.add_symbol(Symbol {
            name: named.then(|| graph.names.intern_bytes(raw_name)),
            def,
            size: 0,
            flags,
            addr: if def == Definition::Absolute { u64::from(symbol.value()) } else { 0 },
            live: !local,
        });
        if let Some(slot) = ids.get_mut(index.0) {
            *slot = Some(id);
        }
        for (published, value) in section_places(obj, symbol, raw_name) {
            graph.add_symbol(Symbol {
                name: Some(graph.names.intern_bytes(&published)),
                def: Definition::Absolute,
                size: 0,
                flags: SymbolFlags { callable: false, ..flags },
                addr: value,
                live: true,
            });
        }
    }
    // A weak external whose default is defined here is a weak definition at its default's
    // place; the others are references, made on first use (see `relocation_target`).
    for index in weak {
        let Weak::Definition(default) = self::weak(obj, index) else { continue };
        let Some(symbol) = obj.symbols.symbol(object::SymbolIndex(index)).ok() else { continue };
        let Some(target) = ids.get(default).copied().flatten() else { continue };
        let def = graph.symbol(target).def;
        let name = obj.symbol_name(symbol)?;
        let flags = SymbolFlags { strength: Strength::Weak, ..obj.flags(symbol) };
        let callable = graph.symbol(target).flags.callable;
        let addr = graph.symbol(target).addr;
        let id = graph.add_symbol(Symbol {
            name: Some(graph.names.intern_bytes(name)),
            def,
            size: 0,
            flags: SymbolFlags { callable, ..flags },
            addr,
            live: true,
        });
        if let Some(slot) = ids.get_mut(index) {
            *slot = Some(id);
        }
    }
    Ok(ids)
}

fn add_relocations(
    obj: &CoffObject,
    graph: &mut LinkGraph,
    blocks: &[Option<BlockId>],
    symbols: &mut [Option<SymbolId>],
) -> Result<()> {
    for (index, block) in blocks.iter().enumerate() {
        let (Some(block), Some(header)) = (*block, obj.header(index)) else { continue };
        let name = obj.section_name(index);
        let relocations = header
            .coff_relocations(obj.data)
            .map_err(|e| LinkError::malformed(obj.at().section(&*name), e.to_string()))?;
        // The section's bytes in the input (none for uninitialized data), not a copy.
        let bytes = match graph.block(block).content {
            Content::Input { start, len } => start.checked_add(len).and_then(|end| obj.data.get(start..end)),
            _ => None,
        }
        .unwrap_or(&[]);
        for relocation in relocations {
            let offset = relocation.virtual_address.get(object::LittleEndian);
            let at = || obj.at().section(&*name).offset(u64::from(offset));
            let r_type = relocation.typ.get(object::LittleEndian);
            let decoded =
                decode(obj.arch, r_type, bytes, offset as usize).map_err(|m| LinkError::unsupported(at(), m))?;
            let Some(Decoded { kind, addend, of }) = decoded else { continue };
            // The image base is no edge's target: a block that counts from it keeps it alive,
            // so that it is looked up.
            if graph.arch.edge_info(kind).is_some_and(|i| i.formula == crate::arch::Formula::ImageRelative) {
                let base = image_base(graph);
                graph.block_mut(block).edges.push(Edge::new(EdgeKind::KEEP_ALIVE, offset, base, 0));
            }
            let width = graph.arch.edge_info(kind).map_or(0, |i| u64::from(i.width));
            if u64::from(offset).checked_add(width).is_none_or(|end| end > bytes.len() as u64) {
                return Err(LinkError::malformed(at(), "relocation past the end of the section"));
            }
            let symbol_index = relocation.symbol_table_index.get(object::LittleEndian) as usize;
            let target = match of {
                Of::Address => relocation_target(obj, graph, symbols, symbol_index),
                _ => section_place_target(obj, graph, symbol_index, of),
            }
            .map_err(|m| LinkError::malformed(at(), m))?;
            graph.block_mut(block).edges.push(Edge::new(kind, offset, target, addend));
        }
    }
    Ok(())
}

/// The graph symbol a relocation names: a definition, or an external made on first use.
/// `__imp_NAME` is a pointer slot holding NAME's address (what `dllimport` code loads).
fn relocation_target(
    obj: &CoffObject,
    graph: &mut LinkGraph,
    symbols: &mut [Option<SymbolId>],
    index: usize,
) -> std::result::Result<SymbolId, String> {
    if let Some(id) = symbols.get(index).copied().flatten() {
        return Ok(id);
    }
    let symbol =
        obj.symbols.symbol(object::SymbolIndex(index)).map_err(|_| format!("symbol index {index} out of range"))?;
    let name = obj.symbol_name(symbol).map_err(|e| e.to_string())?;
    if symbol.section_number() != 0 {
        return Err(format!(
            "relocation against symbol {:?} in a section that is not loaded",
            String::from_utf8_lossy(name)
        ));
    }
    let id = if name == b"__ImageBase" {
        image_base(graph)
    } else if let Some(imported) = name.strip_prefix(b"__imp_") {
        import_slot(graph, imported)
    } else if symbol.storage_class() == IMAGE_SYM_CLASS_WEAK_EXTERNAL {
        // Its name: whatever defines it, else its stand-in (see `Weak`). Only a `LIBRARY`
        // one pulls a library member for it, as a strong reference does.
        let searches_libraries = matches!(weak(obj, index), Weak::StandIn { searches_libraries: true, .. });
        let interned = graph.names.intern_bytes(name);
        graph.external(interned, !searches_libraries)
    } else {
        let interned = graph.names.intern_bytes(name);
        graph.external(interned, false)
    };
    if let Some(slot) = symbols.get_mut(index) {
        *slot = Some(id);
    }
    Ok(id)
}

/// A symbol whose value is the place of the relocation's target in its section (`of`): for a
/// target in this object, a constant; for another object's, the value that object publishes.
fn section_place_target(
    obj: &CoffObject,
    graph: &mut LinkGraph,
    index: usize,
    of: Of,
) -> std::result::Result<SymbolId, String> {
    let symbol =
        obj.symbols.symbol(object::SymbolIndex(index)).map_err(|_| format!("symbol index {index} out of range"))?;
    let name = obj.symbol_name(symbol).map_err(|e| e.to_string())?;
    let value = match (symbol.section(), of) {
        (Some(_), Of::SectionOffset) => u64::from(symbol.value()),
        (Some(section), _) => section.0 as u64,
        (None, _) if symbol.section_number() == 0 => {
            let published = of.published_name(name).unwrap_or_default();
            let published = graph.names.intern_bytes(&published);
            return Ok(graph.external(published, false));
        }
        (None, _) => return Err(format!("{of:?} of {:?}, which is in no section", String::from_utf8_lossy(name))),
    };
    Ok(graph.add_symbol(Symbol {
        name: None,
        def: Definition::Absolute,
        size: 0,
        flags: SymbolFlags::local(),
        addr: value,
        live: true,
    }))
}

/// `__ImageBase`, what image-relative (`ADDR32NB`) values count from: whatever defines it
/// (`-abs __ImageBase=...`), else 0 (a weak reference), since all JIT memory in this process
/// lies in the low 4 GiB, where image-relative values are then plain addresses.
fn image_base(graph: &mut LinkGraph) -> SymbolId {
    if let Some(base) = graph.image_base {
        return base;
    }
    let name = graph.names.intern("__ImageBase");
    let base = graph.external(name, true);
    graph.image_base = Some(base);
    base
}

/// An import-address slot for `name`: 8 bytes holding its address.
fn import_slot(graph: &mut LinkGraph, name: &[u8]) -> SymbolId {
    let target = graph.names.intern_bytes(name);
    let target = graph.external(target, false);
    let section = graph
        .find_section(".idata$jitld")
        .unwrap_or_else(|| graph.add_section(".idata$jitld", MemProt::Read, SectionRole::Plain));
    let block = graph.add_block(section, Content::Owned(vec![0; 8]), 8);
    let pointer = graph.arch.pointer_kind();
    graph.block_mut(block).edges.push(Edge::new(pointer, 0, target, 0));
    graph.add_anonymous_symbol(block, 0, 8)
}

/// A COFF object has no magic: its first field is the machine. Only machines jitld could
/// mean, with a plausible section count and no optional header, are taken for one.
pub fn is_coff_object(bytes: &[u8]) -> bool {
    let field = |at: usize| bytes.get(at..at.wrapping_add(2)).and_then(|b| b.try_into().ok()).map(u16::from_le_bytes);
    let machine_known =
        matches!(field(0), Some(IMAGE_FILE_MACHINE_AMD64 | IMAGE_FILE_MACHINE_ARM64 | IMAGE_FILE_MACHINE_I386));
    machine_known && field(2).is_some_and(|n| n < 0xff00) && field(16) == Some(0)
}

/// What an import library member (the short import format: `00 00 ff ff`, then the symbol
/// and the DLL it names) is, for the error that says jitld cannot link it.
pub fn import_member(bytes: &[u8]) -> Option<String> {
    if !bytes.starts_with(&[0, 0, 0xff, 0xff]) {
        return None;
    }
    let mut names = bytes.get(20..)?.split(|&b| b == 0);
    let symbol = String::from_utf8_lossy(names.next()?);
    let dll = String::from_utf8_lossy(names.next()?);
    Some(format!(
        "an import library member: {symbol} from {dll} (a DLL's export, which only the Windows loader provides; \
         link the object or archive that defines {symbol} instead)"
    ))
}
