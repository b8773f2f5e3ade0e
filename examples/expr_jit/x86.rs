//! Straight from the AST to x86-64 machine code, and from the code to a relocatable object.
//!
//! The code is a stack machine over `rax`: every expression leaves its value in `rax`; a
//! binary operation saves the left value with `push rax`, computes the right one, moves it to
//! `rcx` and pops the left one back. The frame is `push rbp; mov rbp, rsp`, then the
//! parameters pushed from their registers (SysV: `rdi, rsi, rdx, rcx, r8, r9`), so parameter
//! `i` lives at `[rbp - 8(i+1)]`. The compiler counts the 8-byte slots below `rbp` at every
//! point; a call made with an odd count first moves `rsp` down 8 more, so that `rsp` is a
//! multiple of 16 at every `call`, as the ABI requires.
//!
//! A call to another function is `call rel32` with a zero displacement and a relocation
//! (`R_X86_64_PLT32`, addend -4) against an *undefined* symbol of the callee's name: the
//! linker asks the session for the address, which is the callee's lazy stub.

use super::elfgen;
use super::lang::{BinOp, Cmp, Expr, Function};

/// A compiled function: its bytes, and the calls to fix up (offset of the rel32 field, callee).
pub struct MachineCode {
    pub bytes: Vec<u8>,
    pub calls: Vec<(u32, String)>,
}

/// `push reg` and `pop reg` for the argument registers, in argument order.
const PUSH_ARG: [&[u8]; 6] = [&[0x57], &[0x56], &[0x52], &[0x51], &[0x41, 0x50], &[0x41, 0x51]];
const POP_ARG: [&[u8]; 6] = [&[0x5f], &[0x5e], &[0x5a], &[0x59], &[0x41, 0x58], &[0x41, 0x59]];

const PUSH_RAX: u8 = 0x50;
const POP_RAX: u8 = 0x58;
const MOV_RCX_RAX: [u8; 3] = [0x48, 0x89, 0xc1];

/// Second opcode byte of `jcc rel32` (`0f 8x`).
const JE: u8 = 0x84;
const JNE: u8 = 0x85;
const JL: u8 = 0x8c;
const JGE: u8 = 0x8d;
const JLE: u8 = 0x8e;
const JG: u8 = 0x8f;

struct Label(usize);

struct Assembler {
    code: Vec<u8>,
    calls: Vec<(u32, String)>,
    /// 8-byte slots between `rbp` and `rsp`.
    depth: usize,
    /// Where each label is bound, once it is.
    labels: Vec<Option<usize>>,
    /// rel32 fields to patch: (field offset, label).
    jumps: Vec<(usize, usize)>,
}

impl Assembler {
    fn emit(&mut self, bytes: &[u8]) {
        self.code.extend_from_slice(bytes);
    }

    fn push_rax(&mut self) {
        self.emit(&[PUSH_RAX]);
        self.depth += 1;
    }

    fn pop_rax(&mut self) {
        self.emit(&[POP_RAX]);
        self.depth -= 1;
    }

    fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    fn bind(&mut self, label: &Label) {
        self.labels[label.0] = Some(self.code.len());
    }

    fn rel32_to(&mut self, label: &Label) {
        self.jumps.push((self.code.len(), label.0));
        self.emit(&[0; 4]);
    }

    fn jmp(&mut self, label: &Label) {
        self.emit(&[0xe9]);
        self.rel32_to(label);
    }

    fn jcc(&mut self, condition: u8, label: &Label) {
        self.emit(&[0x0f, condition]);
        self.rel32_to(label);
    }

    fn finish(mut self) -> MachineCode {
        for &(field, label) in &self.jumps {
            let target = self.labels[label].expect("every label is bound");
            let rel = target as i64 - (field as i64 + 4);
            self.code[field..field + 4].copy_from_slice(&(rel as i32).to_le_bytes());
        }
        MachineCode { bytes: self.code, calls: self.calls }
    }

    /// Evaluates `lhs` and `rhs`: lhs in `rax`, rhs in `rcx`.
    fn operands(&mut self, lhs: &Expr, rhs: &Expr) {
        self.expr(lhs);
        self.push_rax();
        self.expr(rhs);
        self.emit(&MOV_RCX_RAX);
        self.pop_rax();
    }

