//! Bad input gets a clear error, never a panic.
//!
//! Each test builds a real object from `fixtures/malformed/*.c`, breaks one thing about it
//! (truncates it, patches one header field, ...) and checks that `jitld graph` and `jitld run`
//! exit with code 1 (a Rust panic exits with 101), print only `error: ` lines, and name the
//! file and, where it is known, the section, offset and symbol. The last tests sweep every
//! truncation length and a byte flip at every header position, requiring only "no crash".
//!
//! Objects are built at run time under `target/tmp/malformed-*`.

#[path = "common/harness.rs"]
mod harness;

use harness::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn source(name: &str) -> PathBuf {
    root().join("fixtures/malformed").join(name)
}

/// `fixtures/malformed/small.c` compiled once per test process; tests copy its bytes.
fn small_object() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let dir = scratch("malformed-base");
        let obj = compile("gcc", &source("small.c"), &dir.join("small.o"), &["-O1", "-fPIE"]);
        read(&obj)
    })
}

/// Writes `bytes` as `dir/name` and returns the path as a string.
fn object(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.display().to_string()
}

/// `jitld graph FILE` and `jitld run --noexec FILE` must both fail cleanly, mentioning
/// the file and each of `needles`.
fn assert_rejected(file: &str, needles: &[&str]) {
    let mut wanted = vec![file];
    wanted.extend_from_slice(needles);
    assert_clean_error(&jitld(&["graph", file]), &wanted);
    assert_clean_error(&jitld(&["run", "--noexec", file]), &wanted);
}

// ------------------------------------------------------------------ truncation

/// The object rewritten so that the section header table follows the ELF header and the
/// content of `last` comes at the very end: a cut inside that content then leaves every
/// header and every other section intact.
fn with_section_last(bytes: &[u8], last: &str) -> Vec<u8> {
    let e = elf(bytes);
    let table_size = e.header.e_shnum as usize * e.header.e_shentsize as usize;
    let shoff = e.header.e_shoff as usize;
    let moved = section_index(bytes, last);
    let (moved_start, moved_len) =
        (e.section_headers[moved].sh_offset as usize, e.section_headers[moved].sh_size as usize);
    let mut out = bytes[..64].to_vec();
    out.extend_from_slice(&bytes[shoff..shoff + table_size]);
    out.extend_from_slice(&bytes[64..]);
    let moved_to = out.len();
    out.extend_from_slice(&bytes[moved_start..moved_start + moved_len]);
    put_u64(&mut out, 0x28, 64); // e_shoff
    for index in 1..e.header.e_shnum as usize {
        let at = 64 + index * e.header.e_shentsize as usize + shdr::OFFSET;
        let offset = if index == moved { moved_to as u64 } else { get_u64(&out, at) + table_size as u64 };
        put_u64(&mut out, at, offset);
    }
    out
}

#[test]
fn truncated_objects() {
    let dir = scratch("malformed-truncated");
    let bytes = small_object();
    let e = elf(bytes);
    let shoff = e.header.e_shoff as usize;
    let text = &e.section_headers[section_index(bytes, ".text")];
    // Inside the ELF header; inside the section header table; inside a section's content
    // (gcc writes the section headers last, so this loses them too); one byte short.
    for len in [0, 1, 4, 17, 40, 63, shoff + 10, shoff + 64 * 3 + 5, text.sh_offset as usize + 3, bytes.len() - 1] {
        let file = object(&dir, &format!("cut{len}.o"), &bytes[..len]);
        assert_rejected(&file, &[]);
    }

    // Headers first and .text last: cutting into .text must name .text.
    let relaid = with_section_last(bytes, ".text");
    let whole = object(&dir, "relaid.o", &relaid);
    let out = jitld(&["graph", &whole]);
    assert_eq!(out.code, Some(0), "the rewritten object must still be valid:\n{}", out.describe());
    let cut = object(&dir, "relaid-cut.o", &relaid[..relaid.len() - text.sh_size as usize / 2]);
    assert_rejected(&cut, &["section .text", "lies outside the file"]);
}

