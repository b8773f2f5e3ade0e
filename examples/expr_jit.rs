//! A custom layer, end to end: a tiny language of integer functions
//!
//! ```text
//! def add3(a, b, c) = a + b * c;
//! def fib(n) = if n < 2 then n else fib(n - 1) + fib(n - 2);
//! ```
//!
//! compiled straight to x86-64 machine code (no C compiler, no LLVM), one function per
//! `MaterializationUnit`, each compiled on its first call through a lazy stub (the ORC
//! tutorial's chapter 4, with jitld's `LazyReexportsUnit` as the compile callback and
//! indirect stub). It prints `compiling NAME` when a function is compiled, so you can see that
//! a function is compiled once, on first call, and a function never called never is.
//!
//! ```text
//! cargo run --example expr_jit
//! ```
//!
//! With `--cache DIR`, each function's object is kept in a directory cache (jitld's
//! `ObjectCache`), keyed by the function and the compiler: a second run over the same
//! program loads every object and compiles nothing. `--stats` says so at the end;
//! `--cache-limit BYTES` bounds the cache (64 MiB by default).
//!
//! ```text
//! cargo run --example expr_jit -- --cache /tmp/expr-cache --stats
//! ```

#[path = "expr_jit/mod.rs"]
mod expr;

use jitld::cache::DirectoryCache;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

struct Options {
    cache: Option<String>,
    limit: u64,
    stats: bool,
}

fn options() -> Result<Options, String> {
    let mut options = Options { cache: None, limit: 64 << 20, stats: false };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--cache" => options.cache = Some(args.next().ok_or("--cache needs a directory")?),
            "--cache-limit" => {
                let value = args.next().ok_or("--cache-limit needs a size in bytes")?;
                options.limit = value.parse().map_err(|e| format!("--cache-limit {value}: {e}"))?;
            }
            "--stats" => options.stats = true,
            other => {
                return Err(format!("unknown option {other} (options: --cache DIR, --cache-limit BYTES, --stats)"))
            }
        }
    }
    Ok(options)
}

fn main() {
    let options = options().unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(2);
    });
    let cache = options.cache.as_ref().map(|dir| Arc::new(DirectoryCache::open(dir, options.limit)));
    let caching = cache.clone().map(|cache| expr::cache::Caching::new(cache));
    let jit = match expr::demo::run_with(&expr::Log::stdout(), caching) {
        Ok(jit) => jit,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    if options.stats {
        let (compiled, loaded) = (jit.layer.compiled().len(), jit.layer.loaded().len());
        println!("stats: compiled {compiled} functions, loaded {loaded} from the cache");
        if let Some(cache) = &cache {
            let s = cache.stats();
            println!(
                "stats: cache {}: {} hits, {} misses, {} stored, {} rejected, {} evicted",
                cache.dir().display(),
                s.hits.load(Relaxed),
                s.misses.load(Relaxed),
                s.stored.load(Relaxed),
                s.rejected.load(Relaxed),
                s.evicted.load(Relaxed),
            );
        }
    }
}
