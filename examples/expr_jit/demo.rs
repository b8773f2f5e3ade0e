//! The example's script: define functions, call some, show which were compiled, then show
//! each kind of error and that the session keeps working after it.

use super::cache::Caching;
use super::{ExprError, ExprJit, Log};

pub const PROGRAM: &str = "\
def sq(x) = x * x;
def add3(a, b, c) = a + b * c;
def poly(a, b, c) = sq(a) + add3(a, b, c) - c / 2;
def fib(n) = if n < 2 then n else fib(n - 1) + fib(n - 2);
def weights(a, b, c, d, e, f) = a + 2*b + 3*c + 4*d + 5*e + 6*f;
def spread(a, b, c) = weights(a, b, c, -a, -b, -c) * sq(a - c);
def unused(x) = x * 1000 + sq(x);   # never called: never compiled
";

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "(none)".to_string()
    } else {
        names.join(", ")
    }
}

pub fn run(log: &Log) -> Result<(), ExprError> {
    run_with(log, None).map(|_| ())
}

/// The script, with the layer's objects kept in `caching`'s cache if there is one. Returns
/// the JIT, so that its layer can say what it compiled and what it loaded.
pub fn run_with(log: &Log, caching: Option<Caching>) -> Result<ExprJit, ExprError> {
    let cached = caching.is_some();
    let jit = ExprJit::with_caching(log.clone(), caching)?;
    log.line("program:");
    PROGRAM.lines().for_each(|line| log.line(format!("  {line}")));
    let defined = jit.add(PROGRAM)?;
    log.line(format!("defined: {}", list(&defined)));
    log.line(format!("compiled so far: {}", list(&jit.layer.compiled())));

    // The stub is what Rust calls, exactly as JIT'd callers do.
    jit.check("poly")?;
    let stub = jit.stub("poly")?;
    log.line(format!("looked up poly: its stub is linked; compiled so far: {}", list(&jit.layer.compiled())));
    // SAFETY: `poly` takes three parameters; every function is `extern "C"` over i64.
    let poly: extern "C" fn(i64, i64, i64) -> i64 = unsafe { std::mem::transmute(stub as usize) };
    log.line("calling poly(2, 3, 4) through its stub:");
    log.line(format!("poly(2, 3, 4) = {}", poly(2, 3, 4)));
    log.line("calling poly(5, 6, 7) again (already compiled):");
    log.line(format!("poly(5, 6, 7) = {}", poly(5, 6, 7)));

    log.line("calling fib(20) (each recursive call goes through fib's stub):");
    log.line(format!("fib(20) = {}", jit.call("fib", &[20])?));
    log.line("calling spread(1, 2, 3):");
    log.line(format!("spread(1, 2, 3) = {}", jit.call("spread", &[1, 2, 3])?));

    let (compiled, loaded) = (jit.layer.compiled(), jit.layer.loaded());
    let never: Vec<String> = defined.iter().filter(|f| !compiled.contains(f) && !loaded.contains(f)).cloned().collect();
    log.line(format!("compiled: {}", list(&compiled)));
    if cached {
        log.line(format!("loaded from the cache: {}", list(&loaded)));
    }
    log.line(format!("never compiled: {}", list(&never)));
    let stats = jit.layer.stub_stats();
    let (created, hit) = (
        stats.created.load(std::sync::atomic::Ordering::Relaxed),
        stats.hit.load(std::sync::atomic::Ordering::Relaxed),
    );
    log.line(format!("lazy stubs: {created} linked, {hit} entered the compiler"));

    log.line("errors (each leaves the session usable):");
    for source in ["def bad(x) = x + ;", "def oops(x) = x + y;", "def twice(x) = sq(x, x);"] {
        match jit.add(source) {
            Ok(names) => log.line(format!("add `{source}`: defined {}", list(&names))),
            Err(e) => log.line(format!("add `{source}`: error: {e}")),
        }
    }
    let broken = "def broken(x) = x + nosuch(x);";
    log.line(format!("add `{broken}`: defined {}", list(&jit.add(broken)?)));
    match jit.call("broken", &[1]) {
        Ok(v) => log.line(format!("broken(1) = {v}")),
        Err(e) => log.line(format!("call broken(1): refused: {e}")),
    }
    log.line("compile broken anyway (what its first call would do):");
    match jit.compile("broken") {
        Ok(_) => log.line("compiled broken"),
        Err(e) => log.line(format!("compile broken: error: {e}")),
    }
    log.line(format!("poly(1, 1, 1) = {} (the session still works)", jit.call("poly", &[1, 1, 1])?));
    let fixed = "def nosuch(x) = x * 100; def broken(x) = x + nosuch(x);";
    log.line(format!("add `{fixed}`: defined {}", list(&jit.add(fixed)?)));
    log.line("calling broken(2):");
    log.line(format!("broken(2) = {}", jit.call("broken", &[2])?));
    Ok(jit)
}
