# MachO x86-64 relocations: SIGNED (and SIGNED_1/_4, whose instructions have bytes after
# the field) to named and anonymous targets, GOT_LOAD through the GOT, BRANCH to stubs for
# far externals and straight to local functions, UNSIGNED 64-bit pointers (extern, anonymous
# and external), and SUBTRACTOR pairs in both directions and widths.
#
# RUN: llvm-mc-19 -triple=x86_64-apple-macosx10.9 -filetype=obj -o %t/relocations.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 4096 \
# RUN:   -abs external_data=0x7fff00000000 -abs external_func=0x7fff00001000 \
# RUN:   -check %s %t/relocations.o
	.section	__TEXT,__text,regular,pure_instructions
	.globl	_main
	.p2align	4, 0x90
_main:
	retq

# jitlink-check: decode_operand(test_pcrel32, 4) = named_data - next_pc(test_pcrel32)
	.globl	test_pcrel32
test_pcrel32:
	movl	named_data(%rip), %eax

# jitlink-check: decode_operand(test_pcrel32_anon, 4) = section_addr(relocations.o, __DATA,__data) - next_pc(test_pcrel32_anon)
	.globl	test_pcrel32_anon
test_pcrel32_anon:
	movl	Lanon_data(%rip), %eax

# jitlink-check: decode_operand(test_minus1, 3) = named_data - next_pc(test_minus1) + 2
	.globl test_minus1
test_minus1:
	movb	$0x12, named_data+2(%rip)

# jitlink-check: decode_operand(test_minus4, 3) = named_data - next_pc(test_minus4)
	.globl test_minus4
test_minus4:
	movl	$0x12345678, named_data(%rip)

# jitlink-check: decode_operand(test_pcrel32_neg, 4) = named_data - next_pc(test_pcrel32_neg) - 8
	.globl	test_pcrel32_neg
test_pcrel32_neg:
	movl	named_data-8(%rip), %eax

# A GOT load of a target within reach becomes a `lea` of the target itself.
# jitlink-check: decode_operand(test_gotld_relaxed, 4) = named_data - next_pc(test_gotld_relaxed)
	.globl test_gotld_relaxed
test_gotld_relaxed:
	movq	named_data@GOTPCREL(%rip), %rax

# jitlink-check: decode_operand(test_gotld, 4) = got_addr(relocations.o, external_data) - next_pc(test_gotld)
	.globl test_gotld
test_gotld:
	movq	external_data@GOTPCREL(%rip), %rax

# jitlink-check: decode_operand(test_call, 0) = stub_addr(relocations.o, external_func) - next_pc(test_call)
	.globl test_call
test_call:
	callq	external_func

# jitlink-check: decode_operand(test_local_call, 0) = named_func - next_pc(test_local_call)
	.globl test_local_call
test_local_call:
	callq	named_func

	.globl	named_func
	.p2align	4, 0x90
named_func:
	retq

	.section	__DATA,__data
Lanon_data:
	.quad	0x1111111111111111
	.globl	named_data
	.p2align	3
named_data:
	.quad	0x2222222222222222

# jitlink-check: *{8}pointer = named_data
	.globl pointer
	.p2align 3
pointer:
	.quad named_data

# jitlink-check: *{8}pointer_anon = section_addr(relocations.o, __DATA,__data)
	.globl pointer_anon
pointer_anon:
	.quad Lanon_data

# jitlink-check: *{8}pointer_neg = named_data - 16
	.globl pointer_neg
pointer_neg:
	.quad named_data - 16

# jitlink-check: *{8}pointer_ext = external_data
	.globl pointer_ext
pointer_ext:
	.quad external_data

# jitlink-check: *{8}subtractor_fwd = named_func - subtractor_fwd + 8
	.globl subtractor_fwd
subtractor_fwd:
	.quad named_func - subtractor_fwd + 8

# jitlink-check: *{8}subtractor_back = subtractor_back - named_func
	.globl subtractor_back
subtractor_back:
	.quad subtractor_back - named_func

# jitlink-check: *{4}subtractor32 = (named_data - subtractor32)[31:0]
	.globl subtractor32
subtractor32:
	.long named_data - subtractor32

.subsections_via_symbols
