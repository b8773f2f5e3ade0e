//! A fault in JIT'd code names the function it happened in before the process dies.
//!
//! The handler runs once (SA_RESETHAND): it writes one line to stderr, then returns, so the
//! faulting instruction runs again under the default action and the process ends with the
//! conventional status (killed by the signal). It allocates nothing and takes the code table
//! only if it is free. It runs on the thread's alternate signal stack (`alt_stack`), so a
//! stack overflow is reported too.

use super::CODE;

const SIGNALS: [(libc::c_int, &str); 4] =
    [(libc::SIGSEGV, "SIGSEGV"), (libc::SIGBUS, "SIGBUS"), (libc::SIGILL, "SIGILL"), (libc::SIGFPE, "SIGFPE")];

/// Installs the reporter for SIGSEGV, SIGBUS, SIGILL and SIGFPE.
pub fn install_fault_reporter() {
    super::alt_stack::ensure_alt_stack();
    for (signal, _) in SIGNALS {
        // SAFETY: a plain sigaction with a handler that only formats and writes.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = report as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_RESETHAND | libc::SA_NODEFER | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// A fixed buffer to format into without allocating.
struct Line {
    bytes: [u8; 512],
    len: usize,
}

impl std::fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let n = s.len().min(self.bytes.len() - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

extern "C" fn report(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    use std::fmt::Write;
    // SAFETY: the kernel passes a valid ucontext for SA_SIGINFO handlers.
    let pc = unsafe { (*(context as *const libc::ucontext_t)).uc_mcontext.gregs[libc::REG_RIP as usize] } as u64;
    let fault_addr = unsafe { (*info).si_addr() } as u64;
    let name = SIGNALS.iter().find(|(s, _)| *s == signal).map_or("signal", |(_, n)| *n);
    let mut line = Line { bytes: [0; 512], len: 0 };
    let _ = write!(line, "jitld: {name} at {pc:#x}");
    match CODE.try_lock() {
        Ok(code) => match code.iter().find(|r| (r.start..r.end).contains(&pc)) {
            Some(r) => {
                let _ = write!(line, " in JIT'd code: {}+{:#x} ({})", r.name, pc - r.start, r.file);
            }
            None => {
                let _ = write!(line, " (not in JIT'd code)");
            }
        },
        Err(_) => {
            let _ = write!(line, " (code table busy)");
        }
    }
    if signal == libc::SIGSEGV || signal == libc::SIGBUS {
        let _ = write!(line, ", address {fault_addr:#x}");
    }
    let _ = writeln!(line);
    // SAFETY: write(2) is async-signal-safe; the buffer is ours.
    unsafe { libc::write(2, line.bytes.as_ptr() as *const libc::c_void, line.len) };
}
