# GOT entries and stubs where both linkers use them: R_AARCH64_CALL26 and R_AARCH64_JUMP26
# to an external beyond a branch's ±128 MiB go through its stub, `adrp x16, entry;
# ldr x16, [x16, :lo12:entry]; br x16`, which jumps through its GOT entry; and
# R_AARCH64_ADR_GOT_PAGE with R_AARCH64_LD64_GOT_LO12_NC load an external's address from
# its entry (a target beyond adrp's ±4 GiB, which jitld does not relax either).
#
# RUN: llvm-mc-19 -triple=aarch64-unknown-linux-gnu -filetype=obj -o %t/got_and_stubs.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 4096 \
# RUN:   -abs far_func=0x7fff00001000 -abs far_data=0x7fff00002008 \
# RUN:   -check %s %t/got_and_stubs.o

	.text
	.globl	main
	.p2align 2
	.type	main,@function
main:
	mov	w0, wzr
	ret
	.size	main, .-main

# jitlink-check: decode_operand(call_far, 0) << 2 = stub_addr(got_and_stubs.o, far_func) - call_far
# jitlink-check: decode_operand(jump_far, 0) << 2 = stub_addr(got_and_stubs.o, far_func) - jump_far
# jitlink-check: *{8}(got_addr(got_and_stubs.o, far_func)) = far_func
	.globl	call_far
call_far:
	bl	far_func
	.size	call_far, .-call_far
	.globl	jump_far
jump_far:
	b	far_func
	.size	jump_far, .-jump_far

# The stub, word by word. adrp x16: bit 31 set, bits 28:24 0b10000, the page delta's two
# low bits in 30:29 and the rest in 23:5, x16 in 4:0.
# jitlink-check: (*{4}(stub_addr(got_and_stubs.o, far_func)))[31:31] = 1
# jitlink-check: (*{4}(stub_addr(got_and_stubs.o, far_func)))[28:24] = 0x10
# jitlink-check: (*{4}(stub_addr(got_and_stubs.o, far_func)))[4:0] = 16
# jitlink-check: (*{4}(stub_addr(got_and_stubs.o, far_func)))[30:29] = \
# jitlink-check:     (got_addr(got_and_stubs.o, far_func)[63:12] - stub_addr(got_and_stubs.o, far_func)[63:12])[1:0]
# jitlink-check: (*{4}(stub_addr(got_and_stubs.o, far_func)))[23:5] = \
# jitlink-check:     (got_addr(got_and_stubs.o, far_func)[63:12] - stub_addr(got_and_stubs.o, far_func)[63:12])[20:2]
# ldr x16, [x16, #off]: 0xf9400000 with the entry's offset in its page, in words, in 21:10.
# jitlink-check: (*{4}(stub_addr(got_and_stubs.o, far_func) + 4))[31:22] = 0x3e5
# jitlink-check: (*{4}(stub_addr(got_and_stubs.o, far_func) + 4))[21:10] = got_addr(got_and_stubs.o, far_func)[11:3]
# jitlink-check: (*{4}(stub_addr(got_and_stubs.o, far_func) + 4))[9:0] = 0x210
# br x16
# jitlink-check: *{4}(stub_addr(got_and_stubs.o, far_func) + 8) = 0xd61f0200

# A GOT load: the entry's page, then its offset in words.
# jitlink-check: decode_operand(got_page, 1) = got_addr(got_and_stubs.o, far_data)[63:12] - got_page[63:12]
# jitlink-check: decode_operand(got_load, 2) = got_addr(got_and_stubs.o, far_data)[11:3]
# jitlink-check: *{8}(got_addr(got_and_stubs.o, far_data)) = far_data
	.globl	got_page
got_page:
	adrp	x0, :got:far_data
	.size	got_page, .-got_page
	.globl	got_load
got_load:
	ldr	x0, [x0, :got_lo12:far_data]
	.size	got_load, .-got_load

# The same entry from a second pair, in another register.
# jitlink-check: decode_operand(got_page_again, 1) = got_addr(got_and_stubs.o, far_data)[63:12] - got_page_again[63:12]
# jitlink-check: decode_operand(got_load_again, 2) = got_addr(got_and_stubs.o, far_data)[11:3]
	.globl	got_page_again
got_page_again:
	adrp	x5, :got:far_data
	.size	got_page_again, .-got_page_again
	.globl	got_load_again
got_load_again:
	ldr	x6, [x5, :got_lo12:far_data]
	.size	got_load_again, .-got_load_again
