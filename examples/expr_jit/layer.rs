//! `ExprLayer`: a custom layer, as the ORC design document describes one. `add` wraps each
//! function's AST in a `MaterializationUnit` (`ExprUnit`) and defines it; when the session
//! asks the unit to materialize, it hands the AST back to the layer's `emit`, which compiles
//! it to a relocatable object and links it on behalf of the unit's
//! `MaterializationResponsibility`.
//!
//! With an object cache (`cache::Caching`), `emit` asks the cache for the function's key
//! first and compiles only on a miss, storing the object it made: the cache sits exactly
//! between source and object bytes, so a hit skips the compiler and nothing else.
//!
//! Laziness is chapter 4 of the tutorial (compile callbacks + indirect stubs), built from
//! jitld's `LazyReexportsUnit`: the bodies go into an implementation JITDylib (`<name>.impl`),
//! and the JITDylib the caller names gets a stub per function. A stub's first call enters the
//! JIT, which looks the body up in the implementation JITDylib (materializing, that is
//! compiling, it), patches the stub and continues into the body. The implementation
//! JITDylib searches the stubs' JITDylib and never itself, so a body's calls to other
//! functions link against their stubs: compiling one function never compiles another.

use super::cache::Caching;
use super::lang::{parse_program, Function};
use super::x86;
use super::{ExprError, Log};
use jitld::layers::ObjectLinkingLayer;
use jitld::lazy::{LazyReexportsUnit, LazyStats};
use jitld::session::{
    DylibId, ExecutionSession, LookupFlags, MaterializationResponsibility, MaterializationUnit, SymbolFlags,
};
use jitld::JitError;
use jitld_linker::{format, InputBuffer, SymbolName};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What the layer remembers of each function it was given: enough to check calls.
#[derive(Clone)]
struct Signature {
    arity: usize,
    calls: Vec<(String, usize)>,
}

#[derive(Clone)]
pub struct ExprLayer {
    inner: Arc<Inner>,
}

