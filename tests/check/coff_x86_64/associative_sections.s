# JITLD-ONLY: llvm-jitlink-19 keeps the associative sections of a COMDAT copy that lost, so
# the other object, whose unwind record refers to a name defined nowhere, does not link.
# jitld drops an associative section (`.pdata`/`.xdata` unwind records) with its leader and
# keeps it with the one that wins (beyond_llvm_jitlink.s).
#
# RUN: llvm-mc-19 -triple=x86_64-pc-windows-msvc -filetype=obj -o %t/associative_sections.o %s
# RUN: llvm-mc-19 -triple=x86_64-pc-windows-msvc -filetype=obj -o %t/associative_other.o %S/Inputs/associative_other.s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 4096 \
# RUN:   -check %s %t/associative_sections.o %t/associative_other.o

	.text
	.globl	main
main:
	retq

# This object's copy of `unwound` (returning 1) wins; both objects call it.
# jitlink-check: *{8}calls_unwound = unwound
# jitlink-check: *{8}other_calls_unwound = unwound
# jitlink-check: *{1}(unwound + 1) = 1
	.section	.text$unwound,"xr",discard,unwound
	.globl	unwound
unwound:
	movl	$1, %eax
	retq

	.section	.xdata$unwound,"dr",associative,unwound
	.quad	unwound

	.data
	.p2align	3
	.globl	calls_unwound
calls_unwound:
	.quad	unwound
