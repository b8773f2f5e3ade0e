//! Helpers shared by `tests/malformed.rs` and `tests/relocations.rs`: running jitld and the
//! compilers with a time limit, scratch directories under `target/`, and reading or patching
//! fields of ELF objects (located with goblin, written by hand).
//!
//! Included with `#[path = "common/harness.rs"] mod harness;`, so not every test file uses
//! every helper.
#![allow(dead_code)]

use goblin::elf::Elf;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const JITLD: &str = env!("CARGO_BIN_EXE_jitld");

/// Longest any single process may run.
const LIMIT: Duration = Duration::from_secs(120);

/// The repository root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh, empty directory `target/tmp/<name>` for one test (or one shared build).
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// How a process ended, and what it printed.
#[derive(Debug)]
pub struct Run {
    pub command: String,
    /// Exit code, or `None` when a signal ended it (see `signal`) or it timed out.
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// A one-paragraph account for assertion messages.
    pub fn describe(&self) -> String {
        let end = match (self.code, self.signal, self.timed_out) {
            (_, _, true) => "timed out".to_string(),
            (Some(code), _, _) => format!("exit code {code}"),
            (None, Some(signal), _) => format!("killed by signal {signal}"),
            (None, None, _) => "unknown end".to_string(),
        };
        format!("$ {}\n{end}\n--- stdout\n{}--- stderr\n{}", self.command, tail(&self.stdout), tail(&self.stderr))
    }

    pub fn panicked(&self) -> bool {
        self.code == Some(101) || self.stderr.contains("panicked")
    }
}

fn tail(text: &str) -> String {
    const KEEP: usize = 4000;
    let mut cut = text.len().saturating_sub(KEEP);
    while !text.is_char_boundary(cut) {
        cut += 1;
    }
    let mut shown = if cut > 0 { format!("[...]{}", &text[cut..]) } else { text.to_string() };
    if !shown.is_empty() && !shown.ends_with('\n') {
        shown.push('\n');
    }
    shown
}

