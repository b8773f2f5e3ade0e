//! Libraries of objects indexed by the symbols they define (an archive's members, a
//! directory's files): an object is added to the JITDylib when one of its symbols is looked
//! up, as `ld` pulls archive members to satisfy undefined references. What kind of library
//! it is stays behind `ObjectLibrary`; how an object is added (visible, hidden, behind lazy
//! stubs) is the generator's.

use super::DefinitionGenerator;
use crate::error::Result;
use crate::layers::{ObjectLinkingLayer, ReadObject};
use crate::lazy::LazyStats;
use crate::session::{DylibId, ExecutionSession, LookupFlags};
use jitld_linker::{InputBuffer, LookupName, SymbolName};
use std::collections::{HashMap, HashSet};
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

/// An object read before its pull.
enum ReadAhead {
    /// A thread is reading it.
    Reading,
    Read(Result<ReadObject>),
}

pub struct LibraryGenerator<L> {
    library: L,
    layer: ObjectLinkingLayer,
    pulled: Mutex<HashSet<usize>>,
    /// Objects read before their pull (`read_ahead_when_idle`), by index.
    read_ahead: Mutex<HashMap<usize, ReadAhead>>,
    /// Position of the library among the inputs: orders its objects' initializers.
    ordinal: u64,
    linking: Linking,
}

impl<L: ObjectLibrary> LibraryGenerator<L> {
    pub fn with_library(library: L, layer: ObjectLinkingLayer, ordinal: u64) -> Self {
        LibraryGenerator {
            library,
            layer,
            pulled: Mutex::default(),
            read_ahead: Mutex::default(),
            ordinal,
            linking: Linking::Visible,
        }
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
        let ahead = self.read_ahead.lock().unwrap_or_else(|e| e.into_inner()).remove(&object);
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
        let read = match ahead {
            Some(ReadAhead::Read(read)) => read?,
            // Not read ahead, or being read right now: read it here.
            _ => match self.library.object(object)? {
                Some(input) => self.layer.read(input)?,
                None => return Ok(()),
            },
        };
        self.layer.add_read(&tracker, read, ordinal, hide).map(|_| ())
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
        for object in 0..self.library.entries() {
            let generator = self.clone();
            session.dispatch_when_idle(Box::new(move || generator.read_early(object)));
        }
    }

    /// Reads `object` unless it is pulled or being read already.
    fn read_early(&self, object: usize) {
        {
            // `pull` marks an object pulled before it looks here: checked under this lock,
            // an object pulled later finds the entry and takes (or drops) it.
            let mut ahead = self.read_ahead.lock().unwrap_or_else(|e| e.into_inner());
            if ahead.contains_key(&object) || self.pulled.lock().unwrap_or_else(|e| e.into_inner()).contains(&object) {
                return;
            }
            ahead.insert(object, ReadAhead::Reading);
        }
        let read = match self.library.object(object) {
            Ok(Some(input))
                if matches!(jitld_linker::format::sniff(&input), jitld_linker::format::FileKind::Object(_)) =>
            {
                self.layer.read(input)
            }
            // Not an object (an archive's symbol table): nothing to keep.
            Ok(_) => {
                self.read_ahead.lock().unwrap_or_else(|e| e.into_inner()).remove(&object);
                return;
            }
            Err(e) => Err(e),
        };
        // Pulled meanwhile (and read by the puller): this copy is nobody's.
        let mut ahead = self.read_ahead.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot @ ReadAhead::Reading) = ahead.get_mut(&object) {
            *slot = ReadAhead::Read(read);
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
