//! The ORC session's rules, through the library and through `jitld run`: link orders,
//! duplicate and weak definitions, failures that leave the session usable, aliases and
//! re-exports, lazy re-exports under concurrency, and removal.

use jitld::generators::DynamicLibraryGenerator;
use jitld::layers::ObjectLinkingLayer;
use jitld::lazy::{LazyReexportsUnit, LazyStats};
use jitld::platform::Platform;
use jitld::session::{DylibId, ExecutionSession, LookupFlags, SymbolFlags};
use jitld::JitError;
use jitld_linker::memory::InProcessMemoryManager;
use jitld_linker::InputBuffer;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Compiles C `source` to an object under target/session-tests, once per content.
fn object(name: &str, source: &str) -> PathBuf {
    // Tests run in parallel and share sources like `a1.c`: compile one at a time.
    static COMPILING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = COMPILING.lock().unwrap_or_else(|e| e.into_inner());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/session-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let c = dir.join(format!("{name}.c"));
    let o = dir.join(format!("{name}.o"));
    if std::fs::read_to_string(&c).ok().as_deref() != Some(source) || !o.exists() {
        std::fs::write(&c, source).unwrap();
        let status = Command::new("cc").args(["-O1", "-fPIC", "-c"]).arg(&c).arg("-o").arg(&o).status().unwrap();
        assert!(status.success(), "cc failed for {name}");
    }
    o
}

fn input(path: &Path) -> InputBuffer {
    InputBuffer::from_vec(path.display().to_string(), std::fs::read(path).unwrap())
}

/// A session with the platform and the process behind `main`.
struct Jit {
    session: ExecutionSession,
    layer: ObjectLinkingLayer,
    platform: Arc<Platform>,
    main: DylibId,
    process: DylibId,
}

impl Jit {
    fn new() -> Jit {
        let session = ExecutionSession::new(Arc::new(InProcessMemoryManager::new()));
        let layer = ObjectLinkingLayer::new(session.clone());
        let platform = Platform::install(&layer);
        let process = session.create_jit_dylib("<process>").unwrap();
        session.add_generator(process, Arc::new(DynamicLibraryGenerator::process(layer.clone())));
        let jit = Jit { main: DylibId(0), session, layer, platform, process };
        let main = jit.dylib("main", &[]);
        Jit { main, ..jit }
    }

    /// A JITDylib that links against `links` (exported symbols only), then the process.
    fn dylib(&self, name: &str, links: &[DylibId]) -> DylibId {
        let dylib = self.session.create_jit_dylib(name).unwrap();
        self.platform.setup_dylib(dylib).unwrap();
        let mut order: Vec<_> = links.iter().map(|&d| (d, LookupFlags::MatchExportedSymbolsOnly)).collect();
        order.push((self.process, LookupFlags::MatchAllSymbols));
        self.session.set_link_order(dylib, order);
        dylib
    }

    fn add(&self, dylib: DylibId, path: &Path) -> Result<(), JitError> {
        self.layer.add(dylib, input(path)).map(|_| ())
    }

    fn lookup(&self, dylib: DylibId, name: &str) -> Result<u64, JitError> {
        let order = self.session.search_order(dylib);
        Ok(self.session.lookup(&order, &[self.session.intern(name)])?[0].addr)
    }

    fn call(&self, dylib: DylibId, name: &str) -> i32 {
        let addr = self.lookup(dylib, name).unwrap_or_else(|e| panic!("lookup {name}: {e}"));
        // SAFETY: the test's C functions are `int f(void)`.
        let f: extern "C" fn() -> i32 = unsafe { std::mem::transmute(addr as usize) };
        f()
    }
}

const A1: &str = "int foo(void) { return 1; }\nint a_only(void) { return 10; }\n";
const A2: &str = "int a2(void) { return 2; }\n";
const B1: &str = "int foo(void) { return 100; }\nint b_only(void) { return 20; }\n";
const MAIN: &str =
    "int foo(void); int a_only(void); int b_only(void);\nint run(void) { return foo() + a_only() + b_only(); }\n";

/// The seed document's example: main links against A then B; both define `foo`; main's
/// reference binds to A's.
#[test]
fn link_order_first_match_wins_library() {
    let jit = Jit::new();
    let a = jit.dylib("A", &[]);
    let b = jit.dylib("B", &[]);
    jit.add(a, &object("a1", A1)).unwrap();
    jit.add(a, &object("a2", A2)).unwrap();
    jit.add(b, &object("b1", B1)).unwrap();
    jit.session.set_link_order(
        jit.main,
        vec![
            (a, LookupFlags::MatchExportedSymbolsOnly),
            (b, LookupFlags::MatchExportedSymbolsOnly),
            (jit.process, LookupFlags::MatchAllSymbols),
        ],
    );
    jit.add(jit.main, &object("main_ab", MAIN)).unwrap();
    assert_eq!(jit.call(jit.main, "run"), 1 + 10 + 20);
    assert_eq!(jit.call(b, "foo"), 100, "B's own foo is still there");
}

