//! A directory of objects as a library (`cache::ObjectDir`): its index names the file to
//! link.

use super::library::{LibraryGenerator, ObjectLibrary};
use crate::cache::ObjectDir;
use crate::error::Result;
use crate::layers::ObjectLinkingLayer;
use jitld_linker::{InputBuffer, SymbolName};
use std::path::Path;

pub type ObjectDirGenerator = LibraryGenerator<ObjectDir>;

impl ObjectDirGenerator {
    /// Indexes `dir` (see `ObjectDir::open`) for the session's target.
    pub fn open(dir: &Path, layer: ObjectLinkingLayer, ordinal: u64) -> Result<Self> {
        let session = layer.session();
        let library = ObjectDir::open(dir, session.names(), session.executor().target().arch)?;
        Ok(LibraryGenerator::with_library(library, layer, ordinal))
    }
}

impl ObjectLibrary for ObjectDir {
    fn object_defining(&self, name: SymbolName) -> Option<usize> {
        ObjectDir::object_defining(self, name)
    }

    fn object(&self, index: usize) -> Result<Option<InputBuffer>> {
        ObjectDir::object(self, index).map(Some)
    }

    fn all_objects(&self) -> Vec<usize> {
        (0..self.len()).collect()
    }

    fn entries(&self) -> usize {
        self.len()
    }
}
