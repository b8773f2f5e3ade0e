# JITLD-ONLY: llvm-jitlink-19 rejects R_X86_64_PLTOFF64, R_X86_64_PC16, R_X86_64_PC8, R_X86_64_SIZE32 and
# R_X86_64_SIZE64 ("Unsupported x86-64 relocation type"), and cannot follow a pointer it
# loaded (its loads read the linker's copy, so `*{8}(*{8}p)` crashes it).
#
# RUN: llvm-mc-19 -triple=x86_64-unknown-linux -filetype=obj -o %t/beyond_llvm_jitlink.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0xfff00000 -slab-page-size 4096 \
# RUN:   -check %s %t/beyond_llvm_jitlink.o

	.text
	.globl	main
	.type	main,@function
main:
	xorl	%eax, %eax
	retq
	.size	main, .-main

	.globl	callee
	.type	callee,@function
callee:
	retq
	.size	callee, .-callee

# jitlink-check: decode_operand(pltoff64, 1) = callee - _GLOBAL_OFFSET_TABLE_
	.globl	pltoff64
pltoff64:
	movabsq	$callee@PLTOFF, %rax
	.size	pltoff64, .-pltoff64


	.data
	.globl	named_data
	.p2align	3
named_data:
	.quad	0x1122334455667788
	.size	named_data, 8

# A local symbol's name is known too (llvm-jitlink forgets names nothing refers to by name).
local_data:
	.quad	42
	.size	local_data, 8

	.section	.data.near,"aw",@progbits
# jitlink-check: *{2}pc16 = (named_data - pc16)[15:0]
	.globl	pc16
pc16:
	.short	named_data - .
	.size	pc16, 2

# jitlink-check: *{1}pc8 = (named_data - pc8)[7:0]
	.globl	pc8
pc8:
	.byte	named_data - .
	.size	pc8, 1

# jitlink-check: *{4}size32 = 8
	.globl	size32
size32:
	.long	named_data@SIZE
	.size	size32, 4

# jitlink-check: *{8}size64 = 108
	.globl	size64
size64:
	.quad	named_data@SIZE + 100
	.size	size64, 8

# jitlink-check: *{8}pointer = named_data
# jitlink-check: *{8}(*{8}pointer) = 0x1122334455667788
# jitlink-check: (*{8}(*{8}pointer))[63:56] = 0x11
# jitlink-check: *{8}(*{8}local_pointer) = 42
# jitlink-check: *{8}local_pointer = local_data
	.globl	pointer
pointer:
	.quad	named_data
	.size	pointer, 8
	.globl	local_pointer
local_pointer:
	.quad	local_data
	.size	local_pointer, 8
