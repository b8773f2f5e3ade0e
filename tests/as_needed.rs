//! Libraries a linker script names inside `AS_NEEDED` (Debian's `libm.so` names libmvec so)
//! load only when the program binds a name to them, as GNU ld records them as needed only
//! then: a program linked with `-lm` that uses no vector function has no libmvec in its
//! process (in jitld's, in an executor process, after a warm start from the image cache),
//! and one that calls a vector function still runs as its native executable does. Through
//! the library: an as-needed generator is loaded by the first lookup of a name it exports.

#[path = "common/harness.rs"]
mod harness;

use harness::{compile, jitld, run, scratch, tool, write, Run};
use jitld::generators::DynamicLibraryGenerator;
use jitld::layers::ObjectLinkingLayer;
use jitld::session::{ExecutionSession, LookupFlags};
use jitld_linker::memory::InProcessMemoryManager;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const LIBMVEC: &str = "/lib/x86_64-linux-gnu/libmvec.so.1";

/// Says whether libmvec is mapped in the process the program runs in (C, before `main`).
const LIBMVEC_PROBE: &str = r#"
#include <stdio.h>
#include <string.h>
static const char *libmvec(void) {
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[4096];
    int found = 0;
    while (maps && fgets(line, sizeof line, maps))
        found |= strstr(line, "libmvec") != NULL;
    if (maps)
        fclose(maps);
    return found ? "libmvec loaded" : "libmvec not loaded";
}
"#;

/// Prints `sqrt` of something (so libm is bound to) and whether libmvec is mapped.
const SCALAR: &str = r#"
#include <math.h>
int main(int argc, char **argv) {
    printf("%.6f %s\n", sqrt((double)argc + 1.0), libmvec());
    return 0;
}
"#;

/// Calls libmvec's two-lane `sin` (what gcc's vectorizer calls for a `sin` loop) and says
/// whether libmvec is mapped.
const VECTOR: &str = r#"
#include <emmintrin.h>
__m128d _ZGVbN2v_sin(__m128d);
int main(void) {
    double out[2];
    _mm_storeu_pd(out, _ZGVbN2v_sin(_mm_set_pd(1.0, 0.5)));
    printf("%.9f %.9f %s\n", out[0], out[1], libmvec());
    return 0;
}
"#;

/// A program's object and its native executable (linked by gcc with `-lm`).
struct Program {
    dir: PathBuf,
    object: PathBuf,
    native: Run,
}

fn program(name: &str, source: &str) -> Option<Program> {
    if !Path::new(LIBMVEC).is_file() || !Path::new("/usr/lib/x86_64-linux-gnu/libm.so").is_file() {
        eprintln!("skipped: no libmvec here");
        return None;
    }
    let dir = scratch(&format!("as_needed-{name}"));
    let source = write(&dir, &format!("{name}.c"), source);
    let object = compile("gcc", &source, &dir.join(format!("{name}.o")), &["-O2"]);
    let exe = dir.join(name);
    tool("gcc", &[object.display().to_string(), "-lm".into(), "-o".into(), exe.display().to_string()]);
    let native = run(&exe.display().to_string(), &[] as &[&str]);
    assert_eq!(native.code, Some(0), "{}", native.describe());
    Some(Program { dir, object, native })
}

/// `jitld run EXTRA... OBJECT -lm`, which must print what the native executable printed.
fn run_as_native(p: &Program, extra: &[&str]) -> Run {
    let mut args = vec!["run".to_string()];
    args.extend(extra.iter().map(|a| a.to_string()));
    args.extend([p.object.display().to_string(), "-lm".into()]);
    let out = jitld(&args);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_eq!(out.stdout, p.native.stdout, "stdout differs from native\n{}", out.describe());
    out
}

/// Cold, then warm: both as native, the second from the image.
fn cold_then_warm(p: &Program) {
    let cache = format!("--cache={}", p.dir.join("cache").display());
    let cold = run_as_native(p, &[&cache, "--stats"]);
    assert!(cold.stderr.contains("image cache: miss: stored"), "{}", cold.describe());
    let warm = run_as_native(p, &[&cache, "--stats"]);
    assert!(warm.stderr.contains("image cache: hit: no graph built"), "{}", warm.describe());
}

#[test]
fn a_library_the_program_binds_nothing_to_is_not_loaded() {
    let Some(p) = program("scalar", &format!("{LIBMVEC_PROBE}{SCALAR}")) else { return };
    assert!(p.native.stdout.ends_with("libmvec not loaded\n"), "{}", p.native.describe());
    run_as_native(&p, &[]);
    run_as_native(&p, &["--oop"]);
    cold_then_warm(&p);
}

#[test]
fn a_library_the_program_calls_is_loaded_and_runs_as_native() {
    let Some(p) = program("vector", &format!("{LIBMVEC_PROBE}{VECTOR}")) else { return };
    assert!(p.native.stdout.ends_with(" libmvec loaded\n"), "{}", p.native.describe());
    run_as_native(&p, &[]);
    run_as_native(&p, &["--oop"]);
    cold_then_warm(&p);
}

/// Whether libmvec is mapped in this test's process.
fn libmvec_mapped_here() -> bool {
    std::fs::read_to_string("/proc/self/maps").unwrap().contains("libmvec")
}

/// The only test in this file that loads libmvec in its own process (the others run
/// programs in processes of their own).
#[test]
fn an_as_needed_generator_loads_at_the_first_lookup_of_a_name_it_exports() {
    if !Path::new(LIBMVEC).is_file() || libmvec_mapped_here() {
        eprintln!("skipped: no libmvec here, or loaded already");
        return;
    }
    let session = ExecutionSession::new(Arc::new(InProcessMemoryManager::new()));
    let layer = ObjectLinkingLayer::new(session.clone());
    let main = session.create_jit_dylib("main").unwrap();
    let process = session.create_jit_dylib("<process>").unwrap();
    let file = jitld_linker::InputBuffer::from_vec(LIBMVEC, std::fs::read(LIBMVEC).unwrap());
    let libmvec = Arc::new(DynamicLibraryGenerator::as_needed(Path::new(LIBMVEC), file, layer.clone()).unwrap());
    session.add_generator(main, libmvec.clone());
    session.add_generator(process, Arc::new(DynamicLibraryGenerator::process(layer.clone())));
    session.set_link_order(main, vec![(process, LookupFlags::MatchAllSymbols)]);
    let order = session.search_order(main);

    // Names it does not export go on to the process, and load nothing.
    let found = session.lookup(&order, &[session.intern("strlen"), session.intern("malloc")]).unwrap();
    assert!(found.iter().all(|f| f.addr != 0));
    assert_eq!(libmvec.loaded_path(), None);
    assert!(!libmvec_mapped_here());
    let missing = session.lookup(&order, &[session.intern("no_such_function_anywhere")]);
    assert!(missing.is_err());
    assert_eq!(libmvec.loaded_path(), None);

    // Its own name loads it, and is what the dynamic loader finds there.
    let found = session.lookup(&order, &[session.intern("_ZGVbN2v_sin")]).unwrap();
    assert_eq!(libmvec.loaded_path().as_deref(), Some(LIBMVEC));
    assert!(libmvec_mapped_here());
    let native = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"_ZGVbN2v_sin".as_ptr()) } as u64;
    assert_eq!(found[0].addr, native);
}
