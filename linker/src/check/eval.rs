//! Evaluating rules against a linked program.
//!
//! The evaluator names no file format: it asks a `LinkedImage` for addresses and bytes, and
//! an `InstructionDecoder` for instruction lengths and operands. Addresses are target
//! addresses everywhere, so llvm-jitlink's load-context rule (inside `*{N}`, symbols name
//! the linker's copy of the bytes) holds by construction: a load reads the linked bytes at
//! the target address it is given.

use super::parse::{Expr, Rule};

/// What the checker needs to know about a linked program.
pub trait LinkedImage {
    /// The address of a defined or absolute symbol, by name.
    fn symbol_address(&self, name: &str) -> Option<u64>;
    /// The start of `section` of the file whose base name is `file`.
    fn section_address(&self, file: &str, section: &str) -> Result<u64, String>;
    /// The GOT entry `file`'s graph made for `symbol`.
    fn got_entry(&self, file: &str, symbol: &str) -> Result<u64, String>;
    /// The stub `file`'s graph made for `symbol`; `kind` selects one of several.
    fn stub(&self, file: &str, symbol: &str, kind: Option<&str>) -> Result<u64, String>;
    /// The linked bytes from `address` to the end of the memory holding it.
    fn bytes_from(&self, address: u64) -> Option<&[u8]>;
}

/// One operand of a decoded instruction, numbered as LLVM's MC layer numbers them.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Operand {
    Register(String),
    Immediate(i64),
}

pub struct Decoded {
    pub length: u64,
    pub operands: Vec<Operand>,
    /// How to show the instruction in a message.
    pub text: String,
}

pub trait InstructionDecoder {
    fn decode(&self, bytes: &[u8], address: u64) -> Result<Decoded, String>;
}

/// Why a rule did not hold.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Failure {
    /// Both sides evaluated, to different values.
    Unequal { lhs: u64, rhs: u64 },
    /// A side could not be evaluated; `at` is the offset of the culprit in the rule's text.
    Error { at: usize, message: String },
}

impl Failure {
    /// The line llvm-jitlink prints for this failure.
    pub fn describe(&self, rule: &Rule) -> String {
        match self {
            Failure::Unequal { lhs, rhs } => format!("Expression '{}' is false: {lhs:#x} != {rhs:#x}", rule.text),
            Failure::Error { message, .. } => format!("Error evaluating expression '{}': {message}", rule.text),
        }
    }
}

type Eval<T> = Result<T, Failure>;

pub struct Evaluator<'a> {
    pub image: &'a dyn LinkedImage,
    pub decoder: &'a dyn InstructionDecoder,
}