#[test]
fn duplicate_strong_definitions_in_one_dylib_name_both_origins() {
    let jit = Jit::new();
    let a = jit.dylib("A", &[]);
    let first = object("a1", A1);
    jit.add(a, &first).unwrap();
    let clash = object("a1_clash", "int foo(void) { return 3; }\n");
    let error = jit.add(a, &clash).unwrap_err().to_string();
    assert!(error.contains("duplicate definition of foo"), "{error}");
    assert!(error.contains("a1.o") && error.contains("a1_clash.o"), "{error}");
    // The failed add left A as it was.
    assert_eq!(jit.call(a, "foo"), 1);
}

#[test]
fn same_name_in_two_dylibs_is_fine() {
    let jit = Jit::new();
    let a = jit.dylib("A", &[]);
    let b = jit.dylib("B", &[]);
    jit.add(a, &object("a1", A1)).unwrap();
    jit.add(b, &object("b1", B1)).unwrap();
    assert_eq!((jit.call(a, "foo"), jit.call(b, "foo")), (1, 100));
}

#[test]
fn dylib_names_are_unique() {
    let jit = Jit::new();
    jit.dylib("A", &[]);
    assert!(matches!(jit.session.create_jit_dylib("A"), Err(JitError::DuplicateDylib(_))));
}

const WEAK: &str = "__attribute__((weak)) int level(void) { return 1; }\nint weak_user(void) { return level(); }\n";
const STRONG: &str = "int level(void) { return 5; }\n";

/// Inside one JITDylib a strong definition replaces a weak one whichever comes first; across
/// JITDylibs the link order decides, as between shared libraries.
#[test]
fn weak_definitions_across_objects_and_dylibs() {
    for strong_first in [false, true] {
        let jit = Jit::new();
        let (weak, strong) = (object("weak_level", WEAK), object("strong_level", STRONG));
        let order = if strong_first { [&strong, &weak] } else { [&weak, &strong] };
        for path in order {
            jit.add(jit.main, path).unwrap();
        }
        assert_eq!(jit.call(jit.main, "weak_user"), 5, "strong wins (strong first: {strong_first})");
    }
    let jit = Jit::new();
    let w = jit.dylib("W", &[]);
    let s = jit.dylib("S", &[]);
    jit.add(w, &object("weak_level", WEAK)).unwrap();
    jit.add(s, &object("strong_level", STRONG)).unwrap();
    let app = jit.dylib("app", &[w, s]);
    jit.add(app, &object("level_user", "int level(void);\nint app_level(void) { return level(); }\n")).unwrap();
    assert_eq!(jit.call(app, "app_level"), 1, "W comes first in app's link order");
    assert_eq!(jit.call(w, "weak_user"), 1, "W's own code keeps W's definition");
}

#[test]
fn failed_materialization_leaves_the_session_usable() {
    let jit = Jit::new();
    let broken = object("broken", "int missing_helper(void);\nint answer(void) { return missing_helper(); }\n");
    jit.add(jit.main, &broken).unwrap();
    let error = jit.lookup(jit.main, "answer").unwrap_err().to_string();
    assert!(error.contains("undefined symbol: missing_helper (referenced by"), "{error}");
    assert!(error.contains("broken.o"), "{error}");
    // The failed definition is gone; a corrected one can take its place.
    jit.add(jit.main, &object("fixed", "int answer(void) { return 42; }\n")).unwrap();
    assert_eq!(jit.call(jit.main, "answer"), 42);
    // Other code still links fine.
    jit.add(jit.main, &object("a1", A1)).unwrap();
    assert_eq!(jit.call(jit.main, "foo"), 1);
}

#[test]
fn a_failure_reaches_every_dependent_query() {
    let jit = Jit::new();
    jit.add(jit.main, &object("dep_user", "int broken_dep(void);\nint user(void) { return broken_dep(); }\n")).unwrap();
    jit.add(jit.main, &object("dep_broken", "int nowhere(void);\nint broken_dep(void) { return nowhere(); }\n"))
        .unwrap();
    let error = jit.lookup(jit.main, "user").unwrap_err().to_string();
    assert!(error.contains("nowhere"), "the root cause reaches the query: {error}");
    assert!(jit.session.errors().iter().any(|e| e.to_string().contains("undefined symbol: nowhere")));
}

