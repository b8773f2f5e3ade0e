	.text
	.globl	default_func
default_func:
	retq

	.globl	overridden
overridden:
	.short	0xc3c3

	.data
	.p2align	3
	.globl	other_pointers
other_pointers:
	.quad	aliased
	.quad	overridden
