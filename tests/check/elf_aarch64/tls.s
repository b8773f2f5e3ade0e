# JITLD-ONLY: llvm-jitlink-19 rejects R_AARCH64_TLSLE_* and R_AARCH64_TLSIE_* ("Unsupported
# aarch64 relocation"), and its TLS descriptors point at the ORC runtime's resolver.
#
# Thread-local storage in the static models and descriptors. A thread-local symbol's
# address is its offset from the thread pointer (tpidr_el0); AArch64 puts static blocks
# after the 16-byte thread control block (TLS variant I), so offsets are positive.
# Local-exec writes the offset: R_AARCH64_TLSLE_ADD_TPREL_HI12 (bits 23:12, an add with
# lsl 12) and _LO12/_LO12_NC, the load/store forms _LDST8..128_TPREL_LO12(_NC) (scaled),
# and the move-wide groups _MOVW_TPREL_G2/G1/G0 and the _NC movk's. Initial-exec loads it
# from a GOT entry (R_AARCH64_TLSIE_ADR_GOTTPREL_PAGE21, _LD64_GOTTPREL_LO12_NC,
# _LD_GOTTPREL_PREL19). A descriptor is {resolver, offset}: jitld's resolver is
# `ldr x0, [x0, #8]; ret`, which hands back the second word.
#
# RUN: llvm-mc-19 -triple=aarch64-unknown-linux-gnu -filetype=obj -o %t/tls.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 4096 \
# RUN:   -check %s %t/tls.o

	.text
	.globl	main
	.p2align 2
	.type	main,@function
main:
	mov	w0, wzr
	ret
	.size	main, .-main

# Past the thread control block, in order, aligned.
# jitlink-check: tv_first = 16
# jitlink-check: tv_second = 24
# jitlink-check: tv_wide = 32

# jitlink-check: decode_operand(local_exec, 2) = tv_second[23:12]
# jitlink-check: decode_operand(local_exec, 3) = 12
# jitlink-check: decode_operand(local_exec + 4, 2) = tv_second[11:0]
# jitlink-check: decode_operand(local_exec + 8, 2) = (tv_second + 4)[11:0]
	.globl	local_exec
local_exec:
	add	x0, x1, #:tprel_hi12:tv_second, lsl #12
	add	x0, x0, #:tprel_lo12_nc:tv_second
	add	x2, x1, #:tprel_lo12:tv_second + 4
	.size	local_exec, .-local_exec

# Loads and stores at the offset, scaled by their size.
# jitlink-check: decode_operand(local_exec_ldst, 2) = tv_first[11:0]
# jitlink-check: decode_operand(local_exec_ldst + 4, 2) = (tv_first + 2)[11:1]
# jitlink-check: decode_operand(local_exec_ldst + 8, 2) = (tv_second + 4)[11:2]
# jitlink-check: decode_operand(local_exec_ldst + 12, 2) = tv_second[11:3]
# jitlink-check: decode_operand(local_exec_ldst + 16, 2) = tv_wide[11:4]
# jitlink-check: decode_operand(local_exec_ldst + 20, 2) = (tv_first + 1)[11:0]
# jitlink-check: decode_operand(local_exec_ldst + 24, 2) = (tv_first + 6)[11:1]
# jitlink-check: decode_operand(local_exec_ldst + 28, 2) = tv_first[11:2]
# jitlink-check: decode_operand(local_exec_ldst + 32, 2) = tv_first[11:3]
# jitlink-check: decode_operand(local_exec_ldst + 36, 2) = tv_wide[11:4]
	.globl	local_exec_ldst