// ------------------------------------------------------------------ not for us

#[test]
fn object_for_another_machine() {
    let dir = scratch("malformed-machine");
    let obj = compile("clang-19", &source("riscv.c"), &dir.join("riscv.o"), &["--target=riscv64-linux-gnu", "-O1"]);
    assert_eq!(elf(&read(&obj)).header.e_machine, goblin::elf::header::EM_RISCV);
    assert_rejected(&obj.display().to_string(), &["machine 243", "only x86-64"]);

    // The same through e_machine alone: an x86-64 object claiming to be for SPARC V9.
    let mut bytes = small_object().to_vec();
    put_u16(&mut bytes, 18, 43);
    let file = object(&dir, "sparc.o", &bytes);
    assert_rejected(&file, &["machine 43"]);
}

#[test]
fn not_an_object() {
    let dir = scratch("malformed-not-elf");
    let cases: [(&str, &[u8]); 5] = [
        ("empty.o", b""),
        ("text.o", b"this is not an object file\n"),
        ("script.o", b"#!/bin/sh\necho hello\n"),
        ("magic-only.o", b"\x7fELF"),
        ("zeros.o", &[0u8; 256]),
    ];
    for (name, bytes) in cases {
        let file = object(&dir, name, bytes);
        assert_clean_error(&jitld(&["graph", &file]), &[&file]);
        assert_clean_error(&jitld(&["run", "--noexec", &file]), &[&file]);
    }
    // Executables are ELF, but not something `run` links: a fixed-address one is not
    // recognized, a PIE looks like a shared library that dlopen refuses.
    for (name, flag) in [("native-nopie", "-no-pie"), ("native-pie", "-pie")] {
        let exe = dir.join(name).display().to_string();
        tool("gcc", &["-O1", flag, &source("small.c").display().to_string(), "-o", &exe]);
        let out = jitld(&["run", "--noexec", &exe]);
        assert_clean_error(&out, &[&exe]);
        if flag == "-no-pie" {
            assert_clean_error(&out, &["unrecognized file format"]);
        }
        assert_clean_error(&jitld(&["graph", &exe]), &[&exe]);
    }
}

// ------------------------------------------------------------------ corrupt tables

#[test]
fn symbol_with_out_of_range_section_index() {
    let dir = scratch("malformed-shndx");
    let base = small_object();
    let shnum = elf(base).header.e_shnum;
    let (entry, _) = symbol_entry(base, "main");
    for (shndx, needles) in [
        (0x200u16, vec!["(in main)", "section index 512 out of range"]),
        (shnum, vec!["(in main)", "out of range"]),
        (0xff05, vec!["(in main)", "unsupported", "special section index 0xff05"]),
    ] {
        let mut bytes = base.to_vec();
        put_u16(&mut bytes, entry + sym::SHNDX, shndx);
        let file = object(&dir, &format!("shndx-{shndx:x}.o"), &bytes);
        assert_rejected(&file, &needles);
    }
}

#[test]
fn relocation_with_out_of_range_symbol_index() {
    let dir = scratch("malformed-rsym");
    let mut bytes = small_object().to_vec();
    let entry = rela_entry(&bytes, ".rela.text", 0);
    let site = get_u64(&bytes, entry + rela::OFFSET);
    let info = get_u64(&bytes, entry + rela::INFO);
    put_u64(&mut bytes, entry + rela::INFO, (9999 << 32) | (info & 0xffff_ffff));
    let file = object(&dir, "rsym.o", &bytes);
    assert_rejected(&file, &[&format!("section .text+{site:#x}"), "symbol index 9999 out of range"]);
}

#[test]
fn section_content_outside_the_file() {
    let dir = scratch("malformed-bounds");
    let base = small_object();
    let header = section_header_offset(base, section_index(base, ".text"));
    for (name, field, value) in [
        ("offset-past-eof.o", shdr::OFFSET, 0x10_0000u64),
        ("size-past-eof.o", shdr::SIZE, 0x10_0000),
        ("size-wraps.o", shdr::SIZE, u64::MAX - 0x10),
        ("offset-wraps.o", shdr::OFFSET, u64::MAX - 0x10),
    ] {
        let mut bytes = base.to_vec();
        put_u64(&mut bytes, header + field, value);
        let file = object(&dir, name, &bytes);
        assert_rejected(&file, &["section .text", "lies outside the file"]);
    }
}

