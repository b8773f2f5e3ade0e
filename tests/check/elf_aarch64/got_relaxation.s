# JITLD-ONLY: llvm-jitlink-19 relaxes nothing on AArch64 (it would keep the GOT loads and call
# near externals through stubs) and rejects R_AARCH64_GOT_LD_PREL19 and
# R_AARCH64_LD64_GOTPAGE_LO15.
#
# GOT-load relaxation: `adrp x0, :got:sym; ldr x0, [x0, :got_lo12:sym]` becomes
# `adrp x0, sym; add x0, x0, :lo12:sym` when sym is within adrp's ±4 GiB (a definition of
# this object, or an external placed near), and stays a load through the entry when it is
# not. An external call in reach goes straight to it. Entries and stubs that relaxation
# left unused are still there, holding their targets. The GOT's other uses read the entry:
# R_AARCH64_GOT_LD_PREL19 (a literal load of the entry) and R_AARCH64_LD64_GOTPAGE_LO15
# (the entry's offset from the GOT's page, in words).
#
# RUN: llvm-mc-19 -triple=aarch64-unknown-linux-gnu -filetype=obj -o %t/got_relaxation.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 4096 \
# RUN:   -abs near_func=0x10100000 -abs near_data=0x10200008 -abs far_data=0x7fff00002008 \
# RUN:   -check %s %t/got_relaxation.o

	.text
	.globl	main
	.p2align 2
	.type	main,@function
main:
	mov	w0, wzr
	ret
	.size	main, .-main

# A defined symbol: adrp of its own page, then `add x0, x0, #lo12` (0x91 in bits 31:24).
# jitlink-check: decode_operand(relax_defined, 1) = named_data[63:12] - relax_defined[63:12]
# jitlink-check: decode_operand(relax_defined + 4, 2) = named_data[11:0]
# jitlink-check: decode_operand(relax_defined + 4, 3) = 0
# jitlink-check: (*{4}(relax_defined + 4))[31:24] = 0x91
# jitlink-check: *{8}(got_addr(got_relaxation.o, named_data)) = named_data
	.globl	relax_defined
relax_defined:
	adrp	x0, :got:named_data
	ldr	x0, [x0, :got_lo12:named_data]
	.size	relax_defined, .-relax_defined

# An external in reach, loaded into other registers: the add keeps them.
# jitlink-check: decode_operand(relax_near, 1) = near_data[63:12] - relax_near[63:12]
# jitlink-check: decode_operand(relax_near + 4, 2) = near_data[11:0]
# jitlink-check: (*{4}(relax_near + 4)) & 0xffc003ff = 0x910000e3
# jitlink-check: *{8}(got_addr(got_relaxation.o, near_data)) = near_data
	.globl	relax_near
relax_near:
	adrp	x7, :got:near_data
	ldr	x3, [x7, :got_lo12:near_data]
	.size	relax_near, .-relax_near

# Beyond ±4 GiB: still `ldr x0, [x0, #off]` (0xf94 in bits 31:20) of the entry.
# jitlink-check: decode_operand(keep_far, 1) = got_addr(got_relaxation.o, far_data)[63:12] - keep_far[63:12]
# jitlink-check: decode_operand(keep_far + 4, 2) = got_addr(got_relaxation.o, far_data)[11:3]
# jitlink-check: (*{4}(keep_far + 4))[31:20] = 0xf94
# jitlink-check: *{8}(got_addr(got_relaxation.o, far_data)) = far_data
	.globl	keep_far
keep_far:
	adrp	x0, :got:far_data
	ldr	x0, [x0, :got_lo12:far_data]
	.size	keep_far, .-keep_far

# A call in reach goes straight to the external; its stub exists all the same.
# jitlink-check: decode_operand(call_near, 0) << 2 = near_func - call_near
# jitlink-check: *{8}(got_addr(got_relaxation.o, near_func)) = near_func
# jitlink-check: *{4}(stub_addr(got_relaxation.o, near_func) + 8) = 0xd61f0200
	.globl	call_near
call_near:
	bl	near_func
	.size	call_near, .-call_near

# ldr x0, :got:sym: the entry's distance in words.
# jitlink-check: decode_operand(got_literal, 1) << 2 = got_addr(got_relaxation.o, other_data) - got_literal
# jitlink-check: *{8}(got_addr(got_relaxation.o, other_data)) = other_data
	.globl	got_literal
got_literal:
	ldr	x0, :got:other_data
	.size	got_literal, .-got_literal

# The GOT's page, then the entry's offset from it in words.
# jitlink-check: decode_operand(got_page_base, 1) = _GLOBAL_OFFSET_TABLE_[63:12] - got_page_base[63:12]
# jitlink-check: decode_operand(got_page_base + 4, 2) = \
# jitlink-check:     (got_addr(got_relaxation.o, third_data) - (_GLOBAL_OFFSET_TABLE_[63:12] << 12)) >> 3
# jitlink-check: *{8}(got_addr(got_relaxation.o, third_data)) = third_data
	.globl	got_page_base
got_page_base:
	adrp	x0, _GLOBAL_OFFSET_TABLE_
	ldr	x1, [x0, #:gotpage_lo15:third_data]
	.size	got_page_base, .-got_page_base

	.data
	.globl	named_data, other_data, third_data
	.p2align 3
named_data:
	.quad	1
	.size	named_data, 8
other_data:
	.quad	2
	.size	other_data, 8
third_data:
	.quad	3
	.size	third_data, 8
