//! Libraries of objects indexed by the symbols they define (an archive's members, a
//! directory's files): an object is added to the JITDylib when one of its symbols is looked
//! up, as `ld` pulls archive members to satisfy undefined references. What kind of library
//! it is stays behind `ObjectLibrary`; how an object is added (visible, hidden, behind lazy
//! stubs) is the generator's.

use super::DefinitionGenerator;
use crate::error::Result;
use crate::layers::ahead::Ahead;
use crate::layers::{ObjectLinkingLayer, ReadObject};
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
    /// How many entries there are (objects or not): indices run below it.
    fn entries(&self) -> usize;
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
    /// Per entry, the object read before its pull (`read_ahead_when_idle`), or by the pull.
    read: Vec<Ahead<Result<Option<ReadObject>>>>,
    /// Position of the library among the inputs: orders its objects' initializers.
    ordinal: u64,
    linking: Linking,
}

impl<L: ObjectLibrary> LibraryGenerator<L> {
    pub fn with_library(library: L, layer: ObjectLinkingLayer, ordinal: u64) -> Self {
        let read = (0..library.entries()).map(|_| Ahead::default()).collect();
        LibraryGenerator { library, layer, pulled: Mutex::default(), read, ordinal, linking: Linking::Visible }
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
        let ordinal = self.ordinal + object as u64;
        let tracker = self.layer.session().default_tracker(dylib);
        let hide = match &self.linking {
            Linking::Visible => false,
            Linking::Hidden => true,
            Linking::Lazy { implementation, stats } => {
                let Some(input) = self.library.object(object)? else { return Ok(()) };
                return crate::lazy::add_lazy_object(&self.layer, dylib, *implementation, input, stats);
            }
        };
        let read = match self.read.get(object) {
            Some(ahead) => ahead.take(|| self.read_object(object)),
            None => self.read_object(object),
        };
        match read? {
            Some(read) => self.layer.add_read(&tracker, read, ordinal, hide).map(|_| ()),
            None => Ok(()),
        }
    }

    /// The objects defining `names`, but for weak references: `ld` pulls no member for those.
    fn objects_wanted<'a>(&'a self, names: &'a [LookupName]) -> impl Iterator<Item = usize> + 'a {
        names.iter().filter(|wanted| !wanted.weak).filter_map(|wanted| self.library.object_defining(wanted.name))
    }

    /// Entry `object` read up to its interface; `None` for an entry that holds no object.
    fn read_object(&self, object: usize) -> Result<Option<ReadObject>> {
        self.library.object(object)?.map(|input| self.layer.read(input)).transpose()
    }

    /// Reads the library's objects (up to their interfaces) on the session's threads, in
    /// time they would otherwise sleep through, so that a pull only adds what was read:
    /// sqlite's archive pulls 87 of its 102 members, and their reading was a twentieth of
    /// the link. Only with threads to spare; a lazy library reads at its pulls.
    pub fn read_ahead_when_idle(self: &Arc<Self>)
    where
        L: 'static,
    {
        let session = self.layer.session();
        if session.materialization_threads() < 2 || matches!(self.linking, Linking::Lazy { .. }) {
            return;
        }
        for object in 0..self.read.len() {
            let generator = self.clone();
            session
                .dispatch_when_idle(Box::new(move || generator.read[object].build(|| generator.read_object(object))));
        }
    }
}

impl<L: ObjectLibrary> DefinitionGenerator for LibraryGenerator<L> {
    /// Reads the members that would be pulled (a member already pulled, or being read, is
    /// left alone): reading is most of a pull, and two threads can read two members at once.
    fn prepare(&self, names: &[LookupName]) {
        if matches!(self.linking, Linking::Lazy { .. }) {
            return;
        }
        for object in self.objects_wanted(names) {
            if let Some(read) = self.read.get(object) {
                read.build(|| self.read_object(object));
            }
        }
    }

    fn try_to_generate(
        &self,
        _: &ExecutionSession,
        dylib: DylibId,
        _: LookupFlags,
        names: &[LookupName],
    ) -> Result<()> {
        for object in self.objects_wanted(names) {
            self.pull(dylib, object)?;
        }
        Ok(())
    }
}
