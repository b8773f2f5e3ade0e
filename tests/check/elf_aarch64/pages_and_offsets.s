# Addresses in two steps, the page and the offset in it: R_AARCH64_ADR_PREL_PG_HI21 (adrp:
# the distance in 4 KiB pages, signed) and R_AARCH64_ADD_ABS_LO12_NC (add: the low 12
# bits), R_AARCH64_LDST8/16/32/64/128_ABS_LO12_NC (loads and stores: the low 12 bits
# divided by the access size), with positive and negative addends. `table` sits 16 bytes
# before the end of a page, so addends move the target onto the next page or back.
#
# RUN: llvm-mc-19 -triple=aarch64-unknown-linux-gnu -filetype=obj -o %t/pages_and_offsets.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 4096 \
# RUN:   -check %s %t/pages_and_offsets.o

	.text
	.globl	main
	.p2align 2
	.type	main,@function
main:
	mov	w0, wzr
	ret
	.size	main, .-main

# jitlink-check: decode_operand(page, 1) = table[63:12] - page[63:12]
# jitlink-check: decode_operand(page_next, 1) = (table + 0x20)[63:12] - page_next[63:12]
# jitlink-check: decode_operand(page_back, 1) = (table - 0x1000)[63:12] - page_back[63:12]
# jitlink-check: decode_operand(page_code, 1) = main[63:12] - page_code[63:12]
	.globl	page
page:
	adrp	x0, table
	.size	page, .-page
	.globl	page_next
page_next:
	adrp	x0, table + 0x20
	.size	page_next, .-page_next
	.globl	page_back
page_back:
	adrp	x0, table - 0x1000
	.size	page_back, .-page_back
	.globl	page_code
page_code:
	adrp	x0, main
	.size	page_code, .-page_code

# add: operand 2 is the 12 bits, operand 3 the shift (none).
# jitlink-check: decode_operand(offset, 2) = table[11:0]
# jitlink-check: decode_operand(offset, 3) = 0
# jitlink-check: decode_operand(offset_next, 2) = (table + 0x23)[11:0]
# jitlink-check: decode_operand(offset_back, 2) = (table - 0x7)[11:0]
	.globl	offset
offset:
	add	x0, x0, :lo12:table
	.size	offset, .-offset
	.globl	offset_next
offset_next:
	add	x0, x0, :lo12:table + 0x23
	.size	offset_next, .-offset_next
	.globl	offset_back
offset_back:
	add	x1, x0, :lo12:table - 0x7
	.size	offset_back, .-offset_back

# Loads and stores: operand 2 is the scaled 12-bit offset.
# jitlink-check: decode_operand(load8, 2) = (table + 1)[11:0]
# jitlink-check: decode_operand(load8_signed, 2) = (table + 0x11)[11:0]
# jitlink-check: decode_operand(store8, 2) = (table - 1)[11:0]
# jitlink-check: decode_operand(load16, 2) = (table + 2)[11:1]
# jitlink-check: decode_operand(store16, 2) = (table - 0x10)[11:1]
# jitlink-check: decode_operand(load32, 2) = (table + 4)[11:2]
# jitlink-check: decode_operand(load32_signed, 2) = (table + 0x14)[11:2]
# jitlink-check: decode_operand(store32_fp, 2) = (table - 4)[11:2]
# jitlink-check: decode_operand(load64, 2) = table[11:3]
# jitlink-check: decode_operand(load64_next, 2) = (table + 0x18)[11:3]
# jitlink-check: decode_operand(store64_back, 2) = (table - 8)[11:3]
# jitlink-check: decode_operand(load64_fp, 2) = (table + 8)[11:3]
# jitlink-check: decode_operand(load128, 2) = table[11:4]
# jitlink-check: decode_operand(load128_next, 2) = (table + 0x10)[11:4]
# jitlink-check: decode_operand(store128_back, 2) = (table - 0x20)[11:4]
	.globl	load8
load8:
	ldrb	w0, [x0, :lo12:table + 1]
	.size	load8, .-load8
	.globl	load8_signed
load8_signed:
	ldrsb	x0, [x0, :lo12:table + 0x11]
	.size	load8_signed, .-load8_signed
	.globl	store8
store8:
	strb	w0, [x0, :lo12:table - 1]
	.size	store8, .-store8
	.globl	load16
load16:
	ldrh	w0, [x0, :lo12:table + 2]
	.size	load16, .-load16
	.globl	store16
store16:
	strh	w0, [x0, :lo12:table - 0x10]
	.size	store16, .-store16
	.globl	load32
load32:
	ldr	w0, [x0, :lo12:table + 4]
	.size	load32, .-load32
	.globl	load32_signed
load32_signed:
	ldrsw	x0, [x0, :lo12:table + 0x14]
	.size	load32_signed, .-load32_signed
	.globl	store32_fp
store32_fp:
	str	s0, [x0, :lo12:table - 4]
	.size	store32_fp, .-store32_fp
	.globl	load64
load64:
	ldr	x0, [x0, :lo12:table]
	.size	load64, .-load64
	.globl	load64_next
load64_next:
	ldr	x0, [x0, :lo12:table + 0x18]
	.size	load64_next, .-load64_next
	.globl	store64_back
store64_back:
	str	x0, [sp, :lo12:table - 8]
	.size	store64_back, .-store64_back
	.globl	load64_fp
load64_fp:
	ldr	d0, [x0, :lo12:table + 8]
	.size	load64_fp, .-load64_fp
	.globl	load128
load128:
	ldr	q0, [x0, :lo12:table]
	.size	load128, .-load128
	.globl	load128_next
load128_next:
	ldr	q1, [x0, :lo12:table + 0x10]
	.size	load128_next, .-load128_next
	.globl	store128_back
store128_back:
	str	q2, [x0, :lo12:table - 0x20]
	.size	store128_back, .-store128_back

	.data
	.p2align 12
	.zero	0xff0
	.globl	table
table:
	.quad	1, 2, 3, 4, 5, 6
	.size	table, .-table
