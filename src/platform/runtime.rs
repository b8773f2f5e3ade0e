//! The C runtime pieces an executable gets from `libc_nonshared.a`, which a JIT can't link
//! from there: glibc's shared library exports `__cxa_atexit` but not `atexit`.

use crate::session::{ExecutionSession, SymbolFlags};
use jitld_linker::SymbolName;

extern "C" {
    pub fn __cxa_atexit(
        f: unsafe extern "C" fn(*mut libc::c_void),
        arg: *mut libc::c_void,
        dso: *mut libc::c_void,
    ) -> libc::c_int;
    fn __cxa_at_quick_exit(f: extern "C" fn(*mut libc::c_void), dso: *mut libc::c_void) -> libc::c_int;
    fn __register_atfork(
        prepare: Option<extern "C" fn()>,
        parent: Option<extern "C" fn()>,
        child: Option<extern "C" fn()>,
        dso: *mut libc::c_void,
    ) -> libc::c_int;
}

extern "C" fn jitld_at_quick_exit(f: extern "C" fn()) -> libc::c_int {
    // SAFETY: as above.
    unsafe {
        __cxa_at_quick_exit(
            std::mem::transmute::<extern "C" fn(), extern "C" fn(*mut libc::c_void)>(f),
            std::ptr::null_mut(),
        )
    }
}

extern "C" fn jitld_pthread_atfork(
    prepare: Option<extern "C" fn()>,
    parent: Option<extern "C" fn()>,
    child: Option<extern "C" fn()>,
) -> libc::c_int {
    // SAFETY: forwards to the function glibc's own `pthread_atfork` wrapper calls.
    unsafe { __register_atfork(prepare, parent, child, std::ptr::null_mut()) }
}

/// This process's runtime pieces, by the names JIT'd code calls them by.
pub fn in_this_process() -> Vec<(&'static str, u64)> {
    vec![
        ("atexit", super::exit_handlers::jitld_atexit as *const () as u64),
        ("__cxa_atexit", super::exit_handlers::jitld_cxa_atexit as *const () as u64),
        ("at_quick_exit", jitld_at_quick_exit as *const () as u64),
        ("pthread_atfork", jitld_pthread_atfork as *const () as u64),
        ("__tls_get_addr", super::tls::jitld_tls_get_addr as *const () as u64),
        // New threads get an alternate signal stack for the fault reporter.
        ("pthread_create", crate::debug::jitld_pthread_create as *const () as u64),
        // A program's own unwinder finds JIT'd frames through the loader, as a native one does.
        ("_dl_find_object", super::frame_index::jitld_dl_find_object as *const () as u64),
    ]
}

/// The executor's runtime pieces as absolute definitions.
pub fn symbols(session: &ExecutionSession) -> crate::error::Result<Vec<(SymbolName, u64, SymbolFlags)>> {
    let f = SymbolFlags::strong_function();
    let pieces = session.executor().runtime_symbols()?;
    Ok(pieces.into_iter().map(|(name, addr)| (session.intern(name), addr, f)).collect())
}

/// Runs `f` when the process exits, among the `atexit` handlers (last registered, first run).
pub fn at_exit(f: Box<dyn FnOnce() + Send>) {
    extern "C" fn call(arg: *mut libc::c_void) {
        // SAFETY: `arg` is the box leaked below, taken back exactly once.
        let f = unsafe { Box::from_raw(arg as *mut Box<dyn FnOnce() + Send>) };
        f();
    }
    let arg = Box::into_raw(Box::new(f)) as *mut libc::c_void;
    // SAFETY: registering a handler and its argument with the C library.
    unsafe { __cxa_atexit(call, arg, std::ptr::null_mut()) };
}
