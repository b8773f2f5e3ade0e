# JITLD-ONLY: llvm-jitlink-19 has no SECREL or SECTION against another object's symbol: the
# object that defines a thread-local variable publishes its offset in its `.tls$` section
# and that section's number, and references from other objects resolve to them.
#
# RUN: llvm-mc-19 -triple=x86_64-pc-windows-msvc -filetype=obj -o %t/section_relative_across_objects.o %s
# RUN: llvm-mc-19 -triple=x86_64-pc-windows-msvc -filetype=obj -o %t/section_relative_other.o %S/Inputs/section_relative_other.s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 4096 \
# RUN:   -check %s %t/section_relative_across_objects.o %t/section_relative_other.o

	.text
	.globl	main
main:
	retq

# jitlink-check: *{4}(load_counter + 2) = 16
	.globl	load_counter
load_counter:
	movl	counter@SECREL32(%rax), %eax
	retq

# jitlink-check: *{4}offsets = 16
# jitlink-check: *{4}(offsets + 4) = 20
# jitlink-check: *{2}(offsets + 8) = 4
	.data
	.globl	offsets
	.p2align	3
offsets:
	.secrel32	counter
	.secrel32	counter+4
	.secidx	counter
	.short	0
