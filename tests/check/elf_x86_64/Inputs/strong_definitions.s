# The strong definitions and the second common for weak_and_common.s.
	.data
	.globl	overridden
	.p2align	3
overridden:
	.quad	2
	.size	overridden, 8

	.comm	shared_common, 32, 16
