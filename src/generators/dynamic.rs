//! Symbols of shared libraries, through the dynamic loader: one library opened with
//! `dlopen`, or everything already loaded in the process.
//!
//! Functions are defined as absolute symbols. Data objects get a copy in JIT memory (see
//! `platform::copy_relocation`), because code compiled for an executable reaches data with
//! 32-bit displacements and the library is too far away for those.

use super::loaded_objects::{dladdr1, LoadedObjects, RTLD_DL_SYMENT};
use super::DefinitionGenerator;
use crate::error::{JitError, Result};
use crate::layers::ObjectLinkingLayer;
use crate::platform::copy_relocation;
use crate::session::{DylibId, ExecutionSession, LookupFlags, SymbolFlags};
use jitld_linker::LookupName;
use std::ffi::{CStr, CString};

pub struct DynamicLibraryGenerator {
    handle: usize,
    layer: ObjectLinkingLayer,
    allow: Option<AllowPredicate>,
}

/// Which names a generator may provide.
type AllowPredicate = Box<dyn Fn(&str) -> bool + Send + Sync>;

/// What the dynamic loader knows of a symbol.
pub struct LoadedSymbol {
    pub addr: u64,
    pub size: u64,
    pub kind: u8,
}

const STT_OBJECT: u8 = 1;
const STT_TLS: u8 = 6;
impl DynamicLibraryGenerator {
    /// Everything the process has loaded (the C library and whatever jitld itself links).
    pub fn process(layer: ObjectLinkingLayer) -> Self {
        DynamicLibraryGenerator { handle: libc::RTLD_DEFAULT as usize, layer, allow: None }
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

    /// Opens a shared library the way `dlopen` finds it (a name without a slash is searched
    /// for); its symbols also become visible to libraries loaded later.
    pub fn open(path: &str, layer: ObjectLinkingLayer) -> Result<Self> {
        let c_path = CString::new(path).map_err(|_| JitError::other(format!("{path}: path contains NUL")))?;
        // SAFETY: dlopen with a valid C string; the handle is kept for the process lifetime.
        let handle = unsafe { libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
        if handle.is_null() {
            // SAFETY: dlerror returns a C string describing the last failure.
            let message = unsafe { CStr::from_ptr(libc::dlerror()) }.to_string_lossy().into_owned();
            return Err(JitError::other(format!("{path}: cannot load shared library: {message}")));
        }
        // Threads the library starts for the program (libstdc++'s std::thread) get what
        // threads JIT'd code starts get (see `debug::jitld_pthread_create`).
        let wrapper = crate::debug::jitld_pthread_create as *const () as u64;
        // SAFETY: the handle dlopen just returned.
        unsafe { copy_relocation::interpose_in_library(handle, "pthread_create", wrapper) };
        Ok(DynamicLibraryGenerator { handle: handle as usize, layer, allow: None })
    }

    /// Only names the predicate accepts are provided.
    pub fn with_allow(mut self, allow: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        self.allow = Some(Box::new(allow));
        self
    }

    fn find(&self, name: &str, loaded: &LoadedObjects) -> Option<LoadedSymbol> {
        let c_name = CString::new(name).ok()?;
        // SAFETY: dlsym with a handle from dlopen (or RTLD_DEFAULT) and a C string.
        let addr = unsafe { libc::dlsym(self.handle as *mut libc::c_void, c_name.as_ptr()) };
        if addr.is_null() {
            return None;
        }
        if let Some((size, kind)) = loaded.symbol(&c_name, addr as u64) {
            return Some(LoadedSymbol { addr: addr as u64, size, kind });
        }
        // Not in any hash table we could read: ask the loader, which scans.
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        let mut sym: *mut libc::c_void = std::ptr::null_mut();
        // SAFETY: dladdr1 fills `info` and points `sym` at the ElfW(Sym) of the match.
        let ok = unsafe { dladdr1(addr, &mut info, &mut sym, RTLD_DL_SYMENT) };
        let (size, kind) = if ok != 0 && !sym.is_null() {
            let sym = unsafe { &*(sym as *const libc::Elf64_Sym) };
            (sym.st_size, sym.st_info & 0xf)
        } else {
            (0, 0)
        };
        Some(LoadedSymbol { addr: addr as u64, size, kind })
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
        let mut absolute = Vec::new();
        let loaded = LoadedObjects::now();
        for &LookupName { name, .. } in names {
            let text = session.names().resolve(name);
            if self.allow.as_ref().is_some_and(|allow| !allow(&text)) {
                continue;
            }
            let Some(symbol) = self.find(&text, &loaded) else { continue };
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
