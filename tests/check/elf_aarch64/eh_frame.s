# .eh_frame: each function's FDE records where the function starts (an R_AARCH64_PREL32 to
# it) and its length, and points back at the CIE (a distance the linker keeps, as an edge of
# the architecture's kind). The CIE comes first: 4 bytes of length, then 0x10 bytes; then
# each FDE: length, CIE pointer, PC begin, PC range, instructions.
#
# RUN: llvm-mc-19 -triple=aarch64-unknown-linux-gnu -filetype=obj -o %t/eh_frame.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 4096 \
# RUN:   -check %s %t/eh_frame.o

# The CIE: length, CIE id 0, version 1, "zR".
# jitlink-check: *{4}(section_addr(eh_frame.o, .eh_frame)) = 0x10
# jitlink-check: *{4}(section_addr(eh_frame.o, .eh_frame) + 4) = 0
# jitlink-check: *{4}(section_addr(eh_frame.o, .eh_frame) + 8) = 0x527a01
# main's FDE.
# jitlink-check: *{4}(section_addr(eh_frame.o, .eh_frame) + 0x14) = 0x18
# jitlink-check: *{4}(section_addr(eh_frame.o, .eh_frame) + 0x18) = 0x18
# jitlink-check: *{4}(section_addr(eh_frame.o, .eh_frame) + 0x1c) = \
# jitlink-check:     (main - section_addr(eh_frame.o, .eh_frame) - 0x1c)[31:0]
# jitlink-check: *{4}(section_addr(eh_frame.o, .eh_frame) + 0x20) = 0x10
# helper's FDE, in another section.
# jitlink-check: *{4}(section_addr(eh_frame.o, .eh_frame) + 0x30) = 0x14
# jitlink-check: *{4}(section_addr(eh_frame.o, .eh_frame) + 0x34) = 0x34
# jitlink-check: *{4}(section_addr(eh_frame.o, .eh_frame) + 0x38) = \
# jitlink-check:     (helper - section_addr(eh_frame.o, .eh_frame) - 0x38)[31:0]
# jitlink-check: *{4}(section_addr(eh_frame.o, .eh_frame) + 0x3c) = 8

	.text
	.globl	main
	.p2align 2
	.type	main,@function
main:
	.cfi_startproc
	stp	x29, x30, [sp, #-16]!
	.cfi_def_cfa_offset 16
	.cfi_offset w30, -8
	.cfi_offset w29, -16
	mov	w0, wzr
	ldp	x29, x30, [sp], #16
	.cfi_def_cfa_offset 0
	ret
	.cfi_endproc
	.size	main, .-main

	.section .text.helper,"ax",@progbits
	.globl	helper
	.p2align 2
	.type	helper,@function
helper:
	.cfi_startproc
	mov	w0, #1
	ret
	.cfi_endproc
	.size	helper, .-helper
