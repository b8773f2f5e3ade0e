//! The way back into the JIT from a lazy stub's first call.
//!
//! A trampoline pushes its stub's context pointer and jumps here. We save every register
//! that may carry the caller's arguments (integer, SSE, `%al` for varargs, `%r10` for a
//! static chain), call `resolve_from_stub` to find the body (materializing it if needed),
//! restore the registers and tail-jump into the body, so the call continues as if the stub
//! had always pointed there.

use super::LazyStub;

std::arch::global_asm!(
    ".pushsection .text.jitld_lazy_reentry,\"ax\",@progbits",
    ".globl jitld_lazy_reentry",
    ".hidden jitld_lazy_reentry",
    "jitld_lazy_reentry:",
    // 0(%rsp) = context, 8(%rsp) = caller's return address; %rsp is 16-byte aligned.
    "push %rbp",
    "mov %rsp, %rbp",
    "push %rax",
    "push %rdi",
    "push %rsi",
    "push %rdx",
    "push %rcx",
    "push %r8",
    "push %r9",
    "push %r10",
    "sub $136, %rsp",
    "movdqu %xmm0, 0(%rsp)",
    "movdqu %xmm1, 16(%rsp)",
    "movdqu %xmm2, 32(%rsp)",
    "movdqu %xmm3, 48(%rsp)",
    "movdqu %xmm4, 64(%rsp)",
    "movdqu %xmm5, 80(%rsp)",
    "movdqu %xmm6, 96(%rsp)",
    "movdqu %xmm7, 112(%rsp)",
    "mov 8(%rbp), %rdi",
    "call {resolve}",
    "mov %rax, %r11",
    "movdqu 0(%rsp), %xmm0",
    "movdqu 16(%rsp), %xmm1",
    "movdqu 32(%rsp), %xmm2",
    "movdqu 48(%rsp), %xmm3",
    "movdqu 64(%rsp), %xmm4",
    "movdqu 80(%rsp), %xmm5",
    "movdqu 96(%rsp), %xmm6",
    "movdqu 112(%rsp), %xmm7",
    "add $136, %rsp",
    "pop %r10",
    "pop %r9",
    "pop %r8",
    "pop %rcx",
    "pop %rdx",
    "pop %rsi",
    "pop %rdi",
    "pop %rax",
    "pop %rbp",
    "add $8, %rsp",
    "jmp *%r11",
    ".popsection",
    resolve = sym resolve_from_stub,
    options(att_syntax)
);

extern "C" {
    fn jitld_lazy_reentry();
}

/// Address of the reentry routine, for trampolines.
pub fn reentry_address() -> u64 {
    jitld_lazy_reentry as *const () as u64
}

/// Called from `jitld_lazy_reentry` with the stub's context. Returns the body's address.
extern "C" fn resolve_from_stub(stub: *const LazyStub) -> u64 {
    // SAFETY: the pointer was embedded in the trampoline by `LazyReexportsUnit`, and the
    // stub lives as long as the trampoline's memory does.
    let stub = unsafe { &*stub };
    match stub.resolve() {
        Ok(addr) => addr,
        Err(e) => {
            // Nothing sensible to return into: the caller expected the function to run.
            eprintln!("error: lazy call to {} failed: {e}", stub.name);
            // SAFETY: flushing C stdio and leaving at once, as an unrecoverable error must.
            unsafe {
                libc::fflush(std::ptr::null_mut());
                libc::_exit(1)
            }
        }
    }
}
