# A copy of `unwound` that loses: its unwind record goes with it, and with that the
# reference to a name defined nowhere.
	.section	.text$unwound,"xr",discard,unwound
	.globl	unwound
unwound:
	movl	$2, %eax
	retq

	.section	.xdata$unwound,"dr",associative,unwound
	.quad	only_in_the_dropped_copy

	.data
	.p2align	3
	.globl	other_calls_unwound
other_calls_unwound:
	.quad	unwound
