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
    // SAFETY: the kernel passes a valid ucontext for SA_SIGINFO handlers.
    let pc = unsafe { (*(context as *const libc::ucontext_t)).uc_mcontext.gregs[libc::REG_RIP as usize] } as u64;
    let fault_addr = unsafe { (*info).si_addr() } as u64;
    let mut line = Line { bytes: [0; 512], len: 0 };
    match CODE.try_lock() {
        Ok(code) => describe(&mut line, signal, pc, fault_addr, Some(&code)),
        Err(_) => describe(&mut line, signal, pc, fault_addr, None),
    }
    // SAFETY: write(2) is async-signal-safe; the buffer is ours.
    unsafe { libc::write(2, line.bytes.as_ptr() as *const libc::c_void, line.len) };
}

/// The line a fault is reported with: the signal, where, in which JIT'd function (`code`,
/// when the table could be taken), and the faulting address. Formats without allocating.
fn describe(out: &mut impl std::fmt::Write, signal: i32, pc: u64, fault_addr: u64, code: Option<&[super::GraphCode]>) {
    let name = SIGNALS.iter().find(|(s, _)| *s == signal).map_or("signal", |(_, n)| *n);
    let _ = write!(out, "jitld: {name} at {pc:#x}");
    match code.map(|code| super::GraphCode::find(code, pc)) {
        Some(Some((graph, function))) => {
            let name = graph.try_name(function).unwrap_or("<name pool busy>");
            let _ = write!(out, " in JIT'd code: {name}+{:#x} ({})", pc - function.start, graph.file);
        }
        Some(None) => {
            let _ = write!(out, " (not in JIT'd code)");
        }
        None => {
            let _ = write!(out, " (code table busy)");
        }
    }
    if signal == libc::SIGSEGV || signal == libc::SIGBUS {
        let _ = write!(out, ", address {fault_addr:#x}");
    }
    let _ = writeln!(out);
}

/// Reports a fault that happened in an executor process, as the handler here would.
pub fn report_executor_fault(signal: i32, pc: u64, fault_addr: u64) {
    let mut line = String::new();
    let code = CODE.lock().unwrap_or_else(|e| e.into_inner());
    describe(&mut line, signal, pc, fault_addr, Some(&code));
    eprint!("{line}");
}
