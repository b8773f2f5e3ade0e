# `/include:sym` in `.drectve`: linking the object links `sym`, which pulls the archive
# member that defines it though nothing refers to it.
#
# RUN: llvm-mc-19 -triple=x86_64-pc-windows-msvc -filetype=obj -o %t/include.o %s
# RUN: llvm-mc-19 -triple=x86_64-pc-windows-msvc -filetype=obj -o %t/include_forced.o %S/Inputs/include_forced.s
# RUN: llvm-ar-19 rcs %t/include_forced.a %t/include_forced.o
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 4096 \
# RUN:   -check %s %t/include.o %t/include_forced.a

	.text
	.globl	main
main:
	retq

# jitlink-check: *{4}forced = 0xf0f0f0f0
	.section	.drectve,"yn"
	.ascii	" /include:forced"
