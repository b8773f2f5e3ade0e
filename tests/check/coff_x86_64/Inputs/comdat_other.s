# The second copy of `shared` (dropped), and the strong definition of `overridden`.
	.section	.text$shared,"xr",discard,shared
	.globl	shared
shared:
	movl	$2, %eax
	retq

	.data
	.p2align	3
	.globl	other_calls_shared
other_calls_shared:
	.quad	shared

	.globl	overridden
overridden:
	.long	0x22222222
