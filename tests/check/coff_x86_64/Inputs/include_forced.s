	.data
	.globl	forced
forced:
	.long	0xf0f0f0f0
