# 8- and 16-bit absolute fields: R_X86_64_16 and R_X86_64_8.
#
# RUN: llvm-mc-19 -triple=x86_64-unknown-linux -filetype=obj -o %t/small_fields.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0xfff00000 -slab-page-size 4096 \
# RUN:   -abs small=0x1234 -abs tiny=0x56 -check %s %t/small_fields.o

	.text
	.globl	main
	.type	main,@function
main:
	xorl	%eax, %eax
	retq
	.size	main, .-main

	.data

# jitlink-check: *{2}abs16 = small
	.globl	abs16
abs16:
	.short	small
	.size	abs16, 2

# jitlink-check: *{1}abs8 = tiny
	.globl	abs8
abs8:
	.byte	tiny
	.size	abs8, 1

