//! x86-64 instructions for `decode_operand` and `next_pc`, decoded by iced-x86 and numbered
//! as LLVM's MC layer numbers them, because check files written for llvm-jitlink count
//! operands that way:
//! - operands in Intel order, destination first;
//! - a memory operand is five: base, scale, index, displacement, segment;
//! - a register destination that is also a source (`add`, `xor`, SSE `addsd`, `cmov`…) is
//!   listed twice;
//! - registers the opcode implies (`add $imm, %rax` as `05 id`, a shift's `%cl`) and the
//!   constant 1 of `shl %rax` are not operands; a `moffs` is two (address, segment);
//! - a branch target is its displacement; `jcc`, `setcc` and `cmovcc` end with their
//!   condition code;
//! - immediates are sign-extended from 8 bits in arithmetic, from 32 bits in 64-bit
//!   instructions, and kept as they are when they fill a 16- or 32-bit operand.

use super::eval::{Decoded, InstructionDecoder, Operand};
use iced_x86::{
    ConditionCode, Decoder, DecoderOptions, Instruction, InstructionInfoFactory, Mnemonic, OpAccess, OpCodeOperandKind,
    OpKind, Register,
};

/// No x86 instruction is longer.
const MAX_INSTRUCTION_LENGTH: usize = 15;

#[derive(Default)]
pub struct X86_64Decoder;

impl InstructionDecoder for X86_64Decoder {
    fn decode(&self, bytes: &[u8], address: u64) -> Result<Decoded, String> {
        let window = bytes.get(..bytes.len().min(MAX_INSTRUCTION_LENGTH)).unwrap_or(bytes);
        let mut decoder = Decoder::with_ip(64, window, address, DecoderOptions::NONE);
        let instruction = decoder.decode();
        if instruction.is_invalid() {
            return Err(format!("{:?} in bytes {window:02x?}", decoder.last_error()));
        }
        let operands = self.operands(&instruction);
        let text = describe(&instruction, &operands);
        Ok(Decoded { length: instruction.len() as u64, operands, text })
    }
}

impl X86_64Decoder {
    fn operands(&self, instruction: &Instruction) -> Vec<Operand> {
        let mut operands = Vec::new();
        let tied = self.destination_is_source(instruction);
        for i in 0..instruction.op_count() {
            let implied = matches!(
                instruction.op_code().op_kind(i),
                OpCodeOperandKind::es
                    | OpCodeOperandKind::cs
                    | OpCodeOperandKind::ss
                    | OpCodeOperandKind::ds
                    | OpCodeOperandKind::fs
                    | OpCodeOperandKind::gs
                    | OpCodeOperandKind::al
                    | OpCodeOperandKind::cl
                    | OpCodeOperandKind::ax
                    | OpCodeOperandKind::dx
                    | OpCodeOperandKind::eax
                    | OpCodeOperandKind::rax
                    | OpCodeOperandKind::st0
                    | OpCodeOperandKind::imm8_const_1
            );
            if implied {
                continue;
            }
            match instruction.op_kind(i) {
                OpKind::Register => {
                    let register = Operand::Register(register_name(instruction.op_register(i)));
                    if i == 0 && tied {
                        operands.push(register.clone());
                    }
                    operands.push(register);
                }
                OpKind::Memory if instruction.op_code().op_kind(i) == OpCodeOperandKind::mem_offs => {
                    operands.push(Operand::Immediate(instruction.memory_displacement64() as i64));
                    operands.push(Operand::Register(register_name(instruction.segment_prefix())));
                }
                OpKind::Memory => memory_operands(instruction, &mut operands),
                OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64 => {
                    let displacement = instruction.near_branch_target().wrapping_sub(instruction.next_ip());
                    operands.push(Operand::Immediate(displacement as i64));
                }
                OpKind::FarBranch16 | OpKind::FarBranch32 => {
                    operands.push(Operand::Immediate(i64::from(instruction.far_branch32())));
                    operands.push(Operand::Immediate(i64::from(instruction.far_branch_selector())));
                }
                kind @ (OpKind::Immediate8
                | OpKind::Immediate8_2nd
                | OpKind::Immediate16
                | OpKind::Immediate32
                | OpKind::Immediate64
                | OpKind::Immediate8to16
                | OpKind::Immediate8to32
                | OpKind::Immediate8to64
                | OpKind::Immediate32to64) => operands.push(Operand::Immediate(immediate(instruction, i, kind))),
                // String instructions' implied `(%rsi)` / `(%rdi)`: LLVM lists the index
                // register (and the segment of a source).
                OpKind::MemorySegSI
                | OpKind::MemorySegESI
                | OpKind::MemorySegRSI
                | OpKind::MemorySegDI
                | OpKind::MemorySegEDI
                | OpKind::MemorySegRDI => {
                    operands.push(Operand::Register(register_name(string_index(instruction.op_kind(i)))));
                    operands.push(Operand::Register(register_name(instruction.segment_prefix())));
                }
                OpKind::MemoryESDI | OpKind::MemoryESEDI | OpKind::MemoryESRDI => {
                    operands.push(Operand::Register(register_name(string_index(instruction.op_kind(i)))));
                }
            }
        }
        if instruction.condition_code() != ConditionCode::None && has_condition_operand(instruction.mnemonic()) {
            operands.push(Operand::Immediate(instruction.condition_code() as i64 - 1));
        }
        operands
    }

