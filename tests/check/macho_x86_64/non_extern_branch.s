# JITLD-ONLY: llvm-jitlink-19 rejects a section-based (non-extern) X86_64_RELOC_BRANCH
# ("Unsupported x86-64 relocation ... extern=false"). llvm-mc writes one for a call or jump
# to an assembler-local label in another section: the target is the section's address plus
# the displacement already in the instruction. jitld links it as a direct branch, since the
# target is in the same graph. (No .subsections_via_symbols: `tail_jump` stays in `_main`'s
# block, which falls through into it.)
#
# RUN: llvm-mc-19 -triple=x86_64-apple-macosx10.9 -filetype=obj -o %t/non_extern_branch.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 4096 \
# RUN:   -check %s %t/non_extern_branch.o

	.section	__TEXT,__text,regular,pure_instructions
# jitlink-check: decode_operand(_main, 0) = section_addr(non_extern_branch.o, __TEXT,__text_cold) - next_pc(_main)
# jitlink-check: decode_operand(tail_jump, 0) = section_addr(non_extern_branch.o, __TEXT,__text_cold) - next_pc(tail_jump) + 6
	.globl	_main
_main:
	callq	Lcold
tail_jump:
	jmp	Lcold_tail

	.section	__TEXT,__text_cold,regular,pure_instructions
Lcold:
	movl	$1, %eax
	retq
Lcold_tail:
	xorl	%eax, %eax
	retq
