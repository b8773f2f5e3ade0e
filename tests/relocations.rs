//! Every relocation type jitld claims to support, proven by running code that depends on it.
//!
//! `fixtures/check/relocs.s` uses each type the way compilers and assembly programmers do;
//! `fixtures/check/check.c` calls into it and compares every computed value with an
//! address it knows, printing `ok <what>` or `FAIL <what>`. The program must pass when
//! linked natively (which checks the fixture) and under `jitld run`. The tests also check
//! that the objects really contain each relocation type (so coverage cannot silently go),
//! that `jitld graph` has one edge per relocation, that GOT loads of local symbols are
//! relaxed, that large-code-model C from gcc and clang runs like its native build, and
//! that a value that does not fit its field is an error naming the site, never truncated.
//!
//! Everything is built at run time under `target/tmp/relocations-*`.

#[path = "common/harness.rs"]
mod harness;

use harness::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The relocation types jitld supports (`linker/src/arch/x86_64/elf.rs`).
const CLAIMED: [&str; 21] = [
    "R_X86_64_64",
    "R_X86_64_PC32",
    "R_X86_64_PLT32",
    "R_X86_64_32",
    "R_X86_64_32S",
    "R_X86_64_GOTPCREL",
    "R_X86_64_GOTPCRELX",
    "R_X86_64_REX_GOTPCRELX",
    "R_X86_64_GOTPC32",
    "R_X86_64_GOTPC64",
    "R_X86_64_GOTOFF64",
    "R_X86_64_GOT64",
    "R_X86_64_GOTPCREL64",
    "R_X86_64_PLTOFF64",
    "R_X86_64_PC64",
    "R_X86_64_16",
    "R_X86_64_PC16",
    "R_X86_64_8",
    "R_X86_64_PC8",
    "R_X86_64_SIZE32",
    "R_X86_64_SIZE64",
];

fn fixture(name: &str) -> PathBuf {
    root().join("fixtures/check").join(name)
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// The check program's objects and its native build, made once per test process.
struct Check {
    relocs: PathBuf,
    abs: PathBuf,
    main: PathBuf,
    native: PathBuf,
}

impl Check {
    /// The objects in link order, for `jitld run`.
    fn inputs(&self) -> Vec<String> {
        [&self.main, &self.relocs, &self.abs].iter().map(|p| path(p)).collect()
    }
}

fn check_build() -> &'static Check {
    static BUILD: OnceLock<Check> = OnceLock::new();
    BUILD.get_or_init(|| {
        let dir = scratch("relocations-check");
        let relocs = compile("clang-19", &fixture("relocs.s"), &dir.join("relocs.o"), &[]);
        let abs = dir.join("abs.o");
        tool("llvm-mc-19", &["-filetype=obj", "-triple=x86_64-linux-gnu", &path(&fixture("abs.s")), "-o", &path(&abs)]);
        let main = compile("gcc", &fixture("check.c"), &dir.join("check.o"), &["-O1", "-fPIE", "-Wall", "-Werror"]);
        let native = dir.join("native");
        tool("gcc", &["-no-pie", &path(&main), &path(&relocs), &path(&abs), "-o", &path(&native)]);
        Check { relocs, abs, main, native }
    })
}

/// The relocation types in an object file.
fn kinds(obj: &Path) -> BTreeSet<String> {
    relocations(&read(obj)).into_iter().map(|r| r.kind).collect()
}

/// Lines of the check program's output that report a check.
fn verdicts(stdout: &str) -> (Vec<&str>, Vec<&str>) {
    let ok = stdout.lines().filter_map(|l| l.strip_prefix("ok ")).collect();
    let failed = stdout.lines().filter_map(|l| l.strip_prefix("FAIL ")).collect();
    (ok, failed)
}

#[test]
fn check_objects_contain_every_claimed_relocation_type() {
    let build = check_build();
    let mut found = kinds(&build.relocs);
    found.extend(kinds(&build.abs));
    let missing: Vec<&str> = CLAIMED.iter().copied().filter(|k| !found.contains(*k)).collect();
    assert!(missing.is_empty(), "relocs.s no longer produces {missing:?}; it has {found:?}");

    // The GOT relaxation cases need these exact pairs.
    let relocs = relocations(&read(&build.relocs));
    for (kind, symbol, count) in [
        ("R_X86_64_GOTPCRELX", "rc_seven", 2), // call and jmp, relaxable
        ("R_X86_64_GOTPCRELX", "puts", 2),     // call and jmp to libc
        ("R_X86_64_REX_GOTPCRELX", "rc_obj", 1),
        ("R_X86_64_REX_GOTPCRELX", "puts", 1),
        ("R_X86_64_GOTPCREL", "rc_obj", 2), // an instruction and a data word
        ("R_X86_64_PLTOFF64", "puts", 1),
        ("R_X86_64_GOT64", "puts", 1),
    ] {
        let n = relocs.iter().filter(|r| r.kind == kind && r.symbol == symbol).count();
        assert_eq!(n, count, "{kind} against {symbol} in relocs.o: {relocs:#?}");
    }
}

