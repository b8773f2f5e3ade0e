	.data
	.globl	not_searched
not_searched:
	.long	0x55556666
