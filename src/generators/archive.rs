//! Static archives: a member is added to the JITDylib when one of its symbols is looked up,
//! as `ld` pulls members to satisfy undefined references.

use super::DefinitionGenerator;
use crate::error::Result;
use crate::layers::ObjectLinkingLayer;
use crate::session::{DylibId, ExecutionSession, LookupFlags};
use jitld_linker::format::archive::Archive;
use jitld_linker::InputBuffer;
use jitld_linker::LookupName;
use std::collections::HashSet;
use std::sync::Mutex;

pub struct ArchiveGenerator {
    archive: Archive,
    layer: ObjectLinkingLayer,
    pulled: Mutex<HashSet<usize>>,
    /// Position of the archive among the inputs: orders its members' initializers.
    ordinal: u64,
    /// Members' symbols are hidden in their JITDylib (llvm-jitlink's `-load_hidden`).
    hidden: bool,
}

impl ArchiveGenerator {
    pub fn new(input: InputBuffer, layer: ObjectLinkingLayer, ordinal: u64) -> Result<Self> {
        let archive = Archive::parse(input, layer.session().names())?;
        Ok(ArchiveGenerator { archive, layer, pulled: Mutex::new(HashSet::new()), ordinal, hidden: false })
    }

    /// Members' symbols are visible only within the JITDylib they are added to.
    pub fn hidden(self) -> Self {
        ArchiveGenerator { hidden: true, ..self }
    }

    /// Adds every object member now (`--whole-archive`).
    pub fn add_all(&self, dylib: DylibId) -> Result<()> {
        for member in self.archive.object_members() {
            self.pull(dylib, member)?;
        }
        Ok(())
    }

    fn pull(&self, dylib: DylibId, member: usize) -> Result<()> {
        if !self.pulled.lock().unwrap_or_else(|e| e.into_inner()).insert(member) {
            return Ok(());
        }
        let Some(input) = self.archive.member(member) else { return Ok(()) };
        let ordinal = self.ordinal + member as u64;
        let tracker = self.layer.session().default_tracker(dylib);
        match self.hidden {
            true => self.layer.add_hidden_with_ordinal(&tracker, input, ordinal).map(|_| ()),
            false => self.layer.add_with_ordinal(&tracker, input, ordinal).map(|_| ()),
        }
    }
}

impl DefinitionGenerator for ArchiveGenerator {
    fn try_to_generate(
        &self,
        _: &ExecutionSession,
        dylib: DylibId,
        _: LookupFlags,
        names: &[LookupName],
    ) -> Result<()> {
        for &LookupName { name, .. } in names.iter().filter(|wanted| !wanted.weak) {
            if let Some(member) = self.archive.member_defining(name) {
                self.pull(dylib, member)?;
            }
        }
        Ok(())
    }
}
