# `section$start$SEG$SECT` and `section$end$SEG$SECT`: the linker defines them at the start
# and end of the section (here one object's), for pointers and for code.
#
# RUN: llvm-mc-19 -triple=x86_64-apple-macosx10.9 -filetype=obj -o %t/section_bounds.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 4096 \
# RUN:   -check %s %t/section_bounds.o

	.section	__TEXT,__text,regular,pure_instructions
	.globl	_main
_main:
	retq

# jitlink-check: decode_operand(load_start, 4) = table_first - next_pc(load_start)
# jitlink-check: decode_operand(load_end, 4) = table_first - next_pc(load_end) + 24
	.globl	load_start
load_start:
	leaq	section$start$__DATA$__table(%rip), %rax
	.globl	load_end
load_end:
	leaq	section$end$__DATA$__table(%rip), %rcx
	retq

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
