# JITLD-ONLY: llvm-jitlink-19's COFF linker has no stubs ("out of range of PCRel32 fixup"),
# no `__imp_` slots for definitions outside DLLs, no ADDR32 nor REL32_2/_3/_5 ("Unsupported
# x86_64 relocation"), takes a negative ADDR32NB addend for a large positive one, and fails on a global symbol in an associative section ("No pending
# COMDAT export"). jitld calls a far external through a stub, gives `__imp_NAME` (what
# `dllimport` code loads) a slot holding NAME's address, writes zero-extended 32-bit
# addresses and displacements counted from past an instruction's trailing bytes, keeps an
# associative section with its leader, and without a definition of __ImageBase counts
# image-relative values from 0.
#
# RUN: llvm-mc-19 -triple=x86_64-pc-windows-msvc -filetype=obj -o %t/beyond_llvm_jitlink.o %s
# RUN: yaml2obj-19 %S/Inputs/rel32_n.yaml -o %t/rel32_n.o
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 4096 \
# RUN:   -abs external_func=0x7fff00001000 -abs imported=0x7fff00002000 \
# RUN:   -check %s %t/beyond_llvm_jitlink.o %t/rel32_n.o

	.text
	.globl	main
main:
	retq

# jitlink-check: decode_operand(test_far_call, 0) = stub_addr(beyond_llvm_jitlink.o, external_func) - next_pc(test_far_call)
# jitlink-check: *{8}(got_addr(beyond_llvm_jitlink.o, external_func)) = external_func
	.globl	test_far_call
test_far_call:
	callq	external_func

# jitlink-check: *{8}(next_pc(test_import) + decode_operand(test_import, 4)) = imported
	.globl	test_import
test_import:
	movq	__imp_imported(%rip), %rax

	.data
	.p2align	3
	.globl	named_data
named_data:
	.quad	0

# jitlink-check: *{4}image_relative = named_data
# jitlink-check: *{4}(image_relative + 4) = named_data - 8
	.globl	image_relative
image_relative:
	.long	named_data@IMGREL
	.long	named_data@IMGREL-8

# ADDR32, with addends of both signs.
# jitlink-check: *{4}address32 = named_data
# jitlink-check: *{4}(address32 + 4) = named_data + 12
# jitlink-check: *{4}(address32 + 8) = named_data - 8
	.globl	address32
address32:
	.long	named_data
	.long	named_data+12
	.long	named_data-8

# REL32_2, REL32_3 (to a label, addend 8: 22 + 8 - 13) and REL32_5 (addend -4), from
# rel32_n.yaml, which links after this object (so the displacements are negative).
# jitlink-check: *{4}rel32_n_sites = (named_data - rel32_n_sites - 6) & 0xffffffff
# jitlink-check: *{4}(rel32_n_sites + 6) = 17
# jitlink-check: *{4}(rel32_n_sites + 13) = (named_data - rel32_n_sites - 26) & 0xffffffff

	.section	.text$leader,"xr",discard,leader
	.globl	leader
leader:
	retq

# jitlink-check: *{4}leader_unwind = 0x11111111
# jitlink-check: *{8}points_at_leader = leader
	.section	.xdata$leader,"dr",associative,leader
	.globl	leader_unwind
leader_unwind:
	.long	0x11111111

	.data
	.globl	points_at_leader
points_at_leader:
	.quad	leader
