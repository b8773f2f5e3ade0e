//! Calling the program's `main` the way `__libc_start_call_main` does, as far as an
//! escaping C++ exception can tell.
//!
//! The call goes through a few instructions of assembly that have no unwind information. An
//! exception that nothing in the program catches then finds the end of the stack there, as
//! it does natively: `__cxa_throw` calls `std::terminate` (libstdc++'s "terminate called
//! after throwing an instance of ..." and SIGABRT) without unwinding anything. Through a Rust
//! frame instead, the unwinder would find the runtime's `catch_unwind` and Rust would abort
//! with "Rust cannot catch foreign exceptions". A forced unwind (`pthread_exit` in `main`)
//! also ends here, where glibc expects the bottom of the thread.

std::arch::global_asm!(
    ".pushsection .text.jitld_call_main,\"ax\",@progbits",
    ".p2align 4",
    ".type jitld_call_main,@function",
    "jitld_call_main:",
    // rdi = main, esi = argc, rdx = argv, rcx = envp. rbp keeps a frame chain for debuggers;
    // the push also realigns the stack to 16 for the call.
    "push rbp",
    "mov rbp, rsp",
    "mov rax, rdi",
    "mov edi, esi",
    "mov rsi, rdx",
    "mov rdx, rcx",
    "call rax",
    "pop rbp",
    "ret",
    ".size jitld_call_main, . - jitld_call_main",
    ".popsection",
);

extern "C" {
    fn jitld_call_main(
        main: usize,
        argc: i32,
        argv: *const *const libc::c_char,
        envp: *const *const libc::c_char,
    ) -> i32;
}

/// Calls `main(argc, argv, envp)` at `entry`.
///
/// # Safety
/// `entry` must be linked, ready code with C `main`'s signature; `argv` and `envp` must be
/// null-terminated arrays of C strings that outlive the call.
pub unsafe fn call_main(
    entry: u64,
    argc: i32,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
) -> i32 {
    // SAFETY: as the caller promises; the trampoline only forwards the arguments.
    unsafe { jitld_call_main(entry as usize, argc, argv, envp) }
}
