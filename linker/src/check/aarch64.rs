//! AArch64 instructions for `decode_operand` and `next_pc`, numbered as LLVM's MC layer
//! numbers them (what llvm-jitlink's checker sees), decoded by hand: every instruction is
//! one little-endian word, and only the classes that carry a relocated field, or that a
//! stub, resolver or prologue uses, are decoded. Anything else is an error naming the word.
//!
//! LLVM's numbering, checked against llvm-jitlink-19:
//! - immediates are what the field holds: `adrp` the page delta (pages, signed), `adr`,
//!   branches and `ldr` literals their displacement in bytes (`adr`) or words (the rest),
//!   sign-extended; a load/store's unsigned offset is the scaled `imm12`, `ldp`/`stp` the
//!   scaled `imm7`, `ldur` and pre/post-indexed the byte `simm9`;
//! - `add`/`sub` (immediate) are `Rd, Rn, imm12, shift` with the shift as 0 or 12;
//! - `movz`/`movn` are `Rd, imm16, shift` (the shift in bits: 0, 16, 32, 48); `movk` lists
//!   `Rd` twice (it is read), so its `imm16` is operand 2;
//! - `b.cond` is `cond, imm19`; `cbz` `Rt, imm19`; `tbz` `Rt, bit, imm14` (a `w` register
//!   below bit 32);
//! - pre/post-indexed loads and stores begin with the written-back base register;
//! - a shifted-register operand's shift is one immediate, `type << 6 | amount`;
//! - `mrs` is `Rt, op0:op1:CRn:CRm:op2` (op0 as its two bits); `nop` is `hint #0`;
//! - `prfm`'s first operand is its prefetch operation, an immediate.

use super::eval::{Decoded, InstructionDecoder, Operand};

#[derive(Default)]
pub struct AArch64Decoder;

impl InstructionDecoder for AArch64Decoder {
    fn decode(&self, bytes: &[u8], _address: u64) -> Result<Decoded, String> {
        let word: [u8; 4] = bytes
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| format!("{} bytes left, an instruction is 4", bytes.len()))?;
        let word = u32::from_le_bytes(word);
        let (mnemonic, operands) =
            decode_word(word).ok_or_else(|| format!("jitld does not decode the instruction {word:#010x}"))?;
        let text = describe(&mnemonic, &operands, word);
        Ok(Decoded { length: 4, operands, text })
    }
}

/// `width` bits of `word` from bit `low`.
fn bits(word: u32, low: u32, width: u32) -> u32 {
    (word >> low) & ((1u32 << width) - 1)
}

/// `value`, `width` bits wide, sign-extended.
fn signed(value: u32, width: u32) -> i64 {
    let shift = 64 - width;
    (i64::from(value) << shift) >> shift
}

fn imm(value: impl Into<i64>) -> Operand {
    Operand::Immediate(value.into())
}

/// A general register: `x`/`w` by `wide`; number 31 is the stack pointer where the
/// instruction allows it, else the zero register.
fn gpr(number: u32, wide: bool, stack_pointer: bool) -> Operand {
    let name = match (number, wide, stack_pointer) {
        (31, true, true) => "sp".to_string(),
        (31, false, true) => "wsp".to_string(),
        (31, true, false) => "xzr".to_string(),
        (31, false, false) => "wzr".to_string(),
        (n, true, _) => format!("x{n}"),
        (n, false, _) => format!("w{n}"),
    };
    Operand::Register(name)
}

fn x(number: u32) -> Operand {
    gpr(number, true, false)
}

/// A base register of an address: `x0`..`x30` or `sp`.
fn base(number: u32) -> Operand {
    gpr(number, true, true)
}

/// The register a load or store transfers.
#[derive(Clone, Copy)]
enum Transfer {
    W,
    X,
    /// A SIMD&FP register of this many bytes.
    Vector(u8),
    /// `prfm`: the field is the prefetch operation.
    Prefetch,
}

impl Transfer {
    fn operand(self, number: u32) -> Operand {
        match self {
            Transfer::W => gpr(number, false, false),
            Transfer::X => x(number),
            Transfer::Prefetch => imm(number),
            Transfer::Vector(bytes) => {
                let prefix = match bytes {
                    1 => 'b',
                    2 => 'h',
                    4 => 's',
                    8 => 'd',
                    _ => 'q',
                };
                Operand::Register(format!("{prefix}{number}"))
            }
        }
    }
}

