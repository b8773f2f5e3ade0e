# A call and a tail call to a function of another object more than 128 MiB away, beyond
# what R_AARCH64_CALL26 and R_AARCH64_JUMP26 reach: they go through the callee's stub
# (adrp/ldr/br through its GOT entry, which reaches ±4 GiB), not to an error. Each object
# carries 129 MiB of zero-fill after its code, so the two functions are that far apart in
# whichever order they are placed.
#
# RUN: llvm-mc-19 -triple=aarch64-unknown-linux-gnu -filetype=obj -o %t/far_branch.o %s
# RUN: llvm-mc-19 -triple=aarch64-unknown-linux-gnu -filetype=obj -o %t/far_callee.o %S/Inputs/far_callee.s
# RUN: %jitlink -noexec -slab-allocate 400Mb -slab-address 0x10000000 -slab-page-size 4096 \
# RUN:   -check %s %t/far_branch.o %t/far_callee.o

# jitlink-check: decode_operand(call_far, 0) << 2 = stub_addr(far_branch.o, far_callee) - call_far
# jitlink-check: decode_operand(jump_far, 0) << 2 = stub_addr(far_branch.o, far_callee) - jump_far
# jitlink-check: *{8}(got_addr(far_branch.o, far_callee)) = far_callee
# jitlink-check: (*{4}(stub_addr(far_branch.o, far_callee) + 4))[21:10] = got_addr(far_branch.o, far_callee)[11:3]
# jitlink-check: *{4}(stub_addr(far_branch.o, far_callee) + 8) = 0xd61f0200

	.text
	.globl	main
	.p2align 2
	.type	main,@function
main:
	mov	w0, wzr
	ret
	.size	main, .-main

	.globl	call_far
call_far:
	bl	far_callee
	.size	call_far, .-call_far
	.globl	jump_far
jump_far:
	b	far_callee
	.size	jump_far, .-jump_far

	.bss
	.globl	caller_padding
	.p2align 4
caller_padding:
	.zero	0x8100000
	.size	caller_padding, .-caller_padding
