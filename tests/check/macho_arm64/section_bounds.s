# `section$start$SEG$SECT` and `section$end$SEG$SECT`: the linker defines them at the start
# and end of the section (here one object's), for pointers and for page-relative code.
#
# RUN: llvm-mc-19 -triple=arm64-apple-macosx11.0.0 -filetype=obj -o %t/section_bounds.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 16384 \
# RUN:   -check %s %t/section_bounds.o

	.section	__TEXT,__text,regular,pure_instructions
	.globl	_main
	.p2align	2
_main:
	ret

# jitlink-check: decode_operand(load_start, 1) = (table_first[32:12] - load_start[32:12])
# jitlink-check: decode_operand(load_start_low, 2) = table_first[11:0]
# jitlink-check: decode_operand(load_end_low, 2) = (table_first + 24)[11:0]
	.globl	load_start
	.p2align	2
load_start:
	adrp	x0, section$start$__DATA$__table@PAGE
	.globl	load_start_low
load_start_low:
	add	x0, x0, section$start$__DATA$__table@PAGEOFF
	.globl	load_end_low
load_end_low:
	add	x1, x0, section$end$__DATA$__table@PAGEOFF
	ret

	.section	__DATA,__table
	.globl	table_first
table_first:
	.quad	1, 2, 3

# jitlink-check: *{8}start_pointer = table_first
# jitlink-check: *{8}end_pointer = table_first + 24
	.section	__DATA,__data
	.globl	start_pointer
start_pointer:
	.quad	section$start$__DATA$__table
	.globl	end_pointer
end_pointer:
	.quad	section$end$__DATA$__table
