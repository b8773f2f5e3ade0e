//! Static archives as libraries: the archive's symbol index names the member to pull.

use super::library::{LibraryGenerator, ObjectLibrary};
use crate::error::Result;
use crate::layers::ObjectLinkingLayer;
use jitld_linker::format::archive::Archive;
use jitld_linker::{InputBuffer, SymbolName};

pub type ArchiveGenerator = LibraryGenerator<Archive>;

impl ArchiveGenerator {
    pub fn new(input: InputBuffer, layer: ObjectLinkingLayer, ordinal: u64) -> Result<Self> {
        let archive = Archive::parse(input, layer.session().names())?;
        Ok(LibraryGenerator::with_library(archive, layer, ordinal))
    }
}

impl ObjectLibrary for Archive {
    fn object_defining(&self, name: SymbolName) -> Option<usize> {
        self.member_defining(name)
    }

    fn object(&self, index: usize) -> Result<Option<InputBuffer>> {
        Ok(self.member(index))
    }

    fn all_objects(&self) -> Vec<usize> {
        self.object_members().collect()
    }

    fn entries(&self) -> usize {
        self.member_count()
    }
}