/// Runs `program args...` to completion (or the time limit), capturing both streams.
pub fn run<S: AsRef<std::ffi::OsStr>>(program: &str, args: &[S]) -> Run {
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let command = std::iter::once(program.to_string())
        .chain(args.iter().map(|a| a.as_ref().to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    let reader = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = reader(Box::new(child.stdout.take().expect("stdout is piped")));
    let stderr = reader(Box::new(child.stderr.take().expect("stderr is piped")));
    let started = Instant::now();
    let (status, timed_out) = loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            break (Some(status), false);
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break (None, true);
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    Run {
        command,
        code: status.and_then(|s| s.code()),
        signal: status.and_then(|s| s.signal()),
        timed_out,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// `jitld ARGS...`
pub fn jitld<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    run(JITLD, args)
}

/// Runs a build tool and fails the test with its output if it does not succeed.
pub fn tool<S: AsRef<std::ffi::OsStr>>(program: &str, args: &[S]) -> Run {
    let out = run(program, args);
    assert_eq!(out.code, Some(0), "build step failed:\n{}", out.describe());
    out
}

/// Compiles or assembles `source` into `out` with `compiler` (gcc, clang-19) and `flags`.
pub fn compile(compiler: &str, source: &Path, out: &Path, flags: &[&str]) -> PathBuf {
    let mut args: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
    args.extend(["-c".into(), source.display().to_string(), "-o".into(), out.display().to_string()]);
    tool(compiler, &args);
    out.to_path_buf()
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    path
}

/// Asserts jitld rejected its input the way the CLI promises: exit code 1 (not a panic or a
/// signal), every stderr line an `error: ` line, and each of `needles` somewhere in stderr.
pub fn assert_clean_error(out: &Run, needles: &[&str]) {
    assert!(!out.panicked(), "jitld panicked:\n{}", out.describe());
    assert_eq!(out.code, Some(1), "expected exit code 1:\n{}", out.describe());
    assert!(!out.stderr.trim().is_empty(), "no error message:\n{}", out.describe());
    for line in out.stderr.lines() {
        assert!(line.starts_with("error: "), "stderr line not in `error: ...` form: {line:?}\n{}", out.describe());
    }
    for needle in needles {
        assert!(out.stderr.contains(needle), "stderr lacks {needle:?}:\n{}", out.describe());
    }
}

// ------------------------------------------------------------------ ELF objects

pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

pub fn elf(bytes: &[u8]) -> Elf<'_> {
    Elf::parse(bytes).expect("test input is a valid ELF file")
}

/// Index of the section called `name`.
pub fn section_index(bytes: &[u8], name: &str) -> usize {
    let elf = elf(bytes);
    elf.section_headers
        .iter()
        .position(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(name))
        .unwrap_or_else(|| panic!("no section {name}"))
}

/// File offset of section header `index`.
pub fn section_header_offset(bytes: &[u8], index: usize) -> usize {
    let elf = elf(bytes);
    elf.header.e_shoff as usize + index * elf.header.e_shentsize as usize
}

/// Offsets of fields inside an `Elf64_Shdr`.
pub mod shdr {
    pub const TYPE: usize = 4;
    pub const OFFSET: usize = 0x18;
    pub const SIZE: usize = 0x20;
    pub const LINK: usize = 0x28;
    pub const INFO: usize = 0x2c;
}

/// Offsets of fields inside an `Elf64_Sym` (24 bytes).
pub mod sym {
    pub const SHNDX: usize = 6;
}

/// Offsets of fields inside an `Elf64_Rela` (24 bytes).
pub mod rela {
    pub const OFFSET: usize = 0;
    pub const INFO: usize = 8;
}

/// File offset of the symbol table entry for `name`, and its index.
pub fn symbol_entry(bytes: &[u8], name: &str) -> (usize, usize) {
    let elf = elf(bytes);
    let index = elf
        .syms
        .iter()
        .position(|s| elf.strtab.get_at(s.st_name) == Some(name))
        .unwrap_or_else(|| panic!("no symbol {name}"));
    let symtab = elf.section_headers.iter().find(|s| s.sh_type == goblin::elf::section_header::SHT_SYMTAB);
    (symtab.expect("a symbol table").sh_offset as usize + index * 24, index)
}

/// File offset of the `n`th entry of the relocation section `name` (e.g. `.rela.text`).
pub fn rela_entry(bytes: &[u8], name: &str, n: usize) -> usize {
    let elf = elf(bytes);
    let section = &elf.section_headers[section_index(bytes, name)];
    assert!((n as u64 + 1) * 24 <= section.sh_size, "{name} has fewer than {} entries", n + 1);
    section.sh_offset as usize + n * 24
}

pub fn get_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

pub fn put_u16(bytes: &mut [u8], at: usize, value: u16) {
    bytes[at..at + 2].copy_from_slice(&value.to_le_bytes());
}

pub fn put_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

pub fn put_u64(bytes: &mut [u8], at: usize, value: u64) {
    bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

/// One relocation of an object, as the test sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reloc {
    /// The section the relocation applies to.
    pub section: String,
    pub offset: u64,
    /// `R_X86_64_...`
    pub kind: String,
    /// The symbol's name, or for a section symbol, the section's name.
    pub symbol: String,
    /// The symbol is a section symbol (`STT_SECTION`).
    pub section_symbol: bool,
    pub addend: i64,
}

/// Every RELA relocation of an object.
pub fn relocations(bytes: &[u8]) -> Vec<Reloc> {
    let elf = elf(bytes);
    let section_name = |index: usize| {
        elf.section_headers.get(index).and_then(|s| elf.shdr_strtab.get_at(s.sh_name)).unwrap_or("?").to_string()
    };
    let mut out = Vec::new();
    for (index, relocs) in &elf.shdr_relocs {
        let target = section_name(elf.section_headers[*index].sh_info as usize);
        for r in relocs.iter() {
            let sym = elf.syms.get(r.r_sym).expect("relocation symbol");
            let section_symbol = sym.st_type() == goblin::elf::sym::STT_SECTION;
            let symbol = if section_symbol {
                section_name(sym.st_shndx)
            } else {
                elf.strtab.get_at(sym.st_name).unwrap_or("?").to_string()
            };
            out.push(Reloc {
                section: target.clone(),
                offset: r.r_offset,
                kind: reloc_name(r.r_type, elf.header.e_machine),
                symbol,
                section_symbol,
                addend: r.r_addend.unwrap_or(0),
            });
        }
    }
    out
}

/// `R_X86_64_PC32` etc. (goblin spells older types without the `R_` prefix).
fn reloc_name(r_type: u32, machine: u16) -> String {
    let name = goblin::elf::reloc::r_to_str(r_type, machine);
    if name.starts_with("R_") {
        name.to_string()
    } else {
        format!("R_{name}")
    }
}

/// Value of the symbol `name` (its offset in its section, in a relocatable object).
pub fn symbol_value(bytes: &[u8], name: &str) -> u64 {
    let elf = elf(bytes);
    let found = elf.syms.iter().find(|s| elf.strtab.get_at(s.st_name) == Some(name));
    found.unwrap_or_else(|| panic!("no symbol {name}")).st_value
}