    /// Whether LLVM ties the first (register) operand to a source: two-address instructions,
    /// which iced shows as a destination that is read and written.
    fn destination_is_source(&self, instruction: &Instruction) -> bool {
        if instruction.op_count() < 2 || instruction.op0_kind() != OpKind::Register {
            return false;
        }
        // `xor %eax, %eax` is a zeroing idiom to iced (written, not read); to LLVM it is
        // still two-address.
        if matches!(
            instruction.mnemonic(),
            Mnemonic::Xor
                | Mnemonic::Sub
                | Mnemonic::Sbb
                | Mnemonic::Pxor
                | Mnemonic::Xorps
                | Mnemonic::Xorpd
                | Mnemonic::Psubb
                | Mnemonic::Psubw
                | Mnemonic::Psubd
                | Mnemonic::Psubq
                | Mnemonic::Pcmpeqb
                | Mnemonic::Pcmpeqw
                | Mnemonic::Pcmpeqd
                | Mnemonic::Pcmpeqq
                | Mnemonic::Pcmpgtb
                | Mnemonic::Pcmpgtw
                | Mnemonic::Pcmpgtd
                | Mnemonic::Pcmpgtq
        ) && !is_vex_or_evex(instruction)
        {
            return true;
        }
        let access = InstructionInfoFactory::new().info(instruction).op0_access();
        matches!(access, OpAccess::ReadWrite | OpAccess::ReadCondWrite | OpAccess::CondWrite)
    }
}

fn is_vex_or_evex(instruction: &Instruction) -> bool {
    !matches!(instruction.encoding(), iced_x86::EncodingKind::Legacy | iced_x86::EncodingKind::D3NOW)
}

/// `jcc`, `setcc` and `cmovcc` carry their condition as an operand in LLVM.
fn has_condition_operand(mnemonic: Mnemonic) -> bool {
    let name = format!("{mnemonic:?}");
    ["J", "Set", "Cmov"].iter().any(|p| name.starts_with(p)) && !matches!(mnemonic, Mnemonic::Jmp | Mnemonic::Jmpe)
}

fn string_index(kind: OpKind) -> Register {
    match kind {
        OpKind::MemorySegSI => Register::SI,
        OpKind::MemorySegESI => Register::ESI,
        OpKind::MemorySegRSI => Register::RSI,
        OpKind::MemorySegDI | OpKind::MemoryESDI => Register::DI,
        OpKind::MemorySegEDI | OpKind::MemoryESEDI => Register::EDI,
        _ => Register::RDI,
    }
}

/// Base, scale, index, displacement, segment. A RIP-relative displacement is the encoded
/// one (iced gives the target address).
fn memory_operands(instruction: &Instruction, operands: &mut Vec<Operand>) {
    let displacement = if instruction.is_ip_rel_memory_operand() {
        let raw = instruction.memory_displacement64().wrapping_sub(instruction.next_ip());
        i64::from(raw as i32)
    } else if instruction.memory_displ_size() == 8 {
        instruction.memory_displacement64() as i64
    } else {
        i64::from(instruction.memory_displacement64() as i32)
    };
    let scale = if instruction.memory_index() == Register::None && instruction.memory_base() == Register::None {
        1
    } else {
        instruction.memory_index_scale()
    };
    operands.push(Operand::Register(register_name(instruction.memory_base())));
    operands.push(Operand::Immediate(i64::from(scale)));
    operands.push(Operand::Register(register_name(instruction.memory_index())));
    operands.push(Operand::Immediate(displacement));
    operands.push(Operand::Register(register_name(instruction.segment_prefix())));
}

/// An immediate as LLVM's disassembler widens it to 64 bits.
fn immediate(instruction: &Instruction, i: u32, kind: OpKind) -> i64 {
    let raw = instruction.immediate(i);
    match kind {
        OpKind::Immediate8to16 | OpKind::Immediate8to32 | OpKind::Immediate8to64 => i64::from(raw as u8 as i8),
        OpKind::Immediate32to64 => i64::from(raw as u32 as i32),
        // A byte operand's immediate (`movb $-1`) and `enter`'s are signed; a count or
        // selector (`shl $3`, `shufps $0xff`) is not.
        OpKind::Immediate8 if is_byte_sized(instruction) || instruction.mnemonic() == Mnemonic::Enter => {
            i64::from(raw as u8 as i8)
        }
        OpKind::Immediate8_2nd => i64::from(raw as u8 as i8),
        OpKind::Immediate16 if instruction.mnemonic() == Mnemonic::Enter => i64::from(raw as u16 as i16),
        _ => raw as i64,
    }
}

