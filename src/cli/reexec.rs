//! Room for JIT'd thread-local storage.
//!
//! JIT'd thread-local blocks live in glibc's static TLS surplus (see `platform::tls`), which
//! is fixed when the process starts: 512 bytes unless the `glibc.rtld.optional_static_tls`
//! tunable says otherwise. So `jitld run` starts itself again, once, with the tunable raised;
//! the second start takes the variables it added out of the environment again, so the
//! program sees exactly the environment jitld was given, in the same order.

use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;

/// Static TLS surplus per thread for JIT'd code.
const SURPLUS: &str = "glibc.rtld.optional_static_tls=262144";
/// Set in the second start: the original GLIBC_TUNABLES, or "-" when there was none.
const MARK: &str = "JITLD_ORIGINAL_GLIBC_TUNABLES";

/// Call first thing in `main`. Returns only in the process that should do the work.
pub fn ensure_tls_surplus(args: &[String]) {
    if let Some(original) = std::env::var_os(MARK) {
        std::env::remove_var(MARK);
        match original.to_str() {
            Some("-") => std::env::remove_var("GLIBC_TUNABLES"),
            _ => std::env::set_var("GLIBC_TUNABLES", original),
        }
        return;
    }
    let ours = args.iter().take_while(|a| *a != "--");
    let running = args.get(1).is_some_and(|a| a == "run") && !ours.into_iter().any(|a| a == "--noexec");
    let tunables = std::env::var("GLIBC_TUNABLES").ok();
    if !running || tunables.as_deref().is_some_and(|t| t.contains("optional_static_tls")) {
        return;
    }
    let mut env: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| k != "GLIBC_TUNABLES")
        .filter_map(|(k, v)| CString::new([k.as_bytes(), b"=", v.as_bytes()].concat()).ok())
        .collect();
    let joined = match &tunables {
        Some(t) => format!("{t}:{SURPLUS}"),
        None => SURPLUS.to_string(),
    };
    env.extend(CString::new(format!("GLIBC_TUNABLES={joined}")).ok());
    env.extend(CString::new(format!("{MARK}={}", tunables.as_deref().unwrap_or("-"))).ok());
    let argv: Vec<CString> = args.iter().filter_map(|a| CString::new(OsStr::new(a).as_bytes()).ok()).collect();
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut env_ptrs: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    env_ptrs.push(std::ptr::null());
    let exe = CString::new("/proc/self/exe").expect("no NUL");
    // The next start must see the signal state we were given, not Rust's ignored SIGPIPE.
    crate::platform::signals::restore_start_state();
    // SAFETY: null-terminated arrays of C strings that outlive the call. On failure we just
    // go on with the default surplus (and Rust's SIGPIPE again).
    unsafe { libc::execve(exe.as_ptr(), argv_ptrs.as_ptr(), env_ptrs.as_ptr()) };
    // SAFETY: back to what Rust's runtime set up, as before the attempt.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}
