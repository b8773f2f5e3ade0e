#!/usr/bin/env bash
# Compiles the example to an object file and runs it with jitld against libsqlite3.a.
set -euo pipefail
top="$(cd "$(dirname "$0")/../.." && pwd)"
out="$top/target/example"
mkdir -p "$out"
cc -O2 -c "$top/examples/sqlite/notes.c" -o "$out/notes.o"
set -x
"$top/target/release/jitld" run "$out/notes.o" /usr/lib/x86_64-linux-gnu/libsqlite3.a -lm -- hello jitld
