//! Mutation fuzzing under `cargo test`: no input may make jitld panic.
//!
//! Four targets, each a `#[test]`: the object parser and graph builder (with the passes that
//! read what it built), archive reading, GNU ld scripts, and a full `--noexec` link at a fixed
//! slab through the library API. Each replays `fuzz/regressions/<target>/*` first (every input
//! that ever failed), then its seeds (objects and archives built here by gcc, clang and ar, and
//! the committed `fixtures/snapshots/*.o`), then mutations of the seeds from a seeded PRNG, so a
//! run is the same every time. A panic is caught, its input saved to
//! `fuzz/regressions/<target>/` (commit it), and the test fails listing them all.
//!
//! Knobs: `JITLD_FUZZ_ITERATIONS` (mutations per target; default 400, well under a minute
//! for all four), `JITLD_FUZZ_SECONDS` (run each target this long instead), `JITLD_FUZZ_SEED`.
//! A long run: `JITLD_FUZZ_SECONDS=600 cargo test --release --test fuzz`.

#[path = "common/harness.rs"]
mod harness;

use harness::*;
use jitld::generators::DynamicLibraryGenerator;
use jitld::layers::ObjectLinkingLayer;
use jitld::session::{ExecutionSession, LookupFlags, SymbolFlags};
use jitld_linker::format::archive::Archive;
use jitld_linker::format::{self, FileKind};
use jitld_linker::memory::SlabMemoryManager;
use jitld_linker::{InputBuffer, NamePool};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

// ------------------------------------------------------------------ the targets

/// Object bytes through everything that reads them before memory is involved.
fn object_target(bytes: &[u8]) {
    let names = NamePool::new();
    let input = InputBuffer::from_vec("fuzz.o", bytes.to_vec());
    let _ = format::sniff(&input);
    let Ok(object_format) = format::object_format(&input) else { return };
    let _ = object_format.interface(&input, &names);
    let Ok(mut graph) = object_format.build_graph(&input, &names) else { return };
    let _ = jitld_linker::graph::dump_graph(&graph);
    let kinds = graph.arch.eh_frame_kinds();
    if jitld_linker::passes::split_eh_frame(&mut graph, &kinds).is_err() {
        return;
    }
    jitld_linker::passes::mark_live(&mut graph);
    if jitld_linker::passes::prune(&mut graph).is_ok() {
        let _ = jitld_linker::arch::tables::build_tables(&mut graph);
        let _ = jitld_linker::graph::dump_graph(&graph);
    }
}

/// Archive bytes: the index, every member, and each member's interface.
fn archive_target(bytes: &[u8]) {
    let names = NamePool::new();
    let input = InputBuffer::from_vec("fuzz.a", bytes.to_vec());
    let Ok(archive) = Archive::parse(input, &names) else { return };
    let _ = archive.member_defining(names.intern("foo"));
    let _ = archive.member_named("a.o");
    for index in 0..archive.member_count() {
        if let Some(member) = archive.member(index) {
            if let Ok(object_format) = format::object_format(&member) {
                let _ = object_format.interface(&member, &names);
            }
        }
    }
    let _ = archive.object_members().count();
}

/// Linker script text, as `jitld run` reads it (bytes as lossy UTF-8).
fn script_target(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let _ = jitld::cli::linker_script_inputs(&text, &[]);
}

/// Low, so that non-PIC code links too.
const SLAB: u64 = 0x1000_0000;

/// The names an object leaves undefined (none if goblin can't read it).
fn undefined_names(bytes: &[u8]) -> Vec<String> {
    let Ok(elf) = goblin::elf::Elf::parse(bytes) else { return Vec::new() };
    elf.syms
        .iter()
        .filter(|s| s.st_shndx == 0 && s.st_name != 0)
        .filter_map(|s| elf.strtab.get_at(s.st_name).map(str::to_owned))
        .collect()
}

