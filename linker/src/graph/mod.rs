//! The link graph: what one relocatable object becomes before it is laid out and fixed up.
//!
//! Sections own blocks (runs of content), blocks own edges (relocations), symbols name
//! offsets in blocks or stand for things outside the graph. Everything is held in vectors
//! and addressed by typed indices; iteration order is input order, so dumps and addresses
//! are deterministic.

mod dump;
mod input;

pub use dump::dump_graph;
pub use input::InputBuffer;

use crate::arch::Arch;
pub use crate::flags::{Scope, SymbolFlags};
use crate::format::Format;
use crate::names::{NamePool, SymbolName};
use indexmap::IndexMap;
use std::sync::Arc;

macro_rules! id_type {
    ($name:ident, $prefix:literal) => {
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u32);
        impl $name {
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!($prefix, "#{}"), self.0)
            }
        }
    };
}
id_type!(SectionId, "sec");
id_type!(BlockId, "blk");
id_type!(SymbolId, "sym");

/// Memory protection of a section once finalized. Ordered by layout position.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum MemProt {
    ReadExec,
    Read,
    ReadWrite,
}

/// What the platform needs to know about a section beyond its bytes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SectionRole {
    Plain,
    /// `.preinit_array`, `.init_array[.N]`, `.ctors[.N]`: pointers run before the entry.
    Init {
        priority: u32,
        reversed: bool,
    },
    /// `.fini_array[.N]`, `.dtors[.N]`: pointers run at exit.
    Fini {
        priority: u32,
        reversed: bool,
    },
    PreInit,
    /// `.tdata` / `.tbss`: the template of each thread's copy, placed by the TLS allocator
    /// rather than in the graph's memory.
    ThreadLocal,
    /// A section that every object's copy of is gathered into one run, between boundary
    /// symbols (ELF `__start_NAME` / `__stop_NAME`): placed by whoever gathers them, not in
    /// the graph's memory, and kept whether or not anything refers to it.
    Gathered,
    /// `.init` / `.fini` fragments, once wrapped into whole functions (see the platform).
    InitFunction,
    FiniFunction,
    EhFrame,
    /// Synthesized GOT entries.
    Got,
    /// Synthesized PLT stubs.
    Stubs,
}

impl SectionRole {
    /// Sections whose blocks are kept whether or not anything references them.
    pub fn is_root(self) -> bool {
        matches!(
            self,
            SectionRole::Init { .. }
                | SectionRole::Fini { .. }
                | SectionRole::PreInit
                | SectionRole::InitFunction
                | SectionRole::FiniFunction
                | SectionRole::Gathered
        )
    }

    /// Sections whose blocks live outside the graph's own memory (the layout skips them).
    pub fn is_placed_elsewhere(self) -> bool {
        matches!(self, SectionRole::ThreadLocal | SectionRole::Gathered)
    }
}

pub struct Section {
    pub name: String,
    pub prot: MemProt,
    pub role: SectionRole,
    pub blocks: Vec<BlockId>,
    /// Index of the section in the input file, for sections that came from one.
    pub input_index: Option<u32>,
}

/// The bytes of a block.
#[derive(Clone)]
pub enum Content {
    /// A range of the mapped input, copied only when it is written into target memory.
    Input { start: usize, len: usize },
    /// Bytes the linker made (GOT entries, stubs, copies).
    Owned(Vec<u8>),
    /// `.bss`-like: this many zero bytes, never stored.
    Zero(u64),
}

pub struct Block {
    pub section: SectionId,
    pub content: Content,
    pub align: u64,
    /// Target address, set by allocation.
    pub addr: u64,
    pub edges: Vec<Edge>,
    pub live: bool,
    /// Offset of this block in its input section (for messages and dumps).
    pub input_offset: u64,
}

impl Block {
    pub fn size(&self) -> u64 {
        match &self.content {
            Content::Input { len, .. } => *len as u64,
            Content::Owned(bytes) => bytes.len() as u64,
            Content::Zero(size) => *size,
        }
    }
    pub fn is_zero_fill(&self) -> bool {
        matches!(self.content, Content::Zero(_))
    }
}

/// A few bytes to write over a block's content when it is copied into memory: how a pass
/// rewrites an instruction (relaxation) without a copy of the whole block to edit.
#[derive(Clone, Copy, Debug)]
pub struct Patch {
    pub block: BlockId,
    pub offset: u32,
    len: u8,
    bytes: [u8; 6],
}

