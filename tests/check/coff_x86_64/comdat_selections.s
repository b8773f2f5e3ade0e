# JITLD-ONLY: llvm-jitlink-19 keeps the first copy of every COMDAT, whatever its selection.
# COMDAT selections across two objects: of `largest` copies the largest is kept (the second
# object's, 16 bytes against 8), `same_size` copies of one size and `same_contents`
# (EXACT_MATCH) copies of the same bytes keep the first. Copies that break their rule are
# errors (tests/coff.rs).
#
# RUN: llvm-mc-19 -triple=x86_64-pc-windows-msvc -filetype=obj -o %t/comdat_selections.o %s
# RUN: llvm-mc-19 -triple=x86_64-pc-windows-msvc -filetype=obj -o %t/comdat_selections_other.o %S/Inputs/comdat_selections_other.s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 4096 \
# RUN:   -check %s %t/comdat_selections.o %t/comdat_selections_other.o

	.text
	.globl	main
main:
	retq

# jitlink-check: *{8}table = 2
# jitlink-check: *{8}(table + 8) = 3
# jitlink-check: *{8}this_object_table = table
	.section	.rdata$table,"dr",largest,table
	.globl	table
	.p2align	3
table:
	.quad	1

# jitlink-check: *{8}sized = 5
# jitlink-check: *{8}exact = 7
# jitlink-check: *{8}other_object_pointers = table
# jitlink-check: *{8}(other_object_pointers + 8) = sized
# jitlink-check: *{8}(other_object_pointers + 16) = exact
	.section	.rdata$sized,"dr",same_size,sized
	.globl	sized
	.p2align	3
sized:
	.quad	5

	.section	.rdata$exact,"dr",same_contents,exact
	.globl	exact
	.p2align	3
exact:
	.quad	7

	.data
	.p2align	3
	.globl	this_object_table
this_object_table:
	.quad	table
