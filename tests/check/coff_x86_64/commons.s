# JITLD-ONLY: llvm-jitlink-19 links only the first object's copy of a COFF common symbol, at
# its own alignment, and ignores `-aligncomm:`. In jitld commons of several objects merge, as
# link.exe merges them: the largest size and the strictest alignment win, an alignment
# being the largest power of two dividing the size (up to 32) or what `-aligncomm:` (which
# MinGW toolchains write in `.drectve`) asks, whichever is stricter.
#
# RUN: llvm-mc-19 -triple=x86_64-w64-mingw32 -filetype=obj -o %t/commons.o %s
# RUN: llvm-mc-19 -triple=x86_64-pc-windows-msvc -filetype=obj -o %t/commons_other.o %S/Inputs/commons_other.s
# RUN: %jitlink -noexec -slab-allocate 100Kb -slab-address 0x10000000 -slab-page-size 4096 \
# RUN:   -check %s %t/commons.o %t/commons_other.o

	.text
	.globl	main
main:
	retq

# Both objects reach one copy: 48 bytes (the other object's size), 64-byte aligned (this
# object's `-aligncomm`), though neither size alone asks for more than 16.
# jitlink-check: *{8}points_at_common = shared_common
# jitlink-check: *{8}other_points_at_common = shared_common
# jitlink-check: shared_common & 63 = 0
# jitlink-check: *{8}(shared_common + 40) = 0
	.comm	shared_common, 8, 6

# A common only this object has: 24 bytes, 8-byte aligned.
# jitlink-check: *{8}(points_at_common + 8) = lone_common
# jitlink-check: lone_common & 7 = 0
# jitlink-check: *{8}(lone_common + 16) = 0
	.comm	lone_common, 24

	.data
	.p2align	3
	.globl	points_at_common
points_at_common:
	.quad	shared_common
	.quad	lone_common
