//! ELF x86-64 relocation types → edge kinds.
// Parsing and fix-ups read untrusted input: no panicking index or overflow.
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use super::Kind;
use object::elf::*;

/// What an ELF relocation becomes in the graph.
pub enum ElfEdge {
    /// An ordinary edge to the relocation's symbol.
    Edge(Kind),
    /// An edge to the graph's `_GLOBAL_OFFSET_TABLE_`, whatever the relocation's symbol.
    ToGotBase(Kind),
    /// No fix-up needed.
    None,
}

/// Maps an ELF relocation type; `Err` carries the type's name for the error message.
pub fn edge_kind_for_elf(r_type: u32) -> Result<ElfEdge, String> {
    use ElfEdge::{Edge, ToGotBase};
    Ok(match r_type {
        R_X86_64_NONE => ElfEdge::None,
        R_X86_64_64 => Edge(Kind::Pointer64),
        R_X86_64_PC32 => Edge(Kind::Delta32),
        R_X86_64_PLT32 => Edge(Kind::BranchPCRel32),
        R_X86_64_32 => Edge(Kind::Pointer32),
        R_X86_64_32S => Edge(Kind::Pointer32Signed),
        R_X86_64_16 => Edge(Kind::Pointer16),
        R_X86_64_PC16 => Edge(Kind::Delta16),
        R_X86_64_8 => Edge(Kind::Pointer8),
        R_X86_64_PC8 => Edge(Kind::Delta8),
        R_X86_64_PC64 => Edge(Kind::Delta64),
        R_X86_64_GOTPCREL => Edge(Kind::RequestGotAndTransformToDelta32),
        R_X86_64_GOTPCRELX => Edge(Kind::RequestGotAndTransformToPCRel32GotLoadRelaxable),
        R_X86_64_REX_GOTPCRELX => Edge(Kind::RequestGotAndTransformToPCRel32GotLoadRexRelaxable),
        R_X86_64_GOTPCREL64 => Edge(Kind::RequestGotAndTransformToDelta64),
        R_X86_64_GOT64 | R_X86_64_GOTPLT64 => Edge(Kind::RequestGotAndTransformToDelta64FromGot),
        R_X86_64_GOTOFF64 => Edge(Kind::Delta64FromGot),
        // `L - GOT + A`: a 64-bit field reaches any address, so the symbol itself serves as its PLT entry.
        R_X86_64_PLTOFF64 => Edge(Kind::Delta64FromGot),
        R_X86_64_GOTPC32 => ToGotBase(Kind::Delta32),
        R_X86_64_GOTPC64 => ToGotBase(Kind::Delta64),
        R_X86_64_TPOFF32 => Edge(Kind::TpOff32),
        R_X86_64_TPOFF64 => Edge(Kind::TpOff64),
        R_X86_64_GOTTPOFF => Edge(Kind::RequestGotAndTransformToDelta32),
        R_X86_64_TLSGD => Edge(Kind::RequestTlsGdAndTransformToDelta32),
        R_X86_64_TLSLD => Edge(Kind::RequestTlsLdAndTransformToDelta32),
        R_X86_64_DTPOFF32 => Edge(Kind::DtpOff32),
        R_X86_64_DTPOFF64 => Edge(Kind::DtpOff64),
        R_X86_64_SIZE32 => Edge(Kind::Size32),
        R_X86_64_SIZE64 => Edge(Kind::Size64),
        other => return Err(elf_reloc_name(other)),
    })
}

fn elf_reloc_name(r_type: u32) -> String {
    let name = match r_type {
        R_X86_64_GOT32 => "R_X86_64_GOT32",
        R_X86_64_COPY => "R_X86_64_COPY",
        R_X86_64_GLOB_DAT => "R_X86_64_GLOB_DAT",
        R_X86_64_JUMP_SLOT => "R_X86_64_JUMP_SLOT",
        R_X86_64_RELATIVE => "R_X86_64_RELATIVE",
        R_X86_64_DTPMOD64 => "R_X86_64_DTPMOD64",
        R_X86_64_DTPOFF64 => "R_X86_64_DTPOFF64",
        R_X86_64_TPOFF64 => "R_X86_64_TPOFF64",
        R_X86_64_TLSGD => "R_X86_64_TLSGD",
        R_X86_64_TLSLD => "R_X86_64_TLSLD",
        R_X86_64_DTPOFF32 => "R_X86_64_DTPOFF32",
        R_X86_64_GOTTPOFF => "R_X86_64_GOTTPOFF",
        R_X86_64_TPOFF32 => "R_X86_64_TPOFF32",
        R_X86_64_GOTPC32_TLSDESC => "R_X86_64_GOTPC32_TLSDESC",
        R_X86_64_TLSDESC_CALL => "R_X86_64_TLSDESC_CALL",
        R_X86_64_TLSDESC => "R_X86_64_TLSDESC",
        R_X86_64_IRELATIVE => "R_X86_64_IRELATIVE",
        R_X86_64_RELATIVE64 => "R_X86_64_RELATIVE64",
        _ => return format!("relocation type {r_type}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_the_relocations_compilers_emit() {
        for (r_type, kind) in [
            (R_X86_64_64, Kind::Pointer64),
            (R_X86_64_PC32, Kind::Delta32),
            (R_X86_64_PLT32, Kind::BranchPCRel32),
            (R_X86_64_32S, Kind::Pointer32Signed),
            (R_X86_64_REX_GOTPCRELX, Kind::RequestGotAndTransformToPCRel32GotLoadRexRelaxable),
            (R_X86_64_SIZE64, Kind::Size64),
            (R_X86_64_PLTOFF64, Kind::Delta64FromGot),
        ] {
            assert!(matches!(edge_kind_for_elf(r_type), Ok(ElfEdge::Edge(k)) if k == kind));
        }
        assert!(matches!(edge_kind_for_elf(R_X86_64_GOTPC32), Ok(ElfEdge::ToGotBase(Kind::Delta32))));
    }

    #[test]
    fn names_unsupported_types() {
        assert_eq!(edge_kind_for_elf(R_X86_64_TLSDESC_CALL).err().unwrap(), "R_X86_64_TLSDESC_CALL");
        assert_eq!(edge_kind_for_elf(200).err().unwrap(), "relocation type 200");
    }
}
