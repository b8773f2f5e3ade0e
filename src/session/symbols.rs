//! Units that define names in terms of other names: aliases inside one JITDylib and
//! re-exports of another JITDylib's symbols. The new name's address is the original's; it
//! is ready when the original is.

use super::ExecutionSession;
use super::{DylibId, LookupFlags, MaterializationResponsibility, MaterializationUnit, SymbolFlags};
use crate::error::Result;
use jitld_linker::LookupName;
use jitld_linker::SymbolName;

pub struct ReexportsUnit {
    /// Where the originals are looked up.
    source: Vec<(DylibId, LookupFlags)>,
    /// (new name, original name, flags)
    aliases: Vec<(SymbolName, SymbolName, SymbolFlags)>,
    origin: String,
}

impl ReexportsUnit {
    /// `aliases`: (new name, original name, flags), the originals looked up in `source`.
    pub fn new(
        source: Vec<(DylibId, LookupFlags)>,
        aliases: Vec<(SymbolName, SymbolName, SymbolFlags)>,
        origin: String,
    ) -> Self {
        ReexportsUnit { source, aliases, origin }
    }
}

impl MaterializationUnit for ReexportsUnit {
    fn name(&self) -> &str {
        &self.origin
    }

    fn symbols(&self) -> Vec<(SymbolName, SymbolFlags)> {
        self.aliases.iter().map(|&(new, _, flags)| (new, flags)).collect()
    }

    fn discard(&mut self, name: SymbolName) {
        self.aliases.retain(|(new, _, _)| *new != name);
    }

    fn materialize(self: Box<Self>, mr: MaterializationResponsibility) {
        let originals: Vec<LookupName> = self.aliases.iter().map(|&(_, old, _)| LookupName::required(old)).collect();
        let resolver = mr.resolver_in(self.source.clone());
        let origin = self.origin.clone();
        // Resolved only once the originals are: never waits on the stack, so a re-export
        // that an original's own link needs back can't deadlock.
        resolver.lookup_then(&originals, &origin, move |found| {
            let found = match found {
                Ok(found) => found,
                Err(e) => return mr.fail(e),
            };
            let addrs: Vec<(SymbolName, u64, u64)> = self
                .aliases
                .iter()
                .zip(found)
                .map(|(&(new, _, _), f)| (new, f.map_or(0, |f| f.addr), f.map_or(0, |f| f.size)))
                .collect();
            if let Err(e) = mr.notify_resolved_with_sizes(&addrs) {
                return mr.fail(e);
            }
            let _ = mr.notify_emitted(Vec::new());
        });
    }
}

impl ExecutionSession {
    /// Defines each `new` name in `dylib` as the definition of `old` in the same JITDylib.
    pub fn symbol_aliases(&self, dylib: DylibId, aliases: &[(SymbolName, SymbolName)]) -> Result<()> {
        self.reexports_from(dylib, vec![(dylib, LookupFlags::MatchAllSymbols)], aliases, "aliases")
    }

    /// Defines names in `dylib` that stand for exported symbols of `source`.
    pub fn reexports(&self, dylib: DylibId, source: DylibId, names: &[(SymbolName, SymbolName)]) -> Result<()> {
        let label = format!("re-exports of {}", self.dylib_name(source));
        self.reexports_from(dylib, vec![(source, LookupFlags::MatchExportedSymbolsOnly)], names, &label)
    }

    fn reexports_from(
        &self,
        dylib: DylibId,
        source: Vec<(DylibId, LookupFlags)>,
        pairs: &[(SymbolName, SymbolName)],
        label: &str,
    ) -> Result<()> {
        let originals: Vec<SymbolName> = pairs.iter().map(|&(_, old)| old).collect();
        let flags = self.lookup_flags(&source, &originals)?;
        let aliases = pairs.iter().zip(flags).map(|(&(new, old), f)| (new, old, f)).collect();
        self.define(dylib, Box::new(ReexportsUnit { source, aliases, origin: label.to_string() }))
    }
}