#[test]
fn check_program_passes_when_linked_natively() {
    let build = check_build();
    let out = run(&path(&build.native), &[] as &[&str]);
    let (ok, failed) = verdicts(&out.stdout);
    assert!(failed.is_empty() && out.code == Some(0), "the fixture itself is wrong:\n{}", out.describe());
    assert!(ok.len() >= CLAIMED.len(), "too few checks ran:\n{}", out.describe());
}

#[test]
fn every_relocation_type_computes_the_right_value_under_jitld() {
    let build = check_build();
    let mut args = vec!["run".to_string()];
    args.extend(build.inputs());
    let out = jitld(&args);
    assert!(!out.panicked() && out.stderr.is_empty(), "jitld failed:\n{}", out.describe());
    let (ok, failed) = verdicts(&out.stdout);
    assert!(failed.is_empty(), "wrong values under jitld: {failed:#?}\n{}", out.describe());
    assert_eq!(out.code, Some(0), "{}", out.describe());
    for kind in CLAIMED {
        let proven = ok.iter().any(|name| *name == kind || name.starts_with(&format!("{kind} ")));
        assert!(proven, "no passing check for {kind}:\n{}", out.describe());
    }
    // The libc calls printed their strings.
    for line in ["R_X86_64_PLT32 puts", "R_X86_64_GOTPCRELX call puts", "R_X86_64_GOTPCRELX jmp puts"] {
        assert!(out.stdout.lines().any(|l| l == line), "missing {line:?}:\n{}", out.describe());
    }
}

/// The edge kind `jitld graph` shows for a relocation type, and whether its target is the
/// graph's GOT base rather than the relocation's symbol.
fn graph_kind(r_type: &str) -> (&'static str, bool) {
    match r_type {
        "R_X86_64_64" => ("Pointer64", false),
        "R_X86_64_PC32" => ("Delta32", false),
        "R_X86_64_PLT32" => ("BranchPCRel32", false),
        "R_X86_64_32" => ("Pointer32", false),
        "R_X86_64_32S" => ("Pointer32Signed", false),
        "R_X86_64_16" => ("Pointer16", false),
        "R_X86_64_PC16" => ("Delta16", false),
        "R_X86_64_8" => ("Pointer8", false),
        "R_X86_64_PC8" => ("Delta8", false),
        "R_X86_64_PC64" => ("Delta64", false),
        "R_X86_64_GOTPCREL" => ("RequestGotAndTransformToDelta32", false),
        "R_X86_64_GOTPCRELX" => ("RequestGotAndTransformToPCRel32GotLoadRelaxable", false),
        "R_X86_64_REX_GOTPCRELX" => ("RequestGotAndTransformToPCRel32GotLoadRexRelaxable", false),
        "R_X86_64_GOTPCREL64" => ("RequestGotAndTransformToDelta64", false),
        "R_X86_64_GOT64" => ("RequestGotAndTransformToDelta64FromGot", false),
        "R_X86_64_GOTOFF64" | "R_X86_64_PLTOFF64" => ("Delta64FromGot", false),
        "R_X86_64_GOTPC32" => ("Delta32", true),
        "R_X86_64_GOTPC64" => ("Delta64", true),
        "R_X86_64_SIZE32" => ("Size32", false),
        "R_X86_64_SIZE64" => ("Size64", false),
        other => panic!("no expectation for {other}"),
    }
}

fn signed_hex(value: i64) -> String {
    if value < 0 {
        format!("-{:#x}", value.unsigned_abs())
    } else {
        format!("+{value:#x}")
    }
}

/// `jitld graph` output as (section, edge line) pairs.
fn graph_edges(dump: &str) -> Vec<(String, String)> {
    let mut section = String::new();
    let mut edges = Vec::new();
    for line in dump.lines() {
        if let Some(rest) = line.strip_prefix("section ") {
            section = rest.split(' ').next().unwrap_or_default().to_string();
        } else if let Some(edge) = line.trim_start().strip_prefix("edge ") {
            edges.push((section.clone(), edge.to_string()));
        }
    }
    edges
}

