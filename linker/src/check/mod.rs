//! llvm-jitlink's `-check` language (RuntimeDyldChecker's): rules in comments of a test file
//! that state what linked memory must hold, e.g.
//! `# jitlink-check: decode_operand(f, 0) = g - next_pc(f)`.
//!
//! `parse` turns a check file into rules, `eval` evaluates them against a `LinkedImage` (any
//! format) with an `InstructionDecoder` (one per architecture: `x86_64`, `aarch64`).

pub mod aarch64;
pub mod eval;
pub mod parse;
pub mod x86_64;

pub use eval::{Decoded, Evaluator, Failure, InstructionDecoder, LinkedImage, Operand};

use crate::arch::Arch;

/// The instruction decoder for `arch`: what `decode_operand` and `next_pc` read code with;
/// `None` for an architecture jitld cannot decode.
pub fn decoder(arch: Arch) -> Option<&'static dyn InstructionDecoder> {
    match arch {
        Arch::X86_64 => Some(&x86_64::X86_64Decoder),
        Arch::AArch64 => Some(&aarch64::AArch64Decoder),
    }
}
pub use parse::{parse_rules, ParseError, Rule};

/// The default rule prefix's name: lines start with `# jitlink-check:`.
pub const DEFAULT_CHECK_NAME: &str = "jitlink-check";

/// The prefix of rule lines for `-check-name NAME`.
pub fn rule_prefix(check_name: &str) -> String {
    format!("# {check_name}:")
}

/// The rules of one check file.
pub struct CheckFile {
    pub path: String,
    pub rules: Vec<Rule>,
}

impl CheckFile {
    /// Parses `text`; every rule that does not parse is an error naming `path:line:column`.
    pub fn parse(path: &str, text: &str, check_name: &str) -> Result<CheckFile, Vec<String>> {
        let (rules, errors) = parse_rules(text, &rule_prefix(check_name));
        if !errors.is_empty() {
            return Err(errors.iter().map(|e| format!("{path}:{}:{}: {}", e.line, e.column, e.message)).collect());
        }
        Ok(CheckFile { path: path.to_string(), rules })
    }

    /// Evaluates every rule. Returns one message per failed rule: llvm-jitlink's line, then
    /// where the rule is.
    pub fn run(&self, evaluator: &Evaluator) -> Vec<String> {
        let mut failures = Vec::new();
        for rule in &self.rules {
            if let Err(failure) = evaluator.check(rule) {
                let (line, column) = match &failure {
                    Failure::Error { at, .. } => rule.origin.position(*at),
                    Failure::Unequal { .. } => rule.origin.position(0),
                };
                failures.push(format!("{}\n  at {}:{line}:{column}", failure.describe(rule), self.path));
            }
        }
        failures
    }
}
