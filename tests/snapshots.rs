//! Snapshots of what objects become: `jitld graph` (the graph as built) and `--dump-relocs`
//! (every fix-up and the bytes it wrote) at fixed slab addresses. The objects are committed
//! (`fixtures/snapshots/build.sh` rebuilds them) so a compiler upgrade can't move the
//! snapshots. Re-record after an intended change with `make snapshots`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/snapshots").join(name)
}

/// Runs jitld from the fixture directory (so paths in the output are relative) and returns
/// stdout, failing on a non-zero exit.
fn jitld(args: &[&str]) -> String {
    let out =
        Command::new(env!("CARGO_BIN_EXE_jitld")).args(args).current_dir(fixture("")).output().expect("run jitld");
    assert!(out.status.success(), "jitld {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

macro_rules! snapshot {
    ($name:expr, $value:expr) => {
        insta::with_settings!({ snapshot_path => "../snapshots", prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!($name, $value);
        })
    };
}

/// `puts` and `shared_value` as if a library defined them at these addresses.
const HIGH_EXTERNALS: [&str; 4] = ["--abs", "puts=0x7f0000900000", "--abs", "shared_value=0x7f0000a00000"];
const LOW_DATA_EXTERNALS: [&str; 4] = ["--abs", "puts=0x7f0000900000", "--abs", "shared_value=0x10a00000"];

fn dump_relocs_with(object: &str, slab: &str, externals: [&str; 4]) -> String {
    let mut args = vec!["run", "--noexec", "--slab-address", slab, "--dump-relocs"];
    args.extend(externals);
    args.push(object);
    jitld(&args)
}

fn dump_relocs(object: &str, slab: &str) -> String {
    dump_relocs_with(object, slab, HIGH_EXTERNALS)
}

#[test]
fn graph_of_clang_pic_object() {
    snapshot!("graph_reloc_mix_clang_pic", jitld(&["graph", "reloc_mix.clang-pic.o"]));
}

#[test]
fn graph_of_gcc_nopic_object() {
    snapshot!("graph_reloc_mix_gcc_nopic", jitld(&["graph", "reloc_mix.gcc-nopic.o"]));
}

#[test]
fn graph_shows_initializer_sections_with_priorities() {
    snapshot!("graph_ctors_clang_pic", jitld(&["graph", "ctors.clang-pic.o"]));
}

#[test]
fn relocations_of_clang_pic_object_high_in_memory() {
    snapshot!("relocs_reloc_mix_clang_pic", dump_relocs("reloc_mix.clang-pic.o", "0x7f0000000000"));
}

#[test]
fn relocations_of_gcc_pie_object_high_in_memory() {
    snapshot!("relocs_reloc_mix_gcc_pie", dump_relocs("reloc_mix.gcc-pie.o", "0x7f0000000000"));
}

/// Non-PIC code needs its image below 2 GiB; `puts` is far away there, so its call goes
/// through a stub.
#[test]
fn relocations_of_gcc_nopic_object_low_in_memory() {
    snapshot!(
        "relocs_reloc_mix_gcc_nopic",
        dump_relocs_with("reloc_mix.gcc-nopic.o", "0x10000000", LOW_DATA_EXTERNALS)
    );
}

/// Data can't go through a stub: a 32-bit displacement to far data is an error that names
/// the site, the target and the kind, never a truncated value.
#[test]
fn far_data_reference_is_an_error_naming_site_target_and_kind() {
    let mut args = vec!["run", "--noexec", "--slab-address", "0x10000000"];
    args.extend(HIGH_EXTERNALS);
    args.push("reloc_mix.gcc-nopic.o");
    let out = Command::new(env!("CARGO_BIN_EXE_jitld")).args(&args).current_dir(fixture("")).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: reloc_mix.gcc-nopic.o: section .text+0x65 (in entry): relocation Delta32 to shared_value out of range"),
        "{stderr}"
    );
}

#[test]
fn dumps_are_deterministic() {
    for object in ["reloc_mix.clang-pic.o", "reloc_mix.gcc-pie.o", "ctors.clang-pic.o"] {
        let first = dump_relocs(object, "0x7f0000000000");
        for _ in 0..3 {
            assert_eq!(first, dump_relocs(object, "0x7f0000000000"), "{object}: dump changed between runs");
        }
    }
}

/// The other cells of the grid, on the same C: MachO x86-64 and arm64 (C names take `_`),
/// ELF AArch64.
const MACHO_EXTERNALS: [&str; 4] = ["--abs", "_puts=0x7f0000900000", "--abs", "_shared_value=0x7f0000a00000"];

#[test]
fn graph_of_macho_x86_64_object() {
    snapshot!("graph_reloc_mix_macho_x86_64", jitld(&["graph", "reloc_mix.macho-x86_64.o"]));
}

#[test]
fn relocations_of_macho_x86_64_object() {
    let dump = dump_relocs_with("reloc_mix.macho-x86_64.o", "0x10000000", MACHO_EXTERNALS);
    snapshot!("relocs_reloc_mix_macho_x86_64", dump);
}

#[test]
fn relocations_of_macho_arm64_object() {
    let dump = dump_relocs_with("reloc_mix.macho-arm64.o", "0x10000000", MACHO_EXTERNALS);
    snapshot!("relocs_reloc_mix_macho_arm64", dump);
}

#[test]
fn relocations_of_elf_aarch64_object() {
    snapshot!("relocs_reloc_mix_elf_aarch64_pic", dump_relocs("reloc_mix.elf-aarch64-pic.o", "0x10000000"));
}

/// COFF x86-64 (the same C, from clang for MSVC and from MinGW's GCC): the graph as built and
/// the fix-ups at a low slab (`shared_value` near it, as MSVC code reaches extern data with
/// 32-bit displacements; `puts` far, through a stub).
#[test]
fn graph_of_coff_msvc_object() {
    snapshot!("graph_reloc_mix_coff_msvc", jitld(&["graph", "reloc_mix.coff-msvc.o"]));
}

#[test]
fn graph_of_coff_gcc_mingw_object() {
    snapshot!("graph_reloc_mix_coff_gcc_mingw", jitld(&["graph", "reloc_mix.coff-gcc-mingw.o"]));
}

#[test]
fn relocations_of_coff_msvc_object() {
    let dump = dump_relocs_with("reloc_mix.coff-msvc.o", "0x10000000", LOW_DATA_EXTERNALS);
    snapshot!("relocs_reloc_mix_coff_msvc", dump);
}

#[test]
fn relocations_of_coff_gcc_mingw_object() {
    let dump = dump_relocs_with("reloc_mix.coff-gcc-mingw.o", "0x10000000", LOW_DATA_EXTERNALS);
    snapshot!("relocs_reloc_mix_coff_gcc_mingw", dump);
}
