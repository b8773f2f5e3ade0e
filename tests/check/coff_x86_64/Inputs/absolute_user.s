	.data
	.p2align	3
	.globl	points_at_absolute
points_at_absolute:
	.quad	absolute_value
	.quad	absolute_value+8
	.long	absolute_value-8
