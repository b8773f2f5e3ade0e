# The callee of far_branch.s: a function, then 129 MiB of zeros, so that whichever object
# is placed first, the other's code is more than 128 MiB past its own.
	.text
	.globl	far_callee
	.p2align 2
	.type	far_callee,@function
far_callee:
	ret
	.size	far_callee, .-far_callee

	.bss
	.globl	callee_padding
	.p2align 4
callee_padding:
	.zero	0x8100000
	.size	callee_padding, .-callee_padding