#[test]
fn symbol_table_with_bad_string_table_link() {
    let dir = scratch("malformed-symtab-link");
    let base = small_object();
    let header = section_header_offset(base, section_index(base, ".symtab"));
    let text = section_index(base, ".text") as u32;
    // Past the section table; and a section that is not a string table.
    for (name, link) in [("link-out-of-range.o", 77u32), ("link-to-text.o", text)] {
        let mut bytes = base.to_vec();
        put_u32(&mut bytes, header + shdr::LINK, link);
        let file = object(&dir, name, &bytes);
        assert_rejected(&file, &["section .symtab"]);
    }
    // The symbol table itself outside the file.
    let mut bytes = base.to_vec();
    put_u64(&mut bytes, header + shdr::OFFSET, 0x10_0000);
    let file = object(&dir, "symtab-past-eof.o", &bytes);
    assert_rejected(&file, &["section .symtab"]);
}

#[test]
fn relocation_section_for_a_missing_section() {
    let dir = scratch("malformed-rela-info");
    let mut bytes = small_object().to_vec();
    let header = section_header_offset(&bytes, section_index(&bytes, ".rela.text"));
    put_u32(&mut bytes, header + shdr::INFO, 77);
    let file = object(&dir, "rela-info.o", &bytes);
    assert_rejected(&file, &["section .rela.text", "section index 77", "out of range"]);
}

#[test]
fn relocation_past_the_end_of_its_section() {
    let dir = scratch("malformed-roffset");
    let base = small_object();
    let text_size = elf(base).section_headers[section_index(base, ".text")].sh_size;
    let entry = rela_entry(base, ".rela.text", 0);
    // The 4-byte field would straddle the end; would start past it; would wrap around.
    for site in [text_size - 2, text_size + 0x100, u64::MAX - 1] {
        let mut bytes = base.to_vec();
        put_u64(&mut bytes, entry + rela::OFFSET, site);
        let file = object(&dir, &format!("roffset-{site:x}.o"), &bytes);
        let needles = [&*format!("section .text+{site:#x}"), "relocation past the end of the section"];
        assert_rejected(&file, &needles);
        // With a pool, the graph is built early on the pool thread (while the rest of the
        // command line loads): its error comes out the same, once.
        let threaded = jitld(&["run", "--threads", "2", &file]);
        assert_clean_error(&threaded, &[&file, needles[0], needles[1]]);
        assert_eq!(threaded.stderr.lines().count(), 1, "{}", threaded.describe());
    }
}

#[test]
fn relocation_beyond_4gib_in_a_huge_zero_fill_section() {
    // .text turned into an 8 GiB NOBITS section with its first relocation moved to 4 GiB + 6:
    // edges hold 32-bit offsets, so this must be refused rather than truncated.
    let dir = scratch("malformed-roffset-4g");
    let mut bytes = small_object().to_vec();
    let header = section_header_offset(&bytes, section_index(&bytes, ".text"));
    put_u32(&mut bytes, header + shdr::TYPE, goblin::elf::section_header::SHT_NOBITS);
    put_u64(&mut bytes, header + shdr::SIZE, 0x2_0000_0000);
    let entry = rela_entry(&bytes, ".rela.text", 0);
    put_u64(&mut bytes, entry + rela::OFFSET, 0x1_0000_0006);
    let file = object(&dir, "huge.o", &bytes);
    assert_clean_error(&jitld(&["graph", &file]), &[&file, "section .text+0x100000006", "beyond 4 GiB"]);
}

// ------------------------------------------------------------------ unsupported input

/// Offset of the first relocation of `kind` in `.text`.
fn first_site(obj: &Path, kind: &str) -> u64 {
    let relocs = relocations(&read(obj));
    let found = relocs.iter().find(|r| r.kind == kind && r.section == ".text");
    found.unwrap_or_else(|| panic!("{} has no {kind}: {relocs:?}", obj.display())).offset
}

