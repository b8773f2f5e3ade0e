# `counter`, 16 bytes into this object's `.tls$` section, its fourth (after .text, .data, .bss).
	.text
	.globl	other_function
other_function:
	retq

	.data
	.long	0

	.section	.tls$,"dw"
	.p2align	3
	.quad	1
	.quad	2
	.globl	counter
counter:
	.quad	3
