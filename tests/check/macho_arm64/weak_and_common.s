# Weak definitions, weak references, private externs and commons across two MachO objects:
# the other object's strong definition wins over this weak one; a weak definition nobody
# overrides stands; a weak reference to a missing symbol is 0; commons are zero-filled at
# their alignment (the larger size of two declarations); a private extern is reached from
# the other object.
#
# RUN: llvm-mc-19 -triple=arm64-apple-macosx11.0.0 -filetype=obj -o %t/weak_and_common.o %s
# RUN: llvm-mc-19 -triple=arm64-apple-macosx11.0.0 -filetype=obj -o %t/definitions.o %S/Inputs/definitions.s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 16384 \
# RUN:   -check %s %t/weak_and_common.o %t/definitions.o

	.section	__TEXT,__text,regular,pure_instructions
	.globl	_main
_main:
	ret

	.section	__DATA,__data
	.globl	_overridden
	.weak_definition	_overridden
	.p2align	3
_overridden:
	.quad	1

	.globl	_kept
	.weak_definition	_kept
	.p2align	3
_kept:
	.quad	2

# jitlink-check: *{8}_points_at_overridden = _overridden
# jitlink-check: *{8}_overridden = 0x33
	.globl	_points_at_overridden
_points_at_overridden:
	.quad	_overridden

# jitlink-check: *{8}_points_at_kept = _kept
# jitlink-check: *{8}_kept = 2
	.globl	_points_at_kept
_points_at_kept:
	.quad	_kept

# jitlink-check: *{8}_points_at_hidden = _hidden_in_other
	.globl	_points_at_hidden
_points_at_hidden:
	.quad	_hidden_in_other

# jitlink-check: *{8}_points_at_common = _shared_common
# jitlink-check: _shared_common[3:0] = 0
# jitlink-check: *{8}_shared_common = 0
	.globl	_points_at_common
_points_at_common:
	.quad	_shared_common

	.comm	_shared_common, 8, 4

# jitlink-check: *{8}_points_at_missing = 0
	.weak_reference	_missing_weak
	.globl	_points_at_missing
_points_at_missing:
	.quad	_missing_weak