#[test]
fn tls_descriptor_dialect_is_unsupported() {
    // Every ordinary TLS access model links (tests/session.rs runs them); the descriptor
    // dialect (`-mtls-dialect=gnu2`) is refused with its relocation named.
    let dir = scratch("malformed-tls");
    let extern_c = source("tls_extern.c");
    let obj = compile("gcc", &extern_c, &dir.join("desc.o"), &["-O1", "-fPIC", "-mtls-dialect=gnu2"]);
    let site = first_site(&obj, "R_X86_64_GOTPC32_TLSDESC");
    let file = obj.display().to_string();
    assert_rejected(
        &file,
        &[&format!("section .text+{site:#x}"), "unsupported", "relocation R_X86_64_GOTPC32_TLSDESC"],
    );
}

#[test]
fn unknown_relocation_type() {
    let dir = scratch("malformed-rtype");
    let mut bytes = small_object().to_vec();
    let entry = rela_entry(&bytes, ".rela.text", 0);
    let site = get_u64(&bytes, entry + rela::OFFSET);
    let info = get_u64(&bytes, entry + rela::INFO);
    put_u64(&mut bytes, entry + rela::INFO, (info & !0xffff_ffff) | 200);
    let file = object(&dir, "rtype.o", &bytes);
    assert_rejected(&file, &[&format!("section .text+{site:#x}"), "unsupported: relocation type 200"]);
    let out = jitld(&["graph", &file]);
    assert!(!out.stderr.contains("relocation relocation"), "stuttering message:\n{}", out.describe());
}

/// `uses_helper.o` and `libhelper.a`, whose member `helper.o` `corrupt` damages, in the
/// scratch directory `test`: the object's path and the directory, as arguments.
fn with_corrupt_helper_archive(test: &str, corrupt: impl FnOnce(&mut Vec<u8>)) -> (String, String) {
    let dir = scratch(test);
    let main = compile("gcc", &source("uses_helper.c"), &dir.join("uses_helper.o"), &["-O1"]);
    let helper = compile("gcc", &source("helper.c"), &dir.join("helper.o"), &["-O1"]);
    let mut bytes = read(&helper);
    corrupt(&mut bytes);
    std::fs::write(&helper, &bytes).unwrap();
    let archive = dir.join("libhelper.a");
    tool("ar", &["rcs", &archive.display().to_string(), &helper.display().to_string()]);
    (main.display().to_string(), dir.display().to_string())
}

#[test]
fn corrupt_member_of_an_archive_is_named_with_the_archive() {
    let mut site = 0;
    let (main, dir) = with_corrupt_helper_archive("malformed-archive", |bytes| {
        let entry = rela_entry(bytes, ".rela.text", 0);
        site = get_u64(bytes, entry + rela::OFFSET);
        let info = get_u64(bytes, entry + rela::INFO);
        put_u64(bytes, entry + rela::INFO, (info & !0xffff_ffff) | 200);
    });
    let out = jitld(&["run", &main, "-L", &dir, "-lhelper"]);
    assert_clean_error(&out, &[&format!("libhelper.a(helper.o): section .text+{site:#x}"), "relocation type 200"]);
}

/// A member that cannot even be read (its symbol `helper` in a section that does not
/// exist): with a pool, the archive's members are read ahead on it, and the error comes at
/// the pull, once, named with the archive, as on one thread.
#[test]
fn unreadable_member_of_an_archive_read_ahead() {
    let (main, dir) = with_corrupt_helper_archive("malformed-archive-read-ahead", |bytes| {
        let (entry, _) = symbol_entry(bytes, "helper");
        put_u16(bytes, entry + sym::SHNDX, 0x200);
    });
    for threads in ["1", "2"] {
        let out = jitld(&["run", "--threads", threads, &main, "-L", &dir, "-lhelper"]);
        assert_clean_error(&out, &["libhelper.a(helper.o)", "(in helper)", "section index 512 out of range"]);
        assert_eq!(out.stderr.lines().count(), 1, "--threads {threads}: {}", out.describe());
    }
}

