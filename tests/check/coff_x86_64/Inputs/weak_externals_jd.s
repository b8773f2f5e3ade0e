	.data
	.p2align	3
	.globl	jd_pointers
jd_pointers:
	.quad	aliased
	.quad	overridden
	.quad	jd_weak

	.globl	jd_default
jd_default:
	.long	0
