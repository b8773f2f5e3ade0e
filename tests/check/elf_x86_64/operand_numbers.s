# decode_operand's operand numbers, LLVM's MC layer's, on every instruction form compilers
# put a relocation on: RIP-relative loads, stores, read-modify-write, SSE/AVX, branches,
# indirect calls; absolute immediates and displacements (R_X86_64_32, R_X86_64_32S,
# R_X86_64_64). Each rule names the operand that holds the relocated field.
#
# RUN: llvm-mc-19 -triple=x86_64-unknown-linux -filetype=obj -o %t/operand_numbers.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 4096 \
# RUN:   -check %s %t/operand_numbers.o

	.text
	.globl	main
	.type	main,@function
main:
	xorl	%eax, %eax
	retq
	.size	main, .-main

# leaq target(%rip), %rax
# jitlink-check: decode_operand(form1, 4) = target - next_pc(form1)
	.globl	form1
form1:
	leaq target(%rip), %rax
	.size	form1, .-form1

# leal target(%rip), %eax
# jitlink-check: decode_operand(form2, 4) = target - next_pc(form2)
	.globl	form2
form2:
	leal target(%rip), %eax
	.size	form2, .-form2

# movq target(%rip), %rax
# jitlink-check: decode_operand(form3, 4) = target - next_pc(form3)
	.globl	form3
form3:
	movq target(%rip), %rax
	.size	form3, .-form3

# movl target(%rip), %eax
# jitlink-check: decode_operand(form4, 4) = target - next_pc(form4)
	.globl	form4
form4:
	movl target(%rip), %eax
	.size	form4, .-form4

# movw target(%rip), %ax
# jitlink-check: decode_operand(form5, 4) = target - next_pc(form5)
	.globl	form5
form5:
	movw target(%rip), %ax
	.size	form5, .-form5

# movb target(%rip), %al
# jitlink-check: decode_operand(form6, 4) = target - next_pc(form6)
	.globl	form6
form6:
	movb target(%rip), %al
	.size	form6, .-form6

# movzbl target(%rip), %eax
# jitlink-check: decode_operand(form7, 4) = target - next_pc(form7)
	.globl	form7
form7:
	movzbl target(%rip), %eax
	.size	form7, .-form7

# movslq target(%rip), %rax
# jitlink-check: decode_operand(form8, 4) = target - next_pc(form8)
	.globl	form8
form8:
	movslq target(%rip), %rax
	.size	form8, .-form8

# movq %rax, target(%rip)
# jitlink-check: decode_operand(form9, 3) = target - next_pc(form9)
	.globl	form9
form9:
	movq %rax, target(%rip)
	.size	form9, .-form9

# movb $1, target(%rip)
# jitlink-check: decode_operand(form10, 3) = target - next_pc(form10)
	.globl	form10
form10:
	movb $1, target(%rip)
	.size	form10, .-form10

# movq $-5, target(%rip)
# jitlink-check: decode_operand(form11, 3) = target - next_pc(form11)
	.globl	form11
form11:
	movq $-5, target(%rip)
	.size	form11, .-form11

# addq target(%rip), %rax
# jitlink-check: decode_operand(form12, 5) = target - next_pc(form12)
	.globl	form12
form12:
	addq target(%rip), %rax
	.size	form12, .-form12

# subl target(%rip), %ecx
# jitlink-check: decode_operand(form13, 5) = target - next_pc(form13)
	.globl	form13
form13:
	subl target(%rip), %ecx
	.size	form13, .-form13

# xorl target(%rip), %eax
# jitlink-check: decode_operand(form14, 5) = target - next_pc(form14)
	.globl	form14
form14:
	xorl target(%rip), %eax
	.size	form14, .-form14

# addq %rax, target(%rip)
# jitlink-check: decode_operand(form15, 3) = target - next_pc(form15)
	.globl	form15
form15:
	addq %rax, target(%rip)
	.size	form15, .-form15

# cmpq target(%rip), %rax
# jitlink-check: decode_operand(form16, 4) = target - next_pc(form16)
	.globl	form16
form16:
	cmpq target(%rip), %rax
	.size	form16, .-form16

# cmpl $7, target(%rip)
# jitlink-check: decode_operand(form17, 3) = target - next_pc(form17)
	.globl	form17
form17:
	cmpl $7, target(%rip)
	.size	form17, .-form17

# testq $0x100, target(%rip)
# jitlink-check: decode_operand(form18, 3) = target - next_pc(form18)
	.globl	form18
form18:
	testq $0x100, target(%rip)
	.size	form18, .-form18

# incq target(%rip)
# jitlink-check: decode_operand(form19, 3) = target - next_pc(form19)
	.globl	form19
form19:
	incq target(%rip)
	.size	form19, .-form19

# orl $0x40, target(%rip)
# jitlink-check: decode_operand(form20, 3) = target - next_pc(form20)
	.globl	form20
form20:
	orl $0x40, target(%rip)
	.size	form20, .-form20

# imulq $100, target(%rip), %rax
# jitlink-check: decode_operand(form21, 4) = target - next_pc(form21)
	.globl	form21
form21:
	imulq $100, target(%rip), %rax
	.size	form21, .-form21

# cmovneq target(%rip), %rax
# jitlink-check: decode_operand(form22, 5) = target - next_pc(form22)
	.globl	form22
form22:
	cmovneq target(%rip), %rax
	.size	form22, .-form22

# callq *target(%rip)
# jitlink-check: decode_operand(form23, 3) = target - next_pc(form23)
	.globl	form23
form23:
	callq *target(%rip)
	.size	form23, .-form23

# jmpq *target(%rip)
# jitlink-check: decode_operand(form24, 3) = target - next_pc(form24)
	.globl	form24
