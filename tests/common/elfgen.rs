//! A small writer of ELF x86-64 relocatable objects and GNU `ar` archives, fast enough to
//! produce 100,000 objects in a few seconds without a compiler.
//!
//! An object is a list of sections (content, alignment, flags, RELA relocations) and a list
//! of global symbols (defined in one of those sections, or undefined). The writer lays out
//! `ELF header | section contents | .rela.* | .symtab | .strtab | .shstrtab | section
//! headers`, as `as` does. `tests/stress.rs` proves the output is real by linking it with
//! `gcc` and running the result.
#![allow(dead_code)]

pub const R_X86_64_64: u32 = 1;
pub const R_X86_64_PC32: u32 = 2;
pub const R_X86_64_PLT32: u32 = 4;

const SHT_PROGBITS: u32 = 1;
const SHT_SYMTAB: u32 = 2;
const SHT_STRTAB: u32 = 3;
const SHT_RELA: u32 = 4;
pub const SHF_WRITE: u64 = 1;
pub const SHF_ALLOC: u64 = 2;
pub const SHF_EXECINSTR: u64 = 4;
const SHF_INFO_LINK: u64 = 0x40;
const STB_GLOBAL: u8 = 1;
pub const STT_NOTYPE: u8 = 0;
pub const STT_OBJECT: u8 = 1;
pub const STT_FUNC: u8 = 2;

/// One relocation: at `offset` in its section, `kind` (`R_X86_64_*`) against the symbol
/// numbered `symbol` (an index into `Object::symbols`), plus `addend`.
pub struct Reloc {
    pub offset: u64,
    pub kind: u32,
    pub symbol: usize,
    pub addend: i64,
}

pub struct Section {
    pub name: String,
    pub flags: u64,
    pub align: u64,
    pub data: Vec<u8>,
    pub relocs: Vec<Reloc>,
}

/// A global symbol: defined at `value` in section `section` (an index into
/// `Object::sections`), or undefined when `section` is `None`.
pub struct Symbol {
    pub name: String,
    pub kind: u8,
    pub section: Option<usize>,
    pub value: u64,
    pub size: u64,
}

#[derive(Default)]
pub struct Object {
    pub sections: Vec<Section>,
    pub symbols: Vec<Symbol>,
}

/// A string table under construction (starts with the empty name at offset 0).
struct Strings(Vec<u8>);

impl Strings {
    fn new() -> Strings {
        Strings(vec![0])
    }

    fn add(&mut self, name: &str) -> u32 {
        let at = self.0.len() as u32;
        self.0.extend_from_slice(name.as_bytes());
        self.0.push(0);
        at
    }
}

/// Zero bytes up to a multiple of `align` (a power of two).
fn pad_to(out: &mut Vec<u8>, align: u64) {
    let mask = align as usize - 1;
    out.resize((out.len() + mask) & !mask, 0);
}

/// An `Elf64_Shdr` without the address: name, type, flags, offset, size, link, info,
/// alignment, entry size.
type SectionHeader = (u32, u32, u64, u64, u64, u32, u32, u64, u64);

impl Object {
    pub fn section(&mut self, name: &str, flags: u64, align: u64, data: Vec<u8>) -> usize {
        self.sections.push(Section { name: name.into(), flags, align, data, relocs: Vec::new() });
        self.sections.len() - 1
    }

    pub fn define(&mut self, name: &str, kind: u8, section: usize, value: u64, size: u64) -> usize {
        self.symbols.push(Symbol { name: name.into(), kind, section: Some(section), value, size });
        self.symbols.len() - 1
    }

    pub fn undefined(&mut self, name: &str) -> usize {
        self.symbols.push(Symbol { name: name.into(), kind: STT_NOTYPE, section: None, value: 0, size: 0 });
        self.symbols.len() - 1
    }

    pub fn reloc(&mut self, section: usize, offset: u64, kind: u32, symbol: usize, addend: i64) {
        self.sections[section].relocs.push(Reloc { offset, kind, symbol, addend });
    }

