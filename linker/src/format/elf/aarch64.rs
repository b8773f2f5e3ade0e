//! The ELF × AArch64 cell of the grid: relocation types → AArch64 edge kinds.
// Parsing and fix-ups read untrusted input: no panicking index or overflow.
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use super::ElfEdge;
use crate::arch::aarch64::Kind;
use object::elf::*;

// Types `object` does not name.
const R_AARCH64_PLT32: u32 = 314;
const R_AARCH64_LD64_GOTPAGE_LO15: u32 = 313;

/// Maps an ELF relocation type; `Err` carries the type's name for the error message.
pub fn relocation_edge(r_type: u32) -> Result<ElfEdge, String> {
    let edge = |kind: Kind| ElfEdge::Edge(kind.into());
    Ok(edge(match r_type {
        R_AARCH64_NONE | R_AARCH64_TLSDESC_CALL => return Ok(ElfEdge::None),
        R_AARCH64_ABS64 => Kind::Pointer64,
        R_AARCH64_ABS32 => Kind::Pointer32,
        R_AARCH64_ABS16 => Kind::Pointer16,
        R_AARCH64_PREL64 => Kind::Delta64,
        R_AARCH64_PREL32 => Kind::Delta32,
        R_AARCH64_PREL16 => Kind::Delta16,
        R_AARCH64_PLT32 => Kind::BranchDelta32,
        R_AARCH64_CALL26 | R_AARCH64_JUMP26 => Kind::Branch26,
        R_AARCH64_CONDBR19 => Kind::CondBranch19,
        R_AARCH64_TSTBR14 => Kind::TestBranch14,
        R_AARCH64_LD_PREL_LO19 => Kind::LoadLiteral19,
        R_AARCH64_ADR_PREL_LO21 => Kind::Adr21,
        R_AARCH64_ADR_PREL_PG_HI21 => Kind::Page21,
        R_AARCH64_ADR_PREL_PG_HI21_NC => Kind::Page21Unchecked,
        R_AARCH64_ADD_ABS_LO12_NC => Kind::AddOffset12,
        R_AARCH64_LDST8_ABS_LO12_NC => Kind::LoadStoreOffset12x1,
        R_AARCH64_LDST16_ABS_LO12_NC => Kind::LoadStoreOffset12x2,
        R_AARCH64_LDST32_ABS_LO12_NC => Kind::LoadStoreOffset12x4,
        R_AARCH64_LDST64_ABS_LO12_NC => Kind::LoadStoreOffset12x8,
        R_AARCH64_LDST128_ABS_LO12_NC => Kind::LoadStoreOffset12x16,
        R_AARCH64_MOVW_UABS_G0 => Kind::MoveWideUnsignedG0,
        R_AARCH64_MOVW_UABS_G0_NC => Kind::MoveWideUnsignedG0Unchecked,
        R_AARCH64_MOVW_UABS_G1 => Kind::MoveWideUnsignedG1,
        R_AARCH64_MOVW_UABS_G1_NC => Kind::MoveWideUnsignedG1Unchecked,
        R_AARCH64_MOVW_UABS_G2 => Kind::MoveWideUnsignedG2,
        R_AARCH64_MOVW_UABS_G2_NC => Kind::MoveWideUnsignedG2Unchecked,
        R_AARCH64_MOVW_UABS_G3 => Kind::MoveWideG3,
        R_AARCH64_MOVW_SABS_G0 => Kind::MoveWideSignedG0,
        R_AARCH64_MOVW_SABS_G1 => Kind::MoveWideSignedG1,
        R_AARCH64_MOVW_SABS_G2 => Kind::MoveWideSignedG2,
        R_AARCH64_MOVW_PREL_G0 => Kind::MoveWideRelativeG0,
        R_AARCH64_MOVW_PREL_G0_NC => Kind::MoveWideRelativeG0Unchecked,
        R_AARCH64_MOVW_PREL_G1 => Kind::MoveWideRelativeG1,
        R_AARCH64_MOVW_PREL_G1_NC => Kind::MoveWideRelativeG1Unchecked,
        R_AARCH64_MOVW_PREL_G2 => Kind::MoveWideRelativeG2,
        R_AARCH64_MOVW_PREL_G2_NC => Kind::MoveWideRelativeG2Unchecked,
        R_AARCH64_MOVW_PREL_G3 => Kind::MoveWideRelativeG3,
        R_AARCH64_ADR_GOT_PAGE => Kind::RequestGotAndTransformToGotPage21,
        R_AARCH64_LD64_GOT_LO12_NC => Kind::RequestGotAndTransformToGotPageOffset12,
        R_AARCH64_LD64_GOTPAGE_LO15 => Kind::RequestGotAndTransformToGotPageOffset15,
        R_AARCH64_GOT_LD_PREL19 => Kind::RequestGotAndTransformToLoadLiteral19,
        R_AARCH64_TLSIE_ADR_GOTTPREL_PAGE21 => Kind::RequestTpOffGotAndTransformToPage21,
        R_AARCH64_TLSIE_LD64_GOTTPREL_LO12_NC => Kind::RequestTpOffGotAndTransformToPageOffset12,
        R_AARCH64_TLSIE_LD_GOTTPREL_PREL19 => Kind::RequestTpOffGotAndTransformToLoadLiteral19,
        R_AARCH64_TLSLE_ADD_TPREL_HI12 => Kind::TpOffHi12,
        R_AARCH64_TLSLE_ADD_TPREL_LO12 => Kind::TpOffLo12,
        R_AARCH64_TLSLE_ADD_TPREL_LO12_NC => Kind::TpOffLo12Unchecked,
        R_AARCH64_TLSLE_LDST8_TPREL_LO12 => Kind::TpOffLoadStore12x1,
        R_AARCH64_TLSLE_LDST8_TPREL_LO12_NC => Kind::TpOffLoadStore12x1Unchecked,
        R_AARCH64_TLSLE_LDST16_TPREL_LO12 => Kind::TpOffLoadStore12x2,
        R_AARCH64_TLSLE_LDST16_TPREL_LO12_NC => Kind::TpOffLoadStore12x2Unchecked,
        R_AARCH64_TLSLE_LDST32_TPREL_LO12 => Kind::TpOffLoadStore12x4,
        R_AARCH64_TLSLE_LDST32_TPREL_LO12_NC => Kind::TpOffLoadStore12x4Unchecked,
        R_AARCH64_TLSLE_LDST64_TPREL_LO12 => Kind::TpOffLoadStore12x8,
        R_AARCH64_TLSLE_LDST64_TPREL_LO12_NC => Kind::TpOffLoadStore12x8Unchecked,
        R_AARCH64_TLSLE_LDST128_TPREL_LO12 => Kind::TpOffLoadStore12x16,
        R_AARCH64_TLSLE_LDST128_TPREL_LO12_NC => Kind::TpOffLoadStore12x16Unchecked,
        R_AARCH64_TLSLE_MOVW_TPREL_G0 => Kind::TpOffMoveWideG0,
        R_AARCH64_TLSLE_MOVW_TPREL_G0_NC => Kind::TpOffMoveWideG0Unchecked,
        R_AARCH64_TLSLE_MOVW_TPREL_G1 => Kind::TpOffMoveWideG1,
        R_AARCH64_TLSLE_MOVW_TPREL_G1_NC => Kind::TpOffMoveWideG1Unchecked,
        R_AARCH64_TLSLE_MOVW_TPREL_G2 => Kind::TpOffMoveWideG2,
        R_AARCH64_TLSLD_ADD_DTPREL_HI12 => Kind::DtpOffHi12,
        R_AARCH64_TLSLD_ADD_DTPREL_LO12 => Kind::DtpOffLo12,
        R_AARCH64_TLSLD_ADD_DTPREL_LO12_NC => Kind::DtpOffLo12Unchecked,
        R_AARCH64_TLSDESC_ADR_PAGE21 => Kind::RequestTlsDescAndTransformToPage21,
        R_AARCH64_TLSDESC_LD64_LO12 => Kind::RequestTlsDescAndTransformToPageOffset12,
        R_AARCH64_TLSDESC_ADD_LO12 => Kind::RequestTlsDescAndTransformToAddOffset12,
        R_AARCH64_TLSGD_ADR_PAGE21 => Kind::RequestTlsGdAndTransformToPage21,
        R_AARCH64_TLSGD_ADD_LO12_NC => Kind::RequestTlsGdAndTransformToAddOffset12,
        R_AARCH64_TLSLD_ADR_PAGE21 => Kind::RequestTlsLdAndTransformToPage21,
        R_AARCH64_TLSLD_ADD_LO12_NC => Kind::RequestTlsLdAndTransformToAddOffset12,
        other => return Err(elf_reloc_name(other)),
    }))
}

