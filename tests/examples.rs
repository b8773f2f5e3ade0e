//! The examples, run and checked.
//!
//! `expr_jit` twice: its logic in this process (the example's modules are included here, so
//! the transcript can be compared without a subprocess, and the language and its layer can
//! be tested directly), and the real example binary, built with `cargo build --example`
//! and run, so what `cargo run --example expr_jit` prints is what is asserted.

#[path = "../examples/expr_jit/mod.rs"]
mod expr;

use expr::{ExprError, ExprJit, Log};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What `cargo run --example expr_jit` prints, line for line. `compiling NAME` lines appear
/// during the call that first reaches NAME, once; `unused` never appears.
const EXPR_JIT_TRANSCRIPT: &str = "\
program:
  def sq(x) = x * x;
  def add3(a, b, c) = a + b * c;
  def poly(a, b, c) = sq(a) + add3(a, b, c) - c / 2;
  def fib(n) = if n < 2 then n else fib(n - 1) + fib(n - 2);
  def weights(a, b, c, d, e, f) = a + 2*b + 3*c + 4*d + 5*e + 6*f;
  def spread(a, b, c) = weights(a, b, c, -a, -b, -c) * sq(a - c);
  def unused(x) = x * 1000 + sq(x);   # never called: never compiled
defined: sq, add3, poly, fib, weights, spread, unused
compiled so far: (none)
looked up poly: its stub is linked; compiled so far: (none)
calling poly(2, 3, 4) through its stub:
  compiling poly
  compiling sq
  compiling add3
poly(2, 3, 4) = 16
calling poly(5, 6, 7) again (already compiled):
poly(5, 6, 7) = 69
calling fib(20) (each recursive call goes through fib's stub):
  compiling fib
fib(20) = 6765
calling spread(1, 2, 3):
  compiling spread
  compiling weights
spread(1, 2, 3) = -72
compiled: poly, sq, add3, fib, spread, weights
never compiled: unused
lazy stubs: 7 linked, 6 entered the compiler
errors (each leaves the session usable):
add `def bad(x) = x + ;`: error: parse error at line 1, column 18: expected an expression, found `;`
add `def oops(x) = x + y;`: error: parse error at line 1, column 19: unknown name `y` in `oops` (parameters: x)
add `def twice(x) = sq(x, x);`: error: `twice` calls `sq` with 2 arguments, but `sq` takes 1 parameter
add `def broken(x) = x + nosuch(x);`: defined broken
call broken(1): refused: `broken` calls `nosuch`, which is not defined
compile broken anyway (what its first call would do):
  compiling broken
compile broken: error: undefined symbol: nosuch (referenced by expr function broken)
poly(1, 1, 1) = 3 (the session still works)
add `def nosuch(x) = x * 100; def broken(x) = x + nosuch(x);`: defined nosuch, broken
calling broken(2):
  compiling broken
  compiling nosuch
broken(2) = 202
";

/// Compares line by line, so a failure names the first line that differs.
fn assert_transcript(actual: &str, expected: &str) {
    let (a, e): (Vec<&str>, Vec<&str>) = (actual.lines().collect(), expected.lines().collect());
    for (i, (a, e)) in a.iter().zip(&e).enumerate() {
        assert_eq!(a, e, "line {} differs; whole output:\n{actual}", i + 1);
    }
    assert_eq!(a.len(), e.len(), "different number of lines; whole output:\n{actual}");
}

#[test]
fn expr_jit_transcript_in_process() {
    let log = Log::capture();
    expr::demo::run(&log).unwrap_or_else(|e| panic!("demo failed: {e}\nso far:\n{}", log.lines().join("\n")));
    assert_transcript(&(log.lines().join("\n") + "\n"), EXPR_JIT_TRANSCRIPT);
}

/// Builds the example with the cargo running this test (same target directory and profile)
/// and returns the binary's path, as cargo reports it.
fn build_example(name: &str) -> String {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "--example", name, "--message-format=json"]).current_dir(env!("CARGO_MANIFEST_DIR"));
    let this = std::env::current_exe().expect("test binary path");
    if this.components().any(|c| c.as_os_str() == "release") {
        cmd.arg("--release");
    }
    let out = cmd.output().expect("running cargo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cargo build --example {name} failed:\n{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let key = "\"executable\":\"";
    stdout
        .lines()
        .filter(|l| l.contains("\"compiler-artifact\"") && l.contains(&format!("\"name\":\"{name}\"")))
        .find_map(|l| {
            let start = l.find(key)? + key.len();
            Some(l[start..start + l[start..].find('"')?].to_string())
        })
        .unwrap_or_else(|| panic!("cargo did not report an executable for example {name}:\n{stdout}"))
}

