# Weak and strong definitions across two objects, and common symbols: the strong
# definition of the other object wins over this one's weak one; a weak definition nobody
# overrides stands; commons are zero-filled at their alignment, one merged block for a
# name both objects declare.
#
# RUN: llvm-mc-19 -triple=x86_64-unknown-linux -filetype=obj -o %t/weak_and_common.o %s
# RUN: llvm-mc-19 -triple=x86_64-unknown-linux -filetype=obj -o %t/strong_definitions.o %S/Inputs/strong_definitions.s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0xfff00000 -slab-page-size 4096 \
# RUN:   -check %s %t/weak_and_common.o %t/strong_definitions.o

	.text
	.globl	main
	.type	main,@function
main:
	xorl	%eax, %eax
	retq
	.size	main, .-main

	.data
	.weak	overridden
	.p2align	3
overridden:
	.quad	1
	.size	overridden, 8

	.weak	standing
	.p2align	3
standing:
	.quad	3
	.size	standing, 8

# jitlink-check: *{8}overridden = 2
# jitlink-check: *{8}to_overridden = overridden
	.globl	to_overridden
to_overridden:
	.quad	overridden
	.size	to_overridden, 8

# jitlink-check: *{8}standing = 3
# jitlink-check: *{8}to_standing = standing
	.globl	to_standing
to_standing:
	.quad	standing
	.size	to_standing, 8

# jitlink-check: *{8}common_value = 0
# jitlink-check: common_value & 0x3f = 0
# jitlink-check: *{8}to_common = common_value
	.comm	common_value, 8, 64
	.globl	to_common
to_common:
	.quad	common_value
	.size	to_common, 8

# jitlink-check: shared_common & 0x7 = 0
# jitlink-check: *{8}to_shared_common = shared_common
	.comm	shared_common, 16, 8
	.globl	to_shared_common
to_shared_common:
	.quad	shared_common
	.size	to_shared_common, 8