#[test]
fn aliases_and_reexports_resolve_to_the_original() {
    let jit = Jit::new();
    let a = jit.dylib("A", &[]);
    jit.add(a, &object("a1", A1)).unwrap();
    let (foo, bar, also) = (jit.session.intern("foo"), jit.session.intern("bar"), jit.session.intern("also_foo"));
    jit.session.reexports(jit.main, a, &[(bar, foo)]).unwrap();
    jit.session.symbol_aliases(jit.main, &[(also, bar)]).unwrap();
    let original = jit.lookup(a, "foo").unwrap();
    assert_eq!(jit.lookup(jit.main, "bar").unwrap(), original);
    assert_eq!(jit.lookup(jit.main, "also_foo").unwrap(), original);
    assert_eq!(jit.call(jit.main, "bar"), 1);
}

#[test]
fn absolute_symbols_are_ready_at_once() {
    let jit = Jit::new();
    let name = jit.session.intern("the_answer_address");
    jit.session.define_absolute(jit.main, &[(name, 0x1234, SymbolFlags::strong_data())]).unwrap();
    assert_eq!(jit.lookup(jit.main, "the_answer_address").unwrap(), 0x1234);
}

/// Work queued for idle time (`dispatch_when_idle`) waits behind every other job: a lookup
/// on a session without a pool runs what it needs and returns with the idle work still
/// queued; a pool thread takes it once nothing else is queued. Work queued with `dispatch`
/// goes first, in order.
#[test]
fn idle_work_waits_behind_every_other_job() {
    let jit = Jit::new();
    jit.add(jit.main, &object("idle_one", "int one(void) { return 1; }\n")).unwrap();
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = |what: &'static str| {
        let log = log.clone();
        Box::new(move || log.lock().unwrap().push(what)) as Box<dyn FnOnce() + Send>
    };
    jit.session.dispatch_when_idle(record("idle"));
    jit.session.dispatch(record("first"));
    jit.session.dispatch(record("second"));
    assert_eq!(jit.call(jit.main, "one"), 1);
    assert_eq!(*log.lock().unwrap(), ["first", "second"], "the lookup ran the idle work");
    jit.session.set_materialization_threads(2);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while log.lock().unwrap().len() < 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(*log.lock().unwrap(), ["first", "second", "idle"], "the pool did not take the idle work");
    jit.session.stop_materialization_threads();
}

/// `count` objects `lazy_fn_<i>` each defining `int lazy_fn_<i>(void) { return i * 7 + 1; }`,
/// behind lazy stubs in `main`.
fn lazy_functions(jit: &Jit, count: usize) -> Arc<LazyStats> {
    let implementation = jit.dylib("main.lazy", &[]);
    let stats = Arc::new(LazyStats::default());
    let mut names = Vec::new();
    for i in 0..count {
        let source = format!("int lazy_fn_{i}(void) {{ return {i} * 7 + 1; }}\n");
        jit.add(implementation, &object(&format!("lazy_fn_{i}"), &source)).unwrap();
        let name = jit.session.intern(&format!("lazy_fn_{i}"));
        names.push((name, name, SymbolFlags::strong_function()));
    }
    let unit = LazyReexportsUnit {
        layer: jit.layer.clone(),
        source: vec![(implementation, LookupFlags::MatchAllSymbols)],
        names,
        stats: stats.clone(),
        origin: "lazy test stubs".into(),
    };
    jit.session.define(jit.main, Box::new(unit)).unwrap();
    stats
}

#[test]
fn lazy_stub_is_stable_and_distinct_from_the_body() {
    let jit = Jit::new();
    let stats = lazy_functions(&jit, 3);
    let stub = jit.lookup(jit.main, "lazy_fn_2").unwrap();
    assert_eq!(jit.layer.stats().objects.load(Ordering::Relaxed), 0, "looking up a stub links no body");
    assert_eq!(jit.call(jit.main, "lazy_fn_2"), 15);
    assert_eq!(jit.layer.stats().objects.load(Ordering::Relaxed), 1, "the first call linked exactly one body");
    let body = jit.lookup(DylibId(jit.main.0 + 1), "lazy_fn_2").unwrap();
    assert_ne!(stub, body);
    assert_eq!(jit.lookup(jit.main, "lazy_fn_2").unwrap(), stub, "the stub does not move");
    assert_eq!(jit.call(jit.main, "lazy_fn_2"), 15);
    assert_eq!((stats.created.load(Ordering::Relaxed), stats.hit.load(Ordering::Relaxed)), (3, 1));
}