/// Runs `path` with a time limit; returns (exit code, stdout, stderr).
fn run_binary(path: &str) -> (Option<i32>, String, String) {
    let mut child = Command::new(path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {path}: {e}"));
    let started = Instant::now();
    while child.try_wait().expect("waiting for the example").is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("{path} ran for more than 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("collecting the example's output");
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn expr_jit_binary_prints_the_transcript() {
    let binary = build_example("expr_jit");
    let (code, stdout, stderr) = run_binary(&binary);
    assert_eq!(code, Some(0), "expr_jit failed; stderr:\n{stderr}\nstdout:\n{stdout}");
    assert_eq!(stderr, "", "expr_jit wrote to stderr");
    assert_transcript(&stdout, EXPR_JIT_TRANSCRIPT);
}

fn jit() -> (ExprJit, Log) {
    let log = Log::capture();
    (ExprJit::new(log.clone()).expect("session"), log)
}

fn call(jit: &ExprJit, name: &str, args: &[i64]) -> i64 {
    jit.call(name, args).unwrap_or_else(|e| panic!("{name}{args:?}: {e}"))
}

#[test]
fn arithmetic_matches_rust() {
    let (jit, _) = jit();
    jit.add(
        "
        def prec(a, b, c) = a - b * c + (a - b) * c - -a;
        def div(a, b) = a / b;
        def big() = 9223372036854775807 - 4294967296 + 2147483648;
        def six(a, b, c, d, e, f) = a * 100000 + b * 10000 + c * 1000 + d * 100 + e * 10 + f;
        def shuffle(a, b, c, d, e, f) = six(f, e, d, c, b, a) - six(a, b, c, d, e, f);
        def nested(x) = six(x, sq(x), sq(sq(x)) / 1000, div(x, 2), -x, 1 + sq(1 + x));
        def sq(x) = x * x;
        def lt(a, b) = if a < b then 1 else 0;
        def le(a, b) = if a <= b then 1 else 0;
        def gt(a, b) = if a > b then 1 else 0;
        def ge(a, b) = if a >= b then 1 else 0;
        def eq(a, b) = if a == b then 1 else 0;
        def ne(a, b) = if a != b then 1 else 0;
        def sum(n) = if n == 0 then 0 else n + sum(n - 1);
        def gcd(a, b) = if b == 0 then a else gcd(b, a - a / b * b);
        ",
    )
    .unwrap();
    let values = [0i64, 1, -1, 2, -7, 13, 1 << 40, i64::MAX, i64::MIN];
    for &a in &values {
        for &b in &values {
            let c = 3;
            let prec =
                a.wrapping_sub(b.wrapping_mul(c)).wrapping_add(a.wrapping_sub(b).wrapping_mul(c)).wrapping_add(a);
            assert_eq!(call(&jit, "prec", &[a, b, c]), prec, "prec({a}, {b}, {c})");
            let div = if b == 0 { 0 } else { a.wrapping_div(b) };
            assert_eq!(call(&jit, "div", &[a, b]), div, "div({a}, {b})");
            for (name, expected) in
                [("lt", a < b), ("le", a <= b), ("gt", a > b), ("ge", a >= b), ("eq", a == b), ("ne", a != b)]
            {
                assert_eq!(call(&jit, name, &[a, b]), expected as i64, "{name}({a}, {b})");
            }
        }
    }
    assert_eq!(call(&jit, "big", &[]), i64::MAX - (1 << 32) + (1 << 31));
    assert_eq!(call(&jit, "six", &[1, 2, 3, 4, 5, 6]), 123456);
    assert_eq!(call(&jit, "shuffle", &[1, 2, 3, 4, 5, 6]), 654321 - 123456);
    let x = 7i64;
    let expected =
        x * 100000 + x * x * 10000 + (x * x * x * x / 1000) * 1000 + (x / 2) * 100 - x * 10 + 1 + (1 + x) * (1 + x);
    assert_eq!(call(&jit, "nested", &[x]), expected);
    // 10000 frames deep, each call through `sum`'s stub.
    assert_eq!(call(&jit, "sum", &[10000]), 10000 * 10001 / 2);
    assert_eq!(call(&jit, "gcd", &[1071, 462]), 21);
}

#[test]
fn compiled_once_on_first_call_even_from_eight_threads() {
    let (jit, log) = jit();
    jit.add("def sq(x) = x * x; def cube(x) = x * sq(x); def never(x) = cube(x) + 1;").unwrap();
    jit.check("cube").unwrap();
    let stub = jit.stub("cube").unwrap();
    assert!(jit.layer.compiled().is_empty(), "looking up a stub compiles nothing");
    std::thread::scope(|s| {
        for t in 0..8i64 {
            s.spawn(move || {
                for i in 0..500i64 {
                    let x = t * 1000 + i - 4000;
                    // SAFETY: `cube` takes one parameter.
                    assert_eq!(unsafe { expr::call_address(stub, &[x]) }, x * x * x, "thread {t}");
                }
            });
        }
    });
    assert_eq!(jit.layer.compiled(), ["cube", "sq"]);
    let compiling: Vec<String> = log.lines().into_iter().filter(|l| l.contains("compiling")).collect();
    assert_eq!(compiling, ["  compiling cube", "  compiling sq"]);
    assert_eq!(jit.stub("cube").unwrap(), stub, "the stub does not move");
    let body = jit.compile("cube").unwrap();
    assert_ne!(body, stub, "callers hold the stub, not the body");
    assert_eq!(jit.layer.compiled(), ["cube", "sq"], "looking up a compiled body compiles nothing");
}

fn parse_error(source: &str) -> String {
    let (jit, _) = jit();
    match jit.add(source) {
        Err(ExprError::Parse(e)) => e.to_string(),
        Err(other) => panic!("{source:?}: expected a parse error, got: {other}"),
        Ok(names) => panic!("{source:?}: expected a parse error, defined {names:?}"),
    }
}

#[test]
fn parse_errors_say_where_and_what() {
    let cases = [
        ("def f(x) = x @ 1;", "line 1, column 14: unexpected character `@`"),
        ("def f(x) = x + 1", "line 1, column 17: expected `;`, found the end of the input"),
        ("def f(x) = x;\n\ndef g(y) = y + z;", "line 3, column 16: unknown name `z` in `g` (parameters: y)"),
        ("def f() = q;", "line 1, column 11: unknown name `q` in `f` (parameters: none)"),
        ("def f(a, b, a) = a;", "line 1, column 13: parameter `a` appears twice"),
        ("def f(a, b, c, d, e, f, g) = a;", "line 1, column 25: `f` has more than 6 parameters"),
        ("def g(x) = f(1, 2, 3, 4, 5, 6, 7);", "line 1, column 12: call to `f` with more than 6 arguments"),
        ("def f(x) = x; def f(y) = y;", "line 1, column 15: `f` is defined twice"),
        ("def if(x) = x;", "line 1, column 5: expected a function name, found `if`"),
        ("def f(x) = 9223372036854775808;", "line 1, column 12: integer `9223372036854775808` does not fit in 64 bits"),
        ("def f(x) = 12ab;", "line 1, column 12: malformed number `12ab`"),
        (
            "def f(x) = if x then 1 else 2;",
            "line 1, column 17: expected a comparison (`<`, `<=`, `>`, `>=`, `==`, `!=`), found `then`",
        ),
        ("def f(x) = if x < 1 then 1;", "line 1, column 27: expected `else`, found `;`"),
        ("f(x) = x;", "line 1, column 1: expected `def`, found `f`"),
    ];
    for (source, expected) in cases {
        assert_eq!(parse_error(source), expected, "for {source:?}");
    }
}

#[test]
fn a_bad_source_defines_nothing_and_the_session_stays_usable() {
    let (jit, _) = jit();
    assert!(matches!(jit.add("def ok(x) = x + 1;\ndef bad(x) = x +;"), Err(ExprError::Parse(_))));
    assert!(jit.stub("ok").is_err(), "nothing of a source that fails to parse is defined");
    assert!(matches!(jit.add("def ok(x) = x + 1; def two(x) = ok(x, x);"), Err(ExprError::Check(_))));
    assert!(jit.stub("ok").is_err(), "nothing of a source with a bad call is defined");

    jit.add("def ok(x) = x + 1;").unwrap();
    match jit.add("def ok(y) = y;") {
        Err(ExprError::Check(message)) => assert_eq!(message, "`ok` is already defined"),
        other => panic!("expected a duplicate error, got {other:?}"),
    }
    assert_eq!(call(&jit, "ok", &[41]), 42);

    // A callee defined later with the wrong arity fails the caller's compilation, cleanly.
    jit.add("def caller(x) = later(x) * 2;").unwrap();
    jit.add("def later(a, b) = a + b;").unwrap();
    let refused = jit.call("caller", &[1]).unwrap_err().to_string();
    assert_eq!(refused, "`caller` calls `later` with 1 argument, but `later` takes 2 parameters");
    let failed = jit.compile("caller").unwrap_err().to_string();
    assert_eq!(failed, refused);
    assert_eq!(jit.call("nothing", &[]).unwrap_err().to_string(), "no function named `nothing`");
    assert_eq!(jit.call("ok", &[1, 2]).unwrap_err().to_string(), "`ok` takes 1 argument, not 2");
    assert_eq!(call(&jit, "later", &[20, 22]), 42);
    assert_eq!(jit.layer.compiled(), ["ok", "caller", "later"]);
}

/// A fresh directory for one test under cargo's scratch space.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Runs the example binary with `args`; returns (exit code, stdout, stderr).
fn run_example(binary: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(binary).args(args).output().expect("running expr_jit");
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// The transcript with a cache: the uncached one, plus the line that lists what was loaded.
fn cached_transcript(loaded: &str) -> String {
    EXPR_JIT_TRANSCRIPT
        .replace("never compiled: unused\n", &format!("loaded from the cache: {loaded}\nnever compiled: unused\n"))
}

#[test]
fn expr_jit_second_run_over_the_same_program_compiles_nothing() {
    let binary = build_example("expr_jit");
    let dir = scratch("expr_jit_cache");
    let cache = dir.to_str().unwrap();
    let (code, first, stderr) = run_example(&binary, &["--cache", cache, "--stats"]);
    assert_eq!(code, Some(0), "first run failed; stderr:\n{stderr}\nstdout:\n{first}");
    assert_eq!(stderr, "");
    // The second compilation of the same `broken` is already a hit.
    let expected_first = cached_transcript("(none)")
        .replace("calling broken(2):\n  compiling broken\n", "calling broken(2):\n  loading broken from the cache\n");
    let expected_first = expected_first
        + "stats: compiled 8 functions, loaded 1 from the cache\n"
        + &format!("stats: cache {cache}: 1 hits, 8 misses, 8 stored, 0 rejected, 0 evicted\n");
    assert_transcript(&first, &expected_first);

    let (code, second, stderr) = run_example(&binary, &["--cache", cache, "--stats"]);
    assert_eq!(code, Some(0), "second run failed; stderr:\n{stderr}\nstdout:\n{second}");
    assert_eq!(stderr, "");
    assert!(!second.contains("compiling"), "the second run compiled:\n{second}");
    assert!(second.contains("stats: compiled 0 functions, loaded 9 from the cache\n"), "{second}");
    assert!(second.contains("0 misses, 0 stored"), "{second}");
    // Loading instead of compiling changes nothing else.
    let normalized = second.replace("loading ", "compiling ").replace(" from the cache\n", "\n");
    let first_normalized = first.replace("loading ", "compiling ").replace(" from the cache\n", "\n");
    let strip = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.starts_with("stats:") && !l.starts_with("compiled:") && !l.starts_with("loaded"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(strip(&normalized), strip(&first_normalized));
}

#[test]
fn expr_jit_two_processes_fill_one_cache_at_once() {
    let binary = build_example("expr_jit");
    let dir = scratch("expr_jit_cache_two");
    let cache = dir.to_str().unwrap();
    let children: Vec<_> = (0..2)
        .map(|_| {
            Command::new(&binary)
                .args(["--cache", cache, "--stats"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("starting expr_jit")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "a filling run failed:\n{stderr}\n{stdout}");
        assert_eq!(stderr, "", "a filling run warned");
        assert!(stdout.contains("poly(2, 3, 4) = 16\n") && stdout.contains("broken(2) = 202\n"), "{stdout}");
    }
    let (code, after, stderr) = run_example(&binary, &["--cache", cache, "--stats"]);
    assert_eq!((code, stderr.as_str()), (Some(0), ""), "{after}");
    assert!(after.contains("stats: compiled 0 functions, loaded 9 from the cache\n"), "{after}");
    let files: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(files.len(), 8, "one entry per function compiled, no temporary files: {files:?}");
}

#[test]
fn expr_jit_without_a_usable_cache_directory_says_so_and_runs() {
    let binary = build_example("expr_jit");
    // Under a regular file, a directory cannot be made.
    let file = scratch("expr_jit_cache_unusable");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, b"not a directory").unwrap();
    let cache = file.join("cache");
    let (code, stdout, stderr) = run_example(&binary, &["--cache", cache.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one warning:\n{stderr}");
    assert!(stderr.contains("running without caching") && stderr.contains(cache.to_str().unwrap()), "{stderr}");
    assert_transcript(&stdout, &cached_transcript("(none)"));
}

#[test]
fn a_changed_function_or_compiler_is_compiled_again() {
    use expr::cache::Caching;
    use jitld::cache::DirectoryCache;
    let dir = scratch("expr_jit_cache_keys");
    let cache = Arc::new(DirectoryCache::open(&dir, 1 << 20));
    let program = "def sq(x) = x * x; def quad(x) = sq(sq(x));";
    let run = |source: &str, caching: Caching| {
        let log = Log::capture();
        let jit = ExprJit::with_caching(log, Some(caching)).unwrap();
        jit.add(source).unwrap();
        let value = call(&jit, "quad", &[3]);
        (value, jit.layer.compiled(), jit.layer.loaded())
    };
    let ours = Caching::new(cache.clone());
    assert_eq!(run(program, ours.clone()), (81, vec!["quad".into(), "sq".into()], vec![]));
    assert_eq!(run(program, ours.clone()), (81, vec![], vec!["quad".into(), "sq".into()]), "all hits");
    // Whitespace is not part of the key; the function is.
    let edited = "def sq(x)   =   x * x;   def quad(x) = sq(sq(x)) + 1;";
    assert_eq!(run(edited, ours.clone()), (82, vec!["quad".into()], vec!["sq".into()]));
    // Another compiler: nothing of the old one's output is used.
    let other = Caching { compiler: "another expr_jit compiler".into(), ..ours };
    assert_eq!(run(program, other), (81, vec!["quad".into(), "sq".into()], vec![]));
}
