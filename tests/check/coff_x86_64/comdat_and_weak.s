# COMDAT sections and weak externals across two COFF objects: of two `discard` (ANY) copies
# of a function the first is kept and both objects call it; a weak external with a default in this object is overridden by the
# other object's strong definition, and one nobody overrides takes its default. (Associative
# sections: beyond_llvm_jitlink.s.)
#
# RUN: llvm-mc-19 -triple=x86_64-pc-windows-msvc -filetype=obj -o %t/comdat_and_weak.o %s
# RUN: llvm-mc-19 -triple=x86_64-pc-windows-msvc -filetype=obj -o %t/comdat_other.o %S/Inputs/comdat_other.s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 4096 \
# RUN:   -check %s %t/comdat_and_weak.o %t/comdat_other.o

	.text
	.globl	main
main:
	retq

	.section	.text$shared,"xr",discard,shared
	.globl	shared
shared:
	movl	$1, %eax
	retq

	.data
	.p2align	3
# jitlink-check: *{8}calls_shared = shared
# jitlink-check: *{8}calls_shared = *{8}other_calls_shared
	.globl	calls_shared
calls_shared:
	.quad	shared

# jitlink-check: *{8}points_at_overridden = overridden
# jitlink-check: *{4}overridden = 0x22222222
	.globl	points_at_overridden
points_at_overridden:
	.quad	overridden

# jitlink-check: *{8}points_at_kept = kept_default
	.globl	points_at_kept
points_at_kept:
	.quad	kept

	.weak	overridden
overridden:
	.long	0x33333333
	.weak	kept
kept:
	.globl	kept_default
kept_default:
	.long	0x44444444
