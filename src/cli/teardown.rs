//! `jitld run` exits before its address space is torn down.
//!
//! A process's parent learns its exit status only once its memory is unmapped, and after a
//! link there is a lot of it: the JIT'd pages, the mapped inputs, the link's heap, each page
//! freed one by one. For the sqlite program that is about 1 ms after the program is done
//! (a native run of it tears down ~130 pages, `jitld run` ~2,500). So at exit jitld starts a
//! helper that shares its address space (a process of its own, not a thread of jitld's):
//! jitld's exit no longer drops the last hold on the memory, its parent gets the status at
//! once, and the helper, killed when jitld dies, does the unmapping on its own time. mold
//! hands its unmapping to a child the same way.
//!
//! The helper holds nothing but the memory: it closes its copies of jitld's files before
//! jitld goes on exiting, so a pipe's reader sees the end of the output, and a file's lock
//! is free, when jitld's exit is seen, as without it. If anything fails, jitld exits as
//! any process does. What differs: the unmapping's CPU time is the helper's, not counted
//! in jitld's (`time`, `getrusage` of children), and a program that installed a seccomp
//! filter forbidding `clone` would meet it at exit.

use std::sync::atomic::{AtomicU32, Ordering};

/// Set by the helper once it holds none of jitld's files (a futex word: the helper shares
/// this memory).
static FILES_CLOSED: AtomicU32 = AtomicU32::new(0);

/// The helper's stack: enough for the few system calls it makes. Static, so that exit
/// maps nothing new (one helper per process: exit runs once).
#[repr(align(16))]
struct Stack([u8; 16 << 10]);
static mut HELPER_STACK: Stack = Stack([0; 16 << 10]);

/// How long exit waits for the helper to close its files before going on without it.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// Starts the helper when the process exits (`exit`, or returning from `main`).
pub fn hand_over_at_exit() {
    // Valgrind runs only threads and forks: it stops the whole run at any other clone.
    if std::env::var("LD_PRELOAD").is_ok_and(|preload| preload.contains("vgpreload")) {
        return;
    }
    crate::platform::at_exit(Box::new(start_helper));
}

fn start_helper() {
    // SAFETY: the stack is the helper's alone (exit runs once); the signal masks are this
    // thread's, put back before returning.
    unsafe {
        // The helper starts with every signal blocked (but SIGKILL, which ends it): a handler
        // of the program must not run on its stack.
        let (mut all, mut old) = (std::mem::zeroed(), std::mem::zeroed());
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let stack = std::ptr::addr_of_mut!(HELPER_STACK.0).cast::<u8>();
        let top = stack.add(std::mem::size_of::<Stack>()).cast();
        let parent = libc::getpid() as usize as *mut libc::c_void;
        // (A forked child exiting has its own helper, and this word again: it starts at 0.)
        FILES_CLOSED.store(0, Ordering::Relaxed);
        // No exit signal: the program never hears of the helper.
        let started = libc::clone(helper, top, libc::CLONE_VM, parent);
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        if started > 0 {
            wait_for_files_closed();
        }
    }
}

fn wait_for_files_closed() {
    let deadline = std::time::Instant::now() + CLOSE_WAIT;
    while FILES_CLOSED.load(Ordering::Acquire) == 0 {
        let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) else { return };
        let timeout = libc::timespec { tv_sec: 0, tv_nsec: left.subsec_nanos().into() };
        // SAFETY: waits while the word is still 0, at most `timeout`.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                FILES_CLOSED.as_ptr(),
                libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
                0u32,
                &timeout as *const libc::timespec,
            )
        };
    }
}

/// Runs in the helper: only system calls, on its own stack.
extern "C" fn helper(parent: *mut libc::c_void) -> libc::c_int {
    // SAFETY: system calls on the helper's own state; the futex word is shared on purpose.
    unsafe {
        // Killed when jitld is gone; the last hold on the memory goes with the helper.
        let dies_with_parent = libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == 0;
        let closed = libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32) == 0;
        FILES_CLOSED.store(1, Ordering::Release);
        libc::syscall(libc::SYS_futex, FILES_CLOSED.as_ptr(), libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG, 1u32);
        // Without both, it would outlive jitld or hold its files: it leaves at once instead.
        if !dies_with_parent || !closed || libc::getppid() as usize != parent as usize {
            libc::_exit(0);
        }
        loop {
            libc::pause();
        }
    }
}
