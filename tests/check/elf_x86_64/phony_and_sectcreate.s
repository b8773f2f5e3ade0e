# -phony-externals (an undefined symbol resolves to 0) and -sectcreate (a section made of a
# file's bytes, with symbols at offsets in it).
#
# RUN: llvm-mc-19 -triple=x86_64-unknown-linux -filetype=obj -o %t/phony_and_sectcreate.o %s
# RUN: %jitlink -noexec -phony-externals -sectcreate .blob,%S/Inputs/blob.txt@blob_start=0,blob_x=4 \
# RUN:   -check %s %t/phony_and_sectcreate.o

	.text
	.globl	main
	.type	main,@function
main:
	xorl	%eax, %eax
	retq
	.size	main, .-main

	.data
# jitlink-check: *{8}to_missing = 0
	.globl	to_missing
	.p2align	3
to_missing:
	.quad	not_defined_anywhere
	.size	to_missing, 8

# jitlink-check: *{8}to_blob = blob_start
# jitlink-check: blob_x - blob_start = 4
# jitlink-check: *{4}blob_x = 0x44434241
	.globl	to_blob
to_blob:
	.quad	blob_start
	.size	to_blob, 8
