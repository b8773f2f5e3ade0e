# `/alternatename:a=b` in `.drectve`: references to `a` go to `a` when any object defines it,
# and to `b` only when none does. Here `defined` is defined by the other object (which wins
# over the alternative) and `missing` by nobody.
#
# RUN: llvm-mc-19 -triple=x86_64-pc-windows-msvc -filetype=obj -o %t/alternatename.o %s
# RUN: llvm-mc-19 -triple=x86_64-pc-windows-msvc -filetype=obj -o %t/alternatename_definition.o %S/Inputs/alternatename_definition.s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 4096 \
# RUN:   -check %s %t/alternatename.o %t/alternatename_definition.o

	.text
	.globl	main
main:
	retq

	.globl	alternative
alternative:
	retq

# jitlink-check: *{8}pointers = defined
# jitlink-check: *{8}(pointers + 8) = alternative
# jitlink-check: decode_operand(call_missing, 0) = alternative - next_pc(call_missing)
	.globl	call_missing
call_missing:
	callq	missing
	retq

	.data
	.globl	pointers
	.p2align	3
pointers:
	.quad	defined
	.quad	missing

	.section	.drectve,"yn"
	.ascii	" /alternatename:defined=alternative /alternatename:missing=alternative"
