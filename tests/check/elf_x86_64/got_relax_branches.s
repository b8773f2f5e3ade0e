# JITLD-ONLY: llvm-jitlink-19 relaxes `call *f@GOTPCREL(%rip)` to `addr32 call` and
# `jmp *f@GOTPCREL(%rip)` to `jmp; nop` but writes f's absolute address into the rel32
# field (a call to 0xfff01001 from 0xfff01002 becomes `67 e8 01 10 f0 ff`); jitld writes
# the displacement.
#
# R_X86_64_GOTPCRELX on calls and tail calls to a defined function: relaxed to direct
# branches of the same length, the GOT entry left in place.
#
# RUN: llvm-mc-19 -triple=x86_64-unknown-linux -position-independent -filetype=obj -o %t/got_relax_branches.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0xfff00000 -slab-page-size 4096 \
# RUN:   -check %s %t/got_relax_branches.o

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

# jitlink-check: decode_operand(call_near_got, 0) = callee - next_pc(call_near_got)
# jitlink-check: *{2}call_near_got = 0xe867
# jitlink-check: next_pc(call_near_got) = call_near_got + 6
	.globl	call_near_got
call_near_got:
	callq	*callee@GOTPCREL(%rip)
	.size	call_near_got, .-call_near_got

# jitlink-check: decode_operand(jump_near_got, 0) = callee - next_pc(jump_near_got)
# jitlink-check: *{1}(next_pc(jump_near_got)) = 0x90
# jitlink-check: *{8}(got_addr(got_relax_branches.o, callee)) = callee
	.globl	jump_near_got
jump_near_got:
	jmpq	*callee@GOTPCREL(%rip)
	.size	jump_near_got, .-jump_near_got