/// 8 threads call 50 lazy functions 1000 times each, in different orders: every body is
/// linked exactly once and every call gets the right answer.
#[test]
fn lazy_stubs_under_eight_threads() {
    let jit = Jit::new();
    jit.session.set_materialization_threads(2);
    let stats = lazy_functions(&jit, 50);
    let stubs: Vec<u64> = (0..50).map(|i| jit.lookup(jit.main, &format!("lazy_fn_{i}")).unwrap()).collect();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let stubs = stubs.clone();
            std::thread::spawn(move || {
                for call in 0..1000 {
                    let i = (call * 7 + t * 13) % 50;
                    // SAFETY: each stub leads to `int lazy_fn_i(void)`.
                    let f: extern "C" fn() -> i32 = unsafe { std::mem::transmute(stubs[i] as usize) };
                    assert_eq!(f(), i as i32 * 7 + 1, "thread {t} call {call} of lazy_fn_{i}");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(jit.layer.stats().objects.load(Ordering::Relaxed), 50, "each body linked once");
    assert_eq!(stats.hit.load(Ordering::Relaxed), 50, "each stub resolved once");
}

static FINALIZED: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

#[test]
fn removing_a_tracker_runs_finalizers_and_frees_the_names() {
    let jit = Jit::new();
    let counter = jit.session.intern("finalized_count");
    let addr = &FINALIZED as *const _ as u64;
    jit.session.define_absolute(jit.main, &[(counter, addr, SymbolFlags::strong_data())]).unwrap();
    let source = "extern int finalized_count;\n__attribute__((destructor)) static void bye(void) { finalized_count += 1; }\nint tracked(void) { return 7; }\n";
    let path = object("tracked", source);
    for round in 1..=3 {
        let tracker = jit.session.create_resource_tracker(jit.main);
        jit.layer.add_tracked(&tracker, input(&path)).unwrap();
        assert_eq!(jit.call(jit.main, "tracked"), 7);
        jit.platform.run_initializers();
        tracker.remove().unwrap();
        assert_eq!(FINALIZED.load(Ordering::SeqCst), round, "the destructor ran on removal");
        assert!(jit.lookup(jit.main, "tracked").is_err(), "removed symbols are gone");
    }
}

#[test]
fn clearing_and_removing_dylibs() {
    let jit = Jit::new();
    let a = jit.dylib("A", &[]);
    jit.add(a, &object("a1", A1)).unwrap();
    assert_eq!(jit.call(a, "foo"), 1);
    jit.session.clear_jit_dylib(a).unwrap();
    assert!(jit.lookup(a, "foo").is_err());
    jit.add(a, &object("b1", B1)).unwrap();
    assert_eq!(jit.call(a, "foo"), 100, "a cleared JITDylib takes new definitions");
    jit.session.remove_jit_dylib(a).unwrap();
    assert!(jit.session.dylib_by_name("A").is_none());
    let again = jit.dylib("A", &[]);
    jit.add(again, &object("a1", A1)).unwrap();
    assert_eq!(jit.call(again, "foo"), 1, "the name can be used again");
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    statm.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 4096
}

/// 10,000 add/run/remove cycles: resident memory after the last stays within a small bound
/// of what it was after the 100th.
#[test]
fn ten_thousand_add_run_remove_cycles_keep_memory_flat() {
    let jit = Jit::new();
    let bytes =
        std::fs::read(object("cycle", "static int table[4096] = {1};\nint cycle(void) { return table[0] + 41; }\n"))
            .unwrap();
    let mut after_100th = 0;
    for round in 1..=10_000 {
        let tracker = jit.session.create_resource_tracker(jit.main);
        jit.layer.add_tracked(&tracker, InputBuffer::from_vec("cycle.o", bytes.clone())).unwrap();
        assert_eq!(jit.call(jit.main, "cycle"), 42);
        tracker.remove().unwrap();
        if round == 100 {
            after_100th = resident_bytes();
        }
    }
    let growth = resident_bytes().saturating_sub(after_100th);
    assert!(growth < 2 << 20, "resident memory grew by {growth} bytes over 9,900 cycles");
}

fn jitld(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_jitld")).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

const CLI_MAIN: &str = "#include <stdio.h>\nint foo(void); int a_only(void); int b_only(void);\nint main(void) { printf(\"foo=%d\\n\", foo()); return foo() + a_only() + b_only(); }\n";

#[test]
fn cli_jitdylibs_link_against_those_named_before() {
    let (a1, a2, b1, main) = (object("a1", A1), object("a2", A2), object("b1", B1), object("cli_main", CLI_MAIN));
    let (code, out, err) =
        jitld(&["run", "-jd", "libA", path(&a1), path(&a2), "-jd", "libB", path(&b1), "-jd", "main", path(&main)]);
    assert_eq!((code, out.as_str()), (31, "foo=1\n"), "{err}");
    // An explicit link order can put B first.
    let (code, out, err) = jitld(&[
        "run",
        "--link-order",
        "main=libB,libA",
        "-jd",
        "libA",
        path(&a1),
        "-jd",
        "libB",
        path(&b1),
        "-jd",
        "main",
        path(&main),
    ]);
    assert_eq!((code, out.as_str()), (130, "foo=100\n"), "{err}");
    let clash = object("a1_clash", "int foo(void) { return 3; }\n");
    let (code, _, err) = jitld(&["run", "-jd", "libA", path(&a1), path(&clash), "--jd", "main", path(&main)]);
    assert_eq!(code, 1);
    assert!(err.contains("duplicate definition of foo") && err.contains("a1_clash.o"), "{err}");
}

#[test]
fn cli_lazy_objects_link_on_first_call_only() {
    let main = object(
        "lazy_main",
        "#include <stdio.h>\nint called(int); int referenced_only(int);\nint (*volatile keep)(int) = referenced_only;\nint main(void) { printf(\"%d\\n\", called(4)); return 3; }\n",
    );
    let called = object("lazy_called", "int called(int x) { return x * 11; }\n");
    let referenced = object(
        "lazy_referenced",
        "int not_defined_anywhere(int);\nint referenced_only(int x) { return not_defined_anywhere(x); }\n",
    );
    let (code, out, err) =
        jitld(&["run", "--stats", path(&main), "--lazy", path(&called), "--lazy", path(&referenced)]);
    assert_eq!((code, out.as_str()), (3, "44\n"), "{err}");
    assert!(err.contains("linked 2 objects"), "main and the one called lazy object: {err}");
    assert!(err.contains("lazy stubs: 2 created, 1 hit"), "{err}");
    // Linked eagerly instead, the referenced object's undefined symbol is an error.
    let (code, _, err) = jitld(&["run", path(&main), path(&called), path(&referenced)]);
    assert_eq!(code, 1);
    assert!(err.contains("undefined symbol: not_defined_anywhere"), "{err}");
}

#[test]
fn cli_abs_alias_and_threads() {
    let main = object(
        "alias_main",
        "int renamed(void); extern char marker[];\nint main(void) { return renamed() + (marker == (char *)0x1000 ? 1 : 0); }\n",
    );
    let a1 = object("a1", A1);
    for threads in ["1", "3"] {
        let (code, _, err) = jitld(&[
            "run",
            "--threads",
            threads,
            "--abs",
            "marker=0x1000",
            "--alias",
            "renamed=a_only",
            path(&main),
            path(&a1),
        ]);
        assert_eq!(code, 11, "threads {threads}: {err}");
    }
}

/// Shared libraries on the command line are dlopen'ed: by path, and by `-l` (which finds
/// the `.so` before the `.a`, as ld does).
#[test]
fn cli_shared_libraries_by_path_and_by_name() {
    let main = object(
        "zlib_user",
        "#include <stdio.h>\n#include <string.h>\nunsigned long crc32(unsigned long, const unsigned char *, unsigned);\nconst char *sqlite3_libversion(void);\n\
         int main(void) { const char *t = \"jitld\"; printf(\"%lx\\n\", crc32(0, (const unsigned char *)t, strlen(t))); return 9; }\n",
    );
    let expected = "83e1611e\n"; // crc32(b"jitld"), as Python's zlib computes it
    let (code, out, err) = jitld(&["run", path(&main), "/usr/lib/x86_64-linux-gnu/libz.so.1"]);
    assert_eq!((code, out.as_str()), (9, expected), "{err}");
    let (code, out, err) = jitld(&["run", path(&main), "-L/usr/lib/x86_64-linux-gnu", "-lz"]);
    assert_eq!((code, out.as_str()), (9, expected), "{err}");
    let sqlite = object(
        "sqlite_so_user",
        "#include <stdio.h>\nconst char *sqlite3_libversion(void);\nint main(void) { printf(\"%c\\n\", sqlite3_libversion()[0]); return 0; }\n",
    );
    let (code, out, err) = jitld(&["run", path(&sqlite), "-L/usr/lib/x86_64-linux-gnu", "-lsqlite3", "-lm"]);
    assert_eq!((code, out.as_str()), (0, "3\n"), "{err}");
    let (code, _, err) = jitld(&["run", path(&main), "-lno_such_library_anywhere"]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot find -lno_such_library_anywhere"), "{err}");
}

/// `.init` / `.fini` fragments run where `crti.o`/`crtn.o` put them in an executable: after
/// `.preinit_array` and before constructors, and after destructors.
#[test]
fn cli_init_and_fini_fragments_run_like_native() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/session-tests");
    let main = object(
        "fragments_main",
        "#include <stdio.h>\nvoid init_hook(void) { printf(\"init fragment\\n\"); }\nvoid fini_hook(void) { printf(\"fini fragment\\n\"); }\n\
         __attribute__((constructor)) static void ctor(void) { printf(\"constructor\\n\"); }\n\
         __attribute__((destructor)) static void dtor(void) { printf(\"destructor\\n\"); }\nint main(void) { printf(\"main\\n\"); return 4; }\n",
    );
    let asm = dir.join("fragments.s");
    std::fs::write(&asm, ".section .init,\"ax\",@progbits\ncall init_hook\n.section .fini,\"ax\",@progbits\ncall fini_hook\n.section .note.GNU-stack,\"\",@progbits\n").unwrap();
    let fragments = dir.join("fragments.o");
    assert!(Command::new("cc").arg("-c").arg(&asm).arg("-o").arg(&fragments).status().unwrap().success());
    let native = dir.join("fragments_native");
    assert!(Command::new("cc").arg(&main).arg(&fragments).arg("-o").arg(&native).status().unwrap().success());
    let expected = Command::new(&native).output().unwrap();
    let (code, out, err) = jitld(&["run", path(&main), path(&fragments)]);
    assert_eq!(
        (code, out.as_str()),
        (expected.status.code().unwrap(), String::from_utf8_lossy(&expected.stdout).as_ref()),
        "{err}"
    );
    assert_eq!(out, "init fragment\nconstructor\nmain\ndestructor\nfini fragment\n");
}

/// Thread-local storage in every model and from several compilers and code models, against
/// the natively linked program: initial values in main and in threads created after
/// linking, each thread its own copy, a variable defined in another object, a 100 KB block.
#[test]
fn cli_thread_local_storage_matches_native() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/session-tests/tls");
    std::fs::create_dir_all(&dir).unwrap();
    let fixture = |name: &str| Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tls").join(name);
    let variants: [(&str, &[&str], &[&str]); 5] = [
        ("gcc", &["-O2", "-fPIC"], &[]),
        ("gcc", &["-O2", "-fPIE"], &[]),
        ("gcc", &["-O2", "-fno-pic"], &["-no-pie"]),
        ("clang-19", &["-O0", "-fPIC"], &["-fuse-ld=lld"]),
        ("clang-19", &["-O2", "-fno-pic"], &["-fuse-ld=lld", "-no-pie"]),
    ];
    for (index, (cc, flags, link)) in variants.iter().enumerate() {
        let compile = |source: &str, out: &str| {
            let out = dir.join(format!("{index}-{out}"));
            let status =
                Command::new(cc).args(*flags).arg("-c").arg(fixture(source)).arg("-o").arg(&out).status().unwrap();
            assert!(status.success(), "{cc} {flags:?} {source}");
            out
        };
        let objects = [compile("models.c", "models.o"), compile("other.c", "other.o")];
        let big = compile("big.c", "big.o");
        for program in [&objects[..], std::slice::from_ref(&big)] {
            let native = dir.join(format!("{index}-native"));
            let status =
                Command::new(cc).args(*link).args(program).arg("-lpthread").arg("-o").arg(&native).status().unwrap();
            assert!(status.success());
            let expected = Command::new(&native).output().unwrap();
            let mut args = vec!["run"];
            args.extend(program.iter().map(|p| path(p)));
            let (code, out, err) = jitld(&args);
            let want = (expected.status.code().unwrap(), String::from_utf8_lossy(&expected.stdout).into_owned());
            assert_eq!((code, out), want, "{cc} {flags:?}: {err}");
        }
    }
}

/// `jitld run` starts itself again for more static TLS only when a link is short of it:
/// thread-locals that fit in glibc's default surplus (the models' few bytes) start once, a
/// 100 KB block starts twice, also when a pool thread links it, and so does a shared
/// library with 100 KB of initial-exec thread-locals of its own (glibc refuses to load it);
/// a lazy object's are decided before the program runs (its link comes while the program
/// runs). The output is the native program's every time.
#[test]
fn cli_starts_again_only_when_thread_locals_need_room() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/session-tests/tls-room");
    std::fs::create_dir_all(&dir).unwrap();
    let fixture = |name: &str| Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tls").join(name);
    let compile = |source: &str| {
        let out = dir.join(source.replace(".c", ".o"));
        assert!(Command::new("gcc")
            .args(["-O2", "-fPIE", "-c"])
            .arg(fixture(source))
            .arg("-o")
            .arg(&out)
            .status()
            .unwrap()
            .success());
        out
    };
    let (models, other, big) = (compile("models.c"), compile("other.c"), compile("big.c"));
    let native = |objects: &[&Path], name: &str| {
        let exe = dir.join(name);
        assert!(Command::new("gcc").args(objects).arg("-lpthread").arg("-o").arg(&exe).status().unwrap().success());
        let out = Command::new(&exe).output().unwrap();
        (out.status.code().unwrap(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let small = native(&[&models, &other], "small");
    let large = native(&[&big, &other], "large");
    let library = dir.join("libstatic_tls.so");
    std::fs::write(dir.join("static_tls.c"), "__attribute__((tls_model(\"initial-exec\"))) __thread char block[100000];\nint touch(int i) { block[i] = (char)i; return block[i] + 1; }\n").unwrap();
    std::fs::write(dir.join("use.c"), "int touch(int);\nint main(void) { return touch(41); }\n").unwrap();
    assert!(Command::new("gcc")
        .args(["-O2", "-fPIC", "-shared"])
        .arg(dir.join("static_tls.c"))
        .arg("-o")
        .arg(&library)
        .status()
        .unwrap()
        .success());
    assert!(Command::new("gcc")
        .args(["-O2", "-c"])
        .arg(dir.join("use.c"))
        .arg("-o")
        .arg(dir.join("use.o"))
        .status()
        .unwrap()
        .success());
    let with_library = (42, String::new());
    let use_object = dir.join("use.o");
    let cases: [(&[&str], &(i32, String), bool); 5] = [
        (&[path(&models), path(&other)], &small, false),
        (&[path(&big), path(&other)], &large, true),
        (&["--threads", "2", path(&big), path(&other)], &large, true),
        (&[path(&other), "--lazy", path(&big)], &large, true),
        (&[path(&use_object), path(&library)], &with_library, true),
    ];
    for (inputs, want, twice) in cases {
        let args: Vec<&str> = ["run", "--stats"].iter().copied().chain(inputs.iter().copied()).collect();
        let (code, out, err) = jitld(&args);
        assert_eq!((code, &out), (want.0, &want.1), "{inputs:?}: {err}");
        assert_eq!(err.contains("jitld stats: started twice"), twice, "{inputs:?}: {err}");
    }
}

static CXX_DESTROYED: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// C++ registers static destructors with `__cxa_atexit`. Removing the code runs them then,
/// and they never run again at exit (which would call freed memory).
#[test]
fn removing_cxx_code_runs_its_static_destructors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/session-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let (source, obj) = (dir.join("cxx_static.cpp"), dir.join("cxx_static.o"));
    std::fs::write(&source, "extern \"C\" int cxx_destroyed;\nstruct Tracked { int v; Tracked() : v(7) {} ~Tracked() { cxx_destroyed += v; } };\nstatic Tracked tracked;\nextern \"C\" int cxx_alive() { return tracked.v; }\n").unwrap();
    assert!(Command::new("g++")
        .args(["-O1", "-fPIC", "-c"])
        .arg(&source)
        .arg("-o")
        .arg(&obj)
        .status()
        .unwrap()
        .success());
    let jit = Jit::new();
    let counter = jit.session.intern("cxx_destroyed");
    jit.session
        .define_absolute(jit.main, &[(counter, &CXX_DESTROYED as *const _ as u64, SymbolFlags::strong_data())])
        .unwrap();
    for round in 1..=3 {
        let tracker = jit.session.create_resource_tracker(jit.main);
        jit.layer.add_tracked(&tracker, input(&obj)).unwrap();
        assert_eq!(jit.call(jit.main, "cxx_alive"), 0, "before initializers the object is still zero");
        jit.platform.run_initializers();
        assert_eq!(jit.call(jit.main, "cxx_alive"), 7);
        tracker.remove().unwrap();
        assert_eq!(CXX_DESTROYED.load(Ordering::SeqCst), 7 * round, "the destructor ran on removal");
    }
}

/// Compiles `fixtures/features/<sources>` with gcc and `flags`, links them natively (with
/// `link`), and checks `jitld run` prints and exits the same. Returns jitld's stdout.
fn features_match_native(sources: &[&str], flags: &str, link: &str) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/session-tests/features");
    std::fs::create_dir_all(&dir).unwrap();
    let objects: Vec<PathBuf> = sources
        .iter()
        .map(|source| {
            let out = dir.join(format!("{source}{flags}.o"));
            let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/features").join(source);
            let status =
                Command::new("gcc").args(["-O2", flags, "-c"]).arg(fixture).arg("-o").arg(&out).status().unwrap();
            assert!(status.success(), "gcc {source}");
            out
        })
        .collect();
    let native = dir.join(format!("native-{}{flags}", sources[0]));
    let status =
        Command::new("gcc").args(&objects).args(link.split_whitespace()).arg("-o").arg(&native).status().unwrap();
    assert!(status.success());
    let expected = Command::new(&native).output().unwrap();
    let mut args = vec!["run"];
    args.extend(objects.iter().map(|o| path(o)));
    let (code, out, err) = jitld(&args);
    let want = (expected.status.code().unwrap(), String::from_utf8_lossy(&expected.stdout).into_owned());
    assert_eq!((code, out.clone()), want, "{sources:?} {flags}: {err}");
    out
}

/// Variables the C library writes and an executable's code reads from its own copy
/// (`optind`, `optarg`, and `environ`, which the library writes as `__environ`): every
/// library slot bound to a variable, under any name, follows it to the copy. In this
/// process, in an executor process, and started again from a prelinked image.
#[test]
fn cli_copied_library_variables_follow_their_copies_under_every_name() {
    for (flags, link) in [("-fno-pic", "-no-pie"), ("-fPIE", "")] {
        let out = features_match_native(&["copied_variables.c"], flags, link);
        assert!(out.ends_with("environ holds 64 of them; getenv says set\n"), "{out}");
        let object = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/session-tests/features")
            .join(format!("copied_variables.c{flags}.o"));
        let cache = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("target/session-tests/copied-cache{flags}"));
        let _ = std::fs::remove_dir_all(&cache);
        let cache_flag = format!("--cache={}", cache.display());
        for args in [&["run", "--oop"][..], &["run", &cache_flag], &["run", &cache_flag, "--stats"]] {
            let mut args = args.to_vec();
            args.push(path(&object));
            let (code, again, err) = jitld(&args);
            assert_eq!((code, again.as_str()), (4, out.as_str()), "{args:?}: {err}");
            if args.contains(&"--stats") {
                assert!(err.contains("image cache: hit"), "{err}");
            }
        }
    }
}

/// GNU indirect functions (resolved once, when linked) and `.gnu.linkonce` sections (one
/// copy kept), against the natively linked program.
#[test]
fn cli_ifunc_and_linkonce_match_native() {
    for (flags, link) in [("-fPIC", ""), ("-fno-pic", "-no-pie")] {
        let out = features_match_native(&["ifunc.c", "linkonce_a.s", "linkonce_b.s"], flags, link);
        assert!(out.contains("resolver ran 1 time(s), linkonce 42"), "{out}");
    }
}

/// `.init_array` and `.ctors` (and their `fini` counterparts) mixed, with and without
/// priorities, run in exactly the order ld gives them.
#[test]
fn cli_init_array_priorities_mixed_with_ctors_match_native() {
    let out = features_match_native(&["ctors_mix.c", "ctors_mix.s"], "-fPIC", "");
    assert!(out.starts_with("ctors_101\nattr_150\nctors_200\ninit_array_200\n"), "{out}");
}

/// Archive members are linked on demand; with `--whole-archive` (and
/// `ArchiveGenerator::add_all` in the library) every member is, constructors and all.
#[test]
fn whole_archive_links_every_member() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/session-tests");
    let member = object("archive_ctor", "#include <stdio.h>\n__attribute__((constructor)) static void hello(void) { printf(\"member constructor\\n\"); }\nint member_fn(void) { return 4; }\n");
    let archive = dir.join("libwhole.a");
    let _ = std::fs::remove_file(&archive);
    assert!(Command::new("ar").arg("rcs").arg(&archive).arg(&member).status().unwrap().success());
    let main = object("whole_main", "int main(void) { return 8; }\n");
    let (code, out, err) = jitld(&["run", path(&main), path(&archive)]);
    assert_eq!((code, out.as_str()), (8, ""), "on demand, nothing needs the member: {err}");
    let (code, out, err) = jitld(&["run", path(&main), "--whole-archive", path(&archive)]);
    assert_eq!((code, out.as_str()), (8, "member constructor\n"), "{err}");

    let jit = Jit::new();
    let generator = jitld::generators::ArchiveGenerator::new(input(&archive), jit.layer.clone(), 0).unwrap();
    generator.add_all(jit.main).unwrap();
    assert_eq!(jit.call(jit.main, "member_fn"), 4, "every member is defined without a lookup pulling it");
}
