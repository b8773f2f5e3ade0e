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

/// The calling thread, kept to the CPU it runs on until `release`: then it may run on the
/// CPUs it could before.
pub(crate) struct KeptHere {
    thread: libc::pthread_t,
    before: libc::cpu_set_t,
}

/// Keeps the calling thread to `cpu` (`None` if the kernel refuses).
pub(crate) fn keep_here(cpu: usize) -> Option<KeptHere> {
    // SAFETY: the calling thread; sets built in place, read or filled within their size.
    unsafe {
        let thread = libc::pthread_self();
        let size = std::mem::size_of::<libc::cpu_set_t>();
        let mut before: libc::cpu_set_t = std::mem::zeroed();
        let mut here: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut here);
        let kept = libc::pthread_getaffinity_np(thread, size, &mut before) == 0
            && libc::pthread_setaffinity_np(thread, size, &here) == 0;
        kept.then_some(KeptHere { thread, before })
    }
}

impl KeptHere {
    /// Gives the thread back the CPUs it had. The thread must still be running.
    pub(crate) fn release(self) {
        // SAFETY: a live thread (the caller's word), and the set read from it before.
        unsafe { libc::pthread_setaffinity_np(self.thread, std::mem::size_of::<libc::cpu_set_t>(), &self.before) };
    }
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
