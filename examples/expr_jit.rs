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

#[path = "expr_jit/mod.rs"]
mod expr;

fn main() {
    if let Err(e) = expr::demo::run(&expr::Log::stdout()) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
