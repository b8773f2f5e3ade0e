//! The program starts single-threaded, as natively, even after jitld linked it on several
//! threads.
//!
//! glibc clears `__libc_single_threaded` when a second thread starts and never sets it
//! again. While it is clear, every `malloc` and `free` takes its arena's lock and
//! libstdc++ makes its reference counts atomic: a program run after a threaded link ran
//! ~0.25 ms slower (nlohmann/json's). Once jitld's own threads have ended and the process
//! has one thread again, it is set back, so the program starts with the process as a native
//! start gives it.

/// glibc's flag (`sys/single_threaded.h`): true while the process has only ever had one
/// thread.
const FLAG: &std::ffi::CStr = c"__libc_single_threaded";

/// Tells the C library the process is single-threaded again, if it is: called after jitld's
/// own threads have been joined, before the program runs.
pub fn declare_if_single_threaded() {
    // A library's constructor may have started a thread of its own: then it stays clear.
    let threads = std::fs::read_dir("/proc/self/task").map(|tasks| tasks.count());
    if !matches!(threads, Ok(1)) {
        return;
    }
    // The C library's own flag, which its `malloc` reads, and the program's copy of it if
    // the program reads it too (a copy relocation, taken while the link ran threaded).
    // SAFETY: a lookup by a C string's name in the loaded objects.
    let original = unsafe { libc::dlsym(libc::RTLD_DEFAULT, FLAG.as_ptr()) } as u64;
    let copies = super::copy_relocation::made()
        .into_iter()
        .filter(|(name, _, _)| name.as_bytes() == FLAG.to_bytes())
        .map(|(_, at, _)| at);
    for flag in std::iter::once(original).chain(copies).filter(|&at| at != 0) {
        // SAFETY: the C library's one-byte flag, or a copy of it; one thread is left (this
        // one), so nothing races the write, and every reader of the flag from now on runs
        // in a single-threaded process, which is what it says.
        unsafe { (flag as *mut libc::c_char).write(1) };
    }
}
