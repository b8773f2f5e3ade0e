# JITLD-ONLY: llvm-jitlink-19 rejects R_AARCH64_MOVW_UABS_G0/G1/G2, every
# R_AARCH64_MOVW_SABS_* and R_AARCH64_MOVW_PREL_*, and R_AARCH64_ADR_PREL_PG_HI21_NC
# ("Unsupported aarch64 relocation").
#
# The checked move-wide groups and the PC-relative ones. Unsigned groups (UABS_G0..G2)
# write 16 bits of a value that must fit the groups up to theirs. Signed ones (SABS_G0..G2,
# PREL_G0..G3) make the instruction a movz of the bits when the value is not negative and a
# movn of the inverted bits when it is (the ABI's MOV[NZ]), so that one instruction sets the
# sign; the _NC groups are movk's and write the bits as they are. The opcode is bits 30:29:
# movn 0, movz 2, movk 3. The check language has no NOT: the inverse of S - P is P - S - 1.
#
# RUN: llvm-mc-19 -triple=aarch64-unknown-linux-gnu -filetype=obj -o %t/move_wide_checked.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 4096 \
# RUN:   -abs small=0x1234 -abs medium=0x87654321 -abs large=0x123456789abc \
# RUN:   -abs low=0x1000 \
# RUN:   -check %s %t/move_wide_checked.o

	.text
	.globl	main
	.p2align 2
	.type	main,@function
main:
	mov	w0, wzr
	ret
	.size	main, .-main

# Unsigned and checked.
# jitlink-check: decode_operand(uabs_g0, 1) = small + 0x10
# jitlink-check: decode_operand(uabs_g1, 1) = medium[31:16]
# jitlink-check: decode_operand(uabs_g2, 1) = large[47:32]
# jitlink-check: decode_operand(uabs_g1_k, 2) = (medium - 0x10000)[31:16]
	.globl	uabs_g0
uabs_g0:
	movz	x0, #:abs_g0:small + 0x10
	.size	uabs_g0, .-uabs_g0
	.globl	uabs_g1
uabs_g1:
	movz	x0, #:abs_g1:medium
	.size	uabs_g1, .-uabs_g1
	.globl	uabs_g2
uabs_g2:
	movz	x0, #:abs_g2:large
	.size	uabs_g2, .-uabs_g2
	.globl	uabs_g1_k
uabs_g1_k:
	movk	x0, #:abs_g1:medium - 0x10000
	.size	uabs_g1_k, .-uabs_g1_k

# Signed, not negative: movz, whatever was assembled.
# jitlink-check: decode_operand(sabs_g0, 1) = small
# jitlink-check: (*{4}sabs_g0)[30:29] = 2
# jitlink-check: decode_operand(sabs_g1, 1) = medium[31:16]
# jitlink-check: (*{4}sabs_g1)[30:29] = 2
# jitlink-check: decode_operand(sabs_g2, 1) = large[47:32]
# jitlink-check: (*{4}sabs_g2)[30:29] = 2
	.globl	sabs_g0
sabs_g0:
	movn	x0, #:abs_g0_s:small
	.size	sabs_g0, .-sabs_g0
	.globl	sabs_g1
sabs_g1:
	movz	x0, #:abs_g1_s:medium
	.size	sabs_g1, .-sabs_g1
	.globl	sabs_g2
sabs_g2:
	movz	x0, #:abs_g2_s:large
	.size	sabs_g2, .-sabs_g2

# Signed, negative (a negative addend takes small below zero): movn of the inverse.
# 0x1234 - 0x1244 = -0x10, whose inverse is 0xf; 0x1234 - 0x12340000 = -0x1233edcc, inverse
# 0x1233edcb; 0x1234 - 0x123400000000 = -0x1233ffffedcc, inverse 0x1233ffffedcb.
# jitlink-check: decode_operand(sabs_neg_g0, 1) = 0xf
# jitlink-check: (*{4}sabs_neg_g0)[30:29] = 0
# jitlink-check: decode_operand(sabs_neg_g1, 1) = 0x1233
# jitlink-check: (*{4}sabs_neg_g1)[30:29] = 0
# jitlink-check: decode_operand(sabs_neg_g2, 1) = 0x1233
# jitlink-check: decode_operand(sabs_neg_g2, 2) = 32
# jitlink-check: (*{4}sabs_neg_g2)[30:29] = 0
	.globl	sabs_neg_g0
sabs_neg_g0:
	movz	x0, #:abs_g0_s:small - 0x1244
	.size	sabs_neg_g0, .-sabs_neg_g0
	.globl	sabs_neg_g1
sabs_neg_g1:
	movz	x0, #:abs_g1_s:small - 0x12340000
	.size	sabs_neg_g1, .-sabs_neg_g1
	.globl	sabs_neg_g2