/// Names the types compilers or assemblers may emit that jitld does not link.
fn elf_reloc_name(r_type: u32) -> String {
    let name = match r_type {
        R_AARCH64_LD64_GOTOFF_LO15 => "R_AARCH64_LD64_GOTOFF_LO15",
        R_AARCH64_MOVW_GOTOFF_G0 => "R_AARCH64_MOVW_GOTOFF_G0",
        R_AARCH64_MOVW_GOTOFF_G1 => "R_AARCH64_MOVW_GOTOFF_G1",
        R_AARCH64_TLSGD_ADR_PREL21 => "R_AARCH64_TLSGD_ADR_PREL21",
        R_AARCH64_TLSLD_ADR_PREL21 => "R_AARCH64_TLSLD_ADR_PREL21",
        R_AARCH64_TLSLD_LDST64_DTPREL_LO12 => "R_AARCH64_TLSLD_LDST64_DTPREL_LO12",
        R_AARCH64_TLSLD_LDST64_DTPREL_LO12_NC => "R_AARCH64_TLSLD_LDST64_DTPREL_LO12_NC",
        R_AARCH64_TLSLD_MOVW_DTPREL_G0 => "R_AARCH64_TLSLD_MOVW_DTPREL_G0",
        R_AARCH64_TLSLD_MOVW_DTPREL_G1 => "R_AARCH64_TLSLD_MOVW_DTPREL_G1",
        R_AARCH64_TLSIE_MOVW_GOTTPREL_G1 => "R_AARCH64_TLSIE_MOVW_GOTTPREL_G1",
        R_AARCH64_TLSIE_MOVW_GOTTPREL_G0_NC => "R_AARCH64_TLSIE_MOVW_GOTTPREL_G0_NC",
        R_AARCH64_TLSDESC_LD_PREL19 => "R_AARCH64_TLSDESC_LD_PREL19",
        R_AARCH64_TLSDESC_ADR_PREL21 => "R_AARCH64_TLSDESC_ADR_PREL21",
        R_AARCH64_TLSDESC_OFF_G1 => "R_AARCH64_TLSDESC_OFF_G1",
        R_AARCH64_TLSDESC_OFF_G0_NC => "R_AARCH64_TLSDESC_OFF_G0_NC",
        R_AARCH64_TLSDESC_LDR => "R_AARCH64_TLSDESC_LDR",
        R_AARCH64_TLSDESC_ADD => "R_AARCH64_TLSDESC_ADD",
        R_AARCH64_COPY => "R_AARCH64_COPY",
        R_AARCH64_GLOB_DAT => "R_AARCH64_GLOB_DAT",
        R_AARCH64_JUMP_SLOT => "R_AARCH64_JUMP_SLOT",
        R_AARCH64_RELATIVE => "R_AARCH64_RELATIVE",
        R_AARCH64_TLS_TPREL => "R_AARCH64_TLS_TPREL",
        R_AARCH64_TLSDESC => "R_AARCH64_TLSDESC",
        R_AARCH64_IRELATIVE => "R_AARCH64_IRELATIVE",
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
            (R_AARCH64_CALL26, Kind::Branch26),
            (R_AARCH64_ADR_PREL_PG_HI21, Kind::Page21),
            (R_AARCH64_LDST64_ABS_LO12_NC, Kind::LoadStoreOffset12x8),
            (R_AARCH64_ADR_GOT_PAGE, Kind::RequestGotAndTransformToGotPage21),
            (R_AARCH64_TLSDESC_ADD_LO12, Kind::RequestTlsDescAndTransformToAddOffset12),
        ] {
            assert!(matches!(relocation_edge(r_type), Ok(ElfEdge::Edge(k)) if k == kind.into()));
        }
        assert!(matches!(relocation_edge(R_AARCH64_TLSDESC_CALL), Ok(ElfEdge::None)));
    }

    #[test]
    fn names_unsupported_types() {
        assert_eq!(relocation_edge(R_AARCH64_TLSDESC_LDR).err().unwrap(), "R_AARCH64_TLSDESC_LDR");
        assert_eq!(relocation_edge(999).err().unwrap(), "relocation type 999");
    }
}