#[test]
fn graph_has_one_edge_per_relocation() {
    let build = check_build();
    for obj in [&build.relocs, &build.main] {
        let out = jitld(&["graph", &path(obj)]);
        assert_eq!(out.code, Some(0), "{}", out.describe());
        let mut edges = graph_edges(&out.stdout);
        for r in relocations(&read(obj)) {
            let (kind, to_got_base) = graph_kind(&r.kind);
            let target = if to_got_base || r.symbol == "_GLOBAL_OFFSET_TABLE_" {
                "$__GOT+0x0".to_string()
            } else if r.section_symbol {
                format!("{}+0x0", r.symbol)
            } else {
                r.symbol.clone()
            };
            // .eh_frame is shown as built (one block); at link time its records may be split.
            let want = format!("+{:#x} {kind} -> {target} {}", r.offset, signed_hex(r.addend));
            let at = edges.iter().position(|(section, edge)| *section == r.section && *edge == want);
            let at =
                at.unwrap_or_else(|| panic!("no edge `{want}` in section {} for {r:?} in:\n{}", r.section, out.stdout));
            edges.remove(at);
        }
        // The only edges without a relocation are the KeepAlive ones nothing here creates.
        assert!(edges.is_empty(), "edges without a relocation in {}: {edges:#?}", obj.display());
    }
}

