# MachO arm64 relocations: BRANCH26 to a local function and, through a stub, to a far
# external; PAGE21 with PAGEOFF12 in an `add` and in loads of every size (the offset scaled
# by the access); ADDEND pairs (positive and negative); GOT_LOAD_PAGE21/PAGEOFF12 for a far
# external, through its GOT entry; POINTER_TO_GOT; UNSIGNED pointers (extern, with addends)
# and SUBTRACTOR pairs in both directions and widths. Memory comes in arm64 Darwin's 16 KiB
# pages: code and data start on pages of their own.
#
# RUN: llvm-mc-19 -triple=arm64-apple-macosx11.0.0 -filetype=obj -o %t/relocations.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 16384 \
# RUN:   -abs external_data=0x7fff00000000 -abs external_func=0x7fff00001000 \
# RUN:   -check %s %t/relocations.o

	.section	__TEXT,__text,regular,pure_instructions
	.globl	_main
	.p2align	2
_main:
	ret

# jitlink-check: decode_operand(test_local_call, 0) << 2 = named_func - test_local_call
	.globl	test_local_call
	.p2align	2
test_local_call:
	bl	named_func

# jitlink-check: decode_operand(test_far_call, 0) << 2 = stub_addr(relocations.o, external_func) - test_far_call
	.globl	test_far_call
	.p2align	2
test_far_call:
	bl	external_func

# jitlink-check: decode_operand(test_page21, 1) = (named_data + 8)[63:12] - test_page21[63:12]
# jitlink-check: decode_operand(test_add_lo12, 2) = (named_data + 8)[11:0]
	.globl	test_page21
	.p2align	2
test_page21:
	adrp	x0, named_data@PAGE+8
	.globl	test_add_lo12
test_add_lo12:
	add	x0, x0, named_data@PAGEOFF+8

# jitlink-check: decode_operand(test_ldr64, 2) = (named_data + 8)[11:3]
	.globl	test_ldr64
	.p2align	2
test_ldr64:
	ldr	x1, [x0, named_data@PAGEOFF+8]

# jitlink-check: decode_operand(test_ldr32, 2) = named_data[11:2]
# jitlink-check: decode_operand(test_ldr16, 2) = named_data[11:1]
# jitlink-check: decode_operand(test_ldr8, 2) = named_data[11:0]
# jitlink-check: decode_operand(test_ldr128, 2) = named_data[11:4]
	.globl	test_ldr32
	.p2align	2
test_ldr32:
	ldr	w1, [x0, named_data@PAGEOFF]
	.globl	test_ldr16
test_ldr16:
	ldrh	w1, [x0, named_data@PAGEOFF]
	.globl	test_ldr8
test_ldr8:
	ldrb	w1, [x0, named_data@PAGEOFF]
	.globl	test_ldr128
test_ldr128:
	ldr	q1, [x0, named_data@PAGEOFF]

# jitlink-check: decode_operand(test_got_page, 1) = got_addr(relocations.o, external_data)[63:12] - test_got_page[63:12]
# jitlink-check: decode_operand(test_got_lo12, 2) = got_addr(relocations.o, external_data)[11:3]
# jitlink-check: *{8}(got_addr(relocations.o, external_data)) = external_data
	.globl	test_got_page
	.p2align	2
test_got_page:
	adrp	x0, external_data@GOTPAGE
	.globl	test_got_lo12
test_got_lo12:
	ldr	x0, [x0, external_data@GOTPAGEOFF]

	.globl	named_func
	.p2align	2
named_func:
	ret

# jitlink-check: section_addr(relocations.o, __TEXT,__text) & 0x3fff = 0
# jitlink-check: section_addr(relocations.o, __DATA,__data) & 0x3fff = 0
	.section	__DATA,__data
	.p2align	4
	.globl	named_data
named_data:
	.quad	0x1111111111111111
	.quad	0x2222222222222222

# jitlink-check: *{8}pointer = named_data + 8
	.globl	pointer
	.p2align	3
pointer:
	.quad	named_data + 8

# jitlink-check: *{8}pointer_neg = named_data - 8
	.globl	pointer_neg
pointer_neg:
	.quad	named_data - 8

# jitlink-check: *{4}pointer_to_got = (got_addr(relocations.o, external_data) - pointer_to_got)[31:0]
	.globl	pointer_to_got
pointer_to_got:
	.long	external_data@GOT - .

# jitlink-check: *{8}subtractor_fwd = named_func - subtractor_fwd + 8
	.globl	subtractor_fwd
subtractor_fwd:
	.quad	named_func - subtractor_fwd + 8

# jitlink-check: *{8}subtractor_back = subtractor_back - named_func
	.globl	subtractor_back
subtractor_back:
	.quad	subtractor_back - named_func

# jitlink-check: *{4}subtractor32 = (named_data - subtractor32)[31:0]
	.globl	subtractor32
subtractor32:
	.long	named_data - subtractor32

.subsections_via_symbols
