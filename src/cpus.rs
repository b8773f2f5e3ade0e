//! The CPUs this process may run on (its affinity mask), and keeping a thread to one.

/// The CPUs the calling thread may run on, in order (empty if the kernel cannot say).
pub(crate) fn allowed() -> Vec<usize> {
    // SAFETY: the set is a plain bit array the call fills in (its size is passed), and
    // `CPU_ISSET` reads within it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize).filter(|&cpu| libc::CPU_ISSET(cpu, &set)).collect()
    }
}

/// The CPU the calling thread runs on now, if the kernel says.
pub(crate) fn current() -> Option<usize> {
    // SAFETY: no arguments; -1 when the kernel cannot tell.
    usize::try_from(unsafe { libc::sched_getcpu() }).ok()
}

/// Keeps `thread` to `cpu` from now on. If the kernel refuses, it runs anywhere.
pub(crate) fn keep_to(thread: &std::thread::JoinHandle<()>, cpu: usize) {
    use std::os::unix::thread::JoinHandleExt;
    // SAFETY: a live thread (its handle is not joined), and a set built in place that the
    // call only reads.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::pthread_setaffinity_np(thread.as_pthread_t(), std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}
