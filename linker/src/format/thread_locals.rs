//! Whether an input may ask for static thread-local storage, read from its headers alone.
//!
//! `jitld run` gives JIT'd thread-locals blocks in glibc's static TLS surplus, which must be
//! raised when the process starts (a second start of jitld). Most programs have no
//! thread-locals at all; this lets them skip that start. The answer errs towards "yes":
//! anything not understood here (MachO, COFF, thin archives, unreadable headers) may.

use object::elf::{DF_STATIC_TLS, DT_FLAGS, ET_DYN, ET_REL, PT_DYNAMIC, PT_TLS, SHF_TLS};
use object::read::archive::ArchiveFile;
use object::read::elf::{Dyn as _, FileHeader as _, ProgramHeader as _, SectionHeader as _};
use object::LittleEndian as LE;

type Header = object::elf::FileHeader64<LE>;

/// True unless `bytes` (an ELF object, an archive of them, or a shared library) surely
/// needs no static TLS: no object has a thread-local section, and the library does not
/// use the static TLS model (`DF_STATIC_TLS`).
pub fn may_use_static_tls(bytes: &[u8]) -> bool {
    if bytes.starts_with(b"!<arch>\n") {
        return archive_may(bytes);
    }
    match Header::parse(bytes) {
        Ok(header) if header.e_type(LE) == ET_REL => object_may(header, bytes),
        Ok(header) if header.e_type(LE) == ET_DYN => library_may(header, bytes),
        _ => true,
    }
}

fn object_may(header: &Header, bytes: &[u8]) -> bool {
    let Ok(sections) = header.sections(LE, bytes) else { return true };
    sections.iter().any(|section| section.sh_flags(LE) & u64::from(SHF_TLS) != 0)
}

/// Members that are not objects (symbol tables, notes) never link, so only ELF and other
/// object formats count.
fn archive_may(bytes: &[u8]) -> bool {
    let Ok(archive) = ArchiveFile::parse(bytes) else { return true };
    archive.members().any(|member| {
        let Ok(data) = member.and_then(|m| m.data(bytes)) else { return true };
        if data.starts_with(b"\x7fELF") {
            return may_use_static_tls(data);
        }
        // MachO (either byte order, thin or universal) or COFF.
        let machine_code = data.starts_with(&[0xcf, 0xfa, 0xed, 0xfe]) || data.starts_with(&[0xca, 0xfe, 0xba, 0xbe]);
        machine_code || crate::format::coff::is_coff_object(data)
    })
}

/// A library that uses the initial-exec model takes static TLS when it is opened, as our
/// blocks do; one that does not gets dynamic TLS and needs no surplus.
fn library_may(header: &Header, bytes: &[u8]) -> bool {
    let Ok(segments) = header.program_headers(LE, bytes) else { return true };
    if !segments.iter().any(|s| s.p_type(LE) == PT_TLS) {
        return false;
    }
    let dynamic = segments.iter().find(|s| s.p_type(LE) == PT_DYNAMIC);
    let Some(Ok(Some(entries))) = dynamic.map(|s| s.dynamic(LE, bytes)) else { return true };
    entries.iter().any(|d| d.d_tag(LE) == u64::from(DT_FLAGS) && d.d_val(LE) & u64::from(DF_STATIC_TLS) != 0)
}
