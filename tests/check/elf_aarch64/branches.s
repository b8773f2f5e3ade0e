# Branches and PC-relative literals: R_AARCH64_CALL26 and R_AARCH64_JUMP26 (bl and b,
# forwards and backwards, with positive and negative addends), R_AARCH64_CONDBR19 (b.cond,
# cbz, cbnz), R_AARCH64_TSTBR14 (tbz, tbnz on w and x registers), R_AARCH64_LD_PREL_LO19
# (ldr literal into w, x and q registers) and R_AARCH64_ADR_PREL_LO21 (adr, to any byte).
# A field holds the displacement in words (in bytes for adr); decode_operand gives it
# sign-extended, so shifting it back gives the 64-bit displacement, backwards too.
# Targets are global symbols of other sections, so the assembler leaves a relocation; where
# the sections go is the linker's choice, so a "backward" branch may go either way.
#
# RUN: llvm-mc-19 -triple=aarch64-unknown-linux-gnu -filetype=obj -o %t/branches.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 4096 \
# RUN:   -check %s %t/branches.o

	.section .text.before,"ax",@progbits
	.globl	before
	.p2align 2
	.type	before,@function
before:
	ret
	ret
	ret
	.size	before, .-before

	.text
	.globl	main
	.p2align 2
	.type	main,@function
main:
	mov	w0, wzr
	ret
	.size	main, .-main

# jitlink-check: decode_operand(call_forward, 0) << 2 = after - call_forward
	.globl	call_forward
call_forward:
	bl	after
	.size	call_forward, .-call_forward

# jitlink-check: decode_operand(call_backward, 0) << 2 = before - call_backward
	.globl	call_backward
call_backward:
	bl	before
	.size	call_backward, .-call_backward

# jitlink-check: decode_operand(call_addend, 0) << 2 = (after - call_addend + 8)
	.globl	call_addend
call_addend:
	bl	after + 8
	.size	call_addend, .-call_addend

# jitlink-check: decode_operand(jump_forward, 0) << 2 = after - jump_forward
	.globl	jump_forward
jump_forward:
	b	after
	.size	jump_forward, .-jump_forward

# jitlink-check: decode_operand(jump_backward_addend, 0) << 2 = (before - jump_backward_addend + 4)
	.globl	jump_backward_addend
jump_backward_addend:
	b	before + 4
	.size	jump_backward_addend, .-jump_backward_addend

# jitlink-check: decode_operand(jump_negative_addend, 0) << 2 = (after - jump_negative_addend - 4)
	.globl	jump_negative_addend
jump_negative_addend:
	b	after - 4
	.size	jump_negative_addend, .-jump_negative_addend

# b.cond: operand 0 is the condition, operand 1 the displacement.
# jitlink-check: decode_operand(branch_ne, 0) = 1
# jitlink-check: decode_operand(branch_ne, 1) << 2 = after - branch_ne
# jitlink-check: decode_operand(branch_gt_back, 0) = 12
# jitlink-check: decode_operand(branch_gt_back, 1) << 2 = (before - branch_gt_back + 8)
	.globl	branch_ne
branch_ne:
	b.ne	after
	.size	branch_ne, .-branch_ne
	.globl	branch_gt_back
branch_gt_back:
	b.gt	before + 8
	.size	branch_gt_back, .-branch_gt_back

# jitlink-check: decode_operand(compare_zero, 1) << 2 = (after - compare_zero + 4)
# jitlink-check: decode_operand(compare_nonzero, 1) << 2 = before - compare_nonzero
	.globl	compare_zero
compare_zero:
	cbz	x3, after + 4
	.size	compare_zero, .-compare_zero
	.globl	compare_nonzero
compare_nonzero:
	cbnz	w4, before
	.size	compare_nonzero, .-compare_nonzero

# tbz: operand 1 is the bit number, operand 2 the displacement.
# jitlink-check: decode_operand(test_bit_w, 1) = 5
# jitlink-check: decode_operand(test_bit_w, 2) << 2 = after - test_bit_w
# jitlink-check: decode_operand(test_bit_x, 1) = 40
# jitlink-check: decode_operand(test_bit_x, 2) << 2 = (before - test_bit_x + 4)
	.globl	test_bit_w
test_bit_w:
	tbz	w3, #5, after
	.size	test_bit_w, .-test_bit_w
	.globl	test_bit_x
test_bit_x:
	tbnz	x3, #40, before + 4
	.size	test_bit_x, .-test_bit_x

# Literal loads: the displacement in words, whatever the register's size.
# jitlink-check: decode_operand(literal_x, 1) << 2 = literals - literal_x
# jitlink-check: decode_operand(literal_w, 1) << 2 = (literals - literal_w + 12)
# jitlink-check: decode_operand(literal_q, 1) << 2 = (literals - literal_q + 16)
# jitlink-check: decode_operand(literal_back, 1) << 2 = (literals - literal_back - 8)
	.globl	literal_x
literal_x:
	ldr	x0, literals
	.size	literal_x, .-literal_x
	.globl	literal_w
literal_w:
	ldr	w0, literals + 12
	.size	literal_w, .-literal_w
	.globl	literal_q
literal_q:
	ldr	q0, literals + 16
	.size	literal_q, .-literal_q
	.globl	literal_back
literal_back:
	ldr	x0, literals - 8
	.size	literal_back, .-literal_back

# adr reaches any byte: odd and negative addends.
# jitlink-check: decode_operand(address_of, 1) = literals - address_of
# jitlink-check: decode_operand(address_odd, 1) = (literals - address_odd + 3)
# jitlink-check: decode_operand(address_back, 1) = (before - address_back - 5)
	.globl	address_of
address_of:
	adr	x1, literals
	.size	address_of, .-address_of
	.globl	address_odd
address_odd:
	adr	x1, literals + 3
	.size	address_odd, .-address_odd
	.globl	address_back
address_back:
	adr	x1, before - 5
	.size	address_back, .-address_back

	.section .text.after,"ax",@progbits
	.globl	after
	.p2align 2
	.type	after,@function
after:
	ret
	ret
	ret
	.size	after, .-after

	.section .rodata,"a",@progbits
	.quad	0
	.globl	literals
	.p2align 4
literals:
	.quad	0x1111111111111111
	.quad	0x2222222222222222
	.quad	0x3333333333333333
	.quad	0x4444444444444444
	.size	literals, .-literals
