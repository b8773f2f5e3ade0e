//! The ELF × x86-64 cell of the grid: relocation types → x86-64 edge kinds.
// Parsing and fix-ups read untrusted input: no panicking index or overflow.
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use super::ElfEdge;
use crate::arch::x86_64::Kind;
use object::elf::*;

/// Maps an ELF relocation type; `Err` carries the type's name for the error message.
pub fn relocation_edge(r_type: u32) -> Result<ElfEdge, String> {
    use ElfEdge::None as NoEdge;
    let edge = |kind: Kind| ElfEdge::Edge(kind.into());
    let to_got_base = |kind: Kind| ElfEdge::ToGotBase(kind.into());
    Ok(match r_type {
        R_X86_64_NONE => NoEdge,
        R_X86_64_64 => edge(Kind::Pointer64),
        R_X86_64_PC32 => edge(Kind::Delta32),
        R_X86_64_PLT32 => edge(Kind::BranchPCRel32),
        R_X86_64_32 => edge(Kind::Pointer32),
        R_X86_64_32S => edge(Kind::Pointer32Signed),
        R_X86_64_16 => edge(Kind::Pointer16),
        R_X86_64_PC16 => edge(Kind::Delta16),
        R_X86_64_8 => edge(Kind::Pointer8),
        R_X86_64_PC8 => edge(Kind::Delta8),
        R_X86_64_PC64 => edge(Kind::Delta64),
        R_X86_64_GOTPCREL => edge(Kind::RequestGotAndTransformToDelta32),
        R_X86_64_GOTPCRELX => edge(Kind::RequestGotAndTransformToPCRel32GotLoadRelaxable),
        R_X86_64_REX_GOTPCRELX => edge(Kind::RequestGotAndTransformToPCRel32GotLoadRexRelaxable),
        R_X86_64_GOTPCREL64 => edge(Kind::RequestGotAndTransformToDelta64),
        R_X86_64_GOT64 | R_X86_64_GOTPLT64 => edge(Kind::RequestGotAndTransformToDelta64FromGot),
        R_X86_64_GOTOFF64 => edge(Kind::Delta64FromGot),
        // `L - GOT + A`: a 64-bit field reaches any address, so the symbol itself serves as its PLT entry.
        R_X86_64_PLTOFF64 => edge(Kind::Delta64FromGot),
        R_X86_64_GOTPC32 => to_got_base(Kind::Delta32),
        R_X86_64_GOTPC64 => to_got_base(Kind::Delta64),
        R_X86_64_TPOFF32 => edge(Kind::TpOff32),
        R_X86_64_TPOFF64 => edge(Kind::TpOff64),
        R_X86_64_GOTTPOFF => edge(Kind::RequestGotAndTransformToDelta32),
        R_X86_64_TLSGD => edge(Kind::RequestTlsGdAndTransformToDelta32),
        R_X86_64_TLSLD => edge(Kind::RequestTlsLdAndTransformToDelta32),
        R_X86_64_DTPOFF32 => edge(Kind::DtpOff32),
        R_X86_64_DTPOFF64 => edge(Kind::DtpOff64),
        R_X86_64_SIZE32 => edge(Kind::Size32),
        R_X86_64_SIZE64 => edge(Kind::Size64),
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
            assert!(matches!(relocation_edge(r_type), Ok(ElfEdge::Edge(k)) if k == kind.into()));
        }
        let got_base = relocation_edge(R_X86_64_GOTPC32);
        assert!(matches!(got_base, Ok(ElfEdge::ToGotBase(k)) if k == Kind::Delta32.into()));
    }

    #[test]
    fn names_unsupported_types() {
        assert_eq!(relocation_edge(R_X86_64_TLSDESC_CALL).err().unwrap(), "R_X86_64_TLSDESC_CALL");
        assert_eq!(relocation_edge(200).err().unwrap(), "relocation type 200");
    }
}
