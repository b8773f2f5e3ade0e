//! Tiny ELF shared objects that exist only to ask glibc for something it grants to loaded
//! objects alone: a static TLS block (`platform::tls`) or an executable stack
//! (`platform::exec_stack`). Each has one writable `PT_LOAD` over the whole file, a
//! `PT_DYNAMIC`, a `PT_GNU_STACK` saying what the object needs of the stack, and optionally a
//! `PT_TLS` segment with one relocation against itself that the loader resolves to the
//! block's offset from the thread pointer (`R_X86_64_TPOFF64`, `R_AARCH64_TLS_TPREL`): negative
//! on x86-64, where blocks sit below the thread pointer; positive on AArch64 (TLS variant I),
//! past the 16-byte thread control block.
//!
//! Without `PT_GNU_STACK` glibc assumes the object needs an executable stack and makes the
//! main stack and every thread stack `rwx`; so it is always written, executable only when
//! asked for.

/// What the object asks for.
pub struct DsoSpec {
    /// The architecture of the process that loads it.
    pub arch: Arch,
    /// A static TLS segment: (bytes of initial content, bytes in all, alignment).
    pub tls: Option<(u64, u64, u64)>,
    /// `PT_GNU_STACK` with `PF_X`: every stack in the process becomes executable.
    pub executable_stack: bool,
}

pub struct Dso {
    pub bytes: Vec<u8>,
    /// Address offset of the TLS init image.
    pub image: u64,
    /// Address offset of the word the loader fills with the block's thread-pointer offset.
    pub tp_offset_slot: u64,
}

use jitld_linker::arch::Arch;

const PT_LOAD: u64 = 1;
const PT_DYNAMIC: u64 = 2;
const PT_TLS: u64 = 7;
const PT_GNU_STACK: u64 = 0x6474_e551;
const PF_X: u64 = 1;
const PF_W: u64 = 2;
const PF_R: u64 = 4;

/// ELF header; program headers; an empty symbol table with its hash table; the relocation;
/// the dynamic section; the zeroed TLS init image.
pub fn build(spec: &DsoSpec) -> Dso {
    const PHDRS: u64 = 64;
    const PHNUM: u64 = 4;
    const SYMTAB: u64 = PHDRS + PHNUM * 56; // one null symbol
    const STRTAB: u64 = SYMTAB + 24; // "\0", padded
    const HASH: u64 = STRTAB + 8; // nbucket = nchain = 1, both empty
    const RELA: u64 = HASH + 16; // one relocation
    const SLOT: u64 = RELA + 24;
    const DYNAMIC: u64 = SLOT + 8;
    const DF_STATIC_TLS: u64 = 0x10;
    // Without TLS the relocation is left out (RELASZ 0) and there is nothing to flag.
    let (rela_size, flags) = if spec.tls.is_some() { (24, DF_STATIC_TLS) } else { (0, 0) };
    // (tag, value): HASH, STRTAB, SYMTAB, STRSZ, SYMENT, RELA, RELASZ, RELAENT, FLAGS, NULL.
    let dynamic = [
        (4, HASH),
        (5, STRTAB),
        (6, SYMTAB),
        (10, 1),
        (11, 24),
        (7, RELA),
        (8, rela_size),
        (9, 24),
        (30, flags),
        (0, 0),
    ];
    // (e_machine, the relocation that stores the block's offset from the thread pointer)
    let (machine, tp_offset_relocation) = match spec.arch {
        Arch::X86_64 => (62, 18),     // R_X86_64_TPOFF64
        Arch::AArch64 => (183, 1030), // R_AARCH64_TLS_TPREL
    };
    let (init_size, size, align) = spec.tls.unwrap_or((0, 0, 1));
    let align = align.max(1);
    let image = (DYNAMIC + dynamic.len() as u64 * 16).next_multiple_of(align);
    let file_size = image + init_size;

    let mut out = Vec::with_capacity(file_size as usize);
    let put = |out: &mut Vec<u8>, words: &[u64], width: usize| {
        for word in words {
            out.extend_from_slice(&word.to_le_bytes()[..width]);
        }
    };
    // ELF header: 64-bit, little-endian, version 1, System V; ET_DYN for the architecture.
    out.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    put(&mut out, &[3, machine], 2);
    put(&mut out, &[1], 4);
    put(&mut out, &[0, PHDRS, 0], 8); // entry, phoff, shoff
    put(&mut out, &[0], 4); // flags
    put(&mut out, &[64, 56, PHNUM, 64, 0, 0], 2); // ehsize, phentsize, phnum, shentsize, shnum, shstrndx
    let dynamic_size = dynamic.len() as u64 * 16;
    let stack = if spec.executable_stack { PF_R | PF_W | PF_X } else { PF_R | PF_W };
    // A PT_NULL entry stands in for PT_TLS when there is none.
    let tls_kind = if spec.tls.is_some() { PT_TLS } else { 0 };
    for (kind, flags, offset, filesz, memsz, p_align) in [
        (PT_LOAD, PF_R | PF_W, 0, file_size, file_size, spec.arch.page_size().max(4096)),
        (PT_DYNAMIC, PF_R | PF_W, DYNAMIC, dynamic_size, dynamic_size, 8),
        (tls_kind, PF_R, image, init_size, size, align),
        (PT_GNU_STACK, stack, 0, 0, 0, 16),
    ] {
        put(&mut out, &[kind, flags], 4);
        put(&mut out, &[offset, offset, offset, filesz, memsz, p_align], 8);
    }
    out.resize(STRTAB as usize + 8, 0); // null symbol, empty string table
    put(&mut out, &[1, 1, 0, 0], 4);
    put(&mut out, &[SLOT, tp_offset_relocation, 0, 0], 8); // symbol 0: this object's own block
    for (tag, value) in dynamic {
        put(&mut out, &[tag, value], 8);
    }
    out.resize(file_size as usize, 0);
    Dso { bytes: out, image, tp_offset_slot: SLOT }
}