    /// The object file's bytes.
    pub fn write(&self) -> Vec<u8> {
        // Section header indices: 0 null, 1..=n ours, then one .rela per section with
        // relocations, then .symtab, .strtab, .shstrtab.
        let n = self.sections.len();
        let with_relocs: Vec<usize> = (0..n).filter(|&s| !self.sections[s].relocs.is_empty()).collect();
        let symtab_index = 1 + n + with_relocs.len();
        let strtab_index = symtab_index + 1;
        let shstrtab_index = symtab_index + 2;
        let count = shstrtab_index + 1;

        // (name, type, flags, offset, size, link, info, align, entsize)
        let mut headers: Vec<SectionHeader> = vec![(0, 0, 0, 0, 0, 0, 0, 0, 0)];
        let mut shstr = Strings::new();
        let mut out = vec![0u8; 64];

        for s in &self.sections {
            pad_to(&mut out, s.align.max(1));
            let offset = out.len() as u64;
            out.extend_from_slice(&s.data);
            let name = shstr.add(&s.name);
            headers.push((name, SHT_PROGBITS, s.flags, offset, s.data.len() as u64, 0, 0, s.align, 0));
        }
        for &s in &with_relocs {
            pad_to(&mut out, 8);
            let offset = out.len() as u64;
            for r in &self.sections[s].relocs {
                // Symbol table index: 0 is the null symbol, ours follow.
                let info = ((r.symbol as u64 + 1) << 32) | r.kind as u64;
                out.extend_from_slice(&r.offset.to_le_bytes());
                out.extend_from_slice(&info.to_le_bytes());
                out.extend_from_slice(&r.addend.to_le_bytes());
            }
            let name = shstr.add(&format!(".rela{}", self.sections[s].name));
            let size = self.sections[s].relocs.len() as u64 * 24;
            headers.push((name, SHT_RELA, SHF_INFO_LINK, offset, size, symtab_index as u32, (s + 1) as u32, 8, 24));
        }

        let mut strtab = Strings::new();
        pad_to(&mut out, 8);
        let symtab_offset = out.len() as u64;
        out.extend_from_slice(&[0u8; 24]);
        for sym in &self.symbols {
            let name = strtab.add(&sym.name);
            out.extend_from_slice(&name.to_le_bytes());
            out.push((STB_GLOBAL << 4) | sym.kind);
            out.push(0); // default visibility
            let shndx = sym.section.map_or(0u16, |s| (s + 1) as u16);
            out.extend_from_slice(&shndx.to_le_bytes());
            out.extend_from_slice(&sym.value.to_le_bytes());
            out.extend_from_slice(&sym.size.to_le_bytes());
        }
        let symtab_size = (self.symbols.len() as u64 + 1) * 24;
        let name = shstr.add(".symtab");
        // sh_info: one past the last local symbol (only the null symbol is local).
        headers.push((name, SHT_SYMTAB, 0, symtab_offset, symtab_size, strtab_index as u32, 1, 8, 24));

        let strtab_offset = out.len() as u64;
        out.extend_from_slice(&strtab.0);
        let name = shstr.add(".strtab");
        headers.push((name, SHT_STRTAB, 0, strtab_offset, strtab.0.len() as u64, 0, 0, 1, 0));

        let name = shstr.add(".shstrtab");
        let shstrtab_offset = out.len() as u64;
        out.extend_from_slice(&shstr.0);
        headers.push((name, SHT_STRTAB, 0, shstrtab_offset, shstr.0.len() as u64, 0, 0, 1, 0));
        assert_eq!(headers.len(), count);

        pad_to(&mut out, 8);
        let shoff = out.len() as u64;
        for (name, kind, flags, offset, size, link, info, align, entsize) in headers {
            out.extend_from_slice(&name.to_le_bytes());
            out.extend_from_slice(&kind.to_le_bytes());
            out.extend_from_slice(&flags.to_le_bytes());
            out.extend_from_slice(&0u64.to_le_bytes()); // sh_addr
            out.extend_from_slice(&offset.to_le_bytes());
            out.extend_from_slice(&size.to_le_bytes());
            out.extend_from_slice(&link.to_le_bytes());
            out.extend_from_slice(&info.to_le_bytes());
            out.extend_from_slice(&align.to_le_bytes());
            out.extend_from_slice(&entsize.to_le_bytes());
        }

        let mut header = Vec::with_capacity(64);
        header.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        header.extend_from_slice(&1u16.to_le_bytes()); // ET_REL
        header.extend_from_slice(&62u16.to_le_bytes()); // EM_X86_64
        header.extend_from_slice(&1u32.to_le_bytes()); // EV_CURRENT
        header.extend_from_slice(&0u64.to_le_bytes()); // e_entry
        header.extend_from_slice(&0u64.to_le_bytes()); // e_phoff
        header.extend_from_slice(&shoff.to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes()); // e_flags
        header.extend_from_slice(&64u16.to_le_bytes()); // e_ehsize
        header.extend_from_slice(&0u16.to_le_bytes()); // e_phentsize
        header.extend_from_slice(&0u16.to_le_bytes()); // e_phnum
        header.extend_from_slice(&64u16.to_le_bytes()); // e_shentsize
        header.extend_from_slice(&(count as u16).to_le_bytes());
        header.extend_from_slice(&(shstrtab_index as u16).to_le_bytes());
        out[..64].copy_from_slice(&header);
        out
    }

