# R_X86_64_GOTPCREL, which is never relaxed: a 32-bit distance to the GOT entry, here in
# data (`.long sym@GOTPCREL`) and in a `lea` (which takes the entry's address).
#
# RUN: llvm-mc-19 -triple=x86_64-unknown-linux -filetype=obj -o %t/got_no_relax.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0xfff00000 -slab-page-size 4096 \
# RUN:   -check %s %t/got_no_relax.o

	.text
	.globl	main
	.type	main,@function
main:
	xorl	%eax, %eax
	retq
	.size	main, .-main

# jitlink-check: decode_operand(lea_got, 4) = got_addr(got_no_relax.o, named_data) - next_pc(lea_got)
# jitlink-check: *{1}(lea_got + 1) = 0x8d
	.globl	lea_got
lea_got:
	leaq	named_data@GOTPCREL(%rip), %rax
	.size	lea_got, .-lea_got

	.data
	.globl	named_data
	.p2align	3
named_data:
	.quad	0
	.size	named_data, 8

# jitlink-check: *{4}got_distance = (got_addr(got_no_relax.o, named_data) - got_distance)[31:0]
# jitlink-check: *{8}(got_addr(got_no_relax.o, named_data)) = named_data
	.globl	got_distance
got_distance:
	.long	named_data@GOTPCREL
	.size	got_distance, 4
