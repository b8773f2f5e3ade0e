//! The architecture a `jitld run` links for: the one its command-line objects are for. It
//! decides where the program runs (this process, or an executor for that architecture) and
//! where `-l` looks. Every command-line ELF or MachO object must agree; archives and shared libraries
//! are not consulted (a member for another architecture fails when it is linked).

use super::inputs::InputArg;
use super::open::{member_spec, open_member};
use crate::error::JitError;
use jitld_linker::arch::Arch;
use jitld_linker::format::{self, FileKind, Format};
use jitld_linker::{InputBuffer, NamePool};
use std::io::Read;
use std::path::Path;

/// The architecture of the command line's objects (this machine's if there are none), or an
/// error naming two objects that disagree.
pub fn program_arch(inputs: &[InputArg]) -> Result<Arch, JitError> {
    let mut first: Option<(Arch, &str)> = None;
    for input in inputs {
        let (InputArg::Path(path) | InputArg::Lazy(path)) = input else { continue };
        let Some(arch) = object_arch(path)? else { continue };
        match first {
            None => first = Some((arch, path)),
            Some((chosen, first_path)) if chosen != arch => {
                return Err(JitError::other(format!(
                    "{path} is an {} object, but {first_path} is an {} object: one program links for one \
                     architecture",
                    arch.name(),
                    chosen.name()
                )));
            }
            Some(_) => {}
        }
    }
    Ok(first.map_or(Arch::host(), |(arch, _)| arch))
}

/// The architecture of the object at `path` (or `lib.a(member.o)`); `None` when it is not
/// a relocatable ELF object, is not a regular file, or cannot be read (loading it reports
/// why).
fn object_arch(path: &str) -> Result<Option<Arch>, JitError> {
    let head = match member_spec(Path::new(path)) {
        Some((archive, member)) => match open_member(archive, member, &NamePool::new()) {
            Ok(buffer) => buffer,
            Err(_) => return Ok(None),
        },
        // A pipe (`<(cat x.o)`) is read once, when it is loaded: it is not consulted.
        None if !Path::new(path).is_file() => return Ok(None),
        None => {
            let mut head = Vec::with_capacity(64);
            let read = std::fs::File::open(path).and_then(|file| file.take(64).read_to_end(&mut head));
            if read.is_err() {
                return Ok(None);
            }
            InputBuffer::from_vec(path, head)
        }
    };
    // ELF and MachO objects say their architecture (arm64 MachO code runs in the AArch64
    // executor: non-variadic calls follow AAPCS64 there too). COFF objects link in this
    // process; a universal MachO file holds a slice per architecture, chosen when it is
    // linked.
    match format::sniff(&head) {
        FileKind::Object(object_format @ (Format::Elf | Format::MachO)) => Ok(Some(object_format.arch(&head)?)),
        _ => Ok(None),
    }
}
