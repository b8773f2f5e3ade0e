# JITLD-ONLY: llvm-jitlink-19 has no MachO x86-64 thread-local variables (X86_64_RELOC_TLV).
# `movq _v@TLVP(%rip), %rdi` loads the address of `_v`'s descriptor {thunk, key, offset}:
# relaxed to a `lea` of the descriptor, which lies within reach. The thunk is jitld's
# (__tlv_bootstrap is defined by the graph), and the third word is the variable's template's
# offset from the thread pointer.
#
# RUN: llvm-mc-19 -triple=x86_64-apple-macosx10.9 -filetype=obj -o %t/thread_local_variables.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 4096 \
# RUN:   -check %s %t/thread_local_variables.o

	.section	__TEXT,__text,regular,pure_instructions
	.globl	_main
_main:
	retq

# jitlink-check: decode_operand(_get_counter, 4) = _counter - next_pc(_get_counter)
# jitlink-check: *{1}(_get_counter + 1) = 0x8d
# jitlink-check: *{2}(_get_counter + 7) = 0x17ff
	.globl	_get_counter
_get_counter:
	movq	_counter@TLVP(%rip), %rdi
	callq	*(%rdi)
	retq

# The thunk returns the descriptor's third word plus the thread pointer (%fs:0).
# jitlink-check: *{4}(*{8}_counter) = 0x10478b48
# jitlink-check: *{8}(_counter + 8) = 0
# jitlink-check: *{8}(_counter + 16) = _counter_template
	.section	__DATA,__thread_vars,thread_local_variables
	.globl	_counter
_counter:
	.quad	__tlv_bootstrap
	.quad	0
	.quad	_counter_template

	.section	__DATA,__thread_data,thread_local_regular
	.p2align	3
	.globl	_counter_template
_counter_template:
	.quad	42

.subsections_via_symbols