/// What an edge computes: a number whose meaning is its graph's architecture's
/// (`Arch::edge_info`), except for 0, the generic `KEEP_ALIVE`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct EdgeKind(pub u8);

impl EdgeKind {
    /// No fix-up: the target is kept alive as long as the block is.
    pub const KEEP_ALIVE: EdgeKind = EdgeKind(0);
}

/// A fix-up at `offset` in its block: `kind` computed from `target`'s address and `addend`.
/// Graphs hold tens of thousands of these, so the kind shares a word with the target: 16
/// bytes, not 24. A graph therefore has fewer than `MAX_SYMBOLS` symbols (`link::begin`
/// refuses a bigger one before any edge is read).
#[derive(Clone, Copy)]
pub struct Edge {
    pub offset: u32,
    /// The kind in the top byte, the target's index below it.
    kind_target: u32,
    pub addend: i64,
}

impl Edge {
    pub fn new(kind: EdgeKind, offset: u32, target: SymbolId, addend: i64) -> Edge {
        Edge { offset, kind_target: pack(kind, target), addend }
    }

    pub fn kind(&self) -> EdgeKind {
        EdgeKind((self.kind_target >> 24) as u8)
    }

    pub fn target(&self) -> SymbolId {
        SymbolId(self.kind_target & MAX_SYMBOLS)
    }

    pub fn set_kind(&mut self, kind: EdgeKind) {
        self.kind_target = pack(kind, self.target());
    }

    pub fn set_target(&mut self, target: SymbolId) {
        self.kind_target = pack(self.kind(), target);
    }

    /// The same fix-up at another offset.
    pub fn at(self, offset: u32) -> Edge {
        Edge { offset, ..self }
    }
}

impl std::fmt::Debug for Edge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, target) = (self.kind(), self.target());
        f.debug_struct("Edge")
            .field("kind", &kind)
            .field("offset", &self.offset)
            .field("target", &target)
            .field("addend", &self.addend)
            .finish()
    }
}

/// Symbols a graph may hold: their indices fit below an edge's kind (see `Edge`).
pub const MAX_SYMBOLS: u32 = (1 << 24) - 1;

