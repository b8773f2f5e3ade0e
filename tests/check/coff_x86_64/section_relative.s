# SECREL and SECTION against symbols of this object: a thread-local variable's offset from
# the start of its `.tls$` section (in an instruction, as Windows code reaches one, and in
# data, with an addend), and the number of that section in the object.
#
# RUN: llvm-mc-19 -triple=x86_64-pc-windows-msvc -filetype=obj -o %t/section_relative.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 4096 \
# RUN:   -check %s %t/section_relative.o

	.text
	.globl	main
main:
	retq

# jitlink-check: *{4}(load_second + 2) = 8
	.globl	load_second
load_second:
	movl	tls_second@SECREL32(%rax), %eax
	retq

	.section	.tls$,"dw"
	.globl	tls_first
	.p2align	3
tls_first:
	.quad	1
	.globl	tls_second
tls_second:
	.quad	2

# jitlink-check: *{4}offsets = 8
# jitlink-check: *{4}(offsets + 4) = 12
# jitlink-check: *{4}(offsets + 8) = 0
# jitlink-check: *{2}(offsets + 12) = 4
	.data
	.globl	offsets
	.p2align	3
offsets:
	.secrel32	tls_second
	.secrel32	tls_second+4
	.secrel32	tls_first
	.secidx	tls_second
	.short	0
