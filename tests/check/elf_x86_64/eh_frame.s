# .eh_frame: the FDE of a function records where the function starts (a PC-relative
# R_X86_64_PC32 to it) and its length. The CIE comes first: 4 bytes of length, then 0x14
# bytes; then the FDE: length, CIE pointer, PC begin, PC range.
#
# RUN: llvm-mc-19 -triple=x86_64-unknown-linux -filetype=obj -o %t/eh_frame.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0xfff00000 -slab-page-size 4096 \
# RUN:   -check %s %t/eh_frame.o

# jitlink-check: *{4}(section_addr(eh_frame.o, .eh_frame)) = 0x14
# jitlink-check: *{4}(section_addr(eh_frame.o, .eh_frame) + 0x18) = 0x14
# jitlink-check: *{4}(section_addr(eh_frame.o, .eh_frame) + 0x1c) = 0x1c
# jitlink-check: *{4}(section_addr(eh_frame.o, .eh_frame) + 0x20) = \
# jitlink-check:     (main - section_addr(eh_frame.o, .eh_frame) - 0x20)[31:0]
# jitlink-check: *{4}(section_addr(eh_frame.o, .eh_frame) + 0x24) = 5

	.text
	.globl	main
	.type	main,@function
main:
	.cfi_startproc
	pushq	%rbp
	.cfi_def_cfa_offset 16
	xorl	%eax, %eax
	popq	%rbp
	.cfi_def_cfa_offset 8
	retq
	.cfi_endproc
	.size	main, .-main