#[test]
fn large_model_common_symbols_link() {
    // gcc -mcmodel=medium puts big tentative definitions in SHN_X86_64_LCOMMON (0xff02):
    // that one is a common symbol and must link; other processor-specific indices are refused
    // (covered by symbol_with_out_of_range_section_index).
    let dir = scratch("malformed-lcommon");
    let c = write(
        &dir,
        "lcommon.c",
        "int small_tentative;\nint big_tentative[100000];\n\
         int main(void) { big_tentative[99999] = 3; return small_tentative + big_tentative[99999] - 3; }\n",
    );
    let obj = compile("gcc", &c, &dir.join("lcommon.o"), &["-O1", "-fcommon", "-mcmodel=medium"]);
    let bytes = read(&obj);
    let (entry, _) = symbol_entry(&bytes, "big_tentative");
    assert_eq!(u16::from_le_bytes([bytes[entry + 6], bytes[entry + 7]]), 0xff02, "gcc no longer emits LCOMMON");
    let out = jitld(&["run", &obj.display().to_string()]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
}

// ------------------------------------------------------------------ linking errors

#[test]
fn undefined_symbols_are_all_listed() {
    let dir = scratch("malformed-undefined");
    let obj = compile("gcc", &source("undefined.c"), &dir.join("undefined.o"), &["-O1"]);
    let file = obj.display().to_string();
    for args in [vec!["run", &file], vec!["run", "--noexec", &file]] {
        let out = jitld(&args);
        assert_clean_error(&out, &[]);
        for name in ["missing_one", "missing_two"] {
            let line = format!("error: undefined symbol: {name} (referenced by {file})");
            assert!(out.stderr.lines().any(|l| l == line), "missing line {line:?}:\n{}", out.describe());
        }
        assert_eq!(out.stderr.lines().count(), 2, "one line per symbol:\n{}", out.describe());
    }
}

#[test]
fn entry_not_found() {
    let dir = scratch("malformed-entry");
    let file = object(&dir, "small.o", small_object());
    let out = jitld(&["run", "--entry", "nosuch", &file]);
    assert_clean_error(&out, &["nosuch", "not found"]);
}

#[test]
fn duplicate_strong_definitions() {
    let dir = scratch("malformed-duplicate");
    let a = compile("gcc", &source("dup_a.c"), &dir.join("dup_a.o"), &["-O1"]).display().to_string();
    let b = compile("gcc", &source("dup_b.c"), &dir.join("dup_b.o"), &["-O1"]).display().to_string();
    for args in [vec!["run", &a, &b], vec!["run", "--noexec", &a, &b]] {
        let out = jitld(&args);
        assert_clean_error(&out, &["duplicate definition of duplicated", &a, &b]);
    }
}

// ------------------------------------------------------------------ sweeps

/// One corrupted variant of the small object.
struct Variant {
    name: String,
    bytes: Vec<u8>,
    /// A byte of the section header table was flipped (may make a section huge).
    in_section_table: bool,
}

/// Every truncation in the first 512 bytes, then every byte of the ELF header and of the
/// section header table flipped (xor 0xff), one at a time.
fn variants() -> Vec<Variant> {
    let base = small_object();
    let mut out: Vec<Variant> = (0..512.min(base.len()))
        .map(|len| Variant { name: format!("cut{len}"), bytes: base[..len].to_vec(), in_section_table: false })
        .collect();
    let e = elf(base);
    let table = e.header.e_shoff as usize..e.header.e_shoff as usize + e.header.e_shnum as usize * 64;
    for at in (0..64).chain(table) {
        let mut bytes = base.to_vec();
        bytes[at] ^= 0xff;
        out.push(Variant { name: format!("flip{at}"), bytes, in_section_table: at >= 64 });
    }
    out
}

/// Runs `jitld <args> FILE` over `variants` on all CPUs and returns every run that crashed:
/// exit code other than 0 and 1, a signal, "panicked", or an exit 1 without an error line.
fn sweep(dir: &Path, variants: &[&Variant], args: &[&str]) -> Vec<String> {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).min(8);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    let prefix = args.join("").replace(['-', ' '], "");
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(v) = variants.get(i) else { break };
                let file = object(dir, &format!("{prefix}-{}.o", v.name), &v.bytes);
                let mut argv: Vec<&str> = args.to_vec();
                argv.push(&file);
                let out = jitld(&argv);
                let clean_error = out.code == Some(1) && out.stderr.starts_with("error: ");
                if out.panicked() || !(out.code == Some(0) || clean_error) {
                    failures.lock().unwrap().push(out.describe());
                } else {
                    let _ = std::fs::remove_file(&file);
                }
            });
        }
    });
    failures.into_inner().unwrap()
}

