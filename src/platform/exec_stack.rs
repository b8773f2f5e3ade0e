//! Executable stacks, only where `ld` would make one: an object whose `.note.GNU-stack`
//! section is executable (gcc's nested-function trampolines live on the stack) gets one, with
//! `ld`'s warning. glibc (2.36) makes every stack of the process executable when it loads an
//! object whose `PT_GNU_STACK` has `PF_X`, so we load a generated one (see `dso`), once.

use super::dso::{self, DsoSpec};
use crate::error::Result;
use jitld_linker::LinkGraph;
use std::sync::Mutex;

const SHF_EXECINSTR: u64 = 4;

/// Whether the stacks were made executable; the objects already warned about.
static STATE: Mutex<(bool, Vec<String>)> = Mutex::new((false, Vec::new()));

/// A pre-prune pass: makes the stacks executable if `graph`'s input asks for it.
pub fn check(graph: &mut LinkGraph) -> jitld_linker::Result<()> {
    if !note_is_executable(graph.input.bytes()) {
        return Ok(());
    }
    let name = graph.name.to_string();
    let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    if !state.1.contains(&name) {
        eprintln!("warning: {name}: requires executable stack (because the .note.GNU-stack section is executable)");
        state.1.push(name.clone());
    }
    if !state.0 {
        make_stacks_executable(&name).map_err(|e| jitld_linker::LinkError::Context(Box::new(e)))?;
        state.0 = true;
    }
    Ok(())
}

/// Whether some linked code asked for executable stacks (which a prelinked image does not
/// record).
pub fn made_executable() -> bool {
    STATE.lock().unwrap_or_else(|e| e.into_inner()).0
}

/// Loads a generated object with an executable `PT_GNU_STACK`; it stays loaded.
fn make_stacks_executable(name: &str) -> Result<()> {
    let object = dso::build(&DsoSpec { arch: jitld_linker::arch::Arch::host(), tls: None, executable_stack: true });
    let (_handle, file) = super::tls::load_from_memory(name, &object.bytes)?;
    // The object stays loaded for good, so its memfd stays open too (see `tls::Loaded`).
    std::mem::forget(file);
    Ok(())
}

/// Whether the ELF object has a `.note.GNU-stack` section flagged `SHF_EXECINSTR`.
/// Anything malformed counts as "no": the ELF reader reports it properly.
pub fn note_is_executable(bytes: &[u8]) -> bool {
    // Little-endian fields at `at + offset`; `None` past the end (or on overflow).
    let field = |at: usize, offset: usize, width: usize| -> Option<u64> {
        let start = at.checked_add(offset)?;
        let raw = bytes.get(start..start.checked_add(width)?)?;
        Some(raw.iter().rev().fold(0u64, |value, &b| value << 8 | u64::from(b)))
    };
    let as_usize = |value: u64| usize::try_from(value).ok();
    let find = || -> Option<bool> {
        if bytes.get(..5)? != b"\x7fELF\x02" {
            return None;
        }
        let shoff = as_usize(field(0, 0x28, 8)?)?;
        let entsize = as_usize(field(0, 0x3a, 2)?)?;
        if shoff == 0 || entsize < 64 {
            return None;
        }
        let header = |i: usize| shoff.checked_add(i.checked_mul(entsize)?);
        // Extended numbering keeps the real count and string table index in section 0.
        let count = match field(0, 0x3c, 2)? {
            0 => as_usize(field(header(0)?, 0x20, 8)?)?,
            n => as_usize(n)?,
        };
        let strndx = match field(0, 0x3e, 2)? {
            0xffff => as_usize(field(header(0)?, 0x28, 4)?)?,
            n => as_usize(n)?,
        };
        let strtab = as_usize(field(header(strndx)?, 0x18, 8)?)?;
        for i in 0..count.min(1 << 20) {
            let h = header(i)?;
            let name = strtab.checked_add(as_usize(field(h, 0, 4)?)?)?;
            if bytes.get(name..)?.starts_with(b".note.GNU-stack\0") {
                return Some(field(h, 8, 8)? & SHF_EXECINSTR != 0);
            }
        }
        Some(false)
    };
    find().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::note_is_executable;

    #[test]
    fn malformed_headers_are_not_executable_notes() {
        let mut elf = b"\x7fELF\x02\x01\x01".to_vec();
        elf.resize(64, 0);
        assert!(!note_is_executable(&elf[..10]));
        for (at, value) in [(0x28, u64::MAX), (0x28, u64::MAX - 70), (0x28, 64)] {
            let mut bytes = elf.clone();
            bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
            bytes[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
            bytes[0x3c..0x40].copy_from_slice(&[0xff, 0xff, 0xff, 0xff]);
            assert!(!note_is_executable(&bytes));
        }
    }
}
