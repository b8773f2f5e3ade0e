//! Symbols of shared libraries, through the dynamic loader: one library opened with
//! `dlopen`, or everything already loaded in the process.
//!
//! Functions are defined as absolute symbols. Data objects get a copy in JIT memory (see
//! `platform::copy_relocation`), because code compiled for an executable reaches data with
//! 32-bit displacements and the library is too far away for those.

use super::DefinitionGenerator;
use crate::error::{JitError, Result};
use crate::executor::LibraryHandle;
use crate::layers::ObjectLinkingLayer;
use crate::platform::copy_relocation;
use crate::session::{DylibId, ExecutionSession, LookupFlags, SymbolFlags};
use jitld_linker::{LookupName, SymbolName};

pub struct DynamicLibraryGenerator {
    library: LibraryHandle,
    layer: ObjectLinkingLayer,
    allow: Option<AllowPredicate>,
}

/// Which names a generator may provide.
type AllowPredicate = Box<dyn Fn(&str) -> bool + Send + Sync>;

const STT_OBJECT: u8 = 1;
const STT_TLS: u8 = 6;

impl DynamicLibraryGenerator {
    /// Everything the executor has loaded (the C library, and whatever it links itself).
    pub fn process(layer: ObjectLinkingLayer) -> Self {
        DynamicLibraryGenerator { library: LibraryHandle::PROCESS, layer, allow: None }
    }

    /// Loads exactly the shared library at `path`, as `ld` takes an input path: a name
    /// without a slash is a file in the current directory, never one dlopen searches for.
    pub fn open_file(path: &std::path::Path, layer: ObjectLinkingLayer) -> Result<Self> {
        let text = path.display().to_string();
        // dlopen searches for names without a slash; "./" makes it a path.
        let exact = if text.contains('/') { text } else { format!("./{text}") };
        if !std::path::Path::new(&exact).is_file() {
            return Err(JitError::other(format!("{exact}: cannot load shared library: no such file")));
        }
        Self::open(&exact, layer)
    }

    /// Opens a shared library in the executor the way `dlopen` finds it (a name without a
    /// slash is searched for); its symbols also become visible to libraries loaded later.
    pub fn open(path: &str, layer: ObjectLinkingLayer) -> Result<Self> {
        let library = layer.session().executor().load_library(path)?;
        Ok(DynamicLibraryGenerator { library, layer, allow: None })
    }

    /// Only names the predicate accepts are provided.
    pub fn with_allow(mut self, allow: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        self.allow = Some(Box::new(allow));
        self
    }
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
        let found = session.executor().lookup(self.library, &strings)?;
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
