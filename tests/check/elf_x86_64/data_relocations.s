# Absolute and PC-relative data relocations: R_X86_64_64, R_X86_64_PC64, R_X86_64_32 and
# R_X86_64_PC32 in data, with addends, against a global, an absolute symbol and a local one
# (which the assembler turns into its section plus an offset).
#
# RUN: llvm-mc-19 -triple=x86_64-unknown-linux -filetype=obj -o %t/data_relocations.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0xfff00000 -slab-page-size 4096 \
# RUN:   -abs external_data=0x12345678 -check %s %t/data_relocations.o

	.text
	.globl	main
	.type	main,@function
main:
	xorl	%eax, %eax
	retq
	.size	main, .-main

	.data
	.globl	named_data
	.p2align	3
named_data:
	.quad	0x1122334455667788
	.size	named_data, 8

local_data:
	.quad	42
	.size	local_data, 8

# jitlink-check: *{8}abs64 = named_data
	.globl	abs64
	.p2align	3
abs64:
	.quad	named_data
	.size	abs64, 8

# jitlink-check: *{8}abs64_addend = named_data + 0x10
	.globl	abs64_addend
abs64_addend:
	.quad	named_data + 16
	.size	abs64_addend, 8

# A reference to a local symbol is one to its section, plus the symbol's offset.
# jitlink-check: *{8}abs64_local = section_addr(data_relocations.o, .data) + 8
	.globl	abs64_local
abs64_local:
	.quad	local_data
	.size	abs64_local, 8

# jitlink-check: *{8}abs64_external = external_data
	.globl	abs64_external
abs64_external:
	.quad	external_data
	.size	abs64_external, 8

# jitlink-check: *{8}pc64 = named_data - pc64
	.globl	pc64
pc64:
	.quad	named_data - .
	.size	pc64, 8

# jitlink-check: *{4}abs32 = named_data
	.globl	abs32
abs32:
	.long	named_data
	.size	abs32, 4

# jitlink-check: *{4}abs32_external = external_data
	.globl	abs32_external
abs32_external:
	.long	external_data
	.size	abs32_external, 4

# jitlink-check: *{4}pc32 = (named_data - pc32)[31:0]
	.globl	pc32
pc32:
	.long	named_data - .
	.size	pc32, 4

# jitlink-check: *{4}pc32_backwards = (section_addr(data_relocations.o, .data) - pc32_backwards + 12)[31:0]
	.globl	pc32_backwards
pc32_backwards:
	.long	local_data + 4 - .
	.size	pc32_backwards, 4

