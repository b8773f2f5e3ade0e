//! Alternate signal stacks, so the fault reporter can run when a thread has overflowed its
//! own stack. Each thread that runs JIT'd code needs one: the main thread gets one when the
//! reporter is installed, and threads the program creates get one through our
//! `pthread_create`, which JIT'd code links to (see `platform::runtime`). That wrapper also
//! registers the thread for TLS initialization (`platform::tls::register_thread`).

use std::cell::Cell;

/// Room for the reporter: it formats one line in a fixed buffer.
const SIZE: usize = 64 * 1024;

/// This thread's stack, if we made it; unmapped when the thread exits.
struct AltStack(Cell<usize>);

impl Drop for AltStack {
    fn drop(&mut self) {
        let base = self.0.get();
        if base == 0 {
            return;
        }
        // SAFETY: switching the alternate stack off, then unmapping the one we mapped.
        unsafe {
            let off = libc::stack_t { ss_sp: std::ptr::null_mut(), ss_flags: libc::SS_DISABLE, ss_size: 0 };
            libc::sigaltstack(&off, std::ptr::null_mut());
            libc::munmap(base as *mut libc::c_void, SIZE + page_size());
        }
    }
}

thread_local! {
    static OURS: AltStack = const { AltStack(Cell::new(0)) };
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).max(4096) as usize
}

/// Gives the calling thread an alternate signal stack unless it has one already (Rust's
/// runtime makes one for the threads it starts).
pub fn ensure_alt_stack() {
    // SAFETY: querying, then installing a stack we mapped for this thread, below a guard page.
    unsafe {
        let mut current: libc::stack_t = std::mem::zeroed();
        if libc::sigaltstack(std::ptr::null(), &mut current) != 0 || current.ss_flags & libc::SS_DISABLE == 0 {
            return;
        }
        let guard = page_size();
        let base = libc::mmap(
            std::ptr::null_mut(),
            SIZE + guard,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
            -1,
            0,
        );
        if base == libc::MAP_FAILED {
            return;
        }
        libc::mprotect(base, guard, libc::PROT_NONE);
        let stack = libc::stack_t { ss_sp: (base as usize + guard) as *mut libc::c_void, ss_flags: 0, ss_size: SIZE };
        if libc::sigaltstack(&stack, std::ptr::null_mut()) != 0 {
            libc::munmap(base, SIZE + guard);
            return;
        }
        // If thread-locals are already gone (thread exit), the stack just stays.
        let _ = OURS.try_with(|ours| ours.0.set(base as usize));
    }
}

/// What a new thread should run: the program's start routine and its argument.
#[repr(C)]
struct Start {
    routine: usize,
    arg: usize,
}

/// `pthread_create` for JIT'd code: the new thread first gets an alternate signal stack.
///
/// # Safety
/// The arguments are `pthread_create`'s.
pub unsafe extern "C" fn jitld_pthread_create(
    thread: *mut libc::pthread_t,
    attr: *const libc::pthread_attr_t,
    routine: extern "C" fn(*mut libc::c_void) -> *mut libc::c_void,
    arg: *mut libc::c_void,
) -> libc::c_int {
    let start = Box::into_raw(Box::new(Start { routine: routine as usize, arg: arg as usize }));
    // SAFETY: `jitld_thread_start` has the start routine's ABI and takes the box (see
    // `thread_prologue`).
    let result = unsafe {
        let entry: extern "C" fn(*mut libc::c_void) -> *mut libc::c_void =
            std::mem::transmute(jitld_thread_start as unsafe extern "C" fn(*mut libc::c_void) -> *mut libc::c_void);
        libc::pthread_create(thread, attr, entry, start as *mut libc::c_void)
    };
    if result != 0 {
        // SAFETY: the thread never started, so the box is still ours.
        drop(unsafe { Box::from_raw(start) });
    }
    result
}

// The new thread's first frame. It is assembly without unwind information so that
// `pthread_exit` and cancellation (forced unwinds) stop at it as they stop at glibc's
// `start_thread`, and no Rust frame is unwound through. `thread_prologue` returns the
// routine in rax and its argument in rdx (a two-word struct, by the psABI).
std::arch::global_asm!(
    ".pushsection .text.jitld_thread_start,\"ax\",@progbits",
    ".p2align 4",
    ".type jitld_thread_start,@function",
    "jitld_thread_start:",
    "push rbp",
    "mov rbp, rsp",
    "call {prologue}",
    "mov rdi, rdx",
    "call rax",
    "pop rbp",
    "ret",
    ".size jitld_thread_start, . - jitld_thread_start",
    ".popsection",
    prologue = sym thread_prologue,
);

extern "C" {
    fn jitld_thread_start(start: *mut libc::c_void) -> *mut libc::c_void;
}

extern "C" fn thread_prologue(start: *mut Start) -> Start {
    ensure_alt_stack();
    // Not a debugging matter, but the one place every program thread starts: TLS linked
    // later must be initialized in this thread too.
    crate::platform::tls::register_thread();
    // SAFETY: the box `jitld_pthread_create` made for this thread, taken back once.
    *unsafe { Box::from_raw(start) }
}