#[test]
fn got_loads_of_local_symbols_are_relaxed() {
    let build = check_build();
    let bytes = read(&build.relocs);
    let site = |label: &str| symbol_value(&bytes, label);

    // Before linking, every GOT load is still a request for a GOT entry.
    let out = jitld(&["graph", &path(&build.relocs)]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let call = site("rc_site_call_local") + 2;
    let want = format!("edge +{call:#x} RequestGotAndTransformToPCRel32GotLoadRelaxable -> rc_seven -0x4");
    assert!(out.stdout.contains(&want), "graph lacks `{want}`:\n{}", out.stdout);

    // After linking at a fixed address: loads of local symbols became lea/direct branches,
    // the GOTPCREL one (not relaxable by the psABI) and the libc ones stayed GOT loads.
    let mut args: Vec<String> =
        ["run", "--noexec", "--slab-address", "0x10000000", "--dump-relocs"].map(String::from).into();
    args.extend(build.inputs());
    let out = jitld(&args);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let dump = out.stdout.split("graph ").find(|g| g.starts_with(&path(&build.relocs))).expect("relocs.o in dump");
    let edge_at = |offset: u64| {
        let prefix = format!("  .text+{offset:#x} @");
        dump.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no edge at .text+{offset:#x}:\n{dump}"))
    };
    let ext_rex = relocations(&bytes)
        .into_iter()
        .find(|r| r.kind == "R_X86_64_REX_GOTPCRELX" && r.symbol == "puts")
        .expect("REX_GOTPCRELX to puts")
        .offset;
    for (offset, want) in [
        (site("rc_site_mov_local") + 3, " Delta32 -> rc_obj -0x4 "),
        (site("rc_site_movl_local") + 2, " Delta32 -> rc_obj -0x4 "),
        (site("rc_site_call_local") + 2, " Delta32 -> rc_seven -0x4 "),
        // `jmp *disp(%rip)` (ff 25) becomes `jmp rel32; nop` (e9 .. 90): the field moves back one.
        (site("rc_site_jmp_local") + 1, " Delta32 -> rc_seven -0x4 "),
        (site("rc_site_norelax_local") + 3, " Delta32 -> rc_obj@got -0x4 "),
        (ext_rex, " PCRel32GotLoadRexRelaxable -> puts@got -0x4 "),
    ] {
        let line = edge_at(offset);
        assert!(line.contains(want), "at .text+{offset:#x} expected `{want}`, got:\n{line}\n{dump}");
    }

    // And the instructions as they ran: printed by check.c from its own memory.
    let mut args = vec!["run".to_string()];
    args.extend(build.inputs());
    let out = jitld(&args);
    let bytes_of = |name: &str| {
        let prefix = format!("site {name}: ");
        let line = out.stdout.lines().find_map(|l| l.strip_prefix(&prefix));
        line.unwrap_or_else(|| panic!("no site {name}:\n{}", out.describe())).to_string()
    };
    assert!(bytes_of("mov_local").starts_with("48 8d 05"), "mov → lea: {}", bytes_of("mov_local"));
    assert!(bytes_of("movl_local").starts_with("8d 05"), "movl → leal: {}", bytes_of("movl_local"));
    assert!(bytes_of("norelax_local").starts_with("48 8b 05"), "GOTPCREL kept: {}", bytes_of("norelax_local"));
    assert!(bytes_of("call_local").starts_with("67 e8"), "call → addr32 call: {}", bytes_of("call_local"));
    let jmp = bytes_of("jmp_local");
    assert!(jmp.starts_with("e9") && jmp.ends_with("90"), "jmp → jmp rel32; nop: {jmp}");
}

/// Compiles large_model.c with `compiler`, checks its relocation types, and requires
/// `jitld run` to print and return exactly what the native build does.
fn large_model(compiler: &str, expected: &[&str]) {
    let dir = scratch(&format!("relocations-large-{compiler}"));
    let obj = compile(compiler, &fixture("large_model.c"), &dir.join("large.o"), &["-O2", "-mcmodel=large", "-fPIC"]);
    let found = kinds(&obj);
    for kind in expected {
        assert!(found.contains(*kind), "{compiler} -mcmodel=large no longer emits {kind}: {found:?}");
    }
    let native = dir.join("native");
    tool(compiler, &[&path(&obj), "-o", &path(&native)]);
    let args = ["one", "three"];
    let want = run(&path(&native), &args);
    assert_eq!(want.code, Some(4), "native run:\n{}", want.describe());
    let mut argv = vec!["run".to_string(), path(&obj), "--".to_string()];
    argv.extend(args.map(String::from));
    let got = jitld(&argv);
    assert_eq!((got.code, got.stdout.as_str()), (want.code, want.stdout.as_str()), "{}", got.describe());
    assert!(got.stderr.is_empty(), "{}", got.describe());
}

#[test]
fn large_code_model_gcc() {
    large_model(
        "gcc",
        &["R_X86_64_GOTPC64", "R_X86_64_GOTOFF64", "R_X86_64_GOT64", "R_X86_64_PLTOFF64", "R_X86_64_64"],
    );
}

#[test]
fn large_code_model_clang() {
    large_model("clang-19", &["R_X86_64_GOTPC64", "R_X86_64_GOTOFF64", "R_X86_64_GOT64", "R_X86_64_PC64"]);
}

// ------------------------------------------------------------------ range errors

/// Links `obj` with `--noexec` at `slab` and requires an out-of-range error for the
/// relocation of `r_type` against `target`, naming file, section+offset, symbol and kind.
fn assert_out_of_range(obj: &Path, slab: &str, r_type: &str, target: &str, covering: &str) {
    let r = relocations(&read(obj))
        .into_iter()
        .find(|r| r.kind == r_type && r.symbol == target)
        .unwrap_or_else(|| panic!("{} has no {r_type} against {target}", obj.display()));
    let (kind, _) = graph_kind(r_type);
    let file = path(obj);
    let out = jitld(&["run", "--noexec", "--slab-address", slab, &file]);
    let site = format!(
        "{file}: section {}+{:#x} (in {covering}): relocation {kind} to {target} out of range",
        r.section, r.offset
    );
    assert_clean_error(&out, &[&site]);
}

#[test]
fn absolute_32_bit_address_above_4gib_is_an_error() {
    let dir = scratch("relocations-range");
    for (compiler, name) in [("gcc", "abs32-gcc.o"), ("clang-19", "abs32-clang.o")] {
        let obj = compile(compiler, &fixture("abs32.c"), &dir.join(name), &["-O1", "-fno-pic"]);
        assert_out_of_range(&obj, "0x7f0000000000", "R_X86_64_32", "value", "address_of_value");
        // The same object is fine where jitld puts memory by default (below 2 GiB).
        let out = jitld(&["run", &path(&obj)]);
        assert_eq!(out.code, Some(0), "{}", out.describe());
    }
    let obj = compile("clang-19", &fixture("range_32s.s"), &dir.join("range_32s.o"), &[]);
    assert_out_of_range(&obj, "0x7f0000000000", "R_X86_64_32S", "range_data", "main");
}

#[test]
fn pc_relative_8_bit_out_of_reach_is_an_error() {
    let dir = scratch("relocations-range-pc8");
    let obj = compile("clang-19", &fixture("range_pc8.s"), &dir.join("range_pc8.o"), &[]);
    assert_out_of_range(&obj, "0x10000000", "R_X86_64_PC8", "main", "too_far");
    assert_clean_error(&jitld(&["run", &path(&obj)]), &["Delta8 to main out of range"]);
}
