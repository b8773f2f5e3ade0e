# JITLD-ONLY: llvm-jitlink-19 rejects R_X86_64_TPOFF32 and (without the ORC runtime)
# R_X86_64_TLSGD, R_X86_64_TLSLD and R_X86_64_DTPOFF32.
#
# Thread-local storage in all four access models. A thread-local symbol's address is its
# offset from the thread pointer; local-exec writes it, initial-exec loads it from a GOT
# entry, general-dynamic passes a {module, offset} pair to __tls_get_addr, local-dynamic
# asks for the block and adds each variable's offset in it.
#
# RUN: llvm-mc-19 -triple=x86_64-unknown-linux -filetype=obj -o %t/tls.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0xfff00000 -slab-page-size 4096 \
# RUN:   -check %s %t/tls.o

	.text
	.globl	main
	.type	main,@function
main:
	xorl	%eax, %eax
	retq
	.size	main, .-main

# jitlink-check: decode_operand(local_exec, 4) = second
	.globl	local_exec
local_exec:
	movq	%fs:second@TPOFF, %rax
	.size	local_exec, .-local_exec

# jitlink-check: decode_operand(initial_exec, 4) = got_addr(tls.o, first) - next_pc(initial_exec)
# jitlink-check: *{8}(got_addr(tls.o, first)) = first
	.globl	initial_exec
initial_exec:
	movq	first@GOTTPOFF(%rip), %rax
	.size	initial_exec, .-initial_exec

# The pair's second word is the variable's offset from the thread pointer.
# jitlink-check: *{8}(next_pc(general_dynamic) + decode_operand(general_dynamic, 4) + 8) = second
	.globl	general_dynamic
general_dynamic:
	leaq	second@TLSGD(%rip), %rdi
	.size	general_dynamic, .-general_dynamic

# The block's pair, then `second`'s offset in the block.
# jitlink-check: *{8}(next_pc(local_dynamic) + decode_operand(local_dynamic, 4) + 8) = first
# jitlink-check: decode_operand(local_dynamic_offset, 4) = 8
	.globl	local_dynamic
local_dynamic:
	leaq	first@TLSLD(%rip), %rdi
	.size	local_dynamic, .-local_dynamic
	.globl	local_dynamic_offset
local_dynamic_offset:
	leaq	second@DTPOFF(%rax), %rcx
	.size	local_dynamic_offset, .-local_dynamic_offset

	.section	.tdata,"awT",@progbits
	.globl	first
	.p2align	3
first:
	.quad	1
	.size	first, 8
	.globl	second
second:
	.quad	2
	.size	second, 8
