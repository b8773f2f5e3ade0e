# The second copies: a larger `table` (kept), a `sized` of the same size but other bytes and
# an `exact` of the same bytes (both dropped).
	.section	.rdata$table,"dr",largest,table
	.globl	table
	.p2align	3
table:
	.quad	2
	.quad	3

	.section	.rdata$sized,"dr",same_size,sized
	.globl	sized
	.p2align	3
sized:
	.quad	6

	.section	.rdata$exact,"dr",same_contents,exact
	.globl	exact
	.p2align	3
exact:
	.quad	7

	.data
	.p2align	3
	.globl	other_object_pointers
other_object_pointers:
	.quad	table
	.quad	sized
	.quad	exact
