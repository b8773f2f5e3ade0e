# JITLD-ONLY: llvm-jitlink-19 leaves `__tlv_bootstrap` to its MachO platform runtime ("Symbols
# not found: [ __tlv_bootstrap ]" in a -noexec link). `adrp x0, _v@TLVPPAGE; ldr x0, [x0,
# _v@TLVPPAGEOFF]` loads the address of `_v`'s descriptor {thunk, key, offset}: relaxed to
# adrp + add of the descriptor itself, which lies within reach. The thunk is jitld's
# (`mrs x16, tpidr_el0; ldr x0, [x0, #16]; add x0, x0, x16; ret`), and the third word is the
# variable's template's offset from the thread pointer.
#
# RUN: llvm-mc-19 -triple=arm64-apple-macosx11.0.0 -filetype=obj -o %t/thread_local_variables.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 16384 \
# RUN:   -check %s %t/thread_local_variables.o

	.section	__TEXT,__text,regular,pure_instructions
	.globl	_main
	.p2align	2
_main:
	ret

# jitlink-check: decode_operand(_get_counter, 1) = _counter[63:12] - _get_counter[63:12]
# jitlink-check: decode_operand(_get_counter_low, 2) = _counter[11:0]
# jitlink-check: (*{4}_get_counter_low)[31:22] = 0x244
	.globl	_get_counter
	.p2align	2
_get_counter:
	adrp	x0, _counter@TLVPPAGE
	.globl	_get_counter_low
_get_counter_low:
	ldr	x0, [x0, _counter@TLVPPAGEOFF]
	ldr	x8, [x0]
	blr	x8
	ret

# jitlink-check: *{4}(*{8}_counter) = 0xd53bd050
# jitlink-check: *{4}((*{8}_counter) + 8) = 0x8b100000
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
