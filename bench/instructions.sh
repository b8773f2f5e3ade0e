#!/usr/bin/env bash
# Instruction counts of jitld (`make bench-instructions`): one run of each case under
# valgrind --tool=callgrind, printing the total instructions executed (Ir) and the
# functions that execute the most of them (self cost). Wall time on a shared machine is
# noisy; instruction counts are not (they change by a few hundred per run at most), so
# this is the place to show that a change saves work.
#
#   bash bench/instructions.sh            (or `make bench-instructions`)
#
# Cases (one run each):
#   sqlite     jitld run on the sqlite/gcc-O2-pie fixture: link the driver against the
#              static libsqlite3.a, then run it (the program's own instructions included)
#   1000-objects  jitld run main_1000.o f_0.o ... f_999.o: link the 1,000 generated objects
#              of the scaling table (bench/gen_many.py --scaling; main then calls 5 small
#              entries, a negligible part)
#
# `jitld run` starts itself a second time, to raise glibc's static TLS surplus, when the
# program's thread-locals need more than glibc's default (src/cli/reexec.rs), by exec'ing
# /proc/self/exe, which under valgrind is valgrind's own tool binary, so that exec fails.
# The runs here set the tunable up front (GLIBC_TUNABLES=glibc.rtld.optional_static_tls=
# 262144), which makes jitld never start again; the counts are of the one process that
# does the work.
#
# Output: target/bench/instructions/<case>.callgrind.out (open with callgrind_annotate or
# kcachegrind), <case>.stdout/.stderr, and instructions.json with the totals. The totals of
# the previous run (with its jitld's commit) are printed next to the new ones, so running
# this before and after a change shows the saving.
#
# Environment:
#   JITLD             the jitld binary (default target/release/jitld, built if missing)
#   BENCH_OUT         output directory's parent (default target/bench)
#   BENCH_INSTR_TOP   how many functions to list per case (default 25; self cost summed over
#                     the source files a function's inlined code comes from)
#   BENCH_INSTR_CASES which cases (default "sqlite 1000-objects")
set -euo pipefail

