# JITLD-ONLY: llvm-jitlink-19's COFF linker has no stubs ("out of range of PCRel32 fixup"),
# no `__imp_` slots for definitions outside DLLs, and fails on a global symbol in an
# associative section ("No pending COMDAT export"). jitld calls a far external through a
# stub, gives `__imp_NAME` (what `dllimport` code loads) a slot holding NAME's address, keeps
# an associative section with its leader, and without a definition of __ImageBase counts
# image-relative values from 0.
#
# RUN: llvm-mc-19 -triple=x86_64-pc-windows-msvc -filetype=obj -o %t/beyond_llvm_jitlink.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 4096 \
# RUN:   -abs external_func=0x7fff00001000 -abs imported=0x7fff00002000 \
# RUN:   -check %s %t/beyond_llvm_jitlink.o

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
	.globl	image_relative
image_relative:
	.long	named_data@IMGREL

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
