# Relocations in instructions, checked through decode_operand with LLVM's operand numbers:
# R_X86_64_PC32 (RIP-relative loads, stores, lea, arithmetic), R_X86_64_32S and
# R_X86_64_32 immediates and displacements, R_X86_64_64 in movabs, R_X86_64_PLT32 calls
# and jumps to defined functions.
#
# RUN: llvm-mc-19 -triple=x86_64-unknown-linux -filetype=obj -o %t/code_relocations.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 4096 \
# RUN:   -check %s %t/code_relocations.o

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

# jitlink-check: decode_operand(lea_rip, 4) = named_data - next_pc(lea_rip)
	.globl	lea_rip
lea_rip:
	leaq	named_data(%rip), %rax
	.size	lea_rip, .-lea_rip

# jitlink-check: decode_operand(lea_rip_addend, 4) = named_data - next_pc(lea_rip_addend) + 12
	.globl	lea_rip_addend
lea_rip_addend:
	leaq	named_data+12(%rip), %rax
	.size	lea_rip_addend, .-lea_rip_addend

# jitlink-check: decode_operand(load_rip, 4) = named_data - next_pc(load_rip)
	.globl	load_rip
load_rip:
	movq	named_data(%rip), %rax
	.size	load_rip, .-load_rip

# A store: the memory operand comes first, the register after it.
# jitlink-check: decode_operand(store_rip, 3) = named_data - next_pc(store_rip)
	.globl	store_rip
store_rip:
	movq	%rax, named_data(%rip)
	.size	store_rip, .-store_rip

# A store of an immediate: the relocated displacement is 4 bytes before the immediate, so
# the fix-up is at next_pc - 8 and its addend accounts for the immediate.
# jitlink-check: decode_operand(store_imm_rip, 3) = named_data - next_pc(store_imm_rip)
# jitlink-check: decode_operand(store_imm_rip, 5) = 0x12345678
	.globl	store_imm_rip
store_imm_rip:
	movl	$0x12345678, named_data(%rip)
	.size	store_imm_rip, .-store_imm_rip

# Two-address arithmetic lists its destination twice.
# jitlink-check: decode_operand(add_rip, 5) = named_data - next_pc(add_rip)
	.globl	add_rip
add_rip:
	addq	named_data(%rip), %rax
	.size	add_rip, .-add_rip

# jitlink-check: decode_operand(cmp_imm_rip, 3) = named_data - next_pc(cmp_imm_rip)
# jitlink-check: decode_operand(cmp_imm_rip, 5) = 7
	.globl	cmp_imm_rip
cmp_imm_rip:
	cmpq	$7, named_data(%rip)
	.size	cmp_imm_rip, .-cmp_imm_rip

# jitlink-check: decode_operand(sse_rip, 4) = named_data - next_pc(sse_rip)
	.globl	sse_rip
sse_rip:
	movsd	named_data(%rip), %xmm0
	.size	sse_rip, .-sse_rip

# jitlink-check: decode_operand(avx_rip, 5) = named_data - next_pc(avx_rip)
	.globl	avx_rip
avx_rip:
	vaddsd	named_data(%rip), %xmm1, %xmm0
	.size	avx_rip, .-avx_rip

# R_X86_64_32S: sign-extended immediates and displacements.
# jitlink-check: decode_operand(mov_imm32s, 1) = named_data
	.globl	mov_imm32s
mov_imm32s:
	movq	$named_data, %rax
	.size	mov_imm32s, .-mov_imm32s

# jitlink-check: decode_operand(indexed_disp32s, 4) = named_data
	.globl	indexed_disp32s
indexed_disp32s:
	movq	named_data(,%rcx,8), %rax
	.size	indexed_disp32s, .-indexed_disp32s

# R_X86_64_32: a zero-extended immediate.
# jitlink-check: decode_operand(mov_imm32, 1) = named_data
	.globl	mov_imm32
mov_imm32:
	movl	$named_data, %eax
	.size	mov_imm32, .-mov_imm32

# R_X86_64_64 in an instruction.
# jitlink-check: decode_operand(movabs_imm64, 1) = named_data
	.globl	movabs_imm64
movabs_imm64:
	movabsq	$named_data, %rax
	.size	movabs_imm64, .-movabs_imm64

# R_X86_64_PLT32 to a defined function: no stub needed, the call goes straight there.
# jitlink-check: decode_operand(call_defined, 0) = callee - next_pc(call_defined)
	.globl	call_defined
call_defined:
	callq	callee@PLT
	.size	call_defined, .-call_defined

# jitlink-check: decode_operand(tail_jump, 0) = callee - next_pc(tail_jump)
	.globl	tail_jump
tail_jump:
	jmp	callee@PLT
	.size	tail_jump, .-tail_jump

# R_X86_64_PC32 in a conditional branch to another section (not resolved by the assembler).
# jitlink-check: decode_operand(cond_branch, 0) = other_section_code - next_pc(cond_branch)
	.globl	cond_branch
cond_branch:
	jne	other_section_code
	.size	cond_branch, .-cond_branch

# decode_operand with an offset into the symbol: the second instruction.
# jitlink-check: decode_operand(two_instructions + 7, 4) = named_data - next_pc(two_instructions) - 7
	.globl	two_instructions
two_instructions:
	leaq	named_data(%rip), %rax
	leaq	named_data(%rip), %rcx
	.size	two_instructions, .-two_instructions

	.section	.text.other,"ax",@progbits
	.globl	other_section_code
other_section_code:
	retq
	.size	other_section_code, .-other_section_code

	.data
	.globl	named_data
	.p2align	3
named_data:
	.quad	0
	.size	named_data, 8
