//! Symbols of shared libraries, through the dynamic loader: one library opened with
//! `dlopen`, or everything already loaded in the process.
//!
//! Functions are defined as absolute symbols. Data objects get a copy in JIT memory (see
//! `platform::copy_relocation`), because code compiled for an executable reaches data with
//! 32-bit displacements and the library is too far away for those.
//!
//! A library may also be as-needed (a linker script's `AS_NEEDED`, ld's `--as-needed`): it
//! is searched at its place like any other, but loaded only when a lookup asks for a name
//! its file exports, so a library the program binds nothing to is never loaded.

use super::DefinitionGenerator;
use crate::error::{JitError, Result};
use crate::executor::LibraryHandle;
use crate::layers::ObjectLinkingLayer;
use crate::platform::copy_relocation;
use crate::session::{DylibId, ExecutionSession, LookupFlags, SymbolFlags};
use jitld_linker::format::exports::library_exports;
use jitld_linker::{InputBuffer, LookupName, SymbolName};
use std::collections::HashSet;
use std::sync::Mutex;

pub struct DynamicLibraryGenerator {
    library: Mutex<Library>,
    layer: ObjectLinkingLayer,
    allow: Option<AllowPredicate>,
}

/// A generator's library: loaded, or as-needed and not loaded yet.
enum Library {
    Loaded {
        handle: LibraryHandle,
        /// The path it was loaded from (`None` for the process).
        path: Option<String>,
    },
    /// Not loaded: the names its file exports (`None`: the file does not say, so any name
    /// may be its).
    Exports { path: String, names: Option<HashSet<Box<[u8]>>> },
}

/// Which names a generator may provide.
type AllowPredicate = Box<dyn Fn(&str) -> bool + Send + Sync>;

const STT_OBJECT: u8 = 1;
const STT_TLS: u8 = 6;

impl DynamicLibraryGenerator {
    /// Everything the executor has loaded (the C library, and whatever it links itself).
    pub fn process(layer: ObjectLinkingLayer) -> Self {
        Self::with_library(Library::Loaded { handle: LibraryHandle::PROCESS, path: None }, layer)
    }

    fn with_library(library: Library, layer: ObjectLinkingLayer) -> Self {
        DynamicLibraryGenerator { library: Mutex::new(library), layer, allow: None }
    }

    /// Loads exactly the shared library at `path`, as `ld` takes an input path: a name
    /// without a slash is a file in the current directory, never one dlopen searches for.
    pub fn open_file(path: &std::path::Path, layer: ObjectLinkingLayer) -> Result<Self> {
        Self::open(&exact_path(path)?, layer)
    }

    /// The shared library at `path` (taken as `open_file` takes it), whose contents are
    /// `file`, loaded only once a lookup asks for a name it exports (ld's `--as-needed`,
    /// a linker script's `AS_NEEDED`). Until then it costs no `dlopen`: its exports are
    /// read from `file`'s dynamic symbol table now, and `file` is not kept (a mapping of
    /// it would show in the program's `/proc/self/maps` as if the library were loaded).
    pub fn as_needed(path: &std::path::Path, file: InputBuffer, layer: ObjectLinkingLayer) -> Result<Self> {
        let path = exact_path(path)?;
        let names = library_exports(file.bytes()).map(|names| names.into_iter().map(Box::from).collect());
        drop(file);
        Ok(Self::with_library(Library::Exports { path, names }, layer))
    }

    /// Opens a shared library in the executor the way `dlopen` finds it (a name without a
    /// slash is searched for); its symbols also become visible to libraries loaded later.
    pub fn open(path: &str, layer: ObjectLinkingLayer) -> Result<Self> {
        let handle = layer.session().executor().load_library(path)?;
        Ok(Self::with_library(Library::Loaded { handle, path: Some(path.to_string()) }, layer))
    }

    /// Only names the predicate accepts are provided.
    pub fn with_allow(mut self, allow: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        self.allow = Some(Box::new(allow));
        self
    }

    /// The path the library was loaded from, if it is loaded (an as-needed one may never
    /// be; the process has none).
    pub fn loaded_path(&self) -> Option<String> {
        match &*self.library.lock().unwrap_or_else(|e| e.into_inner()) {
            Library::Loaded { path, .. } => path.clone(),
            _ => None,
        }
    }

    /// The library's handle for a lookup of `names`: loading it if it is as-needed and
    /// exports one of them; `None` if it is not loaded and exports none of them.
    fn handle_for(&self, names: &[&str]) -> Result<Option<LibraryHandle>> {
        let mut library = self.library.lock().unwrap_or_else(|e| e.into_inner());
        match &*library {
            Library::Loaded { handle, .. } => Ok(Some(*handle)),
            Library::Exports { path, names: exports } => {
                let needed = match exports {
                    Some(exports) => names.iter().any(|name| exports.contains(name.as_bytes())),
                    None => !names.is_empty(),
                };
                if !needed {
                    return Ok(None);
                }
                let path = path.clone();
                let handle = self.layer.session().executor().load_library(&path)?;
                *library = Library::Loaded { handle, path: Some(path) };
                Ok(Some(handle))
            }
        }
    }
}

/// `path` as `dlopen` must be given it to open exactly that file ("./" makes a bare name a
/// path: dlopen searches for names without a slash), if the file is there.
fn exact_path(path: &std::path::Path) -> Result<String> {
    let text = path.display().to_string();
    let exact = if text.contains('/') { text } else { format!("./{text}") };
    if !std::path::Path::new(&exact).is_file() {
        return Err(JitError::other(format!("{exact}: cannot load shared library: no such file")));
    }
    Ok(exact)
}

impl DefinitionGenerator for DynamicLibraryGenerator {
    fn try_to_generate(
        &self,
        session: &ExecutionSession,
        dylib: DylibId,
        _: LookupFlags,
        names: &[LookupName],
    ) -> Result<()> {
        let texts: Vec<_> = names.iter().map(|wanted| session.names().resolve(wanted.name)).collect();
        let allowed: Vec<(SymbolName, &str)> = names
            .iter()
            .zip(&texts)
            .filter(|(_, text)| self.allow.as_ref().is_none_or(|allow| allow(text)))
            .map(|(wanted, text)| (wanted.name, &**text))
            .collect();
        let strings: Vec<&str> = allowed.iter().map(|&(_, text)| text).collect();
        let Some(library) = self.handle_for(&strings)? else { return Ok(()) };
        let found = session.executor().lookup(library, &strings)?;
        let mut absolute = Vec::new();
        for (&(name, text), symbol) in allowed.iter().zip(found) {
            let Some(symbol) = symbol else { continue };
            match symbol.kind {
                STT_TLS => {
                    return Err(JitError::other(format!(
                        "{text}: thread-local variables of shared libraries are not supported yet"
                    )))
                }
                STT_OBJECT if symbol.size > 0 => copy_relocation::define(&self.layer, dylib, name, &symbol)?,
                _ => absolute.push((name, symbol.addr, SymbolFlags::strong_function())),
            }
        }
        session.define_absolute(dylib, &absolute)
    }
}