#[test]
fn sweep_truncations_and_header_byte_flips_never_crash() {
    let dir = scratch("malformed-sweep");
    let all = variants();
    let every: Vec<&Variant> = all.iter().collect();
    let started = std::time::Instant::now();
    let mut failures = sweep(&dir, &every, &["graph"]);
    // `run --noexec` goes further: interface, session, layout, allocation, fix-ups.
    failures.extend(sweep(&dir, &every, &["run", "--noexec"]));
    // Again in a slab at a high address, except for section-table flips: one makes .bss
    // 4 GiB, which a slab zero-fills eagerly (zero_fill_section_of_gigabytes_in_a_slab).
    let some: Vec<&Variant> = all.iter().filter(|v| !v.in_section_table).collect();
    failures.extend(sweep(&dir, &some, &["run", "--noexec", "--slab-address", "0x7f0000000000"]));
    let runs = 2 * every.len() + some.len();
    eprintln!("{} variants, {runs} runs in {:.1?}", all.len(), started.elapsed());
    assert!(failures.is_empty(), "{} runs crashed:\n\n{}", failures.len(), failures.join("\n\n"));
}

#[test]
fn huge_zero_fill_section_is_an_error_without_a_slab() {
    // .bss grown to 1 TiB: the in-process memory manager cannot provide it and says so.
    let dir = scratch("malformed-huge-bss");
    let mut bytes = small_object().to_vec();
    let header = section_header_offset(&bytes, section_index(&bytes, ".bss"));
    put_u64(&mut bytes, header + shdr::SIZE, 1 << 40);
    let file = object(&dir, "huge-bss.o", &bytes);
    assert_clean_error(&jitld(&["run", "--noexec", &file]), &["memory"]);
}

#[test]
fn huge_zero_fill_section_is_an_error_with_a_slab() {
    // .bss grown to 512 GiB, which fits the 1 TiB slab's address range but not this machine.
    let dir = scratch("malformed-huge-bss-slab");
    let mut bytes = small_object().to_vec();
    let header = section_header_offset(&bytes, section_index(&bytes, ".bss"));
    put_u64(&mut bytes, header + shdr::SIZE, 1 << 39);
    let file = object(&dir, "huge-bss.o", &bytes);
    assert_clean_error(&jitld(&["run", "--noexec", "--slab-address", "0x10000000", &file]), &["memory"]);
}

#[test]
fn zero_fill_section_of_gigabytes_in_a_slab() {
    // .bss grown to 4 GiB: the in-process memory manager maps it lazily; a slab should too.
    let dir = scratch("malformed-4g-bss-slab");
    let mut bytes = small_object().to_vec();
    let header = section_header_offset(&bytes, section_index(&bytes, ".bss"));
    put_u64(&mut bytes, header + shdr::SIZE, 0xff00_0004);
    let file = object(&dir, "4g-bss.o", &bytes);
    let started = std::time::Instant::now();
    let out = jitld(&["run", "--noexec", "--slab-address", "0x7f0000000000", &file]);
    assert!(!out.panicked() && matches!(out.code, Some(0 | 1)), "{}", out.describe());
    assert!(started.elapsed().as_secs() < 5, "took {:.1?}", started.elapsed());
}

// ------------------------------------------------------------------ MachO