/// Whether the instruction works on bytes (`movb`, `addb`, `cmpb`, `testb`).
fn is_byte_sized(instruction: &Instruction) -> bool {
    if instruction.op0_kind() == OpKind::Register {
        return instruction.op0_register().is_gpr8();
    }
    instruction.memory_size().size() == 1
}

fn register_name(register: Register) -> String {
    match register {
        Register::None => "none".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn describe(instruction: &Instruction, operands: &[Operand]) -> String {
    let listed: Vec<String> = operands
        .iter()
        .enumerate()
        .map(|(i, op)| match op {
            Operand::Register(name) => format!("{i}: reg {name}"),
            Operand::Immediate(value) => format!("{i}: imm {value}"),
        })
        .collect();
    format!("{:?} ({:?}) with operands [{}]", instruction.mnemonic(), instruction.code(), listed.join(", "))
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operands(bytes: &[u8]) -> (u64, Vec<Operand>) {
        let decoded = X86_64Decoder.decode(bytes, 0x1000).expect("decodes");
        (decoded.length, decoded.operands)
    }

    fn imm(v: i64) -> Operand {
        Operand::Immediate(v)
    }

    fn reg(name: &str) -> Operand {
        Operand::Register(name.into())
    }

    #[test]
    fn rip_relative_lea_has_its_displacement_fifth() {
        // leaq -15(%rip), %rax
        let (len, ops) = operands(&[0x48, 0x8d, 0x05, 0xf1, 0xff, 0xff, 0xff]);
        assert_eq!(len, 7);
        assert_eq!(ops, [reg("rax"), reg("rip"), imm(1), reg("none"), imm(-15), reg("none")]);
    }

    #[test]
    fn call_has_its_displacement_first() {
        let (len, ops) = operands(&[0xe8, 0x10, 0, 0, 0]);
        assert_eq!((len, ops), (5, vec![imm(0x10)]));
        // addr32 call, as GOTPCRELX relaxation writes it
        let (len, ops) = operands(&[0x67, 0xe8, 0xf0, 0xff, 0xff, 0xff]);
        assert_eq!((len, ops), (6, vec![imm(-16)]));
    }

    #[test]
    fn two_address_and_implied_registers() {
        // addq 0x10(%rip), %rax: destination listed twice
        let (_, ops) = operands(&[0x48, 0x03, 0x05, 0x10, 0, 0, 0]);
        assert_eq!(ops.len(), 7);
        assert_eq!(ops[5], imm(0x10));
        // addq $0x1000, %rax as `48 05 id`: the accumulator is implied
        assert_eq!(operands(&[0x48, 0x05, 0, 0x10, 0, 0]).1, [imm(0x1000)]);
        // shlq %rax: no operand for the 1
        assert_eq!(operands(&[0x48, 0xd1, 0xe0]).1, [reg("rax"), reg("rax")]);
        // xorl %eax, %eax
        assert_eq!(operands(&[0x31, 0xc0]).1, [reg("eax"), reg("eax"), reg("eax")]);
    }

    #[test]
    fn stores_put_immediates_after_memory() {
        // movl $0x12345678, 0x10(%rip)
        let (len, ops) = operands(&[0xc7, 0x05, 0x10, 0, 0, 0, 0x78, 0x56, 0x34, 0x12]);
        assert_eq!(len, 10);
        assert_eq!(ops[3], imm(0x10));
        assert_eq!(ops[5], imm(0x12345678));
    }

    #[test]
    fn immediates_widen_as_llvm_does() {
        // movl $-1, %eax: kept as 0xffffffff
        assert_eq!(operands(&[0xb8, 0xff, 0xff, 0xff, 0xff]).1[1], imm(0xffff_ffff));
        // movq $-1, %rax (imm32 sign-extended)
        assert_eq!(operands(&[0x48, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff]).1[1], imm(-1));
        // movb $-1, %al
        assert_eq!(operands(&[0xb0, 0xff]).1[1], imm(-1));
        // shufps $0xff, %xmm1, %xmm0
        assert_eq!(operands(&[0x0f, 0xc6, 0xc1, 0xff]).1[3], imm(0xff));
    }

    #[test]
    fn conditions_and_moffs() {
        // je +0x10 (rel32)
        assert_eq!(operands(&[0x0f, 0x84, 0x10, 0, 0, 0]).1, [imm(0x10), imm(4)]);
        // movabsq 0x1122334455667788, %rax
        let ops = operands(&[0x48, 0xa1, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]).1;
        assert_eq!(ops, [imm(0x1122334455667788), reg("none")]);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(X86_64Decoder.decode(&[0x0f], 0).is_err());
        assert!(X86_64Decoder.decode(&[], 0).is_err());
    }
}
