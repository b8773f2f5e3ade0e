//! Libraries of objects indexed by the symbols they define (an archive's members, a
//! directory's files): an object is added to the JITDylib when one of its symbols is looked
//! up, as `ld` pulls archive members to satisfy undefined references. What kind of library
//! it is stays behind `ObjectLibrary`; how an object is added (visible, hidden, behind lazy
//! stubs) is the generator's.

use super::DefinitionGenerator;
use crate::error::Result;
use crate::layers::ObjectLinkingLayer;
use crate::lazy::LazyStats;
use crate::session::{DylibId, ExecutionSession, LookupFlags};
use jitld_linker::{InputBuffer, LookupName, SymbolName};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// A set of objects and the index from symbol to object.
pub trait ObjectLibrary: Send + Sync {
    /// The object that provides `name`, if the index names one.
    fn object_defining(&self, name: SymbolName) -> Option<usize>;
    /// Object `index`'s bytes, named for messages; `None` for an entry that holds no object.
    fn object(&self, index: usize) -> Result<Option<InputBuffer>>;
    /// The objects to add when the whole library is loaded.
    fn all_objects(&self) -> Vec<usize>;
}

/// How a pulled object is added.
enum Linking {
    Visible,
    /// Its symbols are visible only within the JITDylib (llvm-jitlink's `-load_hidden`).
    Hidden,
    /// Into `implementation`, with a stub for each function in the JITDylib: the object
    /// links on the first call (`--lazy`).
    Lazy {
        implementation: DylibId,
        stats: Arc<LazyStats>,
    },
}

pub struct LibraryGenerator<L> {
    library: L,
    layer: ObjectLinkingLayer,
    pulled: Mutex<HashSet<usize>>,
    /// Position of the library among the inputs: orders its objects' initializers.
    ordinal: u64,
    linking: Linking,
}

impl<L: ObjectLibrary> LibraryGenerator<L> {
    pub fn with_library(library: L, layer: ObjectLinkingLayer, ordinal: u64) -> Self {
        LibraryGenerator { library, layer, pulled: Mutex::new(HashSet::new()), ordinal, linking: Linking::Visible }
    }

    pub fn library(&self) -> &L {
        &self.library
    }

    /// Objects' symbols are visible only within the JITDylib they are added to.
    pub fn hidden(self) -> Self {
        LibraryGenerator { linking: Linking::Hidden, ..self }
    }

    /// A pulled object goes into `implementation` (which searches the JITDylib first, see
    /// `lazy::link_implementation`) and its functions link on their first call.
    pub fn lazy(self, implementation: DylibId, stats: Arc<LazyStats>) -> Self {
        LibraryGenerator { linking: Linking::Lazy { implementation, stats }, ..self }
    }

    /// Adds every object now (`--whole-archive`).
    pub fn add_all(&self, dylib: DylibId) -> Result<()> {
        for object in self.library.all_objects() {
            self.pull(dylib, object)?;
        }
        Ok(())
    }

    fn pull(&self, dylib: DylibId, object: usize) -> Result<()> {
        if !self.pulled.lock().unwrap_or_else(|e| e.into_inner()).insert(object) {
            return Ok(());
        }
        let Some(input) = self.library.object(object)? else { return Ok(()) };
        let ordinal = self.ordinal + object as u64;
        let tracker = self.layer.session().default_tracker(dylib);
        match &self.linking {
            Linking::Visible => self.layer.add_with_ordinal(&tracker, input, ordinal).map(|_| ()),
            Linking::Hidden => self.layer.add_hidden_with_ordinal(&tracker, input, ordinal).map(|_| ()),
            Linking::Lazy { implementation, stats } => {
                crate::lazy::add_lazy_object(&self.layer, dylib, *implementation, input, stats)
            }
        }
    }
}

impl<L: ObjectLibrary> DefinitionGenerator for LibraryGenerator<L> {
    fn try_to_generate(
        &self,
        _: &ExecutionSession,
        dylib: DylibId,
        _: LookupFlags,
        names: &[LookupName],
    ) -> Result<()> {
        for &LookupName { name, .. } in names.iter().filter(|wanted| !wanted.weak) {
            if let Some(object) = self.library.object_defining(name) {
                self.pull(dylib, object)?;
            }
        }
        Ok(())
    }
}