struct Inner {
    session: ExecutionSession,
    /// Links what the layer compiles, and its lazy stubs: through the object layer, every
    /// graph gets the platform's support (initializers, unwind tables, thread-local storage).
    objects: ObjectLinkingLayer,
    stub_stats: Arc<LazyStats>,
    /// Public JITDylib → the implementation JITDylib behind its stubs.
    implementations: Mutex<Vec<(DylibId, DylibId)>>,
    signatures: Mutex<HashMap<(DylibId, String), Signature>>,
    /// Functions in the order the layer compiled them (failed attempts too).
    compiled: Mutex<Vec<String>>,
    /// Where compiled objects are kept across runs, if anywhere.
    caching: Option<Caching>,
    /// Functions whose object came from the cache, in order.
    loaded: Mutex<Vec<String>>,
    log: Log,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ExprLayer {
    pub fn new(session: ExecutionSession, log: Log) -> Self {
        Self::with_caching(session, log, None)
    }

    /// A layer that asks `caching`'s cache for each function's object before compiling it,
    /// and stores what it compiles.
    pub fn with_caching(session: ExecutionSession, log: Log, caching: Option<Caching>) -> Self {
        ExprLayer {
            inner: Arc::new(Inner {
                objects: ObjectLinkingLayer::new(session.clone()),
                session,
                stub_stats: Arc::new(LazyStats::default()),
                implementations: Mutex::new(Vec::new()),
                signatures: Mutex::new(HashMap::new()),
                compiled: Mutex::new(Vec::new()),
                caching,
                loaded: Mutex::new(Vec::new()),
                log,
            }),
        }
    }

    pub fn session(&self) -> &ExecutionSession {
        &self.inner.session
    }

    /// Names of the functions compiled so far, in order (failed attempts too).
    pub fn compiled(&self) -> Vec<String> {
        lock(&self.inner.compiled).clone()
    }

    /// Names of the functions whose objects were loaded from the cache, in order.
    pub fn loaded(&self) -> Vec<String> {
        lock(&self.inner.loaded).clone()
    }

    pub fn stub_stats(&self) -> &LazyStats {
        &self.inner.stub_stats
    }

    /// The JITDylib that holds the bodies behind `dylib`'s stubs, made on first use.
    pub fn implementation(&self, dylib: DylibId) -> Result<DylibId, JitError> {
        let mut implementations = lock(&self.inner.implementations);
        if let Some(&(_, implementation)) = implementations.iter().find(|(d, _)| *d == dylib) {
            return Ok(implementation);
        }
        let session = &self.inner.session;
        let implementation = session.create_jit_dylib(&format!("{}.impl", session.dylib_name(dylib)))?;
        // Calls from bodies find the stubs first (then whatever `dylib` links against); the
        // bodies themselves are never found by a body's link, so none is compiled early.
        let mut order = vec![(dylib, LookupFlags::MatchAllSymbols)];
        order.extend(session.link_order(dylib));
        session.set_link_order_with(implementation, order, false);
        implementations.push((dylib, implementation));
        Ok(implementation)
    }

    /// Parses `source` and defines each function in `dylib`, behind a lazy stub: nothing is
    /// compiled until the function is first called. Returns the names defined. A parse error
    /// or a bad call defines nothing.
    ///
    /// A function whose earlier compilation failed may be defined again: its stub stays, and
    /// the next call compiles the new body.
    pub fn add(&self, dylib: DylibId, source: &str) -> Result<Vec<String>, ExprError> {
        let functions = parse_program(source).map_err(ExprError::Parse)?;
        let implementation = self.implementation(dylib)?;
        let session = &self.inner.session;
        let exists = |d: DylibId, name: &str| {
            session.lookup_flags(&[(d, LookupFlags::MatchAllSymbols)], &[session.intern(name)]).is_ok()
        };
        // Check everything before defining anything.
        let mut new_stubs = Vec::new();
        {
            let signatures = lock(&self.inner.signatures);
            for function in &functions {
                if exists(implementation, &function.name) {
                    return Err(ExprError::Check(format!("`{}` is already defined", function.name)));
                }
                if !exists(dylib, &function.name) {
                    new_stubs.push(function.name.clone());
                }
                for (callee, argc) in function.calls() {
                    let arity = match functions.iter().find(|f| f.name == callee) {
                        Some(f) => Some(f.params.len()),
                        None => signatures.get(&(dylib, callee.clone())).map(|s| s.arity),
                    };
                    if let Some(arity) = arity.filter(|&a| a != argc) {
                        return Err(ExprError::Check(arity_message(&function.name, &callee, argc, arity)));
                    }
                }
            }
        }
        for function in functions.iter().cloned() {
            let signature = Signature { arity: function.params.len(), calls: function.calls() };
            lock(&self.inner.signatures).insert((dylib, function.name.clone()), signature);
            let origin = format!("expr function {}", function.name);
            session.define(implementation, Box::new(ExprUnit { layer: self.clone(), function, origin }))?;
        }
        if !new_stubs.is_empty() {
            let flags = SymbolFlags::strong_function();
            let stubs = LazyReexportsUnit {
                layer: self.inner.objects.clone(),
                source: vec![(implementation, LookupFlags::MatchAllSymbols)],
                names: new_stubs.iter().map(|n| (session.intern(n), session.intern(n), flags)).collect(),
                stats: self.inner.stub_stats.clone(),
                origin: format!("lazy stubs for {}", new_stubs.join(", ")),
            };
            session.define(dylib, Box::new(stubs))?;
        }
        Ok(functions.into_iter().map(|f| f.name).collect())
    }

    /// Whether calling `name` in `dylib` can run without a compile error: every function it
    /// can reach is defined, has a body that did not fail to compile, and is called with the
    /// right number of arguments. Compiles nothing. A lazy call whose compilation fails has
    /// no caller to return an error to (jitld's stub reentry prints it and exits the
    /// process), so callers from Rust check first.
    pub fn check(&self, dylib: DylibId, name: &str) -> Result<(), ExprError> {
        let implementation = self.implementation(dylib)?;
        let session = &self.inner.session;
        let signatures = lock(&self.inner.signatures).clone();
        let mut todo = vec![(name.to_string(), None::<String>)];
        let mut seen = vec![name.to_string()];
        while let Some((function, caller)) = todo.pop() {
            let Some(signature) = signatures.get(&(dylib, function.clone())) else {
                return Err(ExprError::Check(match caller {
                    Some(caller) => format!("`{caller}` calls `{function}`, which is not defined"),
                    None => format!("no function named `{function}`"),
                }));
            };
            let body = session.intern(&function);
            if session.lookup_flags(&[(implementation, LookupFlags::MatchAllSymbols)], &[body]).is_err() {
                return Err(ExprError::Check(format!("`{function}` failed to compile; define it again")));
            }
            for (callee, argc) in &signature.calls {
                if let Some(callee_sig) = signatures.get(&(dylib, callee.clone())) {
                    if callee_sig.arity != *argc {
                        return Err(ExprError::Check(arity_message(&function, callee, *argc, callee_sig.arity)));
                    }
                }
                if !seen.contains(callee) {
                    seen.push(callee.clone());
                    todo.push((callee.clone(), Some(function.clone())));
                }
            }
        }
        Ok(())
    }

    /// Number of parameters of `name` in `dylib`, if the layer was given it.
    pub fn arity(&self, dylib: DylibId, name: &str) -> Option<usize> {
        lock(&self.inner.signatures).get(&(dylib, name.to_string())).map(|s| s.arity)
    }

    /// Compiles `function` (or loads its object from the cache) and links it for `mr`: the
    /// layer's half of materialization.
    pub fn emit(&self, mr: MaterializationResponsibility, function: Function, origin: &str) {
        // Calls were checked against what was known at `add`; callees defined later are
        // checked now.
        let dylib = self.public_of(mr.dylib());
        let mismatch = {
            let signatures = lock(&self.inner.signatures);
            function.calls().into_iter().find_map(|(callee, argc)| {
                let arity = signatures.get(&(dylib, callee.clone()))?.arity;
                (arity != argc).then(|| arity_message(&function.name, &callee, argc, arity))
            })
        };
        let key = self.inner.caching.as_ref().map(|caching| (caching, caching.key(&function)));
        let cached = match (&key, &mismatch) {
            (Some((caching, key)), None) => caching.cache.get_object(key),
            _ => None,
        };
        let object = match cached {
            Some(object) => {
                self.inner.log.line(format!("  loading {} from the cache", function.name));
                lock(&self.inner.loaded).push(function.name.clone());
                object
            }
            None => {
                self.inner.log.line(format!("  compiling {}", function.name));
                lock(&self.inner.compiled).push(function.name.clone());
                if let Some(message) = mismatch {
                    return mr.fail(JitError::other(message));
                }
                let object = x86::object(&function, x86::compile(&function));
                if let Some((caching, key)) = &key {
                    caching.cache.notify_object_compiled(key, &object);
                }
                object
            }
        };
        self.link_object(mr, origin, object);
    }

    /// Links an object's bytes for `mr`, as the object layer links any object file.
    fn link_object(&self, mr: MaterializationResponsibility, origin: &str, object: Vec<u8>) {
        let input = InputBuffer::from_vec(origin, object);
        let names = self.inner.session.names();
        let graph = match format::object_format(&input).and_then(|f| f.build_graph(&input, names)) {
            Ok(graph) => graph,
            Err(e) => return mr.fail(e.into()),
        };
        // No initializers of its own; `u64::MAX` orders it after every object.
        self.inner.objects.emit(mr, graph, u64::MAX, None);
    }

    /// The public JITDylib whose stubs front `implementation`.
    fn public_of(&self, implementation: DylibId) -> DylibId {
        lock(&self.inner.implementations).iter().find(|(_, i)| *i == implementation).map_or(implementation, |(d, _)| *d)
    }
}

fn arity_message(caller: &str, callee: &str, argc: usize, arity: usize) -> String {
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    format!(
        "`{caller}` calls `{callee}` with {argc} argument{}, but `{callee}` takes {arity} parameter{}",
        plural(argc),
        plural(arity)
    )
}

/// One function, waiting to be compiled.
struct ExprUnit {
    layer: ExprLayer,
    function: Function,
    origin: String,
}

impl MaterializationUnit for ExprUnit {
    fn name(&self) -> &str {
        &self.origin
    }

    fn symbols(&self) -> Vec<(SymbolName, SymbolFlags)> {
        vec![(self.layer.session().intern(&self.function.name), SymbolFlags::strong_function())]
    }

    fn materialize(self: Box<Self>, mr: MaterializationResponsibility) {
        let ExprUnit { layer, function, origin } = *self;
        layer.emit(mr, function, &origin);
    }

    // Functions are strong definitions: no other definition can make one lose, so `discard`
    // is never called and the default (ignore it) is right.
}
