	.comm	shared_common, 48

	.data
	.p2align	3
	.globl	other_points_at_common
other_points_at_common:
	.quad	shared_common
