# JITLD-ONLY: llvm-jitlink-19 lays out `X$suffix` sections in input order and drops
# unreferenced ones. jitld, as link.exe and lld: grouped sections of an object lie together,
# sorted by the part after `$` (`X` itself first, input order among equal suffixes), and a
# section that is not COMDAT is kept whole though nothing refers to it. A table bounded by
# markers in `.table$a` and `.table$z` holds the entries of `$b`, `$m` and `$n`.
#
# RUN: llvm-mc-19 -triple=x86_64-pc-windows-msvc -filetype=obj -o %t/grouped_sections.o %s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 4096 \
# RUN:   -check %s %t/grouped_sections.o

	.text
	.globl	main
main:
	retq

# jitlink-check: *{8}(table_start + 8) = 1
# jitlink-check: *{8}(table_start + 16) = 2
# jitlink-check: *{8}(table_start + 24) = 3
# jitlink-check: *{8}(table_start + 32) = 4
# jitlink-check: *{8}(table_start + 40) = 5
# jitlink-check: table_end = table_start + 48
# jitlink-check: *{8}bounds = table_start
# jitlink-check: *{8}(bounds + 8) = table_end
	.section	.table$z,"dr"
	.p2align	3
table_end:
	.quad	0

	.section	.table$n,"dr"
	.quad	5

	.section	.table$m,"dr"
	.quad	3

	.section	.table,"dr"
	.p2align	3
	.globl	table_start
table_start:
	.quad	0

	.section	.table$b,"dr"
	.quad	1
	.quad	2

	.section	.table$m,"dr"
	.quad	4

	.data
	.p2align	3
	.globl	bounds
bounds:
	.quad	table_start
	.quad	table_end
