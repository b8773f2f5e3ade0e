# Windows thread-local variables, as clang compiles `__declspec(thread)` for MSVC: the code
# loads `_tls_index` (the C runtime's, here given with -abs), finds this module's block
# through the TEB (`%gs:88`, the thread-local storage array) and adds each variable's offset
# in the `.tls$` section (SECREL). The TEB exists only on Windows, so such code links but
# cannot run on Linux; what the link writes is checked here.
#
# RUN: llvm-mc-19 -triple=x86_64-pc-windows-msvc -filetype=obj -o %t/windows_tls.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 4096 \
# RUN:   -abs _tls_index=0x10080000 -check %s %t/windows_tls.o

	.text
	.globl	main
main:
	retq

# jitlink-check: decode_operand(read_counter, 4) = _tls_index - next_pc(read_counter)
# jitlink-check: *{4}(read_counter + 21) = 4
# jitlink-check: *{4}(read_counter + 27) = 0
	.globl	read_counter
read_counter:
	movl	_tls_index(%rip), %eax
	movq	%gs:88, %rcx
	movq	(%rcx,%rax,8), %rcx
	movl	other@SECREL32(%rcx), %eax
	addl	counter@SECREL32(%rcx), %eax
	retq

	.section	.tls$,"dw"
	.globl	counter
	.p2align	2
counter:
	.long	5
	.globl	other
	.p2align	2
other:
	.long	0