fn pack(kind: EdgeKind, target: SymbolId) -> u32 {
    (u32::from(kind.0) << 24) | (target.0 & MAX_SYMBOLS)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Definition {
    Block {
        block: BlockId,
        offset: u64,
    },
    /// Defined elsewhere; `addr` is filled in by external resolution.
    External {
        weak_ref: bool,
    },
    Absolute,
}

pub struct Symbol {
    pub name: Option<SymbolName>,
    pub def: Definition,
    pub size: u64,
    pub flags: SymbolFlags,
    /// Final address: set by allocation for defined symbols, by resolution for externals.
    pub addr: u64,
    /// Roots for dead-stripping.
    pub live: bool,
}

/// An insertion-ordered map keyed by small ids (symbols, names), with a hash that suits them.
pub type IdMap<K, V> = IndexMap<K, V, std::hash::BuildHasherDefault<crate::names::NameHasher>>;

/// The tables the linker synthesized, by the symbol they serve (first use order).
#[derive(Default)]
pub struct StubIndex {
    pub got: IdMap<SymbolId, SymbolId>,
    pub plt: IdMap<SymbolId, SymbolId>,
    /// `tls_index` pairs for general-dynamic accesses, by variable.
    pub tls_gd: IdMap<SymbolId, SymbolId>,
    /// TLS descriptors, by variable, and the graph's resolver for them.
    pub tls_desc: IdMap<SymbolId, SymbolId>,
    pub tls_desc_resolver: Option<SymbolId>,
    /// The blocks holding the GOT entries and the stubs.
    pub got_block: Option<BlockId>,
    pub plt_block: Option<BlockId>,
    /// Externals known before allocation to land where every field reaches them: they get
    /// no stub. `None`: nothing is known, every external that may be far gets one.
    pub reach: Option<KnownReach>,
}

/// What the link context promised about externals before allocation (see
/// `LinkContext::resolve_within`).
pub struct KnownReach {
    /// The window `[start, end)` the graph's own memory lies in (`MemoryManager::span`).
    pub span: (u64, u64),
    /// By symbol index: the external resolves to an address inside `span`.
    pub inside: Vec<bool>,
}

impl KnownReach {
    /// Whether `symbol` was promised to resolve inside the span.
    pub fn is_inside(&self, symbol: SymbolId) -> bool {
        self.inside.get(symbol.index()).copied().unwrap_or(false)
    }
}

pub struct LinkGraph {
    /// Display name of the input: `file` or `archive(member)`.
    pub name: Arc<str>,
    /// What the edges mean, and what tables and passes the graph gets.
    pub arch: Arch,
    /// The file format the graph was read from; `None` for graphs jitld makes itself.
    pub format: Option<Format>,
    pub input: InputBuffer,
    pub names: Arc<NamePool>,
    pub sections: Vec<Section>,
    pub blocks: Vec<Block>,
    pub symbols: Vec<Symbol>,
    /// External symbols by name, so each name is referenced through one symbol.
    pub externals: IdMap<SymbolName, SymbolId>,
    pub stubs: StubIndex,
    /// `_GLOBAL_OFFSET_TABLE_` of this graph, created on first need.
    pub got_base: Option<SymbolId>,
    /// What image-relative addresses count from (COFF's `__ImageBase`), once referenced.
    pub image_base: Option<SymbolId>,
    /// The start of this graph's thread-local block: its address is the block's offset from
    /// the thread pointer. Created on first need (local-dynamic accesses).
    pub tls_base: Option<SymbolId>,
    /// GNU indirect functions: (slot their stub jumps through, resolver that fills it).
    pub ifuncs: Vec<(SymbolId, SymbolId)>,
    /// Rewrites of blocks' bytes, applied as they are copied (`write_block`).
    pub patches: Vec<Patch>,
}

impl LinkGraph {
    /// An empty graph for `arch`, made by jitld rather than read from a file.
    pub fn new(input: InputBuffer, names: Arc<NamePool>, arch: Arch) -> Self {
        LinkGraph {
            name: input.name.clone(),
            arch,
            format: None,
            input,
            names,
            sections: Vec::new(),
            blocks: Vec::new(),
            symbols: Vec::new(),
            externals: IdMap::default(),
            stubs: StubIndex::default(),
            got_base: None,
            image_base: None,
            tls_base: None,
            ifuncs: Vec::new(),
            patches: Vec::new(),
        }
    }

    pub fn add_section(&mut self, name: &str, prot: MemProt, role: SectionRole) -> SectionId {
        let id = SectionId(self.sections.len() as u32);
        self.sections.push(Section { name: name.to_string(), prot, role, blocks: Vec::new(), input_index: None });
        id
    }

    pub fn find_section(&self, name: &str) -> Option<SectionId> {
        // From the end: passes look for the sections they synthesized, which come last.
        self.sections.iter().rposition(|s| s.name == name).map(|i| SectionId(i as u32))
    }

    /// Adds a block at the end of `section`. Its offset in the section (for messages) is where
    /// it would sit after the blocks already there; builders override it for input blocks.
    pub fn add_block(&mut self, section: SectionId, content: Content, align: u64) -> BlockId {
        let id = BlockId(self.blocks.len() as u32);
        let input_offset = self.sections[section.index()]
            .blocks
            .last()
            .map(|b| &self.blocks[b.index()])
            .map_or(0, |b| (b.input_offset + b.size()).next_multiple_of(align.max(1)));
        self.blocks.push(Block {
            section,
            content,
            align: align.max(1),
            addr: 0,
            edges: Vec::new(),
            live: false,
            input_offset,
        });
        self.sections[section.index()].blocks.push(id);
        id
    }

    pub fn add_symbol(&mut self, symbol: Symbol) -> SymbolId {
        let id = SymbolId(self.symbols.len() as u32);
        self.symbols.push(symbol);
        id
    }

    /// A symbol at `offset` in `block`, local to this graph and without a name.
    pub fn add_anonymous_symbol(&mut self, block: BlockId, offset: u64, size: u64) -> SymbolId {
        self.add_symbol(Symbol {
            name: None,
            def: Definition::Block { block, offset },
            size,
            flags: SymbolFlags::local(),
            addr: 0,
            live: false,
        })
    }

    /// The one external symbol for `name`, created on first use.
    pub fn external(&mut self, name: SymbolName, weak_ref: bool) -> SymbolId {
        // One hash of the name, found or not.
        let entry = match self.externals.entry(name) {
            indexmap::map::Entry::Occupied(entry) => {
                let id = *entry.get();
                // A strong reference anywhere makes the whole reference strong.
                if let Definition::External { weak_ref: w } = &mut self.symbols[id.index()].def {
                    *w &= weak_ref;
                }
                return id;
            }
            indexmap::map::Entry::Vacant(entry) => entry,
        };
        let id = SymbolId(self.symbols.len() as u32);
        entry.insert(id);
        self.add_symbol(Symbol {
            name: Some(name),
            def: Definition::External { weak_ref },
            size: 0,
            flags: SymbolFlags { scope: Scope::Default, ..SymbolFlags::local() },
            addr: 0,
            live: false,
        })
    }

    /// Turns a defined symbol into a reference to a definition elsewhere (a weak definition
    /// that lost, or a COMDAT group already linked).
    pub fn make_external(&mut self, id: SymbolId) {
        let symbol = &mut self.symbols[id.index()];
        symbol.def = Definition::External { weak_ref: false };
        symbol.live = false;
        if let Some(name) = symbol.name {
            self.externals.insert(name, id);
        }
    }

    /// A readable name for any symbol: its own, `target@got` / `target@plt` for table
    /// entries, or `section+offset` for anonymous ones.
    pub fn symbol_name(&self, id: SymbolId) -> String {
        let symbol = &self.symbols[id.index()];
        let table_entry = |table: &IdMap<SymbolId, SymbolId>| table.iter().find(|(_, &e)| e == id).map(|(&t, _)| t);
        if symbol.name.is_none() {
            if let Some(target) = table_entry(&self.stubs.got) {
                return format!("{}@got", self.symbol_name(target));
            }
            if let Some(target) = table_entry(&self.stubs.plt) {
                return format!("{}@plt", self.symbol_name(target));
            }
        }
        match (symbol.name, symbol.def) {
            (Some(name), _) => self.names.resolve(name).to_string(),
            (None, Definition::Block { block, offset }) => {
                let section = &self.sections[self.blocks[block.index()].section.index()];
                format!("{}+{:#x}", section.name, self.blocks[block.index()].input_offset + offset)
            }
            (None, _) => format!("{id:?}"),
        }
    }

    /// Moves blocks to the given addresses (placed outside the graph's memory), and the
    /// symbols defined in them along.
    pub fn move_blocks(&mut self, placed: &[(BlockId, u64)]) {
        let addrs: IdMap<BlockId, u64> = placed.iter().copied().collect();
        for &(block, addr) in placed {
            self.blocks[block.index()].addr = addr;
        }
        for symbol in &mut self.symbols {
            if let Definition::Block { block, offset } = symbol.def {
                if let Some(&addr) = addrs.get(&block) {
                    symbol.addr = addr.wrapping_add(offset);
                }
            }
        }
    }

    /// Name of the defined symbol that covers `offset` in `block`, for error messages.
    pub fn symbol_covering(&self, block: BlockId, offset: u64) -> Option<String> {
        self.symbols
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s.def {
                Definition::Block { block: b, offset: o } if b == block && s.name.is_some() => {
                    let end = o.saturating_add(s.size.max(1));
                    (o <= offset && offset < end).then_some(i)
                }
                _ => None,
            })
            .next()
            .map(|i| self.symbol_name(SymbolId(i as u32)))
    }

    /// Where an edge at `offset` in `block` sits, for error messages.
    pub fn location(&self, block: BlockId, offset: u64) -> crate::Location {
        let b = &self.blocks[block.index()];
        let mut at = crate::Location::file(&*self.name)
            .section(&self.sections[b.section.index()].name)
            .offset(b.input_offset + offset);
        at.symbol = self.symbol_covering(block, offset);
        at
    }

    /// `+0x10` / `-0x4`, for dumps.
    pub fn format_addend(addend: i64) -> String {
        if addend < 0 {
            format!("-{:#x}", addend.unsigned_abs())
        } else {
            format!("+{addend:#x}")
        }
    }

    pub fn block_bytes<'a>(&'a self, block: &'a Block) -> &'a [u8] {
        match &block.content {
            Content::Input { start, len } => self.input.bytes().get(*start..start + len).unwrap_or(&[]),
            Content::Owned(bytes) => bytes,
            Content::Zero(_) => &[],
        }
    }

    /// Writes `bytes` (at most 6) at `offset` in `block` when it is copied into memory,
    /// over its content and before its fix-ups. `None` if they do not fit there.
    pub fn patch(&mut self, block: BlockId, offset: usize, bytes: &[u8]) -> Option<()> {
        let end = offset.checked_add(bytes.len())?;
        let (Ok(at), Ok(len), true) =
            (u32::try_from(offset), u8::try_from(bytes.len()), end as u64 <= self.block(block).size())
        else {
            return None;
        };
        let mut patch = Patch { block, offset: at, len, bytes: [0; 6] };
        patch.bytes.get_mut(..bytes.len())?.copy_from_slice(bytes);
        self.patches.push(patch);
        Some(())
    }

    /// Puts the patches in block order, for `write_block` (once all are made).
    pub fn sort_patches(&mut self) {
        self.patches.sort_by_key(|p| (p.block, p.offset));
    }

    /// Copies `block`'s bytes into `dest` (exactly its size), patched (`sort_patches` first).
    pub fn write_block(&self, block: BlockId, dest: &mut [u8]) {
        let b = &self.blocks[block.index()];
        if !b.is_zero_fill() {
            dest.copy_from_slice(self.block_bytes(b));
        }
        let first = self.patches.partition_point(|p| p.block < block);
        for patch in self.patches[first..].iter().take_while(|p| p.block == block) {
            let start = patch.offset as usize;
            dest[start..start + usize::from(patch.len)].copy_from_slice(&patch.bytes[..usize::from(patch.len)]);
        }
    }

    /// Gives `block` its own copy of its bytes, so passes can rewrite them.
    pub fn make_owned(&mut self, block: BlockId) -> &mut Vec<u8> {
        let b = &self.blocks[block.index()];
        if let Content::Input { .. } = b.content {
            let bytes = self.block_bytes(b).to_vec();
            self.blocks[block.index()].content = Content::Owned(bytes);
        }
        match &mut self.blocks[block.index()].content {
            Content::Owned(bytes) => bytes,
            Content::Input { .. } | Content::Zero(_) => unreachable!("zero-fill blocks are never rewritten"),
        }
    }

    // Ids are handed out by this graph and its vectors only grow, so these can index: the
    // parsing and fix-up modules use them instead of indexing themselves.
    pub fn block(&self, id: BlockId) -> &Block {
        &self.blocks[id.index()]
    }

    pub fn block_mut(&mut self, id: BlockId) -> &mut Block {
        &mut self.blocks[id.index()]
    }

    pub fn symbol(&self, id: SymbolId) -> &Symbol {
        &self.symbols[id.index()]
    }

    pub fn symbol_mut(&mut self, id: SymbolId) -> &mut Symbol {
        &mut self.symbols[id.index()]
    }

    pub fn section_mut(&mut self, id: SectionId) -> &mut Section {
        &mut self.sections[id.index()]
    }

    pub fn symbol_addr(&self, id: SymbolId) -> u64 {
        self.symbols[id.index()].addr
    }

    /// Defined symbols visible outside this graph (not local), with their names.
    pub fn defined_globals(&self) -> impl Iterator<Item = (SymbolId, SymbolName, &Symbol)> {
        self.symbols.iter().enumerate().filter_map(|(i, s)| match (s.name, s.def) {
            (Some(name), Definition::Block { .. } | Definition::Absolute) if s.flags.scope != Scope::Local => {
                Some((SymbolId(i as u32), name, s))
            }
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edge_is_16_bytes_and_keeps_its_kind_and_target_apart() {
        assert_eq!(std::mem::size_of::<Edge>(), 16);
        let last = SymbolId(MAX_SYMBOLS);
        let mut edge = Edge::new(EdgeKind(0xff), 7, last, i64::MIN);
        assert_eq!((edge.kind(), edge.target(), edge.offset, edge.addend), (EdgeKind(0xff), last, 7, i64::MIN));
        edge.set_target(SymbolId(1));
        assert_eq!((edge.kind(), edge.target()), (EdgeKind(0xff), SymbolId(1)));
        edge.set_kind(EdgeKind(3));
        assert_eq!((edge.kind(), edge.target()), (EdgeKind(3), SymbolId(1)));
        assert_eq!(edge.at(9).offset, 9);
    }
}
