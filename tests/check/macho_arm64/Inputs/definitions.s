# The strong definitions and the private extern weak_and_common.s links against.
	.section	__DATA,__data
	.globl	_overridden
	.p2align	3
_overridden:
	.quad	0x33

	.globl	_hidden_in_other
	.private_extern	_hidden_in_other
	.p2align	3
_hidden_in_other:
	.quad	0x44

	.comm	_shared_common, 24, 3

.subsections_via_symbols