/// A MachO x86-64 object of `fixtures/macho/freestanding.c` (clang-19).
fn small_macho() -> Vec<u8> {
    let dir = scratch("malformed-macho");
    let target = ["-target", "x86_64-apple-macos11", "-O1"];
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/macho/freestanding.c");
    read(&compile("clang-19", &source, &dir.join("small-macho.o"), &target))
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

/// The first section header of the first segment (after the 32-byte header and the 72-byte
/// segment command), and its relocations' file offset.
const FIRST_SECTION: usize = 32 + 72;

#[test]
fn malformed_macho_objects_get_one_line_errors() {
    let dir = scratch("malformed-macho");
    let bytes = small_macho();
    for cut in [16, 40, bytes.len() / 2, bytes.len() - 3] {
        let file = object(&dir, &format!("macho-cut-{cut}.o"), &bytes[..cut]);
        assert_clean_error(&jitld(&["run", "--noexec", &file]), &[&file]);
    }
    // A relocation naming a symbol past the table: file, section and offset are named.
    let mut bad_symbol = bytes.clone();
    let reloff = u32_at(&bytes, FIRST_SECTION + 56) as usize;
    let word = u32_at(&bytes, reloff + 4);
    bad_symbol[reloff + 4..reloff + 8].copy_from_slice(&((word & 0xff00_0000) | 0x00ff_fff0).to_le_bytes());
    let file = object(&dir, "macho-bad-symbol.o", &bad_symbol);
    assert_rejected(&file, &["section __TEXT,__text+0x", "symbol index 16777200 out of range"]);
    // Section content beyond the end of the file.
    let mut outside = bytes.clone();
    outside[FIRST_SECTION + 48..FIRST_SECTION + 52].copy_from_slice(&0x00ff_0000u32.to_le_bytes());
    let file = object(&dir, "macho-outside.o", &outside);
    assert_rejected(&file, &["__TEXT,__text", "lies outside the file"]);
}

// ------------------------------------------------------------------ COFF

#[test]
fn malformed_coff_objects_get_one_line_errors() {
    let dir = scratch("malformed-coff");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/macho/freestanding.c");
    let flags = ["--target=x86_64-pc-windows-msvc", "-O1", "-DNO_THREAD_LOCALS"];
    let bytes = read(&compile("clang-19", &source, &dir.join("small-coff.o"), &flags));
    for cut in [30, bytes.len() / 2, bytes.len() - 5] {
        let file = object(&dir, &format!("coff-cut-{cut}.o"), &bytes[..cut]);
        assert_clean_error(&jitld(&["run", "--noexec", &file]), &[&file]);
    }
    // The first section's content moved past the end of the file (header 20 bytes, then
    // 40-byte section headers; PointerToRawData at 20).
    let mut outside = bytes.clone();
    outside[20 + 20..20 + 24].copy_from_slice(&0x00ff_0000u32.to_le_bytes());
    let file = object(&dir, "coff-outside.o", &outside);
    assert_rejected(&file, &["section .text", "lies outside the file"]);
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    // The first relocation of .text names a symbol past the end of the table: the error
    // names the section and the offset of the relocation.
    let relocations = word(20 + 24);
    let site = word(relocations);
    let mut bad_index = bytes.clone();
    bad_index[relocations + 4..relocations + 8].copy_from_slice(&0x00ff_fff0u32.to_le_bytes());
    let file = object(&dir, "coff-bad-symbol-index.o", &bad_index);
    assert_rejected(&file, &[&format!("section .text+{site:#x}"), "symbol index 16777200 out of range"]);
    // A function's value past the end of its section: the error names the symbol, its
    // section and the offset.
    let (table, count) = (word(8), word(12));
    let apply = (0..count).map(|i| table + 18 * i).find(|&at| &bytes[at..at + 8] == b"apply\0\0\0").unwrap();
    let mut past_end = bytes.clone();
    past_end[apply + 8..apply + 12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
    let file = object(&dir, "coff-symbol-past-end.o", &past_end);
    assert_rejected(&file, &["section .text+0x10000 (in apply)", "past the end of its section"]);
}
