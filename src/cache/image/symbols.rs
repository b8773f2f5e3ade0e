//! Resolving an image's external names as the cold link did: jitld's runtime pieces (which
//! the platform defines in every JITDylib), `--abs` definitions, then the shared libraries
//! named on the command line in their order, then everything the process has loaded.
//!
//! A cold link records an image only if this resolver gives every external the address the
//! link used, so a warm start never binds a name differently.

use crate::error::Result;
use crate::executor::{Executor, LibraryHandle};
use std::sync::Arc;

pub struct ExternalResolver {
    executor: Arc<dyn Executor>,
    fixed: Vec<(String, u64)>,
    libraries: Vec<LibraryHandle>,
}

impl ExternalResolver {
    /// Loads `libraries` (a cold link has them loaded already: this only takes another
    /// reference) in order.
    pub fn new(executor: Arc<dyn Executor>, absolutes: &[(String, u64)], libraries: &[String]) -> Result<Self> {
        let mut fixed: Vec<(String, u64)> =
            executor.runtime_symbols()?.into_iter().map(|(name, addr)| (name.to_string(), addr)).collect();
        fixed.extend(absolutes.iter().cloned());
        let libraries = libraries.iter().map(|path| executor.load_library(path)).collect::<Result<Vec<_>>>()?;
        Ok(ExternalResolver { executor, fixed, libraries })
    }

    /// Each name's address, `None` where nothing defines it.
    pub fn resolve(&self, names: &[&str]) -> Result<Vec<Option<u64>>> {
        if self.executor.in_this_process() {
            return Ok(names.iter().map(|name| self.resolve_here(name)).collect());
        }
        let mut found: Vec<Option<u64>> =
            names.iter().map(|name| self.fixed.iter().find(|(n, _)| n == name).map(|&(_, addr)| addr)).collect();
        for library in self.libraries.iter().copied().chain([LibraryHandle::PROCESS]) {
            let missing: Vec<usize> = (0..names.len()).filter(|&i| found[i].is_none()).collect();
            if missing.is_empty() {
                break;
            }
            let wanted: Vec<&str> = missing.iter().map(|&i| names[i]).collect();
            for (&i, symbol) in missing.iter().zip(self.executor.lookup(library, &wanted)?) {
                found[i] = symbol.map(|s| s.addr);
            }
        }
        Ok(found)
    }

    /// One name in this process: `dlsym` straight (the executor's lookup also finds each
    /// symbol's size and kind, which a fix-up does not need), in the same order.
    fn resolve_here(&self, name: &str) -> Option<u64> {
        if let Some(&(_, addr)) = self.fixed.iter().find(|(n, _)| n == name) {
            return Some(addr);
        }
        let c_name = std::ffi::CString::new(name).ok()?;
        let handles = self.libraries.iter().map(|h| h.0 as *mut libc::c_void).chain([libc::RTLD_DEFAULT]);
        handles
            .map(|handle| {
                // SAFETY: dlsym with a handle dlopen gave the executor (or RTLD_DEFAULT).
                unsafe { libc::dlsym(handle, c_name.as_ptr()) }
            })
            .find(|addr| !addr.is_null())
            .map(|addr| addr as u64)
    }

    /// The address and size of a library variable (for copies), searched as `resolve` does
    /// after the fixed names.
    pub fn variable(&self, name: &str) -> Result<Option<(u64, u64)>> {
        for library in self.libraries.iter().copied().chain([LibraryHandle::PROCESS]) {
            if let Some(Some(symbol)) = self.executor.lookup(library, &[name])?.first() {
                return Ok(Some((symbol.addr, symbol.size)));
            }
        }
        Ok(None)
    }
}
