# decode_operand's operand numbers, LLVM's MC layer's, on the AArch64 forms jitld check
# decodes besides those the relocation tests use (their fields are constants here): add/sub
# and their shifts, the move-wide family (movk lists its register twice), tbz/b.cond,
# pairs and writeback, unscaled and scaled offsets, prfm, shifted registers, mrs, nop, brk.
# next_pc is the instruction's address plus 4.
#
# RUN: llvm-mc-19 -triple=aarch64-unknown-linux-gnu -filetype=obj -o %t/operand_numbers.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 4096 \
# RUN:   -check %s %t/operand_numbers.o

	.text
	.globl	main
	.p2align 2
	.type	main,@function
main:
	mov	w0, wzr
	ret
	.size	main, .-main

# jitlink-check: next_pc(main) = main + 4

# add (immediate): Rd, Rn, imm12, shift as 0 or 12.
# jitlink-check: decode_operand(add_shifted, 2) = 0x345
# jitlink-check: decode_operand(add_shifted, 3) = 12
	.globl	add_shifted
add_shifted:
	add x1, x2, #0x345, lsl #12
	.size	add_shifted, .-add_shifted

# jitlink-check: decode_operand(sub_plain, 2) = 0x40
# jitlink-check: decode_operand(sub_plain, 3) = 0
	.globl	sub_plain
sub_plain:
	sub sp, sp, #0x40
	.size	sub_plain, .-sub_plain

# cmp is subs into the zero register: the same four.
# jitlink-check: decode_operand(compare, 2) = 17
# jitlink-check: decode_operand(compare, 3) = 0
	.globl	compare
compare:
	cmp w3, #17
	.size	compare, .-compare

# movk lists Rd twice; movz and movn once.
# jitlink-check: decode_operand(move_keep, 2) = 0xbeef
# jitlink-check: decode_operand(move_keep, 3) = 16
	.globl	move_keep
move_keep:
	movk w5, #0xbeef, lsl #16
	.size	move_keep, .-move_keep

# jitlink-check: decode_operand(move_zero, 1) = 0xcafe
# jitlink-check: decode_operand(move_zero, 2) = 32
	.globl	move_zero
move_zero:
	movz x5, #0xcafe, lsl #32
	.size	move_zero, .-move_zero

# jitlink-check: decode_operand(move_not, 1) = 0x12
# jitlink-check: decode_operand(move_not, 2) = 0
	.globl	move_not
move_not:
	movn w5, #0x12
	.size	move_not, .-move_not

# tbz/tbnz: Rt, bit, displacement.
# jitlink-check: decode_operand(test_bit, 1) = 63
# jitlink-check: decode_operand(test_bit, 2) = 0
	.globl	test_bit
test_bit:
	tbnz x9, #63, test_bit
	.size	test_bit, .-test_bit

# b.cond: condition, displacement.
# jitlink-check: decode_operand(branch_cond, 0) = 2
# jitlink-check: decode_operand(branch_cond, 1) = 0
	.globl	branch_cond
branch_cond:
	b.hs branch_cond
	.size	branch_cond, .-branch_cond

# pre- and post-indexed: the written-back base first; pairs scale by the size.
# jitlink-check: decode_operand(pair_pre, 4) = 0xfffffffffffffffc
	.globl	pair_pre
pair_pre:
	stp x29, x30, [sp, #-32]!
	.size	pair_pre, .-pair_pre

# jitlink-check: decode_operand(pair_post, 4) = 4
	.globl	pair_post
pair_post:
	ldp q0, q1, [x2], #64
	.size	pair_post, .-pair_post

# jitlink-check: decode_operand(pair_offset, 3) = 2
	.globl	pair_offset
pair_offset:
	ldp w1, w2, [x3, #8]
	.size	pair_offset, .-pair_offset

# single registers: the byte offset.
# jitlink-check: decode_operand(single_pre, 3) = 0xfffffffffffffff8
	.globl	single_pre
single_pre:
	ldr x1, [x3, #-8]!
	.size	single_pre, .-single_pre

# jitlink-check: decode_operand(single_post, 3) = 255
	.globl	single_post
single_post:
	strb w1, [x3], #255
	.size	single_post, .-single_post

# jitlink-check: decode_operand(unscaled, 2) = 0xfffffffffffffffd
	.globl	unscaled
unscaled:
	ldur w1, [x3, #-3]
	.size	unscaled, .-unscaled

# unsigned offsets: scaled by the access size.
# jitlink-check: decode_operand(scaled, 2) = 2047
	.globl	scaled
scaled:
	ldrh w1, [x3, #4094]
	.size	scaled, .-scaled

# prfm: its operation is an immediate.
# jitlink-check: decode_operand(prefetch, 0) = 0x13
# jitlink-check: decode_operand(prefetch, 2) = 2
	.globl	prefetch
prefetch:
	prfm pstl2strm, [x3, #16]
	.size	prefetch, .-prefetch

# shifted registers: type << 6 | amount.
# jitlink-check: decode_operand(shifted_add, 3) = 0x47
	.globl	shifted_add
shifted_add:
	add x1, x2, x3, lsr #7
	.size	shifted_add, .-shifted_add

# jitlink-check: decode_operand(shifted_and, 3) = 0xdf
	.globl	shifted_and
shifted_and:
	and w1, w2, w3, ror #31
	.size	shifted_and, .-shifted_and

# mrs: op0:op1:CRn:CRm:op2, op0 in two bits.
# jitlink-check: decode_operand(system_read, 1) = 0xde82
	.globl	system_read
system_read:
	mrs x0, tpidr_el0
	.size	system_read, .-system_read

# nop is hint #0; brk keeps its number.
# jitlink-check: decode_operand(no_op, 0) = 0
	.globl	no_op
no_op:
	nop
	.size	no_op, .-no_op

# jitlink-check: decode_operand(break_point, 0) = 0x3e8
	.globl	break_point
break_point:
	brk #0x3e8
	.size	break_point, .-break_point
