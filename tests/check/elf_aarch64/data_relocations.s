# Data relocations both linkers take: R_AARCH64_ABS64 and R_AARCH64_ABS32 (absolute,
# the slab is below 4 GiB), R_AARCH64_PREL64 and R_AARCH64_PREL32 (from the field), with
# positive and negative addends, against a global, an absolute symbol, a function and a
# local (which the assembler turns into its section plus an offset). PC-relative fields
# name symbols of other sections: the assembler folds a difference within one.
#
# RUN: llvm-mc-19 -triple=aarch64-unknown-linux-gnu -filetype=obj -o %t/data_relocations.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 4096 \
# RUN:   -abs external_data=0x12345678 -abs far_data=0x7fff00002000 \
# RUN:   -check %s %t/data_relocations.o

	.text
	.globl	main
	.p2align 2
	.type	main,@function
main:
	mov	w0, wzr
	ret
	.size	main, .-main

	.section .rodata,"a",@progbits
	.globl	named_data
	.p2align 3
named_data:
	.quad	0x1122334455667788
	.size	named_data, 8
# Not global: the assembler refers to it as .rodata + 8.
local_data:
	.quad	42
	.size	local_data, 8

	.data
# jitlink-check: *{8}abs64 = named_data
# jitlink-check: *{8}(abs64 + 8) = named_data + 0x10
# jitlink-check: *{8}(abs64 + 16) = far_data - 0x2000
# jitlink-check: *{8}(abs64 + 24) = named_data + 8
# jitlink-check: *{8}(abs64 + 32) = main
	.globl	abs64
	.p2align 3
abs64:
	.xword	named_data
	.xword	named_data + 0x10
	.xword	far_data - 0x2000
	.xword	local_data
	.xword	main
	.size	abs64, .-abs64

# jitlink-check: *{4}abs32 = named_data
# jitlink-check: *{4}(abs32 + 4) = external_data - 0x78
# jitlink-check: *{4}(abs32 + 8) = named_data + 12
# jitlink-check: *{4}(abs32 + 12) = main - 4
	.globl	abs32
	.p2align 2
abs32:
	.word	named_data
	.word	external_data - 0x78
	.word	local_data + 4
	.word	main - 4
	.size	abs32, .-abs32

# jitlink-check: *{8}prel64 = named_data - prel64
# jitlink-check: *{8}(prel64 + 8) = far_data - prel64 - 8
# jitlink-check: *{8}(prel64 + 16) = (named_data - prel64 + 0xf8)
# jitlink-check: *{8}(prel64 + 24) = (main - prel64 - 0x58)
	.globl	prel64
	.p2align 3
prel64:
	.xword	named_data - .
	.xword	far_data - .
	.xword	local_data + 0x100 - .
	.xword	main - 0x40 - .
	.size	prel64, .-prel64

# jitlink-check: *{4}prel32 = (named_data - prel32)[31:0]
# jitlink-check: *{4}(prel32 + 4) = (main - prel32 - 4)[31:0]
# jitlink-check: *{4}(prel32 + 8) = (named_data - prel32 - 0x20)[31:0]
# jitlink-check: *{4}(prel32 + 12) = (external_data - prel32 - 12)[31:0]
	.globl	prel32
	.p2align 2
prel32:
	.word	named_data - .
	.word	main - .
	.word	local_data - 0x20 - .
	.word	external_data - .
	.size	prel32, .-prel32
