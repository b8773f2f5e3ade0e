//! Materialization units and the responsibility a unit holds while it materializes.

use super::{DylibId, ExecutionSession, InstanceId, SymbolFlags};
use crate::error::{JitError, Result};
use jitld_linker::{ResolvedSymbol, SymbolName};
use std::any::Any;

/// Something that can provide definitions when asked: an object file, an archive member, a
/// synthesized data block, a compiler's output.
pub trait MaterializationUnit: Send {
    /// Where the definitions come from, for messages (`main.o`, `libfoo.a(bar.o)`).
    fn name(&self) -> &str;

    /// The symbols this unit defines.
    fn symbols(&self) -> Vec<(SymbolName, SymbolFlags)>;

    /// Produce the definitions: link, then report through `mr`.
    fn materialize(self: Box<Self>, mr: MaterializationResponsibility);

    /// `name` lost to another definition (a weak one to a strong one): don't provide it.
    fn discard(&mut self, _name: SymbolName) {}
}

/// A unit's duty, while it materializes, to resolve, emit or fail its symbols. Dropping it
/// without emitting fails them.
pub struct MaterializationResponsibility {
    pub(super) session: ExecutionSession,
    pub(super) instance: InstanceId,
    pub(super) dylib: DylibId,
    pub(super) symbols: Vec<(SymbolName, SymbolFlags)>,
    /// Name → position in `symbols`.
    pub(super) index: std::collections::HashMap<SymbolName, usize>,
    pub(super) origin: String,
    pub(super) done: bool,
}

impl MaterializationResponsibility {
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
        self.index.get(&name).map(|&i| self.symbols[i].1)
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

    /// Looks up what this unit's code refers to, through its JITDylib's link order. Returns
    /// once each symbol has an address (not necessarily once it is ready); the unit then
    /// depends on those symbols: if one fails, this unit fails too.
    pub fn lookup(&self, names: &[(SymbolName, bool)], referrer: &str) -> Result<Vec<Option<ResolvedSymbol>>> {
        let order = self.session.search_order(self.dylib);
        self.session.lookup_for_link(&order, self.instance, names, referrer)
    }

    /// Like `lookup`, in an explicit search order (re-exports look in another JITDylib).
    pub fn lookup_in(
        &self,
        order: &[(DylibId, super::LookupFlags)],
        names: &[(SymbolName, bool)],
        referrer: &str,
    ) -> Result<Vec<Option<ResolvedSymbol>>> {
        self.session.lookup_for_link(order, self.instance, names, referrer)
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
            let error = JitError::other(format!("{}: materialization ended without emitting", self.origin));
            self.session.fail_instance(self.instance, error, true);
        }
    }
}
