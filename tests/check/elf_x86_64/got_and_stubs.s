# GOT entries and stubs, and when relaxation bypasses them: R_X86_64_PLT32 to externals in
# and out of reach, R_X86_64_GOTPCREL, R_X86_64_GOTPCRELX (call) and R_X86_64_REX_GOTPCRELX
# (mov) relaxed against a defined target and kept against a far one,
# and R_X86_64_GOTPC32 (the GOT base). An entry that relaxation left unused is still there,
# holding its target, as in llvm-jitlink.
#
# RUN: llvm-mc-19 -triple=x86_64-unknown-linux -position-independent -filetype=obj -o %t/got_and_stubs.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0xfff00000 -slab-page-size 4096 \
# RUN:   -abs far_func=0x7fff00001000 -abs far_data=0x7fff00002000 -abs near_func=0xfff10000 \
# RUN:   -check %s %t/got_and_stubs.o

	.text
	.globl	main
	.type	main,@function
main:
	xorl	%eax, %eax
	retq
	.size	main, .-main

	.globl	callee
	.type	callee,@function
callee:
	retq
	.size	callee, .-callee

# A far external is called through its stub, which jumps through its GOT entry.
# jitlink-check: decode_operand(call_far, 0) = stub_addr(got_and_stubs.o, far_func) - next_pc(call_far)
# The stub is `jmp *entry(%rip)`: its displacement (bytes 2-5) reaches the entry.
# jitlink-check: *{2}(stub_addr(got_and_stubs.o, far_func)) = 0x25ff
# jitlink-check: *{4}(stub_addr(got_and_stubs.o, far_func) + 2) = \
# jitlink-check:     (got_addr(got_and_stubs.o, far_func) - stub_addr(got_and_stubs.o, far_func) - 6)[31:0]
# jitlink-check: *{8}(got_addr(got_and_stubs.o, far_func)) = far_func
	.globl	call_far
call_far:
	callq	far_func@PLT
	.size	call_far, .-call_far

# An external in reach is called directly; its stub and entry exist all the same.
# jitlink-check: decode_operand(call_near, 0) = near_func - next_pc(call_near)
# jitlink-check: *{8}(got_addr(got_and_stubs.o, near_func)) = near_func
	.globl	call_near
call_near:
	callq	near_func@PLT
	.size	call_near, .-call_near

# mov through the GOT to a far symbol: not relaxable, reads the entry.
# jitlink-check: decode_operand(load_far_got, 4) = got_addr(got_and_stubs.o, far_data) - next_pc(load_far_got)
# jitlink-check: *{8}(got_addr(got_and_stubs.o, far_data)) = far_data
# jitlink-check: *{1}(load_far_got + 1) = 0x8b
	.globl	load_far_got
load_far_got:
	movq	far_data@GOTPCREL(%rip), %rax
	.size	load_far_got, .-load_far_got

# mov through the GOT to a defined symbol: relaxed to lea of the symbol.
# jitlink-check: decode_operand(load_near_got, 4) = named_data - next_pc(load_near_got)
# jitlink-check: *{1}(load_near_got + 1) = 0x8d
# jitlink-check: *{8}(got_addr(got_and_stubs.o, named_data)) = named_data
	.globl	load_near_got
load_near_got:
	movq	named_data@GOTPCREL(%rip), %rax
	.size	load_near_got, .-load_near_got

# R_X86_64_GOTPC32: the distance to the GOT base.
# jitlink-check: decode_operand(got_base, 4) = _GLOBAL_OFFSET_TABLE_ - next_pc(got_base)
	.globl	got_base
got_base:
	leaq	_GLOBAL_OFFSET_TABLE_(%rip), %rbx
	.size	got_base, .-got_base

	.data
	.globl	named_data
	.p2align	3
named_data:
	.quad	0
	.size	named_data, 8
