//! How a value goes into an AArch64 instruction (or a data word): which bits, shifted how
//! far, and what alignment the shift needs.
// Parsing and fix-ups read untrusted input: no panicking index or overflow.
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use super::Kind;
use crate::graph::EdgeKind;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Field {
    /// A little-endian data word of the row's width.
    Data,
    /// `b`/`bl`: bits 0..26, the value in words.
    Branch26,
    /// `b.cond`, `cbz`, `ldr` literal: bits 5..24, in words.
    Imm19,
    /// `tbz`/`tbnz`: bits 5..19, in words.
    Imm14,
    /// `adr`/`adrp`: 21 bits split into immlo (29..31) and immhi (5..24), of the value
    /// shifted right by `shift`.
    Adr { shift: u8 },
    /// `add` or a load/store's unsigned offset (bits 10..22): the low 12 bits of the value,
    /// which must be a multiple of the access size, `1 << scale`.
    Lo12 { scale: u8 },
    /// A load/store's unsigned offset holding the whole value, scaled.
    Scaled12 { scale: u8 },
    /// `add ..., lsl #12`: bits 12..24 of the value.
    Hi12,
    /// `movz`/`movk`/`movn` (bits 5..21): 16 bits of the value from `shift`; when `signed`,
    /// a negative value makes the instruction a `movn` of the inverted bits.
    MoveWide { shift: u8, signed: bool },
}

/// Writes `value` into the field of a `kind` edge; `bytes` holds the row's width.
pub fn write_field(kind: EdgeKind, value: i128, bytes: &mut [u8]) -> Result<(), String> {
    let kind = Kind::from_edge(kind).ok_or("not an AArch64 edge kind")?;
    let field = kind.field();
    if field == Field::Data {
        let all = (value as u64).to_le_bytes();
        bytes.copy_from_slice(all.get(..bytes.len()).ok_or("field wider than 8 bytes")?);
        return Ok(());
    }
    let word: [u8; 4] = (&*bytes).try_into().map_err(|_| "instruction field is not 4 bytes")?;
    let insn = u32::from_le_bytes(word);
    let value = value as i64;
    let bits = |value: i64, shift: u8, width: u32| ((value >> shift) as u64 & (1u64 << width).wrapping_sub(1)) as u32;
    let in_words = |value: i64| {
        if value & 3 != 0 {
            return Err(format!("target {value:#x} away is not a multiple of 4"));
        }
        Ok(value)
    };
    let patched = match field {
        Field::Data => insn,
        Field::Branch26 => (insn & !0x03ff_ffff) | bits(in_words(value)?, 2, 26),
        Field::Imm19 => (insn & !(0x7ffff << 5)) | (bits(in_words(value)?, 2, 19) << 5),
        Field::Imm14 => (insn & !(0x3fff << 5)) | (bits(in_words(value)?, 2, 14) << 5),
        Field::Adr { shift } => {
            let imm = bits(value, shift, 21);
            (insn & !((3 << 29) | (0x7ffff << 5))) | ((imm & 3) << 29) | ((imm >> 2) << 5)
        }
        Field::Lo12 { scale } => {
            let low = bits(value, 0, 12);
            if low & (1u32 << scale).wrapping_sub(1) != 0 {
                return Err(format!("offset {low:#x} is not a multiple of the access size {}", 1 << scale));
            }
            (insn & !(0xfff << 10)) | ((low >> scale) << 10)
        }
        Field::Scaled12 { scale } => {
            if value & (1i64 << scale).wrapping_sub(1) != 0 {
                return Err(format!("offset {value:#x} is not a multiple of {}", 1 << scale));
            }
            (insn & !(0xfff << 10)) | (bits(value, scale, 12) << 10)
        }
        Field::Hi12 => (insn & !(0xfff << 10)) | (bits(value, 12, 12) << 10),
        Field::MoveWide { shift, signed } => {
            let (insn, value) = match (signed, value < 0) {
                // movn: opc 00 writes the inverse of its immediate.
                (true, true) => (insn & !(3 << 29), !value),
                // movz: opc 10.
                (true, false) => ((insn & !(3 << 29)) | (2 << 29), value),
                (false, _) => (insn, value),
            };
            (insn & !(0xffff << 5)) | (bits(value, shift, 16) << 5)
        }
    };
    bytes.copy_from_slice(&patched.to_le_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(kind: Kind, insn: u32, value: i128) -> u32 {
        let mut bytes = insn.to_le_bytes();
        write_field(kind.into(), value, &mut bytes).unwrap();
        u32::from_le_bytes(bytes)
    }

    #[test]
    fn encodes_what_the_assembler_would() {
        // bl .+0x1000 / bl .-4
        assert_eq!(write(Kind::Branch26, 0x9400_0000, 0x1000), 0x9400_0400);
        assert_eq!(write(Kind::Branch26, 0x9400_0000, -4), 0x97ff_ffff);
        // adrp x0, .+0x3000 (3 pages); adr x1, .+5
        assert_eq!(write(Kind::Page21, 0x9000_0000, 0x3000), 0xf000_0000);
        assert_eq!(write(Kind::Adr21, 0x1000_0001, 5), 0x3000_0021);
        // ldr x1, [x0, #0x18] from lo12 0x...018; add x0, x0, #0x234
        assert_eq!(write(Kind::LoadStoreOffset12x8, 0xf940_0001, 0x12_3018), 0xf940_0c01);
        assert_eq!(write(Kind::AddOffset12, 0x9100_0000, 0x5234), 0x9108_d000);
        // b.eq .+8; tbz w0, #0, .+8
        assert_eq!(write(Kind::CondBranch19, 0x5400_0000, 8), 0x5400_0040);
        assert_eq!(write(Kind::TestBranch14, 0x3600_0000, 8), 0x3600_0040);
        // movz x0, #0x1234, lsl 16 from 0x1234_5678; a signed -2 becomes movn x0, #1
        assert_eq!(write(Kind::MoveWideUnsignedG1, 0xd2a0_0000, 0x1234_5678), 0xd2a2_4680);
        assert_eq!(write(Kind::MoveWideSignedG0, 0xd280_0000, -2), 0x9280_0020);
    }

    #[test]
    fn refuses_misaligned_values() {
        let mut bytes = 0x9400_0000u32.to_le_bytes();
        assert!(write_field(Kind::Branch26.into(), 6, &mut bytes).is_err());
        let mut bytes = 0xf940_0000u32.to_le_bytes();
        assert!(write_field(Kind::LoadStoreOffset12x8.into(), 0x1004, &mut bytes).is_err());
    }
}
