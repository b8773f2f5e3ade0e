# COFF x86-64 relocations: REL32 and REL32_1/_4 (instructions with bytes after the field),
# calls to local functions, ADDR64 and ADDR32NB (relative to __ImageBase) with both addend
# signs.
#
# RUN: llvm-mc-19 -triple=x86_64-pc-windows-msvc -filetype=obj -o %t/relocations.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 4096 \
# RUN:   -abs __ImageBase=0x10000000 \
# RUN:   -check %s %t/relocations.o

	.text
	.def	main; .scl 2; .type 32; .endef
	.globl	main
	.p2align	4
main:
	retq

# jitlink-check: decode_operand(test_rel32, 4) = named_data - next_pc(test_rel32)
	.globl	test_rel32
test_rel32:
	movl	named_data(%rip), %eax

# jitlink-check: decode_operand(test_rel32_neg, 4) = named_data - next_pc(test_rel32_neg) - 8
	.globl	test_rel32_neg
test_rel32_neg:
	movl	named_data-8(%rip), %eax

# jitlink-check: decode_operand(test_rel32_1, 3) = named_data - next_pc(test_rel32_1) + 2
	.globl	test_rel32_1
test_rel32_1:
	movb	$0x12, named_data+2(%rip)

# jitlink-check: decode_operand(test_rel32_4, 3) = named_data - next_pc(test_rel32_4)
	.globl	test_rel32_4
test_rel32_4:
	movl	$0x12345678, named_data(%rip)

# jitlink-check: decode_operand(test_local_call, 0) = named_func - next_pc(test_local_call)
	.globl	test_local_call
test_local_call:
	callq	named_func

	.globl	named_func
named_func:
	retq

	.data
	.p2align	3
	.globl	named_data
named_data:
	.quad	0x1122334455667788

# jitlink-check: *{8}pointer = named_data
	.globl	pointer
pointer:
	.quad	named_data

# jitlink-check: *{8}pointer_neg = named_data - 16
	.globl	pointer_neg
pointer_neg:
	.quad	named_data - 16

# jitlink-check: *{4}image_relative = named_data - __ImageBase
	.globl	image_relative
image_relative:
	.long	named_data@IMGREL

# jitlink-check: *{4}image_relative_addend = named_data - __ImageBase + 4
	.globl	image_relative_addend
image_relative_addend:
	.long	named_data@IMGREL+4
