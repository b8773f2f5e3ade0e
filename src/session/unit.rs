//! Materialization units and the responsibility a unit holds while it materializes.

use super::{DylibId, ExecutionSession, InstanceId, LinkResolver, LookupFlags, SymbolFlags};
use crate::error::{JitError, Result};
use jitld_linker::LookupName;
use jitld_linker::{NameMap, ResolvedSymbol, SymbolName};
use std::any::Any;
use std::sync::{Arc, OnceLock};

/// Something that can provide definitions when asked: an object file, an archive member, a
/// synthesized data block, a compiler's output.
pub trait MaterializationUnit: Send {
    /// Where the definitions come from, for messages (`main.o`, `libfoo.a(bar.o)`).
    fn name(&self) -> &str;

    /// The symbols this unit defines.
    fn symbols(&self) -> Vec<(SymbolName, SymbolFlags)>;

    /// Produce the definitions: link, then report through `mr`. This runs as a job of the
    /// session's work queue: wait for other units through `MaterializationResponsibility::
    /// resolver` and a continuation rather than by blocking, so no thread is held.
    fn materialize(self: Box<Self>, mr: MaterializationResponsibility);

    /// Work to do before `materialize`, on any thread, while the unit waits for its turn:
    /// work that needs nothing of the session (parsing an object into a graph). A helper
    /// thread may run it (`ExecutionSession::set_prepare_ahead`), or nobody: `materialize`
    /// must then do it itself.
    fn prepare(&self) -> Option<Box<dyn FnOnce() + Send>> {
        None
    }

    /// Whether every definition it makes is placed in the session's memory (what its
    /// memory manager's `span` covers), as an object's are. A link that refers to such a
    /// name then needs no far-call stub for it, even before the unit is linked. The default
    /// is `false`: absolute or re-exported definitions may be anywhere.
    fn defines_in_session_memory(&self) -> bool {
        false
    }

    /// `name` lost to another definition (a weak one to a strong one): don't provide it.
    fn discard(&mut self, _name: SymbolName) {}

    /// A fresh copy of this unit, taken before it materializes. If materializing fails (a
    /// symbol it needs is missing), the copy takes its place, so that adding what was
    /// missing and looking up again links it, as a static link would. `None`: a failed
    /// unit's names are gone until defined anew.
    fn retry(&self) -> Option<Box<dyn MaterializationUnit>> {
        None
    }
}

/// A unit's duty, while it materializes, to resolve, emit or fail its symbols. Dropping it
/// without emitting fails them.
pub struct MaterializationResponsibility {
    session: ExecutionSession,
    instance: InstanceId,
    dylib: DylibId,
    symbols: Vec<(SymbolName, SymbolFlags)>,
    /// Name → position in `symbols`, built on first use: a responsibility is made under the
    /// session's lock, and hashing every name of a large object there held up the threads
    /// that waited for it.
    index: OnceLock<NameMap<usize>>,
    origin: Arc<str>,
    done: bool,
}

impl MaterializationResponsibility {
    pub(super) fn new(
        session: ExecutionSession,
        instance: InstanceId,
        dylib: DylibId,
        symbols: Vec<(SymbolName, SymbolFlags)>,
        origin: Arc<str>,
    ) -> Self {
        MaterializationResponsibility { session, instance, dylib, symbols, index: OnceLock::new(), origin, done: false }
    }

    pub fn session(&self) -> &ExecutionSession {
        &self.session
    }

    pub fn dylib(&self) -> DylibId {
        self.dylib
    }

    pub fn instance(&self) -> InstanceId {
        self.instance
    }

    /// The symbols this unit must define (those that did not lose to another definition).
    pub fn symbols(&self) -> &[(SymbolName, SymbolFlags)] {
        &self.symbols
    }

    pub fn flags(&self, name: SymbolName) -> Option<SymbolFlags> {
        self.position(name).map(|i| self.symbols[i].1)
    }

    /// Where `name` is in `symbols`, if this unit must define it.
    pub fn position(&self, name: SymbolName) -> Option<usize> {
        let index =
            self.index.get_or_init(|| self.symbols.iter().enumerate().map(|(i, &(name, _))| (name, i)).collect());
        index.get(&name).copied()
    }

    /// Addresses are final: dependents may link against them now.
    pub fn notify_resolved(&self, addrs: &[(SymbolName, u64)]) -> Result<()> {
        let sized: Vec<_> = addrs.iter().map(|&(name, addr)| (name, addr, 0)).collect();
        self.session.resolve_instance(self.instance, self.dylib, &sized)
    }

    /// Like `notify_resolved`, with each definition's size (for `R_X86_64_SIZE*` users).
    pub fn notify_resolved_with_sizes(&self, symbols: &[(SymbolName, u64, u64)]) -> Result<()> {
        self.session.resolve_instance(self.instance, self.dylib, symbols)
    }

    /// Resolves what this unit's code refers to through its JITDylib's search order. The
    /// unit comes to depend on what it finds: if one of those fails, this unit fails too.
    pub fn resolver(&self) -> LinkResolver {
        LinkResolver::new(self.session.clone(), self.session.search_order(self.dylib), self.instance)
    }

    /// Like `resolver`, in an explicit search order (re-exports look in another JITDylib).
    pub fn resolver_in(&self, order: Vec<(DylibId, LookupFlags)>) -> LinkResolver {
        LinkResolver::new(self.session.clone(), order, self.instance)
    }

    /// Looks up and waits (see `LinkResolver::lookup`). Returns once each symbol has an
    /// address, not necessarily once it is ready.
    pub fn lookup(&self, names: &[LookupName], referrer: &str) -> Result<Vec<Option<ResolvedSymbol>>> {
        self.resolver().lookup(names, referrer)
    }

    /// Everything is in place. `resources` (memory) live as long as the definitions do.
    pub fn notify_emitted(mut self, resources: Vec<Box<dyn Any + Send>>) -> Result<()> {
        self.done = true;
        self.session.emit_instance(self.instance, resources)
    }

    pub fn fail(mut self, error: JitError) {
        self.done = true;
        self.session.fail_instance(self.instance, error, true);
    }
}

impl Drop for MaterializationResponsibility {
    fn drop(&mut self) {
        if !self.done {
            let why =
                if std::thread::panicking() { "panicked (a bug: please report it)" } else { "ended without emitting" };
            let error = JitError::other(format!("{}: materialization {why}", self.origin));
            self.session.fail_instance(self.instance, error, true);
        }
    }
}
