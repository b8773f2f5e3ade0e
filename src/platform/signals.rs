//! The signal state a native program starts with: what its parent gave it. Rust's runtime
//! sets SIGPIPE to SIG_IGN before `main`, and an ignored disposition survives `exec`, so
//! without this a JIT'd program (and every child it spawns, like `yes` under `system()`)
//! would get EPIPE where it should die of SIGPIPE.
//!
//! `record_start_state` runs from `.init_array` of the jitld binary, before Rust's runtime
//! starts; `restore_start_state` puts it back before the program (or jitld's re-exec) runs.

use std::sync::Mutex;

/// SIGPIPE's disposition and the signal mask at process start.
static START: Mutex<Option<(libc::sigaction, libc::sigset_t)>> = Mutex::new(None);

/// Records the signal state. Call before Rust's runtime changes it (from `.init_array`).
pub extern "C" fn record_start_state() {
    // SAFETY: querying the current disposition and mask into zeroed structures.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        let mut mask: libc::sigset_t = std::mem::zeroed();
        if libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut action) != 0
            || libc::pthread_sigmask(libc::SIG_SETMASK, std::ptr::null(), &mut mask) != 0
        {
            return;
        }
        *START.lock().unwrap_or_else(|e| e.into_inner()) = Some((action, mask));
    }
}

/// Restores what `record_start_state` saw; SIGPIPE's default if it never ran.
pub fn restore_start_state() {
    let start = *START.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: setting a disposition and mask recorded from this process (or the default).
    unsafe {
        match start {
            Some((action, mask)) => {
                libc::sigaction(libc::SIGPIPE, &action, std::ptr::null_mut());
                libc::pthread_sigmask(libc::SIG_SETMASK, &mask, std::ptr::null_mut());
            }
            None => {
                libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            }
        }
    }
}
