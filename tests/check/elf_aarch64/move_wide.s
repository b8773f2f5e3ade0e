# Absolute addresses in four 16-bit groups, as the large code model builds them:
# R_AARCH64_MOVW_UABS_G3 (movz, or movk, of bits 63:48) and the unchecked
# R_AARCH64_MOVW_UABS_G2_NC, G1_NC and G0_NC (bits 47:32, 31:16, 15:0), with positive and
# negative addends, into x and w registers. movz/movn list their immediate as operand 1 and
# the shift as operand 2; movk reads its register, which LLVM lists twice, so its immediate
# is operand 2 and the shift operand 3. The opcode bits (30:29) stay as assembled: movz 2,
# movk 3.
#
# RUN: llvm-mc-19 -triple=aarch64-unknown-linux-gnu -filetype=obj -o %t/move_wide.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 4096 \
# RUN:   -abs wide=0xfedcba9876543210 -check %s %t/move_wide.o

	.text
	.globl	main
	.p2align 2
	.type	main,@function
main:
	mov	w0, wzr
	ret
	.size	main, .-main

# jitlink-check: decode_operand(wide_g3, 1) = wide[63:48]
# jitlink-check: decode_operand(wide_g3, 2) = 48
# jitlink-check: (*{4}wide_g3)[30:29] = 2
# jitlink-check: decode_operand(wide_g2, 2) = wide[47:32]
# jitlink-check: decode_operand(wide_g2, 3) = 32
# jitlink-check: decode_operand(wide_g1, 2) = wide[31:16]
# jitlink-check: decode_operand(wide_g1, 3) = 16
# jitlink-check: decode_operand(wide_g0, 2) = wide[15:0]
# jitlink-check: decode_operand(wide_g0, 3) = 0
# jitlink-check: (*{4}wide_g0)[30:29] = 3
	.globl	wide_g3
wide_g3:
	movz	x0, #:abs_g3:wide
	.size	wide_g3, .-wide_g3
	.globl	wide_g2
wide_g2:
	movk	x0, #:abs_g2_nc:wide
	.size	wide_g2, .-wide_g2
	.globl	wide_g1
wide_g1:
	movk	x0, #:abs_g1_nc:wide
	.size	wide_g1, .-wide_g1
	.globl	wide_g0
wide_g0:
	movk	x0, #:abs_g0_nc:wide
	.size	wide_g0, .-wide_g0

# Addends carry into higher groups: wide + 0xf0 - 0x10000 borrows from bits 31:16.
# jitlink-check: decode_operand(addend_g3, 2) = (wide + 0x1000000000000)[63:48]
# jitlink-check: decode_operand(addend_g1, 2) = (wide - 0x10000)[31:16]
# jitlink-check: decode_operand(addend_g0, 1) = (wide + 0xf0)[15:0]
# jitlink-check: decode_operand(addend_g0, 2) = 0
	.globl	addend_g3
addend_g3:
	movk	x1, #:abs_g3:wide + 0x1000000000000
	.size	addend_g3, .-addend_g3
	.globl	addend_g1
addend_g1:
	movk	x1, #:abs_g1_nc:wide - 0x10000
	.size	addend_g1, .-addend_g1
	.globl	addend_g0
addend_g0:
	movz	x1, #:abs_g0_nc:wide + 0xf0
	.size	addend_g0, .-addend_g0

# A data address (the slab is below 4 GiB, so the high groups are zero), into w registers.
# jitlink-check: decode_operand(data_g1, 1) = (table + 8)[31:16]
# jitlink-check: decode_operand(data_g1, 2) = 16
# jitlink-check: decode_operand(data_g0, 2) = (table + 8)[15:0]
# jitlink-check: decode_operand(data_g2, 2) = table[47:32]
	.globl	data_g1
data_g1:
	movz	w2, #:abs_g1_nc:table + 8
	.size	data_g1, .-data_g1
	.globl	data_g0
data_g0:
	movk	w2, #:abs_g0_nc:table + 8
	.size	data_g0, .-data_g0
	.globl	data_g2
data_g2:
	movk	x2, #:abs_g2_nc:table
	.size	data_g2, .-data_g2

	.data
	.globl	table
	.p2align 3
table:
	.quad	1, 2
	.size	table, .-table
