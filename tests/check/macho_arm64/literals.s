# JITLD-ONLY: llvm-jitlink-19 splits literal sections but keeps every copy; jitld gives
# identical literals of one object one block (as ld64 does), so their addresses are equal.
# Also: an atom that nothing references is dropped while its neighbours stay (subsections via
# symbols), and 8- and 16-byte literals keep their alignment.
#
# RUN: llvm-mc-19 -triple=arm64-apple-macosx11.0.0 -filetype=obj -o %t/literals.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 16384 \
# RUN:   -check %s %t/literals.o

	.section	__TEXT,__text,regular,pure_instructions
	.globl	_main
_main:
	ret

	.section	__TEXT,__cstring,cstring_literals
L_first:
	.asciz	"first"
L_second:
	.asciz	"second"
L_first_again:
	.asciz	"first"

	.section	__TEXT,__literal8,8byte_literals
	.p2align	3
L_pi:
	.quad	0x400921fb54442d18
L_pi_again:
	.quad	0x400921fb54442d18

	.section	__TEXT,__literal16,16byte_literals
	.p2align	4
L_vector:
	.quad	1
	.quad	2

	.section	__DATA,__data
	.p2align	3
# jitlink-check: *{8}_strings = *{8}(_strings + 16)
# jitlink-check: *{1}(*{8}_strings) = 0x66
# jitlink-check: *{1}(*{8}(_strings + 8)) = 0x73
	.globl	_strings
_strings:
	.quad	L_first
	.quad	L_second
	.quad	L_first_again

# jitlink-check: *{8}_doubles = *{8}(_doubles + 8)
# jitlink-check: (*{8}_doubles)[2:0] = 0
# jitlink-check: (*{8}(_doubles + 16))[3:0] = 0
	.globl	_doubles
_doubles:
	.quad	L_pi
	.quad	L_pi_again
	.quad	L_vector

.subsections_via_symbols
