# JITLD-ONLY: llvm-jitlink-19 rejects R_AARCH64_ABS16, R_AARCH64_PREL16 and R_AARCH64_PLT32
# ("Unsupported aarch64 relocation").
#
# 16-bit data fields and PLT32: R_AARCH64_ABS16 (an absolute that fits 16 bits, read
# either way), R_AARCH64_PREL16 (a nearby distance), with addends; R_AARCH64_PLT32 (a
# function's 32-bit distance, as relative vtables hold), straight to a defined function or
# an external in reach, and to the stub of an external beyond ±2 GiB.
#
# RUN: llvm-mc-19 -triple=aarch64-unknown-linux-gnu -filetype=obj -o %t/small_fields.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 4096 \
# RUN:   -abs small=0x1234 -abs near_func=0x10100000 -abs far_func=0x7fff00001000 \
# RUN:   -check %s %t/small_fields.o

	.text
	.globl	main
	.p2align 2
	.type	main,@function
main:
	mov	w0, wzr
	ret
	.size	main, .-main

	.section .rodata,"a",@progbits
	.globl	nearby
	.p2align 3
nearby:
	.quad	7
	.size	nearby, 8

	.data
# jitlink-check: *{2}abs16 = small
# jitlink-check: *{2}(abs16 + 2) = small + 0x10
# jitlink-check: *{2}(abs16 + 4) = small - 0x1000
# jitlink-check: *{2}(abs16 + 6) = 0xfff0
	.globl	abs16
	.p2align 1
abs16:
	.hword	small
	.hword	small + 0x10
	.hword	small - 0x1000
	.hword	small - 0x1244
	.size	abs16, .-abs16

# jitlink-check: *{2}prel16 = (nearby - prel16)[15:0]
# jitlink-check: *{2}(prel16 + 2) = (nearby - prel16 + 6)[15:0]
# jitlink-check: *{2}(prel16 + 4) = (nearby - prel16 - 0x24)[15:0]
	.globl	prel16
	.p2align 1
prel16:
	.hword	nearby - .
	.hword	nearby + 8 - .
	.hword	nearby - 0x20 - .
	.size	prel16, .-prel16

# jitlink-check: *{4}plt32 = (main - plt32)[31:0]
# jitlink-check: *{4}(plt32 + 4) = (near_func - plt32 - 4)[31:0]
# jitlink-check: *{4}(plt32 + 8) = (stub_addr(small_fields.o, far_func) - plt32 - 8)[31:0]
# jitlink-check: *{8}(got_addr(small_fields.o, far_func)) = far_func
# jitlink-check: *{4}(plt32 + 12) = (main - plt32 - 4)[31:0]
	.globl	plt32
	.p2align 2
plt32:
	.word	main@PLT - .
	.word	near_func@PLT - .
	.word	far_func@PLT - .
	.word	main@PLT - . + 8
	.size	plt32, .-plt32
