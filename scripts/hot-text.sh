#!/usr/bin/env bash
# Writes scripts/hot-text.symbols: the functions `jitld run` executes, which the release
# link places side by side at the start of .text (build.rs passes the file to lld's
# --symbol-ordering-file). Every start pages in jitld's text in 64 KiB windows (the
# kernel's fault-around), and peak RSS counts them: the ~450 functions a run uses, spread
# over all 1.5 MB of text, touched every window; side by side they fill about a third.
#
#   bash scripts/hot-text.sh      (after `cargo build --release` and `make fixtures`)
#
# Regenerate when the functions a run uses have changed (new code on the path, another
# toolchain: names carry hashes of their crate and types, not of their bodies). A stale
# name matches nothing and only costs locality; the link does not fail.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
JITLD="${JITLD:-$ROOT/target/release/jitld}"
FIX="$ROOT/target/fixtures/real"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
command -v valgrind >/dev/null || { echo "scripts/hot-text.sh: needs valgrind" >&2; exit 1; }
printf 'int main(void) { return 0; }\n' >"$OUT/empty.c"
gcc -O2 -c "$OUT/empty.c" -o "$OUT/empty.o"
printf 'int f(void);\nint main(void) { return f(); }\n' >"$OUT/calls.c"
printf 'int f(void) { return 0; }\n' >"$OUT/callee.c"
gcc -O2 -c "$OUT/calls.c" -o "$OUT/calls.o"
gcc -O2 -c "$OUT/callee.c" -o "$OUT/callee.o"
# No run starts again for thread-locals (they all fit glibc's default surplus), which under
# valgrind would fail: /proc/self/exe is valgrind's own binary.
# The empty program first: what every run executes comes first in the file. Then command
# lines with options (clap reads them, not `plain_run`), a second thread and a lazy object.
# A warm start (`--cache`) next: its first run fills the cache, the second is profiled.
runs=(
    "empty $OUT/empty.o"
    "threads --threads 2 $OUT/empty.o"
    "lazy $OUT/calls.o --lazy $OUT/callee.o"
    "warm --cache=$OUT/cache $FIX/sqlite/gcc-O2-pie/driver.o /usr/lib/x86_64-linux-gnu/libsqlite3.a -lm"
    "sqlite $FIX/sqlite/gcc-O2-pie/driver.o /usr/lib/x86_64-linux-gnu/libsqlite3.a -lm"
    "json $FIX/json/gxx-O2-pie/catalog.o $FIX/json/gxx-O2-pie/main.o $FIX/json/gxx-O2-pie/query.o -lstdc++"
    "lua $FIX/lua/gcc-O2-pie/driver.o /usr/lib/x86_64-linux-gnu/liblua5.4.a -lm -ldl"
)
profiles=()
for run in "${runs[@]}"; do
    read -r -a words <<<"$run"
    if [[ ${words[0]} == warm ]]; then
        valgrind --tool=callgrind \
            --callgrind-out-file="$OUT/fill.cg" "$JITLD" run "${words[@]:1}" >/dev/null 2>&1 || true
    fi
    valgrind --tool=callgrind --demangle=no \
        --callgrind-out-file="$OUT/${words[0]}.cg" "$JITLD" run "${words[@]:1}" >/dev/null 2>&1 || true
    profiles+=("$OUT/${words[0]}.cg")
done
python3 - "$(basename "$JITLD")" "${profiles[@]}" >scripts/hot-text.symbols <<'PY'
import re, sys
binary, profiles = sys.argv[1], sys.argv[2:]
seen = set()
for path in profiles:
    objects, functions, current, found = {}, {}, "", set()
    for line in open(path):
        m = re.match(r"(c?ob|c?fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if not m:
            continue
        kind, ident, name = m.groups()
        table = objects if kind.endswith("ob") else functions
        if name:
            table[ident] = name.strip()
        if kind == "ob":
            current = objects.get(ident, "")
        elif kind == "fn" and current.endswith("/" + binary):
            found.add(functions.get(ident, ""))
    for name in sorted(found):
        if not name.startswith(("_ZN", "_R")):
            continue  # addresses without a symbol, "(below main)"
        if name not in seen:
            seen.add(name)
            print(name)
PY
echo "scripts/hot-text.symbols: $(wc -l <scripts/hot-text.symbols) functions"
