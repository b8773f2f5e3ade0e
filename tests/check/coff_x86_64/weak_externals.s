# JITLD-ONLY: llvm-jitlink-19 takes a weak external's default only from the weak external's
# own object ("Weak external symbol with external symbol as alternative not supported") and
# searches no library for one. In jitld a weak external binds to a definition of its name
# wherever one is (another object, another JITDylib), else to its default, for every object
# that refers to the name; `IMAGE_WEAK_EXTERN_SEARCH_LIBRARY` pulls the archive member that
# defines the name, `_NOLIBRARY` does not. A weak reference (an absolute 0 default) is null.
#
# RUN: llvm-mc-19 -triple=x86_64-pc-windows-msvc -filetype=obj -o %t/weak_externals.o %s
# RUN: llvm-mc-19 -triple=x86_64-pc-windows-msvc -filetype=obj -o %t/weak_externals_other.o %S/Inputs/weak_externals_other.s
# RUN: llvm-mc-19 -triple=x86_64-pc-windows-msvc -filetype=obj -o %t/weak_aliases.o %S/Inputs/weak_aliases.s
# RUN: llvm-mc-19 -triple=x86_64-pc-windows-msvc -filetype=obj -o %t/weak_externals_jd.o %S/Inputs/weak_externals_jd.s
# RUN: llvm-mc-19 -triple=x86_64-pc-windows-msvc -filetype=obj -o %t/weak_aliases_jd.o %S/Inputs/weak_aliases_jd.s
# RUN: yaml2obj-19 %S/Inputs/weak_flavours.yaml -o %t/weak_flavours.o
# RUN: llvm-mc-19 -triple=x86_64-pc-windows-msvc -filetype=obj -o %t/weak_searched.o %S/Inputs/weak_searched.s
# RUN: llvm-mc-19 -triple=x86_64-pc-windows-msvc -filetype=obj -o %t/weak_not_searched.o %S/Inputs/weak_not_searched.s
# RUN: llvm-ar-19 rcs %t/weak_library.a %t/weak_searched.o %t/weak_not_searched.o
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 4096 \
# RUN:   -check %s %t/weak_externals.o %t/weak_externals_other.o %t/weak_aliases.o %t/weak_flavours.o \
# RUN:   %t/weak_library.a -jd other %t/weak_externals_jd.o %t/weak_aliases_jd.o

	.text
	.globl	main
main:
	retq

# weak_aliases.s has the weak externals `aliased` and `overridden`, whose default is
# `default_func` (weak_externals_other.s's). The other objects refer to them (an assembler
# sends references in the weak external's own object to the default directly; C compilers
# and weak_flavours.yaml do not).
#
# `aliased` is defined nowhere: this object's references, the other object's and another
# JITDylib's reach its default.
# jitlink-check: *{8}pointers = default_func
# jitlink-check: *{8}other_pointers = default_func
# jitlink-check: *{8}jd_pointers = default_func
# jitlink-check: decode_operand(call_aliased, 0) = default_func - next_pc(call_aliased)
	.globl	call_aliased
call_aliased:
	callq	aliased
	retq

# `overridden` is defined by the other object: every reference reaches that definition.
# jitlink-check: *{8}(pointers + 8) = overridden
# jitlink-check: *{2}overridden = 0xc3c3
# jitlink-check: *{8}(other_pointers + 8) = overridden
# jitlink-check: *{8}(jd_pointers + 8) = overridden
# A weak reference nothing defines is null.
# jitlink-check: *{8}(pointers + 16) = 0
# `jd_weak` is a weak external of the other JITDylib (weak_aliases_jd.s) that this one
# defines.
# jitlink-check: *{8}(jd_pointers + 16) = jd_weak
# jitlink-check: *{4}jd_weak = 0x77778888
	.data
	.p2align	3
	.globl	pointers
pointers:
	.quad	aliased
	.quad	overridden
	.quad	weak_reference

	.weak	weak_reference

	.globl	jd_weak
jd_weak:
	.long	0x77778888

# The flavours (weak_flavours.yaml): `searched` (LIBRARY) pulls the archive member that
# defines it; `not_searched` (NOLIBRARY) takes its default, though a member defines it; a
# weak external without a default that nothing defines is null.
# jitlink-check: *{8}(flavour_pointers + 16) = 0
# jitlink-check: *{4}(*{8}flavour_pointers) = 0x11112222
# jitlink-check: *{4}(*{8}(flavour_pointers + 8)) = 0x33334444
# jitlink-check: *{8}(flavour_pointers + 8) = flavour_default
	.globl	flavour_default
flavour_default:
	.long	0x33334444
