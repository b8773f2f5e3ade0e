//! `__cxa_atexit` for JIT'd code.
//!
//! C++ registers every static object's destructor with `__cxa_atexit`, and C's `atexit` ends
//! up there too. Handed straight to the C library, a handler in code that a resource
//! tracker later removes would be called in freed memory at exit. So each registration goes
//! to the C library wrapped in a guard record: at exit, the C library runs it in its usual
//! order among everything else; when the code is removed first, we run its handlers then
//! (newest first, as exit would) and disarm the records.
//!
//! The registry is process-wide because the C library's list is: a handler registered by
//! JIT'd code carries no pointer back to any session.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

type Handler = unsafe extern "C" fn(*mut libc::c_void);

struct Record {
    handler: Handler,
    arg: usize,
    armed: AtomicBool,
}

/// Every record ever registered, in registration order. Records are leaked on purpose: the
/// C library keeps pointers to them until exit.
static RECORDS: Mutex<Vec<&'static Record>> = Mutex::new(Vec::new());

use super::runtime::__cxa_atexit;

unsafe extern "C" fn run_record(record: *mut libc::c_void) {
    // SAFETY: the argument is a leaked `Record` registered below.
    let record = unsafe { &*(record as *const Record) };
    if record.armed.swap(false, Ordering::AcqRel) {
        unsafe { (record.handler)(record.arg as *mut libc::c_void) };
    }
}

/// `__cxa_atexit` as JIT'd code sees it.
///
/// # Safety
/// `handler` must be callable with `arg` until exit or until its code is removed.
pub unsafe extern "C" fn jitld_cxa_atexit(
    handler: Handler,
    arg: *mut libc::c_void,
    _dso: *mut libc::c_void,
) -> libc::c_int {
    let record: &'static Record =
        Box::leak(Box::new(Record { handler, arg: arg as usize, armed: AtomicBool::new(true) }));
    RECORDS.lock().unwrap_or_else(|e| e.into_inner()).push(record);
    // SAFETY: registering our guard with its record.
    unsafe { __cxa_atexit(run_record, record as *const Record as *mut libc::c_void, std::ptr::null_mut()) }
}

/// `atexit` as JIT'd code sees it (glibc's shared library exports none).
///
/// # Safety
/// As `jitld_cxa_atexit`.
pub unsafe extern "C" fn jitld_atexit(handler: unsafe extern "C" fn()) -> libc::c_int {
    // SAFETY: a `void (*)(void)` called with one ignored argument is fine in the SysV ABI,
    // which is how glibc's own `atexit` does it.
    unsafe {
        jitld_cxa_atexit(
            std::mem::transmute::<unsafe extern "C" fn(), Handler>(handler),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    }
}

/// Runs, newest first, the armed handlers whose code lies in `ranges`, and disarms them.
pub fn run_handlers_in(ranges: &[(u64, u64)]) {
    let doomed: Vec<&'static Record> = {
        let records = RECORDS.lock().unwrap_or_else(|e| e.into_inner());
        let inside =
            |r: &&&Record| ranges.iter().any(|&(start, end)| (start..end).contains(&(r.handler as usize as u64)));
        records.iter().filter(inside).copied().collect()
    };
    for record in doomed.into_iter().rev() {
        // SAFETY: a record registered by `jitld_cxa_atexit`; the code is still mapped.
        unsafe { run_record(record as *const Record as *mut libc::c_void) };
    }
}