    /// Names of the symbols this object defines (for an archive's symbol table).
    pub fn defined_names(&self) -> Vec<&str> {
        self.symbols.iter().filter(|s| s.section.is_some()).map(|s| s.name.as_str()).collect()
    }
}

/// A GNU `ar` archive of `members` (name at most 15 bytes, bytes, names of the symbols it
/// defines), with the `/` symbol table that `ld` and jitld look members up in.
pub fn archive(members: &[(String, Vec<u8>, Vec<String>)]) -> Vec<u8> {
    fn header(out: &mut Vec<u8>, name: &str, size: usize) {
        let field = |out: &mut Vec<u8>, text: &str, width: usize| {
            assert!(text.len() <= width, "archive header field {text:?} is wider than {width}");
            out.extend_from_slice(text.as_bytes());
            out.resize(out.len() + width - text.len(), b' ');
        };
        field(out, name, 16);
        field(out, "0", 12); // date
        field(out, "0", 6); // uid
        field(out, "0", 6); // gid
        field(out, "644", 8); // mode
        field(out, &size.to_string(), 10);
        out.extend_from_slice(b"`\n");
    }
    let symbol_count: usize = members.iter().map(|m| m.2.len()).sum();
    let names_size: usize = members.iter().flat_map(|m| m.2.iter()).map(|n| n.len() + 1).sum();
    let table_size = 4 + 4 * symbol_count + names_size;
    let padded = |size: usize| size + size % 2;

    let mut offsets = Vec::with_capacity(members.len());
    let mut at = 8 + 60 + padded(table_size);
    for (name, bytes, _) in members {
        assert!(name.len() < 16, "member name {name:?} needs a long-name table");
        offsets.push(at);
        at += 60 + padded(bytes.len());
    }
    let mut out = Vec::with_capacity(at);
    out.extend_from_slice(b"!<arch>\n");
    header(&mut out, "/", table_size);
    out.extend_from_slice(&(symbol_count as u32).to_be_bytes());
    for (member, offset) in members.iter().zip(&offsets) {
        for _ in &member.2 {
            out.extend_from_slice(&(*offset as u32).to_be_bytes());
        }
    }
    for member in members {
        for name in &member.2 {
            out.extend_from_slice(name.as_bytes());
            out.push(0);
        }
    }
    if table_size % 2 == 1 {
        out.push(b'\n');
    }
    for ((name, bytes, _), offset) in members.iter().zip(&offsets) {
        assert_eq!(out.len(), *offset);
        header(&mut out, &format!("{name}/"), bytes.len());
        out.extend_from_slice(bytes);
        if bytes.len() % 2 == 1 {
            out.push(b'\n');
        }
    }
    out
}