/// A whole `jitld run --noexec --slab-address 0x10000000 --abs ...` of one object: the
/// session links every definition, the object's undefined names stand at fixed addresses.
fn link_target(bytes: &[u8]) {
    let input = InputBuffer::from_vec("fuzz.o", bytes.to_vec());
    if !matches!(format::sniff(&input), FileKind::Object(_)) {
        return;
    }
    let session = ExecutionSession::new(Arc::new(SlabMemoryManager::new(SLAB, 1 << 30)));
    let layer = ObjectLinkingLayer::new(session.clone());
    let dump = Arc::new(jitld::tools::RelocationDump::new());
    layer.add_plugin(dump.clone());
    let (Ok(main), Ok(process)) = (session.create_jit_dylib("main"), session.create_jit_dylib("<process>")) else {
        return;
    };
    session.add_generator(process, Arc::new(DynamicLibraryGenerator::process(layer.clone())));
    session.set_link_order(main, vec![(process, LookupFlags::MatchAllSymbols)]);
    // What `--abs` would give: every undefined name near the slab, so fix-ups get to run.
    let absolutes: Vec<_> = undefined_names(bytes)
        .iter()
        .enumerate()
        .map(|(i, name)| (session.intern(name), SLAB + (1 << 30) + 16 * i as u64, SymbolFlags::strong_function()))
        .collect();
    let _ = session.define_absolute(process, &absolutes);
    let mut wanted = Vec::new();
    if let Ok(interface) = format::elf::interface(&input, session.names()) {
        wanted.extend(interface.symbols.iter().map(|s| s.name));
    }
    if let Ok(init) = layer.add(main, input) {
        wanted.extend(init);
        if !wanted.is_empty() {
            let _ = session.lookup(&[(main, LookupFlags::MatchAllSymbols)], &wanted);
        }
    }
    let _ = dump.render();
    // Frees what was linked and the generators, which refer back to the session.
    let _ = session.remove_jit_dylib(main);
    let _ = session.remove_jit_dylib(process);
}

#[test]
fn fuzz_objects() {
    fuzz("objects", &object_seeds(), object_target);
}

#[test]
fn fuzz_archives() {
    fuzz("archives", &archive_seeds(), archive_target);
}

#[test]
fn fuzz_linker_scripts() {
    fuzz("linker_scripts", &script_seeds(), script_target);
}

#[test]
fn fuzz_noexec_link() {
    fuzz("noexec_link", &object_seeds(), link_target);
}

// ------------------------------------------------------------------ the driver

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Regressions, seeds, then mutations; fails with every input that panicked.
fn fuzz(target: &str, seeds: &[Vec<u8>], run: fn(&[u8])) {
    assert!(!seeds.is_empty(), "no seeds for {target}");
    let regressions = root().join("fuzz/regressions").join(target);
    let mut failures = Vec::new();
    let mut check = |input: &[u8], known: bool| {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| run(input))) {
            let message = panic_message(&panic);
            let saved = if known { None } else { Some(save(&regressions, input)) };
            failures.push((message, saved));
        }
    };
    for path in files_in(&regressions) {
        check(&read(&path), true);
    }
    for seed in seeds {
        check(seed, false);
    }
    let seed = env_u64("JITLD_FUZZ_SEED").unwrap_or(0x006a_6974_6c64);
    let mut rng = Rng(seed ^ fnv(target.as_bytes()));
    let deadline = env_u64("JITLD_FUZZ_SECONDS").map(|s| Instant::now() + Duration::from_secs(s));
    let iterations = env_u64("JITLD_FUZZ_ITERATIONS").unwrap_or(400);
    let mut done = 0u64;
    while deadline.map_or(done < iterations, |d| Instant::now() < d) {
        let base = &seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, base, seeds, target == "linker_scripts");
        check(&input, false);
        done += 1;
    }
    eprintln!("fuzz {target}: {done} mutations of {} seeds, {} failures", seeds.len(), failures.len());
    let report: Vec<String> = failures
        .iter()
        .map(|(message, saved)| match saved {
            Some(path) => format!("{message}\n  input saved as {}", path.display()),
            None => format!("{message}\n  (a known regression)"),
        })
        .collect();
    assert!(failures.is_empty(), "{target}: {} inputs panicked:\n{}", failures.len(), report.join("\n"));
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic without a message".into())
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).collect();
    files.sort();
    files
}

