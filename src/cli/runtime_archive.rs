//! The compiler's runtime archive (`libgcc.a`), searched after everything else as the
//! compiler driver links it, and opened only when a name reaches it: most programs find
//! everything in the process, and parsing the archive's index costs about a megabyte.

use super::open::open_input;
use crate::error::Result;
use crate::generators::{ArchiveGenerator, DefinitionGenerator};
use crate::layers::ObjectLinkingLayer;
use crate::session::{DylibId, ExecutionSession, LookupFlags};
use jitld_linker::LookupName;
use std::path::PathBuf;
use std::sync::OnceLock;

pub struct RuntimeArchive {
    path: PathBuf,
    layer: ObjectLinkingLayer,
    archive: OnceLock<std::result::Result<ArchiveGenerator, crate::JitError>>,
}

impl RuntimeArchive {
    pub fn new(path: PathBuf, layer: ObjectLinkingLayer) -> Self {
        RuntimeArchive { path, layer, archive: OnceLock::new() }
    }
}

impl DefinitionGenerator for RuntimeArchive {
    fn try_to_generate(
        &self,
        session: &ExecutionSession,
        dylib: DylibId,
        flags: LookupFlags,
        names: &[LookupName],
    ) -> Result<()> {
        // Weak references never pull archive members: no need to open it for those.
        if names.iter().all(|wanted| wanted.weak) {
            return Ok(());
        }
        let archive = self
            .archive
            .get_or_init(|| ArchiveGenerator::new(open_input(&self.path)?, self.layer.clone(), u64::MAX / 2));
        match archive {
            Ok(archive) => archive.try_to_generate(session, dylib, flags, names),
            Err(e) => Err(e.clone()),
        }
    }
}
