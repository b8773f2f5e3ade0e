//! A tiny expression language JIT-compiled straight to x86-64 through a custom jitld layer,
//! lazily, one function at a time. Shared by `examples/expr_jit.rs` and `tests/examples.rs`.
//!
//! - `lang`: the language and its parser.
//! - `x86`: AST → machine code → relocatable object.
//! - `cache`: the object cache's keys for this compiler.
//! - `layer`: `ExprLayer`, the custom layer and its `MaterializationUnit`, behind lazy stubs.
//! - `demo`: what the example prints.

// The test includes these modules and uses only part of them.
#![allow(dead_code)]

pub mod cache;
pub mod demo;
/// The tests' ELF writer: the compiler's object writer too.
#[path = "../../tests/common/elfgen.rs"]
pub mod elfgen;
pub mod lang;
pub mod layer;
pub mod x86;

use jitld::session::{DylibId, ExecutionSession, LookupFlags};
use jitld::JitError;
use jitld_linker::memory::InProcessMemoryManager;
use layer::ExprLayer;
use std::fmt;
use std::sync::{Arc, Mutex};

/// Lines of output, printed as they come (the example) or kept for inspection (the test).
#[derive(Clone)]
pub struct Log {
    lines: Arc<Mutex<Vec<String>>>,
    echo: bool,
}

impl Log {
    pub fn stdout() -> Log {
        Log { lines: Arc::default(), echo: true }
    }

    pub fn capture() -> Log {
        Log { lines: Arc::default(), echo: false }
    }

    pub fn line(&self, line: impl Into<String>) {
        let line = line.into();
        if self.echo {
            println!("{line}");
        }
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[derive(Debug)]
pub enum ExprError {
    /// The source does not parse; nothing was defined.
    Parse(lang::ParseError),
    /// The program is well-formed but a call cannot work (undefined callee, wrong arity).
    Check(String),
    /// The session said no: a failed materialization, a duplicate, an undefined symbol.
    Jit(JitError),
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExprError::Parse(e) => write!(f, "parse error at {e}"),
            ExprError::Check(message) => f.write_str(message),
            ExprError::Jit(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ExprError {}

impl From<JitError> for ExprError {
    fn from(e: JitError) -> Self {
        ExprError::Jit(e)
    }
}

/// Chapter 4's `KaleidoscopeJIT`, for this language: a session, one JITDylib (`expr`) of
/// lazy stubs, the layer, and ways to call in from Rust.
pub struct ExprJit {
    pub layer: ExprLayer,
    pub dylib: DylibId,
}

impl ExprJit {
    pub fn new(log: Log) -> Result<ExprJit, ExprError> {
        Self::with_caching(log, None)
    }

    /// A JIT whose layer keeps compiled objects in `caching`'s cache.
    pub fn with_caching(log: Log, caching: Option<cache::Caching>) -> Result<ExprJit, ExprError> {
        let session = ExecutionSession::new(Arc::new(InProcessMemoryManager::new()));
        let dylib = session.create_jit_dylib("expr")?;
        Ok(ExprJit { layer: ExprLayer::with_caching(session, log, caching), dylib })
    }

    pub fn session(&self) -> &ExecutionSession {
        self.layer.session()
    }

    /// Defines the functions in `source`, compiling none of them.
    pub fn add(&self, source: &str) -> Result<Vec<String>, ExprError> {
        self.layer.add(self.dylib, source)
    }

    /// The address of `name`'s stub: what callers (JIT'd or Rust) call. Links the stubs, not
    /// the body.
    pub fn stub(&self, name: &str) -> Result<u64, ExprError> {
        let session = self.session();
        let found = session.lookup(&[(self.dylib, LookupFlags::MatchAllSymbols)], &[session.intern(name)])?;
        Ok(found[0].addr)
    }

    /// See `ExprLayer::check`.
    pub fn check(&self, name: &str) -> Result<(), ExprError> {
        self.layer.check(self.dylib, name)
    }

    /// Compiles `name` now, as its first call would, and returns its body's address; a
    /// failure comes back as the session's error (nothing is called).
    pub fn compile(&self, name: &str) -> Result<u64, ExprError> {
        let implementation = self.layer.implementation(self.dylib)?;
        let session = self.session();
        let found = session.lookup(&[(implementation, LookupFlags::MatchAllSymbols)], &[session.intern(name)])?;
        Ok(found[0].addr)
    }

    /// Calls `name(args)` through its stub, once `check` says every function it can reach
    /// will compile.
    pub fn call(&self, name: &str, args: &[i64]) -> Result<i64, ExprError> {
        self.check(name)?;
        let arity = self.layer.arity(self.dylib, name).unwrap_or(0);
        if arity != args.len() {
            let plural = if arity == 1 { "" } else { "s" };
            return Err(ExprError::Check(format!("`{name}` takes {arity} argument{plural}, not {}", args.len())));
        }
        let stub = self.stub(name)?;
        // SAFETY: every function of this language is `extern "C" fn(i64 x arity) -> i64`, and
        // the argument count was just checked.
        Ok(unsafe { call_address(stub, args) })
    }
}

/// Calls the code at `addr` as `extern "C" fn(i64, ...) -> i64` with `args`.
///
/// # Safety
/// `addr` must be a function of this language that takes exactly `args.len()` parameters.
pub unsafe fn call_address(addr: u64, args: &[i64]) -> i64 {
    use std::mem::transmute as to;
    type F0 = extern "C" fn() -> i64;
    type F1 = extern "C" fn(i64) -> i64;
    type F2 = extern "C" fn(i64, i64) -> i64;
    type F3 = extern "C" fn(i64, i64, i64) -> i64;
    type F4 = extern "C" fn(i64, i64, i64, i64) -> i64;
    type F5 = extern "C" fn(i64, i64, i64, i64, i64) -> i64;
    type F6 = extern "C" fn(i64, i64, i64, i64, i64, i64) -> i64;
    let addr = addr as usize;
    match *args {
        [] => to::<usize, F0>(addr)(),
        [a] => to::<usize, F1>(addr)(a),
        [a, b] => to::<usize, F2>(addr)(a, b),
        [a, b, c] => to::<usize, F3>(addr)(a, b, c),
        [a, b, c, d] => to::<usize, F4>(addr)(a, b, c, d),
        [a, b, c, d, e] => to::<usize, F5>(addr)(a, b, c, d, e),
        [a, b, c, d, e, f] => to::<usize, F6>(addr)(a, b, c, d, e, f),
        _ => panic!("functions take at most {} parameters", lang::MAX_PARAMS),
    }
}