/// Keeps a failing input for good: `fuzz/regressions/<target>/<hash>.bin`.
fn save(dir: &Path, input: &[u8]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(format!("{:016x}.bin", fnv(input)));
    std::fs::write(&path, input).unwrap();
    path
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// SplitMix64: small, seedable, and the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Values that sit on the edges parsers get wrong.
const INTERESTING: [u64; 14] =
    [0, 1, 2, 7, 8, 0x40, 0x7f, 0x80, 0xff, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, i64::MAX as u64, u64::MAX];

/// Words that steer a linker script parser.
const SCRIPT_WORDS: [&str; 14] = [
    "GROUP",
    "INPUT",
    "AS_NEEDED",
    "OUTPUT_FORMAT",
    "SEARCH_DIR",
    "(",
    ")",
    ",",
    "/*",
    "*/",
    "-lc",
    "-l",
    "libc.so.6",
    " ",
];

/// One to four mutations of `base`: bit flips, interesting values written as 1 to 8 bytes,
/// small additions to fields, ASCII digits (archive headers are decimal), truncation,
/// copies within the input, splices from another seed, and for scripts, keyword insertion.
fn mutate(rng: &mut Rng, base: &[u8], seeds: &[Vec<u8>], text: bool) -> Vec<u8> {
    let mut out = base.to_vec();
    for _ in 0..1 + rng.below(4) {
        if out.is_empty() {
            out.push(rng.next() as u8);
        }
        let len = out.len();
        // Half the time aim at the headers, where one byte changes the most.
        let at = if rng.below(2) == 0 { rng.below(len.min(128)) } else { rng.below(len) };
        match rng.below(if text { 9 } else { 8 }) {
            0 => out[at] ^= 1 << rng.below(8),
            1 => {
                let width = [1, 2, 4, 8][rng.below(4)];
                let value = INTERESTING[rng.below(INTERESTING.len())].to_le_bytes();
                let end = (at + width).min(len);
                out[at..end].copy_from_slice(&value[..end - at]);
            }
            2 => {
                let end = (at + 4).min(len);
                let mut field = [0u8; 4];
                field[..end - at].copy_from_slice(&out[at..end]);
                let delta = [1u32, 4, 8, 16, 0x1000][rng.below(5)];
                let value = if rng.below(2) == 0 {
                    u32::from_le_bytes(field).wrapping_add(delta)
                } else {
                    u32::from_le_bytes(field).wrapping_sub(delta)
                };
                out[at..end].copy_from_slice(&value.to_le_bytes()[..end - at]);
            }
            3 => out[at] = b"0123456789 `/"[rng.below(13)],
            4 => out.truncate(rng.below(len)),
            5 => {
                let from = rng.below(len);
                let n = rng.below(64).min(len - from).min(len - at);
                out.copy_within(from..from + n, at);
            }
            6 => {
                let other = &seeds[rng.below(seeds.len())];
                if !other.is_empty() {
                    let from = rng.below(other.len());
                    let n = rng.below(256).min(other.len() - from).min(len - at);
                    out[at..at + n].copy_from_slice(&other[from..from + n]);
                }
            }
            7 => {
                let n = rng.below(32).min(len - at);
                out.drain(at..at + n);
            }
            _ => {
                let word = SCRIPT_WORDS[rng.below(SCRIPT_WORDS.len())];
                out.splice(at..at, word.bytes());
            }
        }
    }
    out
}

// ------------------------------------------------------------------ seeds

/// Sources compiled into seed objects: plain C, commons, constructors, TLS, an indirect
/// function, C++ with exceptions and COMDAT groups, and assembly with every relocation kind.
fn object_seeds() -> Vec<Vec<u8>> {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS
        .get_or_init(|| {
            let dir = scratch("fuzz-seeds");
            let fixtures = root().join("fixtures");
            let coff = root().join("tests/check/coff_x86_64");
            let builds: [(&str, PathBuf, &[&str]); 19] = [
                ("gcc", fixtures.join("malformed/small.c"), &["-O1", "-fPIE"]),
                ("clang-19", fixtures.join("malformed/small.c"), &["-O0", "-fno-pic"]),
                ("gcc", fixtures.join("run/common/a.c"), &["-O2", "-fcommon", "-fPIC"]),
                ("gcc", fixtures.join("run/ctors/a.c"), &["-O2", "-ffunction-sections", "-fdata-sections"]),
                ("gcc", fixtures.join("features/ifunc.c"), &["-O1", "-fPIC"]),
                ("clang-19", fixtures.join("malformed/tls_extern.c"), &["-O1", "-fPIC"]),
                ("g++", fixtures.join("cxx/exceptions/thrower.cpp"), &["-O1", "-fPIE"]),
                ("clang-19", fixtures.join("check/relocs.s"), &[]),
                ("gcc", fixtures.join("features/linkonce_a.s"), &[]),
                // The other rows and column of the grid: MachO for both architectures, ELF AArch64, COFF.
                ("clang-19", fixtures.join("macho/freestanding.c"), &["-target", "x86_64-apple-macos11", "-O1"]),
                ("clang-19", fixtures.join("macho/freestanding.c"), &["-target", "arm64-apple-macos11", "-O2"]),
                ("clang-19", fixtures.join("macho/freestanding.c"), &["--target=aarch64-linux-gnu", "-O2", "-fPIC"]),
                ("clang-19", fixtures.join("macho/freestanding.c"), &["--target=x86_64-pc-windows-msvc", "-O1"]),
                ("clang-19", fixtures.join("macho/freestanding.c"), &["--target=x86_64-w64-mingw32", "-O2"]),
                ("x86_64-w64-mingw32-gcc", fixtures.join("macho/freestanding.c"), &["-O1", "-DNO_THREAD_LOCALS"]),
                // COFF assembly: every relocation kind, COMDAT selections, weak externals,
                // SECREL/SECTION, `.drectve`.
                ("clang-19", coff.join("relocations.s"), &["--target=x86_64-pc-windows-msvc"]),
                ("clang-19", coff.join("comdat_selections.s"), &["--target=x86_64-pc-windows-msvc"]),
                ("clang-19", coff.join("section_relative.s"), &["--target=x86_64-pc-windows-msvc"]),
                ("clang-19", coff.join("alternatename.s"), &["--target=x86_64-pc-windows-msvc"]),
            ];
            let mut seeds: Vec<Vec<u8>> = builds
                .iter()
                .enumerate()
                .filter(|(_, (_, source, _))| source.exists())
                .map(|(i, (compiler, source, flags))| {
                    read(&compile(compiler, source, &dir.join(format!("{i}.o")), flags))
                })
                .collect();
            let snapshots = files_in(&fixtures.join("snapshots"));
            seeds.extend(snapshots.iter().filter(|p| p.extension().is_some_and(|e| e == "o")).map(|p| read(p)));
            seeds.extend(files_in(&root().join("fuzz/corpus/objects")).iter().map(|p| read(p)));
            seeds
        })
        .clone()
}

/// Archives of the seed objects: with and without a symbol index, one and several members,
/// and a member whose name needs the GNU long-name table.
fn archive_seeds() -> Vec<Vec<u8>> {
    let dir = scratch("fuzz-archives");
    let objects = object_seeds();
    let mut paths = Vec::new();
    for (i, bytes) in objects.iter().take(3).enumerate() {
        let name = if i == 2 { "a_member_with_a_long_name.o".to_string() } else { format!("m{i}.o") };
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        paths.push(path.display().to_string());
    }
    let mut seeds = Vec::new();
    for (name, flags, members) in
        [("one.a", "rcs", &paths[..1]), ("all.a", "rcs", &paths[..]), ("noindex.a", "rcS", &paths[..])]
    {
        let archive = dir.join(name);
        let mut args = vec![flags.to_string(), archive.display().to_string()];
        args.extend(members.iter().cloned());
        tool("ar", &args);
        seeds.push(read(&archive));
    }
    // COFF archives: the Microsoft layout (two linker members) and an import library.
    let coff: Vec<String> = objects
        .iter()
        .filter(|o| o.starts_with(&[0x64, 0x86]))
        .take(3)
        .enumerate()
        .map(|(i, bytes)| {
            let path = dir.join(format!("coff{i}.obj"));
            std::fs::write(&path, bytes).unwrap();
            path.display().to_string()
        })
        .collect();
    let microsoft = dir.join("microsoft.lib");
    let _ = std::fs::remove_file(&microsoft);
    tool("llvm-lib-19", &[[format!("/out:{}", microsoft.display())].as_slice(), &coff].concat());
    seeds.push(read(&microsoft));
    let def = dir.join("imports.def");
    std::fs::write(&def, "LIBRARY user32.dll\nEXPORTS\nMessageBoxA\nwsprintfA DATA\n").unwrap();
    let imports = dir.join("imports.lib");
    let (def, imports) = (def.display().to_string(), imports.display().to_string());
    tool("llvm-dlltool-19", &["-d".into(), def, "-l".into(), imports.clone(), "-m".into(), "i386:x86-64".into()]);
    seeds.push(read(Path::new(&imports)));
    seeds.extend(files_in(&root().join("fuzz/corpus/archives")).iter().map(|p| read(p)));
    seeds
}

fn script_seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = [
        "/* GNU ld script\n   Use the shared library, but some functions are only in\n   the static library, so try that secondarily.  */\nOUTPUT_FORMAT(elf64-x86-64)\nGROUP ( /lib/x86_64-linux-gnu/libc.so.6 /usr/lib/x86_64-linux-gnu/libc_nonshared.a  AS_NEEDED ( /lib64/ld-linux-x86-64.so.2 ) )\n",
        "/* GNU ld script\n*/\nOUTPUT_FORMAT(elf64-x86-64)\nGROUP ( /lib/x86_64-linux-gnu/libm.so.6  AS_NEEDED ( /lib/x86_64-linux-gnu/libmvec.so.1 ) )\n",
        "INPUT(-lc)\n",
        "GROUP ( libc.so.6 )",
        "SEARCH_DIR(/nowhere) INPUT(/nonexistent.o, -lnosuchlibrary)",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    seeds.extend(files_in(&root().join("fuzz/corpus/scripts")).iter().map(|p| read(p)));
    seeds
}