die() {
    echo "bench/instructions.sh: error: $*" >&2
    exit 1
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
JITLD="${JITLD:-$ROOT/target/release/jitld}"
BENCH_OUT="${BENCH_OUT:-target/bench}"
TOP="${BENCH_INSTR_TOP:-25}"
CASES="${BENCH_INSTR_CASES:-sqlite 1000-objects}"
[[ "$TOP" =~ ^[0-9]+$ ]] || die "BENCH_INSTR_TOP must be a number"

command -v valgrind >/dev/null 2>&1 || die "valgrind not found; install it with: apt-get install valgrind (or run scripts/install-deps.sh)"
command -v callgrind_annotate >/dev/null 2>&1 || die "callgrind_annotate not found (it comes with valgrind)"
if [[ ! -x "$JITLD" ]]; then
    [[ "$JITLD" == "$ROOT/target/release/jitld" ]] || die "JITLD=$JITLD is not an executable"
    cargo build --release
fi
JITLD="$(cd "$(dirname "$JITLD")" && pwd)/$(basename "$JITLD")"

mkdir -p "$BENCH_OUT/instructions"
OUT="$(cd "$BENCH_OUT/instructions" && pwd)"
SCALE_SRC="$(cd "$BENCH_OUT" && pwd)/scale/src"
SCALE_DIR="$(cd "$BENCH_OUT" && pwd)/scale/gcc-O2"

# case_command NAME : sets CMD (and DIR, where it runs) for a case.
case_command() {
    case "$1" in
    sqlite)
        local manifest="$ROOT/target/fixtures/manifest.tsv" line
        [[ -f "$manifest" ]] || bash fixtures/build.sh target/fixtures
        line="$(awk -F'\t' '$1 == "real" && $2 == "sqlite" && $3 == "gcc-O2-pie" { print; exit }' "$manifest")"
        [[ -n "$line" ]] || die "no sqlite/gcc-O2-pie in $manifest"
        local -a inputs
        read -r -a inputs <<<"$(cut -f5 <<<"$line")"
        CMD=("$JITLD" run "${inputs[@]}")
        DIR="$ROOT"
        ;;
    1000-objects)
        # The scaling table's pool (bench/run.sh compiles all of it; only what is missing here).
        python3 bench/gen_many.py "$SCALE_SRC" --scaling 1000 --called 5 >/dev/null
        mkdir -p "$SCALE_DIR"
        if [[ "$(cat "$SCALE_DIR/compile-command" 2>/dev/null || true)" != "gcc -O2 -c" ]]; then
            rm -f "$SCALE_DIR"/*.o
            echo "gcc -O2 -c" >"$SCALE_DIR/compile-command"
        fi
        local i stale=()
        for ((i = 0; i < 1000; i++)); do
            [[ "$SCALE_DIR/f_$i.o" -nt "$SCALE_SRC/f_$i.c" ]] || stale+=("f_$i")
        done
        [[ "$SCALE_DIR/main_1000.o" -nt "$SCALE_SRC/main_1000.c" ]] || stale+=(main_1000)
        if ((${#stale[@]})); then
            echo "compiling ${#stale[@]} generated sources"
            (cd "$SCALE_DIR" && printf "$SCALE_SRC/%s.c\n" "${stale[@]}" | xargs -P "$(nproc)" -n 32 gcc -O2 -c)
        fi
        local -a objs=() called
        for ((i = 0; i < 1000; i++)); do objs+=("f_$i.o"); done
        read -r -a called <"$SCALE_SRC/called_1000.txt"
        CMD=("$JITLD" run main_1000.o "${objs[@]}" -- "${called[@]}")
        DIR="$SCALE_DIR"
        ;;
    *) die "unknown case '$1' (cases: sqlite 1000-objects)" ;;
    esac
}

declare -A TOTAL=()
for c in $CASES; do
    case_command "$c"
    echo "=== $c: valgrind --tool=callgrind ${CMD[0]##*/} ${CMD[*]:1:3} ... (${#CMD[@]} words)"
    rm -f "$OUT/$c.callgrind.out"
    rc=0
    (cd "$DIR" && GLIBC_TUNABLES=glibc.rtld.optional_static_tls=262144 valgrind --tool=callgrind \
        --smc-check=all-non-file --callgrind-out-file="$OUT/$c.callgrind.out" "${CMD[@]}" \
        >"$OUT/$c.stdout" 2>"$OUT/$c.stderr") || rc=$?
    total="$(sed -n 's/^totals: *//p' "$OUT/$c.callgrind.out" 2>/dev/null | head -n1)"
    [[ "$total" =~ ^[0-9]+$ ]] || die "$c: no callgrind totals (exit $rc); see $OUT/$c.stderr"
    TOTAL[$c]=$total
    echo "  exit status $rc; instructions executed (Ir): $total"
    echo "  top $TOP functions by self Ir:"
    callgrind_annotate --auto=no --threshold=100 "$OUT/$c.callgrind.out" 2>/dev/null | python3 -c '
import collections, re, sys
top = int(sys.argv[1])
# callgrind_annotate lists "file:function [object]"; code inlined from several files shows
# up once per file, so sum per function (and object) first.
cost = collections.Counter()
total = 0
for line in sys.stdin:
    m = re.match(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)$", line)
    if not m:
        continue
    ir = int(m.group(1).replace(",", ""))
    if "PROGRAM TOTALS" in line:
        total = ir
        continue
    where = m.group(2)
    fm = re.match(r"^(?:\?\?\?|.*?\.(?:rs|c|h|S|s|cc|cpp|hpp|inc)):(.*?)(?: \[(.*)\])?$", where)
    if fm:
        where = fm.group(1)
        if fm.group(2):
            where += "  [" + fm.group(2).rsplit("/", 1)[-1] + "]"
    cost[where.replace("  [jitld]", "")] += ir
for where, ir in cost.most_common(top):
    print(f"    {ir:>14,} {100.0 * ir / total if total else 0:5.1f}%  {where[:150]}")
' "$TOP"
    echo
done

# Totals, next to the previous run's.
python3 - "$OUT/instructions.json" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" "$JITLD" "${!TOTAL[@]}" -- "${TOTAL[@]}" <<'EOF'
import json, os, sys
path, commit, jitld = sys.argv[1:4]
rest = sys.argv[4:]
sep = rest.index("--")
names, totals = rest[:sep], [int(x) for x in rest[sep + 1:]]
prev = {}
if os.path.exists(path):
    with open(path) as f:
        prev = json.load(f)
print("== instructions executed (Ir)")
for name, total in zip(names, totals):
    p = prev.get("totals", {}).get(name)
    change = f"   previous run ({prev.get('commit', '?')}): {p:,}, change {100.0 * (total - p) / p:+.2f}%" if p else ""
    print(f"  {name:<14}{total:>16,}{change}")
with open(path, "w") as f:
    json.dump({"commit": commit, "jitld": jitld, "totals": dict(zip(names, totals))}, f, indent=1)
    f.write("\n")
EOF
