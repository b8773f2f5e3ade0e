//! Universal ("fat") files: one MachO object or archive per architecture, behind a
//! big-endian table of `{cputype, cpusubtype, offset, size, align}` (32-bit offsets after
//! `FAT_MAGIC`, 64-bit after `FAT_MAGIC_64`). A link takes the slice for its target.
// Parsing and fix-ups read untrusted input: no panicking index or overflow.
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use crate::arch::Arch;
use crate::graph::InputBuffer;
use crate::{LinkError, Location, Result};
use object::macho::{CPU_TYPE_ARM64, CPU_TYPE_X86_64, FAT_MAGIC, FAT_MAGIC_64};

/// Java class files share the magic; no universal file has this many slices.
const MAX_SLICES: u32 = 32;

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(at..at.checked_add(8)?)?.try_into().ok()?))
}

/// Whether `bytes` is a universal file.
pub fn is_universal(bytes: &[u8]) -> bool {
    matches!(read_u32(bytes, 0), Some(FAT_MAGIC | FAT_MAGIC_64))
        && read_u32(bytes, 4).is_some_and(|n| (1..=MAX_SLICES).contains(&n))
}

fn cpu_name(cputype: u32) -> String {
    match cputype {
        CPU_TYPE_X86_64 => "x86_64".into(),
        CPU_TYPE_ARM64 => "arm64".into(),
        0x7 => "i386".into(),
        0xc => "arm".into(),
        other => format!("cputype {other:#x}"),
    }
}

fn cpu_type(arch: Arch) -> u32 {
    match arch {
        Arch::X86_64 => CPU_TYPE_X86_64,
        Arch::AArch64 => CPU_TYPE_ARM64,
    }
}

/// The slice of a universal `input` for `arch`, named `file(arch)`; other inputs as they are.
/// A missing slice is an error naming the slices present.
pub fn thin(input: InputBuffer, arch: Arch) -> Result<InputBuffer> {
    let bytes = input.bytes();
    if !is_universal(bytes) {
        return Ok(input);
    }
    let at = || Location::file(&*input.name);
    let wide = read_u32(bytes, 0) == Some(FAT_MAGIC_64);
    let entry_size: usize = if wide { 32 } else { 20 };
    let count = read_u32(bytes, 4).unwrap_or(0) as usize;
    let mut present = Vec::new();
    for index in 0..count {
        let entry = index.checked_mul(entry_size).and_then(|o| o.checked_add(8));
        let fields = entry.and_then(|e| {
            let cputype = read_u32(bytes, e)?;
            let (offset, size) = if wide {
                (read_u64(bytes, e.checked_add(8)?)?, read_u64(bytes, e.checked_add(16)?)?)
            } else {
                (u64::from(read_u32(bytes, e.checked_add(8)?)?), u64::from(read_u32(bytes, e.checked_add(12)?)?))
            };
            Some((cputype, offset, size))
        });
        let (cputype, offset, size) =
            fields.ok_or_else(|| LinkError::malformed(at(), format!("universal file: slice {index} is cut short")))?;
        if cputype != cpu_type(arch) {
            present.push(cpu_name(cputype));
            continue;
        }
        let name = format!("{}({})", input.name, cpu_name(cputype));
        let range = usize::try_from(offset).ok().zip(usize::try_from(size).ok());
        return range.and_then(|(start, len)| input.slice(name, start, len)).ok_or_else(|| {
            LinkError::malformed(at(), format!("universal file: slice {offset:#x}..+{size:#x} lies outside the file"))
        });
    }
    Err(LinkError::unsupported(
        at(),
        format!("a universal file without a {} slice (it has {})", cpu_name(cpu_type(arch)), present.join(", ")),
    ))
}