    fn expr(&mut self, e: &Expr) {
        match e {
            Expr::Int(v) => match i32::try_from(*v) {
                Ok(small) => {
                    self.emit(&[0x48, 0xc7, 0xc0]); // mov $imm32, %rax (sign-extended)
                    self.emit(&small.to_le_bytes());
                }
                Err(_) => {
                    self.emit(&[0x48, 0xb8]); // movabs $imm64, %rax
                    self.emit(&v.to_le_bytes());
                }
            },
            Expr::Param(i) => {
                let disp = -8 * (*i as i8 + 1);
                self.emit(&[0x48, 0x8b, 0x45, disp as u8]); // mov disp8(%rbp), %rax
            }
            Expr::Neg(inner) => {
                self.expr(inner);
                self.emit(&[0x48, 0xf7, 0xd8]); // neg %rax
            }
            Expr::Binary(op, lhs, rhs) => {
                self.operands(lhs, rhs);
                match op {
                    BinOp::Add => self.emit(&[0x48, 0x01, 0xc8]),       // add %rcx, %rax
                    BinOp::Sub => self.emit(&[0x48, 0x29, 0xc8]),       // sub %rcx, %rax
                    BinOp::Mul => self.emit(&[0x48, 0x0f, 0xaf, 0xc1]), // imul %rcx, %rax
                    BinOp::Div => self.divide(),
                }
            }
            Expr::Call(callee, args) => self.call(callee, args),
            Expr::If { cmp, lhs, rhs, then, otherwise } => {
                let (else_label, end) = (self.label(), self.label());
                self.operands(lhs, rhs);
                self.emit(&[0x48, 0x39, 0xc8]); // cmp %rcx, %rax
                                                // Jump to `else` when the comparison does not hold.
                let unless = match cmp {
                    Cmp::Lt => JGE,
                    Cmp::Le => JG,
                    Cmp::Gt => JLE,
                    Cmp::Ge => JL,
                    Cmp::Eq => JNE,
                    Cmp::Ne => JE,
                };
                self.jcc(unless, &else_label);
                self.expr(then);
                self.jmp(&end);
                self.bind(&else_label);
                self.expr(otherwise);
                self.bind(&end);
            }
        }
    }

    /// `rax / rcx` without traps: 0 for a zero divisor, negation for -1 (so that
    /// `i64::MIN / -1` wraps instead of raising #DE).
    fn divide(&mut self) {
        let (zero, negate, end) = (self.label(), self.label(), self.label());
        self.emit(&[0x48, 0x85, 0xc9]); // test %rcx, %rcx
        self.jcc(JE, &zero);
        self.emit(&[0x48, 0x83, 0xf9, 0xff]); // cmp $-1, %rcx
        self.jcc(JE, &negate);
        self.emit(&[0x48, 0x99, 0x48, 0xf7, 0xf9]); // cqo; idiv %rcx
        self.jmp(&end);
        self.bind(&zero);
        self.emit(&[0x31, 0xc0]); // xor %eax, %eax
        self.jmp(&end);
        self.bind(&negate);
        self.emit(&[0x48, 0xf7, 0xd8]); // neg %rax
        self.bind(&end);
    }

    fn call(&mut self, callee: &str, args: &[Expr]) {
        // Arguments are evaluated left to right onto the stack (a later argument may call
        // something that clobbers the argument registers), then popped into place.
        for arg in args {
            self.expr(arg);
            self.push_rax();
        }
        for pop in POP_ARG[..args.len()].iter().rev() {
            self.emit(pop);
        }
        self.depth -= args.len();
        let pad = self.depth % 2 == 1;
        if pad {
            self.emit(&[0x48, 0x83, 0xec, 0x08]); // sub $8, %rsp
        }
        self.emit(&[0xe8]); // call rel32
        self.calls.push((self.code.len() as u32, callee.to_string()));
        self.emit(&[0; 4]);
        if pad {
            self.emit(&[0x48, 0x83, 0xc4, 0x08]); // add $8, %rsp
        }
    }
}

pub fn compile(function: &Function) -> MachineCode {
    let mut asm = Assembler { code: Vec::new(), calls: Vec::new(), depth: 0, labels: Vec::new(), jumps: Vec::new() };
    asm.emit(&[0x55, 0x48, 0x89, 0xe5]); // push %rbp; mov %rsp, %rbp
    for push in &PUSH_ARG[..function.params.len()] {
        asm.emit(push);
        asm.depth += 1;
    }
    asm.expr(&function.body);
    asm.emit(&[0xc9, 0xc3]); // leave; ret
    asm.finish()
}

/// A relocatable ELF object with one text section that defines `function.name` (global,
/// a function) and refers to each callee by name (`R_X86_64_PLT32`, as `cc` writes calls).
/// Objects, not graphs, are what a compiler hands to a cache and to the object layer.
pub fn object(function: &Function, code: MachineCode) -> Vec<u8> {
    let mut object = elfgen::Object::default();
    let size = code.bytes.len() as u64;
    let text = object.section(".text.expr", elfgen::SHF_ALLOC | elfgen::SHF_EXECINSTR, 16, code.bytes);
    object.define(&function.name, elfgen::STT_FUNC, text, 0, size);
    let mut callees: Vec<(String, usize)> = Vec::new();
    for (offset, callee) in code.calls {
        let symbol = match callees.iter().find(|(name, _)| *name == callee) {
            Some(&(_, symbol)) => symbol,
            None => {
                let symbol = object.undefined(&callee);
                callees.push((callee, symbol));
                symbol
            }
        };
        object.reloc(text, u64::from(offset), elfgen::R_X86_64_PLT32, symbol, -4);
    }
    object.write()
}