/// A single-register load or store (`size`, `V`, `opc` of its encoding): its mnemonic's stem
/// and the register it transfers; `None` where the combination is unallocated.
fn load_store(size: u32, vector: bool, opc: u32) -> Option<(&'static str, Transfer)> {
    use Transfer::*;
    Some(match (vector, size, opc) {
        (false, 0, 0) => ("strb", W),
        (false, 0, 1) => ("ldrb", W),
        (false, 0, 2) => ("ldrsb", X),
        (false, 0, 3) => ("ldrsb", W),
        (false, 1, 0) => ("strh", W),
        (false, 1, 1) => ("ldrh", W),
        (false, 1, 2) => ("ldrsh", X),
        (false, 1, 3) => ("ldrsh", W),
        (false, 2, 0) => ("str", W),
        (false, 2, 1) => ("ldr", W),
        (false, 2, 2) => ("ldrsw", X),
        (false, 3, 0) => ("str", X),
        (false, 3, 1) => ("ldr", X),
        (false, 3, 2) => ("prfm", Prefetch),
        (true, 0, 2) => ("str", Vector(16)),
        (true, 0, 3) => ("ldr", Vector(16)),
        (true, size, 0) => ("str", Vector(1 << size)),
        (true, size, 1) => ("ldr", Vector(1 << size)),
        _ => return None,
    })
}