impl Evaluator<'_> {
    pub fn check(&self, rule: &Rule) -> Result<(), Failure> {
        let lhs = self.eval(&rule.lhs)?;
        let rhs = self.eval(&rule.rhs)?;
        if lhs == rhs {
            Ok(())
        } else {
            Err(Failure::Unequal { lhs, rhs })
        }
    }

    pub fn eval(&self, expr: &Expr) -> Eval<u64> {
        let fail = |at: usize, message: String| Failure::Error { at, message };
        match expr {
            Expr::Number(n) => Ok(*n),
            Expr::Symbol { name, at } => self.symbol(name).map_err(|m| fail(*at, m)),
            Expr::Binary(lhs, op, rhs) => Ok(op.apply(self.eval(lhs)?, self.eval(rhs)?)),
            Expr::Slice { value, high, low } => {
                let width = high - low + 1;
                let mask = if width >= 64 { u64::MAX } else { (1u64 << width) - 1 };
                Ok((self.eval(value)? >> low) & mask)
            }
            Expr::Load { size, address, at } => {
                let address = self.eval(address)?;
                self.load(address, *size).map_err(|m| fail(*at, m))
            }
            Expr::DecodeOperand { symbol, offset, operand, at } => {
                self.decode_operand(symbol, *offset, *operand).map_err(|m| fail(*at, m))
            }
            Expr::NextPc { symbol, at } => {
                let start = self.symbol(symbol).map_err(|m| fail(*at, m))?;
                let decoded = self.decode_at(symbol, start).map_err(|m| fail(*at, m))?;
                Ok(start.wrapping_add(decoded.length))
            }
            Expr::StubAddr { file, symbol, kind, at } => {
                self.image.stub(file, symbol, kind.as_deref()).map_err(|m| fail(*at, m))
            }
            Expr::GotAddr { file, symbol, at } => self.image.got_entry(file, symbol).map_err(|m| fail(*at, m)),
            Expr::SectionAddr { file, section, at } => {
                self.image.section_address(file, section).map_err(|m| fail(*at, m))
            }
        }
    }

    fn symbol(&self, name: &str) -> Result<u64, String> {
        self.image.symbol_address(name).ok_or_else(|| {
            let hint = if name.starts_with('L') {
                " (this looks like an assembler-local label; perhaps drop the 'L'?)"
            } else {
                ""
            };
            format!("No known address for symbol '{name}'{hint}")
        })
    }

    /// A little-endian read of linked memory. Address 0 reads as 0, as llvm-jitlink's does
    /// (it stands for the content of a zero-fill symbol there).
    fn load(&self, address: u64, size: u8) -> Result<u64, String> {
        if address == 0 {
            return Ok(0);
        }
        let bytes = self
            .image
            .bytes_from(address)
            .and_then(|b| b.get(..usize::from(size)))
            .ok_or_else(|| format!("cannot read {size} bytes at {address:#x}: not in linked memory"))?;
        Ok(bytes.iter().rev().fold(0, |value, &b| (value << 8) | u64::from(b)))
    }

    fn decode_at(&self, symbol: &str, address: u64) -> Result<Decoded, String> {
        let bytes =
            self.image.bytes_from(address).ok_or_else(|| format!("Couldn't decode instruction at '{symbol}'"))?;
        self.decoder.decode(bytes, address).map_err(|e| format!("Couldn't decode instruction at '{symbol}': {e}"))
    }

    fn decode_operand(&self, symbol: &str, offset: u64, index: u64) -> Result<u64, String> {
        let start =
            self.image.symbol_address(symbol).ok_or_else(|| format!("Cannot decode unknown symbol '{symbol}'"))?;
        let decoded = self.decode_at(symbol, start.wrapping_add(offset))?;
        let operand = usize::try_from(index).ok().and_then(|i| decoded.operands.get(i)).ok_or_else(|| {
            format!(
                "Invalid operand index '{index}' for instruction '{symbol}'. Instruction has only {} operands.\nInstruction is:\n  {}",
                decoded.operands.len(),
                decoded.text
            )
        })?;
        match operand {
            Operand::Immediate(value) => Ok(*value as u64),
            Operand::Register(_) => Err(format!(
                "Operand '{index}' of instruction '{symbol}' is not an immediate.\nInstruction is:\n  {}",
                decoded.text
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse_rules;
    use super::*;

    /// Two symbols and eight bytes of memory at 0x1000.
    struct Fixture;

    const MEMORY: [u8; 8] = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];

    impl LinkedImage for Fixture {
        fn symbol_address(&self, name: &str) -> Option<u64> {
            match name {
                "data" => Some(0x1000),
                "code" => Some(0x1004),
                _ => None,
            }
        }
        fn section_address(&self, file: &str, section: &str) -> Result<u64, String> {
            (file == "a.o" && section == ".data").then_some(0x1000).ok_or_else(|| "no section".into())
        }
        fn got_entry(&self, _: &str, symbol: &str) -> Result<u64, String> {
            (symbol == "data").then_some(0x1000).ok_or_else(|| format!("no GOT entry for \"{symbol}\""))
        }
        fn stub(&self, _: &str, _: &str, _: Option<&str>) -> Result<u64, String> {
            Err("no stub".into())
        }
        fn bytes_from(&self, address: u64) -> Option<&[u8]> {
            MEMORY.get(usize::try_from(address.checked_sub(0x1000)?).ok()?..)
        }
    }

    /// Every instruction is two bytes with operands [register, 7].
    struct TwoByteDecoder;

    impl InstructionDecoder for TwoByteDecoder {
        fn decode(&self, bytes: &[u8], _: u64) -> Result<Decoded, String> {
            if bytes.len() < 2 {
                return Err("truncated".into());
            }
            let operands = vec![Operand::Register("rax".into()), Operand::Immediate(-7)];
            Ok(Decoded { length: 2, operands, text: "op rax, -7".into() })
        }
    }

    fn check(text: &str) -> Result<(), Failure> {
        let (rules, errors) = parse_rules(&format!("# jitlink-check: {text}"), "# jitlink-check:");
        assert!(errors.is_empty(), "{errors:?}");
        Evaluator { image: &Fixture, decoder: &TwoByteDecoder }.check(&rules[0])
    }

    #[test]
    fn arithmetic_left_to_right() {
        assert_eq!(check("10-4+2 = 8"), Ok(()));
        assert_eq!(check("1+2<<3 = 24"), Ok(()));
        assert_eq!(check("0xff&0x0f|0x30 = 0x3f"), Ok(()));
        assert_eq!(check("256>>4 = 16"), Ok(()));
        assert_eq!(check("1 = 2"), Err(Failure::Unequal { lhs: 1, rhs: 2 }));
        assert_eq!(check("0-1 = 0xffffffffffffffff"), Ok(()));
    }

    #[test]
    fn loads_and_slices() {
        assert_eq!(check("*{1}data = 0x11"), Ok(()));
        assert_eq!(check("*{2}data + 1 = 0x3322"), Ok(()));
        assert_eq!(check("*{4}code = 0x88776655"), Ok(()));
        assert_eq!(check("*{8}data = 0x8877665544332211"), Ok(()));
        assert_eq!(check("(*{8}data)[15:8] = 0x22"), Ok(()));
        assert_eq!(check("data[63:0] = 0x1000"), Ok(()));
        assert!(matches!(check("*{8}code = 0"), Err(Failure::Error { .. })));
    }

    #[test]
    fn instructions() {
        assert_eq!(check("next_pc(code) = code + 2"), Ok(()));
        assert_eq!(check("decode_operand(data + 2, 1) = 0xfffffffffffffff9"), Ok(()));
        let Err(Failure::Error { message, .. }) = check("decode_operand(data, 0) = 0") else { panic!() };
        assert!(message.contains("not an immediate"), "{message}");
        let Err(Failure::Error { message, .. }) = check("decode_operand(data, 2) = 0") else { panic!() };
        assert!(message.contains("has only 2 operands"), "{message}");
        let Err(Failure::Error { message, .. }) = check("decode_operand(code + 3, 0) = 0") else { panic!() };
        assert!(message.contains("Couldn't decode"), "{message}");
    }

    #[test]
    fn unknown_names_are_errors_at_their_column() {
        let Err(Failure::Error { at, message }) = check("data + Lmissing = 0") else { panic!() };
        assert_eq!(at, 7);
        assert!(message.contains("No known address for symbol 'Lmissing'") && message.contains("drop the 'L'"));
        assert!(matches!(check("got_addr(a.o, nope) = 0"), Err(Failure::Error { .. })));
        assert_eq!(check("got_addr(a.o, data) = section_addr(a.o, .data)"), Ok(()));
    }
}
