//! jitld's entry. Rust's runtime start is skipped (`no_main`): it finds the main thread's
//! stack by reading `/proc/self/maps`, which costs every start of a JIT'd program more
//! than a native start takes for its whole loader. What jitld needs of it is done here:
//! standard descriptors that are closed opened on `/dev/null` (or files jitld opens would
//! take their numbers), SIGPIPE ignored for its own writes (the program gets the signal
//! state jitld was given, `platform::signals`), a panic's exit status, stdout flushed at
//! exit.
// Tests of this file (none) get the test harness's `main`.
#![cfg_attr(not(test), no_main)]

/// jitld's own memory; the program keeps glibc's `malloc` (see `link_heap`).
#[cfg(not(test))]
#[global_allocator]
static HEAP: jitld::link_heap::LinkHeap = jitld::link_heap::LinkHeap;

/// Runs before anything changes it: the program must start with the signal state jitld
/// was given.
#[used]
#[link_section = ".init_array"]
static RECORD_SIGNAL_STATE: extern "C" fn() = jitld::platform::signals::record_start_state;

#[cfg(not(test))]
#[no_mangle]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    open_closed_standard_descriptors();
    // SAFETY: setting a disposition, as Rust's runtime does at start.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    // A panic has already been reported by the hook; Rust's runtime exits with 101 then.
    let code = std::panic::catch_unwind(jitld::cli::main).unwrap_or(101);
    // Flushes stdout, as a returning `main` would.
    std::process::exit(code)
}

#[cfg(not(test))]
fn open_closed_standard_descriptors() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd { fd, events: 0, revents: 0 });
    // SAFETY: three pollfd structures; a zero timeout only reports what is open.
    if unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } < 0 {
        return;
    }
    for fd in fds.iter().filter(|fd| fd.revents & libc::POLLNVAL != 0) {
        // SAFETY: opening a path given as a C string; the lowest free number is `fd.fd`.
        let opened = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        if opened != fd.fd {
            // SAFETY: an abort, as Rust's runtime does when it cannot do this.
            unsafe { libc::abort() };
        }
    }
}