local_exec_ldst:
	ldrb	w0, [x1, #:tprel_lo12:tv_first]
	ldrh	w0, [x1, #:tprel_lo12:tv_first + 2]
	ldr	w0, [x1, #:tprel_lo12:tv_second + 4]
	ldr	x0, [x1, #:tprel_lo12:tv_second]
	ldr	q0, [x1, #:tprel_lo12:tv_wide]
	strb	w0, [x1, #:tprel_lo12_nc:tv_first + 1]
	strh	w0, [x1, #:tprel_lo12_nc:tv_first + 6]
	str	w0, [x1, #:tprel_lo12_nc:tv_first]
	str	x0, [x1, #:tprel_lo12_nc:tv_first]
	str	q0, [x1, #:tprel_lo12_nc:tv_wide]
	.size	local_exec_ldst, .-local_exec_ldst

# The move-wide groups: g2 and g1 are movz (the offset is not negative), g0_nc and g1_nc movk.
# jitlink-check: decode_operand(local_exec_movw, 1) = tv_wide[47:32]
# jitlink-check: (*{4}local_exec_movw)[30:29] = 2
# jitlink-check: decode_operand(local_exec_movw + 4, 2) = tv_wide[31:16]
# jitlink-check: decode_operand(local_exec_movw + 8, 2) = (tv_wide + 8)[15:0]
# jitlink-check: decode_operand(local_exec_movw + 12, 1) = tv_second[31:16]
# jitlink-check: decode_operand(local_exec_movw + 16, 1) = tv_second[15:0]
	.globl	local_exec_movw
local_exec_movw:
	movz	x0, #:tprel_g2:tv_wide
	movk	x0, #:tprel_g1_nc:tv_wide
	movk	x0, #:tprel_g0_nc:tv_wide + 8
	movz	x1, #:tprel_g1:tv_second
	movz	x1, #:tprel_g0:tv_second
	.size	local_exec_movw, .-local_exec_movw

# Initial-exec: the GOT entry holds the offset.
# jitlink-check: decode_operand(initial_exec, 1) = got_addr(tls.o, tv_first)[63:12] - initial_exec[63:12]
# jitlink-check: decode_operand(initial_exec + 4, 2) = got_addr(tls.o, tv_first)[11:3]
# jitlink-check: *{8}(got_addr(tls.o, tv_first)) = tv_first
# jitlink-check: decode_operand(initial_exec_literal, 1) << 2 = got_addr(tls.o, tv_second) - initial_exec_literal
# jitlink-check: *{8}(got_addr(tls.o, tv_second)) = tv_second
	.globl	initial_exec
initial_exec:
	adrp	x0, :gottprel:tv_first
	ldr	x0, [x0, #:gottprel_lo12:tv_first]
	.size	initial_exec, .-initial_exec
	.globl	initial_exec_literal
initial_exec_literal:
	ldr	x0, :gottprel:tv_second
	.size	initial_exec_literal, .-initial_exec_literal

# A descriptor: adrp and ldr and add name it; its first word is the resolver (whose first
# instruction is `ldr x0, [x0, #8]`), its second the offset.
# jitlink-check: decode_operand(descriptor + 4, 2) << 3 = decode_operand(descriptor + 8, 2)
# jitlink-check: *{8}(((descriptor >> 12) + decode_operand(descriptor, 1) << 12) + decode_operand(descriptor + 8, 2) + 8) = tv_wide
# jitlink-check: *{4}(*{8}(((descriptor >> 12) + decode_operand(descriptor, 1) << 12) + decode_operand(descriptor + 8, 2))) = 0xf9400400
# jitlink-check: *{4}((*{8}(((descriptor >> 12) + decode_operand(descriptor, 1) << 12) + decode_operand(descriptor + 8, 2))) + 4) = 0xd65f03c0
	.globl	descriptor
descriptor:
	adrp	x0, :tlsdesc:tv_wide
	ldr	x1, [x0, :tlsdesc_lo12:tv_wide]
	add	x0, x0, :tlsdesc_lo12:tv_wide
	.tlsdesccall tv_wide
	blr	x1
	mrs	x1, tpidr_el0
	add	x0, x0, x1
	ret
	.size	descriptor, .-descriptor

	.section .tdata,"awT",@progbits
	.globl	tv_first, tv_second
	.p2align 3
tv_first:
	.quad	0x1111
	.size	tv_first, 8
tv_second:
	.quad	0x2222
	.size	tv_second, 8

	.section .tbss,"awT",@nobits
	.globl	tv_wide
	.p2align 4
tv_wide:
	.zero	16
	.size	tv_wide, 16