form24:
	jmpq *target(%rip)
	.size	form24, .-form24

# pushq target(%rip)
# jitlink-check: decode_operand(form25, 3) = target - next_pc(form25)
	.globl	form25
form25:
	pushq target(%rip)
	.size	form25, .-form25

# movsd target(%rip), %xmm0
# jitlink-check: decode_operand(form26, 4) = target - next_pc(form26)
	.globl	form26
form26:
	movsd target(%rip), %xmm0
	.size	form26, .-form26

# movss %xmm1, target(%rip)
# jitlink-check: decode_operand(form27, 3) = target - next_pc(form27)
	.globl	form27
form27:
	movss %xmm1, target(%rip)
	.size	form27, .-form27

# addsd target(%rip), %xmm0
# jitlink-check: decode_operand(form28, 5) = target - next_pc(form28)
	.globl	form28
form28:
	addsd target(%rip), %xmm0
	.size	form28, .-form28

# vaddsd target(%rip), %xmm1, %xmm0
# jitlink-check: decode_operand(form29, 5) = target - next_pc(form29)
	.globl	form29
form29:
	vaddsd target(%rip), %xmm1, %xmm0
	.size	form29, .-form29

# vmovaps target(%rip), %ymm2
# jitlink-check: decode_operand(form30, 4) = target - next_pc(form30)
	.globl	form30
form30:
	vmovaps target(%rip), %ymm2
	.size	form30, .-form30

# pinsrd $1, target(%rip), %xmm0
# jitlink-check: decode_operand(form31, 5) = target - next_pc(form31)
	.globl	form31
form31:
	pinsrd $1, target(%rip), %xmm0
	.size	form31, .-form31

# cvtsi2sdl target(%rip), %xmm3
# jitlink-check: decode_operand(form32, 5) = target - next_pc(form32)
	.globl	form32
form32:
	cvtsi2sdl target(%rip), %xmm3
	.size	form32, .-form32

# callq code_target
# jitlink-check: decode_operand(form33, 0) = code_target - next_pc(form33)
	.globl	form33
form33:
	callq code_target
	.size	form33, .-form33

# jmp code_target
# jitlink-check: decode_operand(form34, 0) = code_target - next_pc(form34)
	.globl	form34
form34:
	jmp code_target
	.size	form34, .-form34

# jne code_target
# jitlink-check: decode_operand(form35, 0) = code_target - next_pc(form35)
	.globl	form35
form35:
	jne code_target
	.size	form35, .-form35

# movq $target, %rax
# jitlink-check: decode_operand(form36, 1) = target
	.globl	form36
form36:
	movq $target, %rax
	.size	form36, .-form36

# movl $target, %eax
# jitlink-check: decode_operand(form37, 1) = target
	.globl	form37
form37:
	movl $target, %eax
	.size	form37, .-form37

# movabsq $target, %rax
# jitlink-check: decode_operand(form38, 1) = target
	.globl	form38
form38:
	movabsq $target, %rax
	.size	form38, .-form38

# movl $target, %ecx
# jitlink-check: decode_operand(form39, 1) = target
	.globl	form39
form39:
	movl $target, %ecx
	.size	form39, .-form39

# pushq $target
# jitlink-check: decode_operand(form40, 0) = target
	.globl	form40
form40:
	pushq $target
	.size	form40, .-form40

# movq target(,%rax,8), %rcx
# jitlink-check: decode_operand(form41, 4) = target
	.globl	form41
form41:
	movq target(,%rax,8), %rcx
	.size	form41, .-form41

# movl target(%rbx,%rcx,4), %eax
# jitlink-check: decode_operand(form42, 4) = target
	.globl	form42
form42:
	movl target(%rbx,%rcx,4), %eax
	.size	form42, .-form42

# leaq target(%rax), %rdx
# jitlink-check: decode_operand(form43, 4) = target
	.globl	form43
form43:
	leaq target(%rax), %rdx
	.size	form43, .-form43

# movq $target, (%rdi)
# jitlink-check: decode_operand(form44, 5) = target
	.globl	form44
form44:
	movq $target, (%rdi)
	.size	form44, .-form44

# movl $target, 8(%rsp)
# jitlink-check: decode_operand(form45, 5) = target
	.globl	form45
form45:
	movl $target, 8(%rsp)
	.size	form45, .-form45

# imull $target, %ecx, %edx
# jitlink-check: decode_operand(form46, 2) = target
	.globl	form46
form46:
	imull $target, %ecx, %edx
	.size	form46, .-form46

# addq $target, %rax (with a relocation the assembler picks the ModRM form, not `05 id`)
# jitlink-check: decode_operand(form47, 2) = target
	.globl	form47
form47:
	addq $target, %rax
	.size	form47, .-form47

# addq $target, %rbx
# jitlink-check: decode_operand(form48, 2) = target
	.globl	form48
form48:
	addq $target, %rbx
	.size	form48, .-form48

# andl $target, %esi
# jitlink-check: decode_operand(form49, 2) = target
	.globl	form49
form49:
	andl $target, %esi
	.size	form49, .-form49

# cmpq $target, %rdi
# jitlink-check: decode_operand(form50, 1) = target
	.globl	form50
form50:
	cmpq $target, %rdi
	.size	form50, .-form50

# movabsq target, %rax
# jitlink-check: decode_operand(form51, 0) = target
	.globl	form51
form51:
	movabsq target, %rax
	.size	form51, .-form51

	.section	.text.other,"ax",@progbits
	.globl	code_target
code_target:
	retq
	.size	code_target, .-code_target

	.data
	.globl	target
	.p2align	6
target:
	.zero	64
	.size	target, 64