const CONDITIONS: [&str; 16] =
    ["eq", "ne", "hs", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le", "al", "nv"];

/// The instruction's mnemonic and its operands in LLVM's order; `None` for what jitld does
/// not decode.
fn decode_word(word: u32) -> Option<(String, Vec<Operand>)> {
    let rd = bits(word, 0, 5);
    let rn = bits(word, 5, 5);
    let wide = bits(word, 31, 1) == 1;
    let named = |mnemonic: &str, operands: Vec<Operand>| Some((mnemonic.to_string(), operands));

    // adr / adrp: immhi (5..24) : immlo (29..31).
    if word & 0x1f00_0000 == 0x1000_0000 {
        let value = signed((bits(word, 5, 19) << 2) | bits(word, 29, 2), 21);
        return named(if wide { "adrp" } else { "adr" }, vec![x(rd), imm(value)]);
    }
    // add/adds/sub/subs (immediate), optionally shifted by 12.
    if word & 0x1f80_0000 == 0x1100_0000 {
        let sets_flags = bits(word, 29, 1) == 1;
        let mnemonic = ["add", "adds", "sub", "subs"][bits(word, 29, 2) as usize];
        let operands =
            vec![gpr(rd, wide, !sets_flags), gpr(rn, wide, true), imm(bits(word, 10, 12)), imm(bits(word, 22, 1) * 12)];
        return named(mnemonic, operands);
    }
    // movn / movz / movk.
    if word & 0x1f80_0000 == 0x1280_0000 {
        let hw = bits(word, 21, 2);
        if !wide && hw >= 2 {
            return None;
        }
        let (value, shift) = (imm(bits(word, 5, 16)), imm(hw * 16));
        let rd = gpr(rd, wide, false);
        return match bits(word, 29, 2) {
            0 => named("movn", vec![rd, value, shift]),
            2 => named("movz", vec![rd, value, shift]),
            3 => named("movk", vec![rd.clone(), rd, value, shift]),
            _ => None,
        };
    }
    // Logical (shifted register): and, bic, orr (and `mov`), orn, eor, eon, ands, bics.
    if word & 0x1f00_0000 == 0x0a00_0000 {
        let amount = bits(word, 10, 6);
        if !wide && amount >= 32 {
            return None;
        }
        let mnemonic = ["and", "bic", "orr", "orn", "eor", "eon", "ands", "bics"]
            [(bits(word, 29, 2) * 2 + bits(word, 21, 1)) as usize];
        return named(mnemonic, shifted_register(word, wide, amount));
    }
    // add/adds/sub/subs (shifted register).
    if word & 0x1f20_0000 == 0x0b00_0000 {
        let amount = bits(word, 10, 6);
        if bits(word, 22, 2) == 3 || (!wide && amount >= 32) {
            return None;
        }
        let mnemonic = ["add", "adds", "sub", "subs"][bits(word, 29, 2) as usize];
        return named(mnemonic, shifted_register(word, wide, amount));
    }
    // b / bl.
    if word & 0x7c00_0000 == 0x1400_0000 {
        return named(if wide { "bl" } else { "b" }, vec![imm(signed(bits(word, 0, 26), 26))]);
    }
    // cbz / cbnz.
    if word & 0x7e00_0000 == 0x3400_0000 {
        let mnemonic = if bits(word, 24, 1) == 0 { "cbz" } else { "cbnz" };
        return named(mnemonic, vec![gpr(rd, wide, false), imm(signed(bits(word, 5, 19), 19))]);
    }
    // tbz / tbnz: bit number b5:b40, and a `w` register below bit 32.
    if word & 0x7e00_0000 == 0x3600_0000 {
        let mnemonic = if bits(word, 24, 1) == 0 { "tbz" } else { "tbnz" };
        let bit = (bits(word, 31, 1) << 5) | bits(word, 19, 5);
        return named(mnemonic, vec![gpr(rd, wide, false), imm(bit), imm(signed(bits(word, 5, 14), 14))]);
    }
    // b.cond.
    if word & 0xff00_0010 == 0x5400_0000 {
        let condition = bits(word, 0, 4);
        let mnemonic = format!("b.{}", CONDITIONS[condition as usize]);
        return Some((mnemonic, vec![imm(condition), imm(signed(bits(word, 5, 19), 19))]));
    }
    // br / blr / ret.
    match word & 0xffff_fc1f {
        0xd61f_0000 => return named("br", vec![x(rn)]),
        0xd63f_0000 => return named("blr", vec![x(rn)]),
        0xd65f_0000 => return named("ret", vec![x(rn)]),
        _ => {}
    }
    if word == 0xd503_201f {
        return named("nop", vec![imm(0)]);
    }
    // brk #imm16.
    if word & 0xffe0_001f == 0xd420_0000 {
        return named("brk", vec![imm(bits(word, 5, 16))]);
    }
    // mrs Rt, system register.
    if word & 0xfff0_0000 == 0xd530_0000 {
        return named("mrs", vec![x(rd), imm(bits(word, 5, 16))]);
    }
    // Loads and stores.
    let vector = bits(word, 26, 1) == 1;
    // ldr (literal), ldrsw (literal), prfm (literal).
    if word & 0x3b00_0000 == 0x1800_0000 {
        let transfer = match (vector, bits(word, 30, 2)) {
            (false, 0) => Transfer::W,
            (false, 1) => Transfer::X,
            (false, 2) => Transfer::X,
            (false, _) => Transfer::Prefetch,
            (true, 0) => Transfer::Vector(4),
            (true, 1) => Transfer::Vector(8),
            (true, 2) => Transfer::Vector(16),
            (true, _) => return None,
        };
        let mnemonic = match (vector, bits(word, 30, 2)) {
            (false, 2) => "ldrsw",
            (false, 3) => "prfm",
            _ => "ldr",
        };
        return named(mnemonic, vec![transfer.operand(rd), imm(signed(bits(word, 5, 19), 19))]);
    }
    // Unsigned offset: the scaled imm12.
    if word & 0x3b00_0000 == 0x3900_0000 {
        let (mnemonic, transfer) = load_store(bits(word, 30, 2), vector, bits(word, 22, 2))?;
        return named(mnemonic, vec![transfer.operand(rd), base(rn), imm(bits(word, 10, 12))]);
    }
    // Unscaled (ldur/stur), post-indexed and pre-indexed: the byte simm9.
    if word & 0x3b20_0000 == 0x3800_0000 {
        let (stem, transfer) = load_store(bits(word, 30, 2), vector, bits(word, 22, 2))?;
        let offset = imm(signed(bits(word, 12, 9), 9));
        return match (bits(word, 10, 2), stem) {
            (0, "prfm") => named("prfum", vec![transfer.operand(rd), base(rn), offset]),
            (0, _) => {
                // ldr → ldur, strb → sturb, ldrsw → ldursw.
                let mnemonic = format!("{}u{}", &stem[..2], &stem[2..]);
                Some((mnemonic, vec![transfer.operand(rd), base(rn), offset]))
            }
            (_, "prfm") | (2, _) => None,
            (_, _) => named(stem, vec![base(rn), transfer.operand(rd), base(rn), offset]),
        };
    }
    // ldp/stp (and ldnp/stnp, ldpsw): the scaled imm7.
    if word & 0x3a00_0000 == 0x2800_0000 {
        let load = bits(word, 22, 1) == 1;
        let (stem, transfer) = match (vector, bits(word, 30, 2)) {
            (false, 0) => ("p", Transfer::W),
            (false, 1) if load => ("psw", Transfer::X),
            (false, 2) => ("p", Transfer::X),
            (true, size @ 0..=2) => ("p", Transfer::Vector(4 << size)),
            _ => return None,
        };
        let indexing = bits(word, 23, 2);
        if stem == "psw" && indexing == 0 {
            return None;
        }
        let mnemonic = format!("{}{}{}", if load { "ld" } else { "st" }, if indexing == 0 { "n" } else { "" }, stem);
        let (rt, rt2) = (transfer.operand(rd), transfer.operand(bits(word, 10, 5)));
        let offset = imm(signed(bits(word, 15, 7), 7));
        let operands = match indexing {
            0 | 2 => vec![rt, rt2, base(rn), offset],
            _ => vec![base(rn), rt, rt2, base(rn), offset],
        };
        return Some((mnemonic, operands));
    }
    None
}

/// `Rd, Rn, Rm, shift` of a shifted-register instruction: the shift as LLVM encodes it,
/// its type (lsl, lsr, asr, ror) above its amount.
fn shifted_register(word: u32, wide: bool, amount: u32) -> Vec<Operand> {
    let shift = (bits(word, 22, 2) << 6) | amount;
    vec![
        gpr(bits(word, 0, 5), wide, false),
        gpr(bits(word, 5, 5), wide, false),
        gpr(bits(word, 16, 5), wide, false),
        imm(shift),
    ]
}

/// The instruction for a message: its word, mnemonic and numbered operands.
fn describe(mnemonic: &str, operands: &[Operand], word: u32) -> String {
    let listed: Vec<String> = operands
        .iter()
        .enumerate()
        .map(|(i, op)| match op {
            Operand::Register(name) => format!("{i}: reg {name}"),
            Operand::Immediate(value) => format!("{i}: imm {value}"),
        })
        .collect();
    format!("{mnemonic} ({word:#010x}) with operands [{}]", listed.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operands(word: u32) -> Vec<Operand> {
        let decoded = AArch64Decoder.decode(&word.to_le_bytes(), 0x1000).expect("decodes");
        assert_eq!(decoded.length, 4);
        decoded.operands
    }

    fn reg(name: &str) -> Operand {
        Operand::Register(name.into())
    }

    // The words below are llvm-mc-19's encodings; the operands are what llvm-jitlink-19's
    // `decode_operand` gave for them.

    #[test]
    fn page_and_address_deltas_are_signed() {
        // adrp x0, .-0x1000 ; adr x2, .-0x1014
        assert_eq!(operands(0xf0ff_ffe0), [reg("x0"), imm(-1)]);
        assert_eq!(operands(0x10ff_7f62), [reg("x2"), imm(-0x1014)]);
        // adrp x16, .+3 pages
        assert_eq!(operands(0xf000_0010), [reg("x16"), imm(3)]);
    }

    #[test]
    fn add_immediate_has_its_shift_as_zero_or_twelve() {
        // add x0, x0, #0x234 ; add x0, x0, #1, lsl #12 ; cmp x0, #4 ; mov x29, sp
        assert_eq!(operands(0x9108_d000), [reg("x0"), reg("x0"), imm(0x234), imm(0)]);
        assert_eq!(operands(0x9140_0400), [reg("x0"), reg("x0"), imm(1), imm(12)]);
        assert_eq!(operands(0xf100_101f), [reg("xzr"), reg("x0"), imm(4), imm(0)]);
        assert_eq!(operands(0x9100_03fd), [reg("x29"), reg("sp"), imm(0), imm(0)]);
    }

    #[test]
    fn movk_lists_its_register_twice() {
        // movk x0, #0x1234, lsl #16 ; movz w0, #3, lsl #16 ; movn x0, #5, lsl #16
        assert_eq!(operands(0xf2a2_4680), [reg("x0"), reg("x0"), imm(0x1234), imm(16)]);
        assert_eq!(operands(0x52a0_0060), [reg("w0"), imm(3), imm(16)]);
        assert_eq!(operands(0x92a0_00a0), [reg("x0"), imm(5), imm(16)]);
        // movz w0 with lsl #32 does not exist
        assert!(AArch64Decoder.decode(&0x52c0_0000u32.to_le_bytes(), 0).is_err());
    }

    #[test]
    fn branches_count_words() {
        // bl .-0x38 ; b .+0x1000 ; b.ne .-0x20 ; cbz x0, .+0x80000 ; tbnz w3, #3, .-0x40 ;
        // tbz x3, #33, .-0x14
        assert_eq!(operands(0x97ff_fff2), [imm(-14)]);
        assert_eq!(operands(0x1400_0400), [imm(0x400)]);
        assert_eq!(operands(0x54ff_ff01), [imm(1), imm(-8)]);
        assert_eq!(operands(0xb440_0000), [reg("x0"), imm(0x20000)]);
        assert_eq!(operands(0x371f_fe03), [reg("w3"), imm(3), imm(-16)]);
        assert_eq!(operands(0xb60f_ff63), [reg("x3"), imm(33), imm(-5)]);
        // br x16 ; blr x1 ; ret
        assert_eq!(operands(0xd61f_0200), [reg("x16")]);
        assert_eq!(operands(0xd63f_0020), [reg("x1")]);
        assert_eq!(operands(0xd65f_03c0), [reg("x30")]);
    }

    #[test]
    fn loads_and_stores_have_scaled_offsets() {
        // ldr x16, [x16, #0x18] ; ldr q0, [x0, #0x20] ; strb w0, [x1, #5] ; ldrsw x0, [x1, #8]
        assert_eq!(operands(0xf940_0e10), [reg("x16"), reg("x16"), imm(3)]);
        assert_eq!(operands(0x3dc0_0800), [reg("q0"), reg("x0"), imm(2)]);
        assert_eq!(operands(0x3900_1420), [reg("w0"), reg("x1"), imm(5)]);
        assert_eq!(operands(0xb980_0820), [reg("x0"), reg("x1"), imm(2)]);
        // prfm pldl1keep, [x0, #8]
        assert_eq!(operands(0xf980_0400), [imm(0), reg("x0"), imm(1)]);
        // ldr x2, .-0x408 (literal, in words) ; ldr q1, .-0x48
        assert_eq!(operands(0x58ff_dfc2), [reg("x2"), imm(-0x102)]);
        assert_eq!(operands(0x9cff_fdc1), [reg("q1"), imm(-18)]);
    }

    #[test]
    fn written_back_bases_come_first() {
        // stp x29, x30, [sp, #-16]! ; ldp x29, x30, [sp], #16 ; ldp x1, x2, [x3, #-8]
        assert_eq!(operands(0xa9bf_7bfd), [reg("sp"), reg("x29"), reg("x30"), reg("sp"), imm(-2)]);
        assert_eq!(operands(0xa8c1_7bfd), [reg("sp"), reg("x29"), reg("x30"), reg("sp"), imm(2)]);
        assert_eq!(operands(0xa97f_8861), [reg("x1"), reg("x2"), reg("x3"), imm(-1)]);
        // ldur x1, [x3, #-8] ; str x30, [sp, #-16]! ; ldr w1, [x3], #4
        assert_eq!(operands(0xf85f_8061), [reg("x1"), reg("x3"), imm(-8)]);
        assert_eq!(operands(0xf81f_0ffe), [reg("sp"), reg("x30"), reg("sp"), imm(-16)]);
        assert_eq!(operands(0xb840_4461), [reg("x3"), reg("w1"), reg("x3"), imm(4)]);
    }

    #[test]
    fn shifted_registers_and_system_instructions() {
        // add x0, x1, x2, lsl #3 ; sub w0, w1, w2, asr #7 ; mov x0, x1 ; orr x0, x1, x2, ror #5
        assert_eq!(operands(0x8b02_0c20), [reg("x0"), reg("x1"), reg("x2"), imm(3)]);
        assert_eq!(operands(0x4b82_1c20), [reg("w0"), reg("w1"), reg("w2"), imm(0x87)]);
        assert_eq!(operands(0xaa01_03e0), [reg("x0"), reg("xzr"), reg("x1"), imm(0)]);
        assert_eq!(operands(0xaac2_1420), [reg("x0"), reg("x1"), reg("x2"), imm(0xc5)]);
        // mrs x16, tpidr_el0 ; nop ; brk #3
        assert_eq!(operands(0xd53b_d050), [reg("x16"), imm(0xde82)]);
        assert_eq!(operands(0xd503_201f), [imm(0)]);
        assert_eq!(operands(0xd420_0060), [imm(3)]);
    }

    #[test]
    fn unknown_words_and_short_reads_are_errors() {
        // udf #0, and an SVE instruction
        let Err(message) = AArch64Decoder.decode(&[0, 0, 0, 0], 0) else { panic!("udf decoded") };
        assert!(message.contains("0x00000000"), "{message}");
        assert!(AArch64Decoder.decode(&0x0420_0000u32.to_le_bytes(), 0).is_err());
        assert!(AArch64Decoder.decode(&[0x1f, 0x20, 0x03], 0).is_err());
    }
}
