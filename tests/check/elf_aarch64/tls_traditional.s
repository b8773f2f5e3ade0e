# JITLD-ONLY: llvm-jitlink-19 has no R_AARCH64_TLSGD_* or R_AARCH64_TLSLD_*, and llvm-mc-19
# cannot assemble them (`:tlsgd:`), so GNU as does.
#
# The traditional dialect (gcc -mtls-dialect=trad). General-dynamic: `adrp x0, :tlsgd:v;
# add x0, x0, :tlsgd_lo12:v; bl __tls_get_addr` passes the address of a `tls_index` pair
# (R_AARCH64_TLSGD_ADR_PAGE21, R_AARCH64_TLSGD_ADD_LO12_NC); jitld's pairs hold its static
# module id and the variable's offset from the thread pointer. Local-dynamic asks for the
# graph's block the same way (R_AARCH64_TLSLD_ADR_PAGE21, R_AARCH64_TLSLD_ADD_LO12_NC) and
# adds each variable's offset in the block (R_AARCH64_TLSLD_ADD_DTPREL_HI12 and
# _LO12_NC).
#
# RUN: aarch64-linux-gnu-as -o %t/tls_traditional.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 4096 \
# RUN:   -check %s %t/tls_traditional.o

	.text
	.globl	main
	.p2align 2
	.type	main,@function
main:
	mov	w0, wzr
	ret
	.size	main, .-main

# jitlink-check: *{8}(((general >> 12) + decode_operand(general, 1) << 12) + decode_operand(general + 4, 2)) = \
# jitlink-check:     0x6a69746c64544c53
# jitlink-check: *{8}(((general >> 12) + decode_operand(general, 1) << 12) + decode_operand(general + 4, 2) + 8) = tv_b
	.globl	general
	.p2align 2
general:
	adrp	x0, :tlsgd:tv_b
	add	x0, x0, :tlsgd_lo12:tv_b
	bl	__tls_get_addr
	nop
	ret
	.size	general, .-general

# The block's pair holds the block's offset, which is its first variable's; tv_b is 8 into it.
# jitlink-check: *{8}(((local_dynamic >> 12) + decode_operand(local_dynamic, 1) << 12) + decode_operand(local_dynamic + 4, 2)) = \
# jitlink-check:     0x6a69746c64544c53
# jitlink-check: *{8}(((local_dynamic >> 12) + decode_operand(local_dynamic, 1) << 12) + decode_operand(local_dynamic + 4, 2) + 8) = tv_a
# jitlink-check: decode_operand(local_dynamic + 12, 2) = (tv_b - tv_a)[23:12]
# jitlink-check: decode_operand(local_dynamic + 12, 3) = 12
# jitlink-check: decode_operand(local_dynamic + 16, 2) = (tv_b - tv_a)[11:0]
# jitlink-check: decode_operand(local_dynamic + 16, 2) = 8
	.globl	local_dynamic
	.p2align 2
local_dynamic:
	adrp	x0, :tlsldm:tv_b
	add	x0, x0, :tlsldm_lo12_nc:tv_b
	bl	__tls_get_addr
	add	x0, x0, :dtprel_hi12:tv_b, lsl #12
	add	x0, x0, :dtprel_lo12_nc:tv_b
	ret
	.size	local_dynamic, .-local_dynamic

	.section .tbss,"awT",@nobits
	.globl	tv_a, tv_b
	.p2align 3
tv_a:
	.zero	8
	.size	tv_a, 8
tv_b:
	.zero	8
	.size	tv_b, 8
