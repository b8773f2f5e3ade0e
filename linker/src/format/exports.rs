//! The names a shared library exports, read from its file without loading it: what a
//! linker consults to decide whether an `--as-needed` library is needed at all.
//!
//! A name is exported when the library defines it (not only refers to it), binds it
//! globally or weakly, and lets the dynamic loader find it by its bare name: a symbol
//! whose version is hidden (`name@VER`, not the default `name@@VER`) is found only by
//! `dlvsym`, never by `dlsym`, so it does not count.

use object::elf::{ELFCLASS64, ELFDATA2LSB, SHN_UNDEF, SHT_DYNSYM, STB_GLOBAL, STB_GNU_UNIQUE, STB_WEAK};
use object::read::elf::{FileHeader as _, Sym as _};
use object::read::SymbolIndex;
use object::LittleEndian as LE;

type Header = object::elf::FileHeader64<LE>;

/// The exported names of the shared library in `bytes`, in symbol-table order; `None`
/// when they cannot be told from the file (another format, or no readable dynamic symbol
/// table): the caller must then assume the library may define any name.
pub fn library_exports(bytes: &[u8]) -> Option<Vec<&[u8]>> {
    // ELF, 64-bit, little-endian: the classes jitld links.
    if !bytes.starts_with(b"\x7fELF") || bytes.get(4..6) != Some(&[ELFCLASS64, ELFDATA2LSB][..]) {
        return None;
    }
    let header = Header::parse(bytes).ok()?;
    let sections = header.sections(LE, bytes).ok()?;
    let symbols = sections.symbols(LE, bytes, SHT_DYNSYM).ok()?;
    if symbols.is_empty() {
        // Section headers stripped (or none to begin with): nothing here says what it has.
        return None;
    }
    let versions = sections.versions(LE, bytes).ok()?;
    let strings = symbols.strings();
    let mut names = Vec::new();
    for (index, symbol) in symbols.iter().enumerate() {
        if symbol.st_shndx(LE) == SHN_UNDEF || !matches!(symbol.st_bind(), STB_GLOBAL | STB_WEAK | STB_GNU_UNIQUE) {
            continue;
        }
        if versions.as_ref().is_some_and(|v| v.version_index(LE, SymbolIndex(index)).is_hidden()) {
            continue;
        }
        let name = symbol.name(LE, strings).ok()?;
        if !name.is_empty() {
            names.push(name);
        }
    }
    Some(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This machine's C library: its functions are there, `dlvsym`-only old versions and
    /// the names it only refers to are not.
    #[test]
    fn reads_the_c_library() {
        let Some(path) = ["/lib/x86_64-linux-gnu/libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6"]
            .into_iter()
            .find(|p| std::path::Path::new(p).is_file())
        else {
            return;
        };
        let bytes = std::fs::read(path).unwrap();
        let names = library_exports(&bytes).expect("libc's dynamic symbols");
        for wanted in [&b"printf"[..], b"malloc", b"stdout", b"environ"] {
            assert!(names.contains(&wanted), "{}", String::from_utf8_lossy(wanted));
        }
        // The loader's `_rtld_global` is only referred to; `sys_errlist` is there only in
        // old versions, which `dlsym` does not find.
        assert!(!names.contains(&&b"_rtld_global"[..]));
        assert!(!names.contains(&&b"sys_errlist"[..]));
        assert!(!names.contains(&&b""[..]));
    }

    #[test]
    fn unknown_files_say_so() {
        assert_eq!(library_exports(b""), None);
        assert_eq!(library_exports(b"GROUP ( libm.so.6 )"), None);
        assert_eq!(library_exports(&[0xcf, 0xfa, 0xed, 0xfe, 0, 0, 0, 0]), None);
        // A truncated ELF header.
        assert_eq!(library_exports(b"\x7fELF\x02\x01\x01\0"), None);
    }
}
