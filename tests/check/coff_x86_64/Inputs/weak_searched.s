	.data
	.globl	searched
searched:
	.long	0x11112222