sabs_neg_g2:
	movz	x0, #:abs_g2_s:small - 0x123400000000
	.size	sabs_neg_g2, .-sabs_neg_g2

# PC-relative, checked: forwards (movz) and backwards (movn of the inverse).
# jitlink-check: decode_operand(prel_g0_fwd, 1) = (after - prel_g0_fwd + 8)
# jitlink-check: (*{4}prel_g0_fwd)[30:29] = 2
# jitlink-check: decode_operand(prel_g0_back, 1) = (prel_g0_back - main - 1)[15:0]
# jitlink-check: (*{4}prel_g0_back)[30:29] = 0
# jitlink-check: decode_operand(prel_g1_back, 1) = (prel_g1_back - low - 1)[31:16]
# jitlink-check: (*{4}prel_g1_back)[30:29] = 0
# jitlink-check: decode_operand(prel_g2_fwd, 1) = (large - prel_g2_fwd)[47:32]
# jitlink-check: (*{4}prel_g2_fwd)[30:29] = 2
# jitlink-check: decode_operand(prel_g2_back, 1) = (prel_g2_back - low - 1)[47:32]
# jitlink-check: (*{4}prel_g2_back)[30:29] = 0
	.globl	prel_g0_fwd
prel_g0_fwd:
	movn	x0, #:prel_g0:after + 8
	.size	prel_g0_fwd, .-prel_g0_fwd
	.globl	prel_g0_back
prel_g0_back:
	movz	x0, #:prel_g0:main
	.size	prel_g0_back, .-prel_g0_back
	.globl	prel_g1_back
prel_g1_back:
	movz	x0, #:prel_g1:low
	.size	prel_g1_back, .-prel_g1_back
	.globl	prel_g2_fwd
prel_g2_fwd:
	movz	x0, #:prel_g2:large
	.size	prel_g2_fwd, .-prel_g2_fwd
	.globl	prel_g2_back
prel_g2_back:
	movz	x0, #:prel_g2:low
	.size	prel_g2_back, .-prel_g2_back

# The top group is MOV[NZ] too, unchecked: backwards, bits 63:48 of the inverse are 0.
# jitlink-check: decode_operand(prel_g3_back, 1) = (prel_g3_back - low - 1)[63:48]
# jitlink-check: decode_operand(prel_g3_back, 2) = 48
# jitlink-check: (*{4}prel_g3_back)[30:29] = 0
# jitlink-check: decode_operand(prel_g3_fwd, 1) = (large - prel_g3_fwd)[63:48]
# jitlink-check: (*{4}prel_g3_fwd)[30:29] = 2
	.globl	prel_g3_back
prel_g3_back:
	movz	x0, #:prel_g3:low
	.size	prel_g3_back, .-prel_g3_back
	.globl	prel_g3_fwd
prel_g3_fwd:
	movz	x0, #:prel_g3:large
	.size	prel_g3_fwd, .-prel_g3_fwd

# The movk groups, unchecked, keep their opcode and write the bits of S + A - P.
# jitlink-check: decode_operand(prel_g2_nc, 2) = (low - prel_g2_nc)[47:32]
# jitlink-check: decode_operand(prel_g1_nc, 2) = (low - prel_g1_nc)[31:16]
# jitlink-check: decode_operand(prel_g0_nc, 2) = (low - prel_g0_nc + 4)[15:0]
# jitlink-check: (*{4}prel_g0_nc)[30:29] = 3
	.globl	prel_g2_nc
prel_g2_nc:
	movk	x0, #:prel_g2_nc:low
	.size	prel_g2_nc, .-prel_g2_nc
	.globl	prel_g1_nc
prel_g1_nc:
	movk	x0, #:prel_g1_nc:low
	.size	prel_g1_nc, .-prel_g1_nc
	.globl	prel_g0_nc
prel_g0_nc:
	movk	x0, #:prel_g0_nc:low + 4
	.size	prel_g0_nc, .-prel_g0_nc

# adrp without the range check (R_AARCH64_ADR_PREL_PG_HI21_NC): the page delta's low 21
# bits, even beyond ±4 GiB.
# jitlink-check: decode_operand(page_nc, 1)[20:0] = (large[63:12] - page_nc[63:12])[20:0]
# jitlink-check: decode_operand(page_nc_near, 1) = after[63:12] - page_nc_near[63:12]
	.globl	page_nc
page_nc:
	adrp	x0, :pg_hi21_nc:large
	.size	page_nc, .-page_nc
	.globl	page_nc_near
page_nc_near:
	adrp	x0, :pg_hi21_nc:after
	.size	page_nc_near, .-page_nc_near

	.section .text.after,"ax",@progbits
	.globl	after
	.p2align 2
after:
	ret
	.size	after, .-after
