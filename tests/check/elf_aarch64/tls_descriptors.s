# TLS descriptors, gcc's default model on AArch64: `adrp x0, :tlsdesc:v` (the descriptor's
# page, R_AARCH64_TLSDESC_ADR_PAGE21), `ldr x1, [x0, :tlsdesc_lo12:v]` (its resolver,
# R_AARCH64_TLSDESC_LD64_LO12, in words), `add x0, x0, :tlsdesc_lo12:v`
# (R_AARCH64_TLSDESC_ADD_LO12, in bytes), `blr x1` (R_AARCH64_TLSDESC_CALL, which changes
# nothing). The linkers differ in what the descriptor holds (llvm-jitlink's points at the
# ORC runtime's __tlsdesc_resolver, given here as an absolute; jitld's at a resolver of its
# own: see tls.s), so this checks where the three instructions point: each variable gets one
# descriptor, 16 bytes, which all three agree on.
#
# RUN: llvm-mc-19 -triple=aarch64-unknown-linux-gnu -filetype=obj -o %t/tls_descriptors.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 4096 \
# RUN:   -abs __tlsdesc_resolver=0x10080000 -check %s %t/tls_descriptors.o

	.text
	.globl	main
	.p2align 2
	.type	main,@function
main:
	mov	w0, wzr
	ret
	.size	main, .-main

# The descriptor's address from adrp and ldr, and from adrp and add, agree.
# jitlink-check: decode_operand(first + 4, 2) << 3 = decode_operand(first + 8, 2)
# jitlink-check: decode_operand(second + 4, 2) << 3 = decode_operand(second + 8, 2)
# The two descriptors are next to each other, in either order (llvm-jitlink's varies from
# run to run): their distance plus 16 is 0 or 32, so clearing bit 5 leaves 0.
# jitlink-check: (((second >> 12) + decode_operand(second, 1) << 12) + decode_operand(second + 8, 2) - \
# jitlink-check:   ((first >> 12) + decode_operand(first, 1) << 12) - decode_operand(first + 8, 2) + 0x10) \
# jitlink-check:   & 0xffffffffffffffdf = 0
	.globl	first
	.p2align 2
first:
	adrp	x0, :tlsdesc:tv_first
	ldr	x1, [x0, :tlsdesc_lo12:tv_first]
	add	x0, x0, :tlsdesc_lo12:tv_first
	.tlsdesccall tv_first
	blr	x1
	ret
	.size	first, .-first

	.globl	second
	.p2align 2
second:
	adrp	x0, :tlsdesc:tv_second
	ldr	x1, [x0, :tlsdesc_lo12:tv_second]
	add	x0, x0, :tlsdesc_lo12:tv_second
	.tlsdesccall tv_second
	blr	x1
	ret
	.size	second, .-second

	.section .tbss,"awT",@nobits
	.globl	tv_first, tv_second
	.p2align 3
tv_first:
	.zero	8
	.size	tv_first, 8
tv_second:
	.zero	8
	.size	tv_second, 8
