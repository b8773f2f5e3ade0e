# The definition of `defined`, which wins over the first object's alternative.
	.text
	.globl	defined
defined:
	retq
