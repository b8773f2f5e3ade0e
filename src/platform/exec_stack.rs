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

/// Loads a generated object with an executable `PT_GNU_STACK`; it stays loaded.
fn make_stacks_executable(name: &str) -> Result<()> {
    let object = dso::build(&DsoSpec { tls: None, executable_stack: true });
    let (_handle, file) = super::tls::load_from_memory(name, &object.bytes)?;
    // The object stays loaded for good, so its memfd stays open too (see `tls::Loaded`).
    std::mem::forget(file);
    Ok(())
}

/// Whether the ELF object has a `.note.GNU-stack` section flagged `SHF_EXECINSTR`.
/// Anything malformed counts as "no": the ELF reader reports it properly.
pub fn note_is_executable(bytes: &[u8]) -> bool {
    let u16_at = |at: usize| bytes.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let u32_at = |at: usize| bytes.get(at..at + 4).map(|b| u32::from_le_bytes(b.try_into().unwrap_or([0; 4])) as usize);
    let u64_at = |at: usize| bytes.get(at..at + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
    let find = || -> Option<bool> {
        if bytes.get(..5)? != b"\x7fELF\x02" {
            return None;
        }
        let shoff = usize::try_from(u64_at(0x28)?).ok()?;
        let entsize = u16_at(0x3a)?;
        if shoff == 0 || entsize < 64 {
            return None;
        }
        let header = |i: usize| shoff.checked_add(i.checked_mul(entsize)?);
        // Extended numbering keeps the real count and string table index in section 0.
        let count = match u16_at(0x3c)? {
            0 => usize::try_from(u64_at(header(0)? + 0x20)?).ok()?,
            n => n,
        };
        let strndx = match u16_at(0x3e)? {
            0xffff => u32_at(header(0)? + 0x28)?,
            n => n,
        };
        let strtab = usize::try_from(u64_at(header(strndx)? + 0x18)?).ok()?;
        for i in 0..count.min(1 << 20) {
            let h = header(i)?;
            let name = strtab.checked_add(u32_at(h)?)?;
            if bytes.get(name..)?.starts_with(b".note.GNU-stack\0") {
                return Some(u64_at(h + 8)? & SHF_EXECINSTR != 0);
            }
        }
        Some(false)
    };
    find().unwrap_or(false)
}
