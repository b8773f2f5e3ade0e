# JITLD-ONLY: llvm-jitlink-19 refuses an object that defines a global absolute symbol
# ("Missing definitions in module"). In jitld it is a definition like any other: another
# object's references reach its value, with their addends.
#
# RUN: llvm-mc-19 -triple=x86_64-pc-windows-msvc -filetype=obj -o %t/absolute_symbols.o %s
# RUN: llvm-mc-19 -triple=x86_64-pc-windows-msvc -filetype=obj -o %t/absolute_user.o %S/Inputs/absolute_user.s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 4096 \
# RUN:   -check %s %t/absolute_symbols.o %t/absolute_user.o

	.text
	.globl	main
main:
	retq

# jitlink-check: absolute_value = 0x12345678
# jitlink-check: *{8}points_at_absolute = 0x12345678
# jitlink-check: *{8}(points_at_absolute + 8) = 0x12345680
# jitlink-check: *{4}(points_at_absolute + 16) = 0x12345670
	.globl	absolute_value
	.set	absolute_value, 0x12345678
