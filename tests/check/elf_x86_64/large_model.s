# The large code model's GOT-relative relocations: R_X86_64_GOTPC64 (the GOT base),
# R_X86_64_GOTOFF64 (a symbol from the GOT base), R_X86_64_GOT64 (an entry from the base),
# and R_X86_64_GOTPCREL64 (an entry from here). R_X86_64_PLTOFF64 is in
# beyond_llvm_jitlink.s.
#
# RUN: llvm-mc-19 -triple=x86_64-unknown-linux -position-independent -filetype=obj -o %t/large_model.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0xfff00000 -slab-page-size 4096 \
# RUN:   -check %s %t/large_model.o

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

# jitlink-check: decode_operand(gotpc64, 1) = _GLOBAL_OFFSET_TABLE_ - gotpc64
	.globl	gotpc64
gotpc64:
	movabsq	$_GLOBAL_OFFSET_TABLE_-gotpc64, %rax
	.size	gotpc64, .-gotpc64

# jitlink-check: decode_operand(gotoff64, 1) = named_data - _GLOBAL_OFFSET_TABLE_
	.globl	gotoff64
gotoff64:
	movabsq	$named_data@GOTOFF, %rax
	.size	gotoff64, .-gotoff64

# jitlink-check: decode_operand(got64, 1) = got_addr(large_model.o, named_data) - _GLOBAL_OFFSET_TABLE_
	.globl	got64
got64:
	movabsq	$named_data@GOT, %rax
	.size	got64, .-got64

	.data
	.globl	named_data
	.p2align	3
named_data:
	.quad	0
	.size	named_data, 8


# LLVM's assembler has no syntax for R_X86_64_GOTPCREL64, hence .reloc.
# jitlink-check: *{8}gotpcrel64 = got_addr(large_model.o, named_data) - gotpcrel64
	.globl	gotpcrel64
gotpcrel64:
	.reloc	., R_X86_64_GOTPCREL64, named_data
	.quad	0
	.size	gotpcrel64, 8
