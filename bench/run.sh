#!/usr/bin/env bash
# jitld benchmark: jitld vs llvm-jitlink-19 vs a native executable.
#
#   bash bench/run.sh            (or `make bench`, which builds jitld and the fixtures first)
#
# For each benchmark case (a real-library driver from the fixtures manifest,
# named <library>/<variant>, e.g. sqlite/gcc-O2-pie) this script
#   1. runs `jitld run <manifest args>`, llvm-jitlink-19 on the same inputs and
#      the natively linked executable once each and checks that all three print
#      the same stdout and exit with the same status (llvm-jitlink failing is a
#      warning: the case is then timed without it; jitld disagreeing with the
#      native build is an error: the case is reported but the script exits 1);
#   2. times the commands that passed in ONE hyperfine run (hyperfine's JSON goes
#      to target/bench/<library>-<variant>.hyperfine.json);
#   3. measures peak RSS (`/usr/bin/time -f %M`, median of BENCH_RSS_RUNS runs);
# and, once, times the three on an empty program (`int main(void) { return 0; }`)
# as a start-up baseline: llvm-jitlink alone takes ~18 ms to start (it loads
# libLLVM), so the report also shows the ratios with each tool's baseline subtracted;
# then bench/report.py prints a table per case with ratios, the issue's target
# (jitld <= 0.5 x llvm-jitlink on sqlite) and writes target/bench/summary.json.
#
# C++ cases (a manifest entry whose jitld inputs include -lstdc++ or libstdc++.a,
# e.g. json/gxx-O2-pie, the nlohmann/json driver fixtures/real/json_driver/):
# llvm-jitlink runs C++ only with its ORC runtime (static initializers, atexit,
# __dso_handle), and with the ORC runtime it cannot take a shared library as an
# input ("Unsupported file format"), so for these cases it gets
#   -orc-runtime=<liborc_rt>   found next to llvm-jitlink (<llvm prefix>/lib/clang/*/lib/
#                              linux/liborc_rt-x86_64.a, from libclang-rt-19-dev) or
#                              given as LLVM_ORC_RUNTIME
#   -preload=<lib>.so          for every shared library among the translated inputs
#                              (-lstdc++ -> /usr/lib/gcc/x86_64-linux-gnu/12/libstdc++.so)
# and the objects as usual. If llvm-jitlink does not behave like the native build
# with the objects in the manifest's order, it is tried once more with the objects
# in reverse order; when that run matches, it is the one timed and the report says
# so in a note. (llvm-jitlink-19 drops the FDEs of an object's COMDAT groups that an
# earlier object already defined, but lays out the remaining .eh_frame records at
# their original alignment offsets; the 4 zero bytes of padding that can leave after
# the CIE read as the end of the section to libgcc's __register_frame, so none of the
# object's FDEs are registered and an exception thrown through its frames ends in
# std::terminate. Which objects that hits depends on the order.) C++ cases also get
# a C++ start-up baseline, an empty C++ main that
# uses std::cout, linked against the C++ runtime the same way; their 'excl.
# start-up' ratios subtract that one.
#
# Lazy vs eager start-up: the case many/<compiler>-<opt> (e.g. many/gcc-O2) is not a
# fixture but a generated program (bench/gen_many.py, written to target/bench/many/src/,
# compiled to target/bench/many/<variant>/): main.o plus BENCH_MANY_OBJECTS objects
# f_<i>.o, of which main references every entry (a function-pointer table built at
# run time) but calls only BENCH_MANY_CALLED. One hyperfine run times
#   jitld-eager        jitld run main.o f_0.o ... f_<N-1>.o
#   jitld-lazy         jitld run main.o --lazy f_0.o ... --lazy f_<N-1>.o
#   llvm-jitlink-eager llvm-jitlink main.o f_0.o ...
#   llvm-jitlink-lazy  llvm-jitlink main.o -lazy f_0.o ...   (only if this llvm-jitlink
#                      has a -lazy option; llvm-jitlink-19 has none: skipped with a warning)
#   native             the same objects linked by the compiler driver
# after checking that each prints the same stdout and exit status as the native build.
# jitld-eager and jitld-lazy are also run once more with --stats (not timed); their
# stderr (logs/many-<variant>.jitld-{eager,lazy}.stats.err) gives the report the
# objects linked and lazy stubs created/hit.
#
# Prerequisites (this script installs nothing; it stops with a message if one is missing):
#   hyperfine        apt-get install hyperfine
#   llvm-jitlink-19  apt-get install llvm-19
#   /usr/bin/time    apt-get install time
#   python3          apt-get install python3
#   and what `cargo build --release` and fixtures/build.sh need (cargo, gcc, clang-19, lld-19).
# jitld (target/release/jitld) and the fixtures (target/fixtures/manifest.tsv) are
# built if they are missing; they are not rebuilt if they are only out of date
# (`make bench` takes care of that).
#
# Environment:
#   BENCH_CASES     cases to run, space separated <library>/<variant>, or many/<variant>
#                   for the lazy start-up program (<variant>: gcc-O<n> or clang-O<n>)
#                   (default: sqlite/gcc-O2-pie lua/gcc-O2-pie zlib/gcc-O2-pie
#                   sqlite/clang-O2-pic json/gxx-O2-pie many/gcc-O2)
#   BENCH_MANY_OBJECTS  objects in the many/* program (default 200)
#   BENCH_MANY_CALLED   how many of their entries main calls (default 5)
#   BENCH_RUNS      hyperfine --runs (default 40)
#   BENCH_WARMUP    hyperfine --warmup (default 2)
#   BENCH_RSS_RUNS  runs per command for the peak-RSS median (default 3)
#   BENCH_OUT       output directory (default target/bench)
#   LLVM_JITLINK    the llvm-jitlink binary (default llvm-jitlink-19)
#   LLVM_ORC_RUNTIME  the ORC runtime archive llvm-jitlink uses for C++ cases
#                   (default: found next to LLVM_JITLINK, see above)
#   JITLD           the jitld binary (default target/release/jitld, built if missing;
#                   another path is used as it is, e.g. to compare two builds)
#
# How the manifest's jitld arguments become llvm-jitlink's: objects and archives
# are passed as they are (positional inputs, same order); `-L DIR` adds a search
# directory and `-lNAME` is resolved here the way ld does it (in each directory,
# libNAME.so before libNAME.a; -L directories first, then the system ones) and
# passed as a file path. That is needed because llvm-jitlink's own -l cannot read
# GNU ld scripts such as /usr/lib/x86_64-linux-gnu/libm.so, so an ld script is
# replaced by the files of its GROUP/INPUT (without the AS_NEEDED ones), e.g.
# -lm -> /lib/x86_64-linux-gnu/libm.so.6. llvm-jitlink runs `main` by default;
# program arguments follow `-args`, and llvm-jitlink-19 passes them as the whole argv,
# argv[0] included (without -args, main gets argc == 0), so `-args` is always given and
# starts with the first input, the argv[0] jitld uses.
set -euo pipefail

die() {
    echo "bench/run.sh: error: $*" >&2
    exit 1
}
warn() {
    echo "bench/run.sh: WARNING: $*" >&2
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

BENCH_CASES="${BENCH_CASES:-sqlite/gcc-O2-pie lua/gcc-O2-pie zlib/gcc-O2-pie sqlite/clang-O2-pic json/gxx-O2-pie many/gcc-O2}"
BENCH_MANY_OBJECTS="${BENCH_MANY_OBJECTS:-200}"
BENCH_MANY_CALLED="${BENCH_MANY_CALLED:-5}"
BENCH_RUNS="${BENCH_RUNS:-40}"
BENCH_WARMUP="${BENCH_WARMUP:-2}"
BENCH_RSS_RUNS="${BENCH_RSS_RUNS:-3}"
BENCH_OUT="${BENCH_OUT:-target/bench}"
LLVM_JITLINK="${LLVM_JITLINK:-llvm-jitlink-19}"
JITLD_DEFAULT="$ROOT/target/release/jitld"
JITLD="${JITLD:-$JITLD_DEFAULT}"
FIXTURES_OUT="$ROOT/target/fixtures"
MANIFEST="$FIXTURES_OUT/manifest.tsv"
# A single run of any command is cut off after this many seconds during verification.
VERIFY_TIMEOUT=120

for n in BENCH_RUNS BENCH_WARMUP BENCH_RSS_RUNS BENCH_MANY_OBJECTS BENCH_MANY_CALLED; do
    [[ "${!n}" =~ ^[0-9]+$ ]] || die "$n must be a non-negative integer, got '${!n}'"
done
((BENCH_RUNS >= 2)) || die "BENCH_RUNS must be at least 2 (hyperfine needs two runs for a standard deviation)"
((BENCH_RSS_RUNS >= 1)) || die "BENCH_RSS_RUNS must be at least 1"
((BENCH_MANY_OBJECTS >= 1 && BENCH_MANY_CALLED >= 1 && BENCH_MANY_CALLED <= BENCH_MANY_OBJECTS)) ||
    die "need 1 <= BENCH_MANY_CALLED <= BENCH_MANY_OBJECTS, got $BENCH_MANY_CALLED and $BENCH_MANY_OBJECTS"
[[ -n "${BENCH_CASES// /}" ]] || die "BENCH_CASES is empty"
for c in $BENCH_CASES; do
    [[ "$c" =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] || die "bad case '$c' in BENCH_CASES (expected <library>/<variant>)"
    if [[ "$c" == many/* && ! "${c#many/}" =~ ^(gcc|clang)-O[0-3s]$ ]]; then
        die "bad case '$c' in BENCH_CASES (the lazy start-up case is many/gcc-O<n> or many/clang-O<n>, n in 0-3 or s)"
    fi
done
# The real-library cases (from the fixtures manifest); the many/* cases are generated here.
REAL_CASES=""
for c in $BENCH_CASES; do
    [[ "$c" == many/* ]] || REAL_CASES+="$c "
done

# ---------------------------------------------------------------- prerequisites
need() { # need TOOL APT-PACKAGE
    command -v "$1" >/dev/null 2>&1 || die "'$1' not found; install it with: apt-get install $2"
}
need hyperfine hyperfine
need "$LLVM_JITLINK" llvm-19
need python3 python3
need timeout coreutils
need gcc gcc
if [[ " $BENCH_CASES" == *" many/clang-"* ]]; then
    need clang-19 clang-19
fi
[[ -x /usr/bin/time ]] || die "/usr/bin/time not found; install it with: apt-get install time"

if [[ "$JITLD" != "$JITLD_DEFAULT" ]]; then
    [[ -x "$JITLD" ]] || die "JITLD=$JITLD is not an executable"
elif [[ ! -x "$JITLD" ]]; then
    echo "bench: $JITLD is missing, running cargo build --release"
    need cargo "cargo (or install Rust with rustup)"
    cargo build --release
    [[ -x "$JITLD" ]] || die "cargo build --release did not produce $JITLD"
elif [[ -n "$(find src linker/src Cargo.toml linker/Cargo.toml Cargo.lock -newer "$JITLD" -print -quit 2>/dev/null)" ]]; then
    warn "$JITLD is older than the sources; run 'make build' (or 'make bench') to benchmark the current code"
fi

# manifest_line CASE : the manifest's line for a real case (empty if there is none).
manifest_line() {
    awk -F'\t' -v n="${1%%/*}" -v v="${1#*/}" '$1 == "real" && $2 == n && $3 == v { print; exit }' "$MANIFEST"
}

# Every case needs its manifest line, its objects and its native executable; build the
# fixtures if any is missing.
fixtures_ready() {
    [[ -n "$REAL_CASES" ]] || return 0
    [[ -f "$MANIFEST" ]] || return 1
    local c line f
    for c in $REAL_CASES; do
        line="$(manifest_line "$c")"
        [[ -n "$line" && -x "$(cut -f4 <<<"$line")" ]] || return 1
        for f in $(cut -f5 <<<"$line"); do
            [[ "$f" != /* || -f "$f" ]] || return 1
        done
    done
}
if ! fixtures_ready; then
    echo "bench: fixtures missing, running bash fixtures/build.sh target/fixtures"
    bash fixtures/build.sh target/fixtures
fi
for c in $REAL_CASES; do
    if ! awk -F'\t' -v n="${c%%/*}" -v v="${c#*/}" '$1 == "real" && $2 == n && $3 == v { found = 1 } END { exit !found }' "$MANIFEST"; then
        die "case '$c' is not in $MANIFEST; available: $(awk -F'\t' '$1 == "real" { printf "%s/%s ", $2, $3 }' "$MANIFEST")"
    fi
done

mkdir -p "$BENCH_OUT"
BENCH_OUT="$(cd "$BENCH_OUT" && pwd)"
RESULTS="$BENCH_OUT/results.tsv"
META="$BENCH_OUT/meta.tsv"
LOGS="$BENCH_OUT/logs"
mkdir -p "$LOGS"
: >"$RESULTS"

# C++ cases: real cases whose jitld inputs include the C++ runtime.
is_cxx_case() {
    [[ " $(manifest_line "$1" | cut -f5) " =~ [[:space:]](-lstdc\+\+|[^[:space:]]*/libstdc\+\+\.a)[[:space:]] ]]
}
CXX_CASES=""
for c in $REAL_CASES; do
    if is_cxx_case "$c"; then CXX_CASES+="$c "; fi
done

# The ORC runtime llvm-jitlink needs to run C++ (sets ORC_RUNTIME, or ORC_RUNTIME_NOTE
# saying why there is none).
ORC_RUNTIME=""
ORC_RUNTIME_NOTE=""
find_orc_runtime() {
    if [[ -n "${LLVM_ORC_RUNTIME:-}" ]]; then
        if [[ -f "$LLVM_ORC_RUNTIME" ]]; then
            ORC_RUNTIME="$LLVM_ORC_RUNTIME"
        else
            ORC_RUNTIME_NOTE="LLVM_ORC_RUNTIME=$LLVM_ORC_RUNTIME does not exist"
        fi
        return
    fi
    local bin prefix f
    bin="$(readlink -f "$(command -v "$LLVM_JITLINK")")"
    prefix="$(dirname "$(dirname "$bin")")"
    for f in "$prefix"/lib/clang/*/lib/linux/liborc_rt-x86_64.a "$prefix"/lib/clang/*/lib/x86_64*-linux-gnu/liborc_rt.a; do
        if [[ -f "$f" ]]; then
            ORC_RUNTIME="$f"
            return
        fi
    done
    ORC_RUNTIME_NOTE="no ORC runtime (liborc_rt) under $prefix/lib/clang, which llvm-jitlink needs to run C++; install libclang-rt-19-dev or set LLVM_ORC_RUNTIME"
}
if [[ -n "$CXX_CASES" ]]; then
    find_orc_runtime
    if [[ -z "$ORC_RUNTIME" ]]; then
        warn "$ORC_RUNTIME_NOTE; the C++ cases ($CXX_CASES) are timed without llvm-jitlink"
    fi
fi

# ---------------------------------------------------------------- llvm-jitlink arguments
SYSTEM_LIB_DIRS=(/usr/local/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu
    /usr/local/lib /lib64 /usr/lib64 /lib /usr/lib)
# The compiler driver puts GCC's own library directory (libstdc++.so, libgcc_s.so) first.
GCC_LIB_DIR="$(dirname "$(gcc -print-file-name=libstdc++.so)")"
if [[ "$GCC_LIB_DIR" == /* && -d "$GCC_LIB_DIR" ]]; then
    SYSTEM_LIB_DIRS=("$GCC_LIB_DIR" "${SYSTEM_LIB_DIRS[@]}")
fi

is_elf() {
    [[ "$(LC_ALL=C head -c 4 "$1" 2>/dev/null)" == $'\177ELF' ]]
}

# Prints the files named by a GNU ld script's GROUP/INPUT, one a line, leaving out
# AS_NEEDED(...) groups and comments.
ld_script_files() {
    tr '\n' ' ' <"$1" |
        sed -e 's#/\*[^*]*\*\+\([^/*][^*]*\*\+\)*/##g' -e 's/AS_NEEDED *([^)]*)//g' |
        grep -oE '(GROUP|INPUT) *\([^)]*\)' |
        sed -e 's/^[A-Z]* *(//' -e 's/)$//' | tr -s ' ' '\n' | grep -v '^$' || true
}

# resolve_lib NAME DIR... : the file(s) ld would use for -lNAME, one a line.
resolve_lib() {
    local name=$1 d f
    shift
    for d in "$@" "${SYSTEM_LIB_DIRS[@]}"; do
        f="$d/lib$name.so"
        if [[ -e "$f" ]]; then
            if is_elf "$f"; then
                echo "$f"
            else
                ld_script_files "$f"
            fi
            return 0
        fi
        f="$d/lib$name.a"
        if [[ -e "$f" ]]; then
            echo "$f"
            return 0
        fi
    done
    return 1
}

# jitld_to_llvm_jitlink ARG... : sets LJL_INPUTS to llvm-jitlink's inputs for jitld's.
jitld_to_llvm_jitlink() {
    local -a dirs=()
    LJL_INPUTS=()
    local a lib files
    while (($#)); do
        a=$1
        shift
        case "$a" in
        -L)
            (($#)) || return 1
            dirs+=("$1")
            shift
            ;;
        -L*) dirs+=("${a#-L}") ;;
        -l)
            (($#)) || return 1
            lib=$1
            shift
            ;&
        -l*)
            [[ "$a" == -l ]] || lib="${a#-l}"
            files="$(resolve_lib "$lib" "${dirs[@]+"${dirs[@]}"}")" || {
                echo "cannot find library -l$lib" >&2
                return 1
            }
            [[ -n "$files" ]] || {
                echo "-l$lib names an ld script without inputs" >&2
                return 1
            }
            mapfile -t -O "${#LJL_INPUTS[@]}" LJL_INPUTS <<<"$files"
            ;;
        -*)
            echo "don't know how to pass jitld option '$a' to llvm-jitlink" >&2
            return 1
            ;;
        *) LJL_INPUTS+=("$a") ;;
        esac
    done
}

# ljl_command CXX ORDER JITLD_INPUT... : sets LJL_CMD to the llvm-jitlink command for
# jitld's inputs, up to and including argv[0] after -args (the program arguments are the
# caller's to add). CXX=1: with the ORC runtime, shared libraries as -preload. ORDER is
# "manifest" or "reversed" (the relocatable objects in reverse order, each other input
# where it was; argv[0] stays the first input of the manifest's order). Returns 1, with
# the reason on stderr, if there is no such command.
ljl_command() {
    local cxx=$1 order=$2 f i
    shift 2
    jitld_to_llvm_jitlink "$@" || return 1
    LJL_CMD=("$LLVM_JITLINK")
    local -a inputs=()
    if ((cxx)); then
        if [[ -z "$ORC_RUNTIME" ]]; then
            echo "$ORC_RUNTIME_NOTE" >&2
            return 1
        fi
        LJL_CMD+=("-orc-runtime=$ORC_RUNTIME")
        for f in "${LJL_INPUTS[@]}"; do
            case "${f##*/}" in
            *.so | *.so.*) LJL_CMD+=("-preload=$f") ;;
            *) inputs+=("$f") ;;
            esac
        done
    else
        inputs=("${LJL_INPUTS[@]}")
    fi
    ((${#inputs[@]})) || {
        echo "no inputs besides shared libraries" >&2
        return 1
    }
    local argv0=${inputs[0]}
    if [[ "$order" == reversed ]]; then
        local -a objs=() slots=()
        for i in "${!inputs[@]}"; do
            if [[ "${inputs[$i]}" == *.o ]]; then
                objs+=("${inputs[$i]}")
                slots+=("$i")
            fi
        done
        for i in "${!slots[@]}"; do
            inputs[${slots[$i]}]=${objs[$((${#objs[@]} - 1 - i))]}
        done
    fi
    LJL_CMD+=("${inputs[@]}" -args "$argv0")
}

# ---------------------------------------------------------------- helpers
# Quotes a command (array) as one string for hyperfine -N (which splits it like a shell).
quote_cmd() {
    local out="" w
    for w in "$@"; do out+="$(printf '%q' "$w") "; done
    echo "${out% }"
}

# run_once LOGPREFIX CMD... : runs CMD once with a timeout; stdout/stderr go to
# LOGPREFIX.out/.err; prints the exit status.
run_once() {
    local prefix=$1 rc=0
    shift
    timeout --kill-after=5 "$VERIFY_TIMEOUT" "$@" >"$prefix.out" 2>"$prefix.err" </dev/null || rc=$?
    echo "$rc"
}

# peak_rss CMD... : peak RSS in KiB of BENCH_RSS_RUNS runs, comma separated.
peak_rss() {
    local i f="$BENCH_OUT/.time.$$" kib samples=()
    for ((i = 0; i < BENCH_RSS_RUNS; i++)); do
        rm -f "$f"
        /usr/bin/time -f '%M' -o "$f" "$@" >/dev/null 2>&1 </dev/null || true
        kib="$(tail -n 1 "$f" 2>/dev/null || true)"
        [[ "$kib" =~ ^[0-9]+$ ]] || kib=""
        samples+=("$kib")
    done
    rm -f "$f"
    local IFS=,
    echo "${samples[*]}"
}

# Column 8 of results.tsv is free text; keep it on one line and free of tabs.
one_line() {
    tr '\t\n' '  ' | sed 's/ *$//' | cut -c1-400
}

# record CASE TOOL STATUS RC EXPECTED_RC RSS COMMAND NOTE
record() {
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"
}

# ---------------------------------------------------------------- meta
load_avg() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?"; }
{
    printf 'started\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    printf 'git_commit\t%s\n' "$(git rev-parse HEAD 2>/dev/null || echo unknown)"
    printf 'git_dirty\t%s\n' "$(if [[ -n "$(git status --porcelain -- src linker Cargo.toml Cargo.lock 2>/dev/null)" ]]; then echo yes; else echo no; fi)"
    printf 'cpus\t%s\n' "$(nproc 2>/dev/null || echo '?')"
    printf 'cpu_model\t%s\n' "$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //' || echo '?')"
    printf 'kernel\t%s\n' "$(uname -r)"
    printf 'load_before\t%s\n' "$(load_avg)"
    printf 'runs\t%s\n' "$BENCH_RUNS"
    printf 'warmup\t%s\n' "$BENCH_WARMUP"
    printf 'rss_runs\t%s\n' "$BENCH_RSS_RUNS"
    printf 'hyperfine\t%s\n' "$(hyperfine --version)"
    printf 'llvm_jitlink\t%s\n' "$("$LLVM_JITLINK" --version 2>&1 | grep -m1 -i 'version' | sed 's/^ *//')"
    printf 'jitld\t%s\n' "$("$JITLD" --version 2>&1 | head -n1)"
    printf 'jitld_path\t%s\n' "$JITLD"
    printf 'many_objects\t%s\n' "$BENCH_MANY_OBJECTS"
    printf 'many_called\t%s\n' "$BENCH_MANY_CALLED"
    printf 'cxx_cases\t%s\n' "${CXX_CASES% }"
    printf 'orc_runtime\t%s\n' "$ORC_RUNTIME"
} >"$META"

echo "bench: cases: $BENCH_CASES"
echo "bench: hyperfine --runs $BENCH_RUNS --warmup $BENCH_WARMUP; peak RSS: median of $BENCH_RSS_RUNS; load average $(load_avg) on $(nproc) CPUs"

# ---------------------------------------------------------------- start-up baseline
# The three tools on an empty main: what each costs before any real work.
echo
echo "=== baseline (empty main)"
BASE="$BENCH_OUT/baseline"
mkdir -p "$BASE"
printf 'int main(void) { return 0; }\n' >"$BASE/empty.c"
rm -f "$BENCH_OUT/baseline.hyperfine.json"
if gcc -c -O2 -fPIE -o "$BASE/empty.o" "$BASE/empty.c" && gcc -pie -o "$BASE/native" "$BASE/empty.o"; then
    hf=(hyperfine -N --warmup "$BENCH_WARMUP" --runs "$BENCH_RUNS" --export-json "$BENCH_OUT/baseline.hyperfine.json")
    timed=()
    for tool in jitld llvm-jitlink native; do
        case "$tool" in
        jitld) cmd=("$JITLD" run "$BASE/empty.o") ;;
        llvm-jitlink) cmd=("$LLVM_JITLINK" "$BASE/empty.o") ;;
        native) cmd=("$BASE/native") ;;
        esac
        if [[ "$(run_once "$LOGS/baseline.$tool" "${cmd[@]}")" == 0 ]]; then
            hf+=(-n "$tool" "$(quote_cmd "${cmd[@]}")")
            timed+=("$tool")
        else
            warn "baseline: $tool cannot run an empty main (see $LOGS/baseline.$tool.err); no start-up correction for it"
        fi
    done
    echo "  timing with hyperfine: ${timed[*]+"${timed[*]}"}"
    if ((${#timed[@]})) && ! "${hf[@]}" >"$LOGS/baseline.hyperfine.log" 2>&1; then
        warn "baseline: hyperfine failed; see $LOGS/baseline.hyperfine.log"
    fi
else
    warn "baseline: cannot compile an empty C program with gcc; no start-up correction"
fi

# The C++ start-up baseline (only if a C++ case is run): an empty C++ main that uses
# std::cout, so the C++ runtime is loaded and initialised, and each tool links it the
# way it links the C++ cases (jitld: -lstdc++; llvm-jitlink: ljl_command 1).
rm -f "$BENCH_OUT/baseline-cxx.hyperfine.json"
if [[ -n "$CXX_CASES" ]]; then
    echo
    echo "=== C++ baseline (empty main using std::cout, for ${CXX_CASES% })"
    printf '#include <iostream>\nint main() { std::cout.flush(); return 0; }\n' >"$BASE/empty_cxx.cpp"
    if g++ -c -O2 -fPIE -o "$BASE/empty_cxx.o" "$BASE/empty_cxx.cpp" && g++ -pie -o "$BASE/native_cxx" "$BASE/empty_cxx.o"; then
        hf=(hyperfine -N --warmup "$BENCH_WARMUP" --runs "$BENCH_RUNS" --export-json "$BENCH_OUT/baseline-cxx.hyperfine.json")
        timed=()
        for tool in jitld llvm-jitlink native; do
            case "$tool" in
            jitld) cmd=("$JITLD" run "$BASE/empty_cxx.o" -lstdc++) ;;
            llvm-jitlink)
                if ! ljl_command 1 manifest "$BASE/empty_cxx.o" -lstdc++ 2>"$LOGS/baseline-cxx.llvm-jitlink.args.err"; then
                    warn "baseline-cxx: no llvm-jitlink command ($(one_line <"$LOGS/baseline-cxx.llvm-jitlink.args.err")); no C++ start-up correction for it"
                    continue
                fi
                cmd=("${LJL_CMD[@]}")
                ;;
            native) cmd=("$BASE/native_cxx") ;;
            esac
            if [[ "$(run_once "$LOGS/baseline-cxx.$tool" "${cmd[@]}")" == 0 ]]; then
                hf+=(-n "$tool" "$(quote_cmd "${cmd[@]}")")
                timed+=("$tool")
            else
                warn "baseline-cxx: $tool cannot run an empty C++ main (see $LOGS/baseline-cxx.$tool.err); no C++ start-up correction for it"
            fi
        done
        echo "  timing with hyperfine: ${timed[*]+"${timed[*]}"}"
        if ((${#timed[@]})) && ! "${hf[@]}" >"$LOGS/baseline-cxx.hyperfine.log" 2>&1; then
            warn "baseline-cxx: hyperfine failed; see $LOGS/baseline-cxx.hyperfine.log"
        fi
    else
        warn "baseline-cxx: cannot compile an empty C++ program with g++; the C++ cases use the C baseline"
    fi
fi

# ---------------------------------------------------------------- lazy vs eager start-up
# Whether this llvm-jitlink has a -lazy option (per-file lazy linking, as jitld's --lazy);
# llvm-jitlink-19 has none. Sets LJL_LAZY_NOTE when it has not.
LJL_LAZY_NOTE=""
llvm_jitlink_has_lazy() {
    local help # (not piped straight into grep -q: with pipefail, an early exit of grep fails the pipe)
    help="$("$LLVM_JITLINK" --help-list-hidden 2>/dev/null || true)"
    if grep -qE '^[[:space:]]*--?lazy([= ]|$)' <<<"$help"; then
        return 0
    fi
    LJL_LAZY_NOTE="$LLVM_JITLINK has no -lazy option (not in its --help-list-hidden)"
    return 1
}

# run_many_case many/<cc>-O<n> : generate, compile, verify, time and record the lazy
# vs eager start-up program; sets JITLD_FAILED when jitld disagrees with the native build.
run_many_case() {
    local c=$1 variant=${1#many/}
    local tag="many-$variant" cc opt
    case "$variant" in
    gcc-*) cc=gcc ;;
    clang-*) cc=clang-19 ;;
    esac
    opt="-${variant#*-}"
    local src="$BENCH_OUT/many/src" dir="$BENCH_OUT/many/$variant"
    local n=$BENCH_MANY_OBJECTS i f
    echo
    echo "=== $c   (lazy vs eager start-up: main + $n objects, $BENCH_MANY_CALLED entries called)"

    # -- generate (files are only rewritten when their contents change)
    python3 bench/gen_many.py "$src" --objects "$n" --called "$BENCH_MANY_CALLED" >"$LOGS/$tag.gen.log" 2>&1 ||
        die "$c: bench/gen_many.py failed; see $LOGS/$tag.gen.log"

    # -- compile what is out of date (everything if the compiler command changed)
    mkdir -p "$dir"
    local want="$cc $opt -c" stale=()
    if [[ "$(cat "$dir/compile-command" 2>/dev/null || true)" != "$want" ]]; then
        rm -f "$dir"/*.o "$dir/native"
        echo "$want" >"$dir/compile-command"
    fi
    for f in "$dir"/f_*.o; do # objects of an earlier, larger BENCH_MANY_OBJECTS
        [[ -e "$f" ]] || continue
        i="${f##*/f_}"
        i="${i%.o}"
        [[ "$i" =~ ^[0-9]+$ ]] && ((i < n)) || rm -f "$f"
    done
    local names=(main)
    for ((i = 0; i < n; i++)); do names+=("f_$i"); done
    for f in "${names[@]}"; do
        [[ "$dir/$f.o" -nt "$src/$f.c" ]] || stale+=("$f")
    done
    if ((${#stale[@]})); then
        echo "  compiling ${#stale[@]} sources with $want"
        printf '%s\n' "${stale[@]}" |
            xargs -P "$(nproc 2>/dev/null || echo 2)" -I{} "$cc" "$opt" -c -o "$dir/{}.o" "$src/{}.c" \
                >"$LOGS/$tag.compile.log" 2>&1 ||
            die "$c: compiling the generated sources failed; see $LOGS/$tag.compile.log"
    fi
    local objs=()
    for ((i = 0; i < n; i++)); do objs+=("$dir/f_$i.o"); done
    "$cc" -o "$dir/native" "$dir/main.o" "${objs[@]}" >"$LOGS/$tag.link.log" 2>&1 ||
        die "$c: linking the native executable failed; see $LOGS/$tag.link.log"
    local pargs=()
    read -r -a pargs <"$src/called.txt"
    local kib
    kib="$(du -k -c "${objs[@]}" | tail -n 1 | cut -f1)"
    echo "  $n objects ($kib KiB of .o files); main calls the entries of objects ${pargs[*]}"

    # -- the commands
    local lazy_objs=() ljl_lazy_objs=()
    for f in "${objs[@]}"; do
        lazy_objs+=(--lazy "$f")
        ljl_lazy_objs+=(-lazy "$f")
    done
    local -a je_cmd=("$JITLD" run "$dir/main.o" "${objs[@]}" -- "${pargs[@]}")
    local -a jl_cmd=("$JITLD" run "$dir/main.o" "${lazy_objs[@]}" -- "${pargs[@]}")
    local -a le_cmd=("$LLVM_JITLINK" "$dir/main.o" "${objs[@]}" -args "$dir/main.o" "${pargs[@]}")
    local -a ll_cmd=("$LLVM_JITLINK" "$dir/main.o" "${ljl_lazy_objs[@]}" -args "$dir/main.o" "${pargs[@]}")
    local -a na_cmd=("$dir/native" "${pargs[@]}")
    local tools=(jitld-eager jitld-lazy llvm-jitlink-eager llvm-jitlink-lazy native)
    local -a cmd
    many_cmd() { # many_cmd TOOL : sets cmd
        case "$1" in
        jitld-eager) cmd=("${je_cmd[@]}") ;;
        jitld-lazy) cmd=("${jl_cmd[@]}") ;;
        llvm-jitlink-eager) cmd=("${le_cmd[@]}") ;;
        llvm-jitlink-lazy) cmd=("${ll_cmd[@]}") ;;
        native) cmd=("${na_cmd[@]}") ;;
        esac
    }

    # -- verification: one run each, native is the reference
    local nrc rc tool same err
    nrc="$(run_once "$LOGS/$tag.native" "${na_cmd[@]}")"
    ((nrc == 0)) || warn "$c: the native executable exited with $nrc; see $LOGS/$tag.native.err"
    declare -A status=() rcs=() notes=()
    status[native]=ok
    rcs[native]=$nrc
    for tool in jitld-eager jitld-lazy llvm-jitlink-eager llvm-jitlink-lazy; do
        if [[ "$tool" == llvm-jitlink-lazy ]] && ! llvm_jitlink_has_lazy; then
            status[$tool]=unsupported
            rcs[$tool]=""
            notes[$tool]="$LJL_LAZY_NOTE; not timed"
            warn "$c: $LJL_LAZY_NOTE; llvm-jitlink-lazy is skipped (jitld-lazy / llvm-jitlink-lazy cannot be computed)"
            continue
        fi
        many_cmd "$tool"
        rc="$(run_once "$LOGS/$tag.$tool" "${cmd[@]}")"
        rcs[$tool]=$rc
        cmp -s "$LOGS/$tag.native.out" "$LOGS/$tag.$tool.out" && same=same || same=differs
        if [[ "$rc" == "$nrc" && "$same" == same ]]; then
            status[$tool]=ok
            echo "  $tool: same stdout and exit status ($rc) as native"
            continue
        fi
        err="$(grep -m1 -v '^\s*$' "$LOGS/$tag.$tool.err" | one_line || true)"
        notes[$tool]="exit $rc vs native $nrc; stdout $same; first stderr line: ${err:-none}"
        if [[ "$tool" == jitld-* ]]; then
            status[$tool]=mismatch
            echo "bench/run.sh: ERROR: $c: $tool does not behave like the native build (${notes[$tool]}); see $LOGS/$tag.$tool.{out,err}; it is left out of the timing" >&2
            JITLD_FAILED=1
        else
            status[$tool]=failed
            warn "$c: $tool cannot run this case (${notes[$tool]}); the case is timed without it. Full log: $LOGS/$tag.$tool.err"
        fi
    done

    # -- jitld --stats: one more (untimed) run of each jitld command
    for tool in jitld-eager jitld-lazy; do
        many_cmd "$tool"
        rc="$(run_once "$LOGS/$tag.$tool.stats" "${cmd[0]}" run --stats "${cmd[@]:2}")"
        if ! grep -q '^jitld stats: linked ' "$LOGS/$tag.$tool.stats.err"; then
            warn "$c: $tool --stats printed no stats line (exit $rc); see $LOGS/$tag.$tool.stats.err"
        elif [[ "$rc" != "$nrc" ]] || ! cmp -s "$LOGS/$tag.native.out" "$LOGS/$tag.$tool.stats.out"; then
            echo "bench/run.sh: ERROR: $c: $tool --stats does not behave like the native build (exit $rc vs $nrc); see $LOGS/$tag.$tool.stats.{out,err}" >&2
            JITLD_FAILED=1
        else
            echo "  $tool --stats: $(grep -m1 '^jitld stats: linked ' "$LOGS/$tag.$tool.stats.err" | sed 's/^jitld stats: //')"
        fi
    done

    # -- timing: one hyperfine run with every command that passed
    local hf=(hyperfine -N -i --warmup "$BENCH_WARMUP" --runs "$BENCH_RUNS" --export-json "$BENCH_OUT/$tag.hyperfine.json")
    local timed=()
    rm -f "$BENCH_OUT/$tag.hyperfine.json"
    for tool in "${tools[@]}"; do
        [[ "${status[$tool]}" == ok ]] || continue
        many_cmd "$tool"
        hf+=(-n "$tool" "$(quote_cmd "${cmd[@]}")")
        timed+=("$tool")
    done
    echo "  timing with hyperfine: ${timed[*]}"
    if ! "${hf[@]}" >"$LOGS/$tag.hyperfine.log" 2>&1; then
        warn "$c: hyperfine failed; see $LOGS/$tag.hyperfine.log"
    fi

    # -- peak RSS, then one results line per tool
    local rss
    for tool in "${tools[@]}"; do
        many_cmd "$tool"
        rss=""
        [[ "${status[$tool]}" == ok ]] && rss="$(peak_rss "${cmd[@]}")"
        record "$c" "$tool" "${status[$tool]}" "${rcs[$tool]}" "$nrc" "$rss" "$(quote_cmd "${cmd[@]}")" "${notes[$tool]:-}"
    done
    unset status rcs notes
}

# ---------------------------------------------------------------- cases
JITLD_FAILED=0
for c in $BENCH_CASES; do
    if [[ "$c" == many/* ]]; then
        run_many_case "$c"
        continue
    fi
    lib="${c%%/*}"
    variant="${c#*/}"
    tag="$lib-$variant"
    echo
    echo "=== $c"

    line="$(manifest_line "$c")"
    cxx=0
    if is_cxx_case "$c"; then cxx=1; fi
    native="$(cut -f4 <<<"$line")"
    read -r -a jargs <<<"$(cut -f5 <<<"$line")"
    read -r -a pargs <<<"$(cut -f6 <<<"$line")"

    jitld_cmd=("$JITLD" run "${jargs[@]}")
    native_cmd=("$native")
    if ((${#pargs[@]})); then
        jitld_cmd+=(-- "${pargs[@]}")
        native_cmd+=("${pargs[@]}")
    fi
    ljl_cmd=()
    ljl_note=""
    if ljl_command "$cxx" manifest "${jargs[@]}" 2>"$LOGS/$tag.llvm-jitlink.args.err"; then
        ljl_cmd=("${LJL_CMD[@]}" "${pargs[@]+"${pargs[@]}"}")
    else
        ljl_note="could not translate the inputs: $(one_line <"$LOGS/$tag.llvm-jitlink.args.err")"
    fi

    # -- verification: one run each, native is the reference
    nrc="$(run_once "$LOGS/$tag.native" "${native_cmd[@]}")"
    if ((nrc >= 124)); then
        warn "$c: the native executable itself failed (exit status $nrc); see $LOGS/$tag.native.err"
    fi

    declare -A status=()
    declare -A rcs=()
    declare -A notes=()

    jrc="$(run_once "$LOGS/$tag.jitld" "${jitld_cmd[@]}")"
    rcs[jitld]=$jrc
    if [[ "$jrc" == "$nrc" ]] && cmp -s "$LOGS/$tag.native.out" "$LOGS/$tag.jitld.out"; then
        status[jitld]=ok
        echo "  jitld: same stdout and exit status ($jrc) as native"
    else
        status[jitld]=mismatch
        notes[jitld]="exit $jrc vs native $nrc; stdout $(cmp -s "$LOGS/$tag.native.out" "$LOGS/$tag.jitld.out" && echo same || echo differs); stderr: $(head -c 300 "$LOGS/$tag.jitld.err" | one_line | grep . || echo '(empty)')"
        echo "bench/run.sh: ERROR: $c: jitld does not behave like the native build (${notes[jitld]}); see $LOGS/$tag.jitld.{out,err}" >&2
        echo "bench/run.sh: ERROR: $c: jitld is left out of the timing" >&2
        JITLD_FAILED=1
    fi

    if ((${#ljl_cmd[@]} == 0)); then
        status[llvm-jitlink]=failed
        rcs[llvm-jitlink]=""
        notes[llvm-jitlink]="$ljl_note"
        warn "$c: llvm-jitlink cannot run this case: $ljl_note; the case is timed without it"
    else
        lrc="$(run_once "$LOGS/$tag.llvm-jitlink" "${ljl_cmd[@]}")"
        rcs[llvm-jitlink]=$lrc
        if [[ "$lrc" == "$nrc" ]] && cmp -s "$LOGS/$tag.native.out" "$LOGS/$tag.llvm-jitlink.out"; then
            status[llvm-jitlink]=ok
            echo "  llvm-jitlink: same stdout and exit status ($lrc) as native"
        else
            status[llvm-jitlink]=failed
            err="$(grep -m1 -v '^\s*$' "$LOGS/$tag.llvm-jitlink.err" | one_line || true)"
            notes[llvm-jitlink]="exit $lrc vs native $nrc; stdout $(cmp -s "$LOGS/$tag.native.out" "$LOGS/$tag.llvm-jitlink.out" && echo same || echo differs); first stderr line: ${err:-none}"
            # Once more with the objects in reverse order (see the top of this file).
            if ljl_command "$cxx" reversed "${jargs[@]}" 2>/dev/null &&
                [[ "${LJL_CMD[*]}" != "${ljl_cmd[*]:0:${#LJL_CMD[@]}}" ]]; then
                retry_cmd=("${LJL_CMD[@]}" "${pargs[@]+"${pargs[@]}"}")
                rrc="$(run_once "$LOGS/$tag.llvm-jitlink-reversed" "${retry_cmd[@]}")"
                if [[ "$rrc" == "$nrc" ]] && cmp -s "$LOGS/$tag.native.out" "$LOGS/$tag.llvm-jitlink-reversed.out"; then
                    status[llvm-jitlink]=ok
                    rcs[llvm-jitlink]=$rrc
                    notes[llvm-jitlink]="timed with the objects in reverse order: in the manifest's order it fails (${notes[llvm-jitlink]}; log: logs/$tag.llvm-jitlink.err)"
                    ljl_cmd=("${retry_cmd[@]}")
                    warn "$c: llvm-jitlink fails with the objects in the manifest's order ($err) but behaves like native with them reversed; that order is timed. Log of the failure: $LOGS/$tag.llvm-jitlink.err"
                    echo "  llvm-jitlink (objects reversed): same stdout and exit status ($rrc) as native"
                fi
            fi
            if [[ "${status[llvm-jitlink]}" != ok ]]; then
                warn "$c: llvm-jitlink cannot run this case (${notes[llvm-jitlink]}); the case is timed without it. Full log: $LOGS/$tag.llvm-jitlink.err"
            fi
        fi
    fi
    status[native]=ok
    rcs[native]=$nrc

    # -- timing: one hyperfine run with every command that passed
    hf=(hyperfine -N -i --warmup "$BENCH_WARMUP" --runs "$BENCH_RUNS" --export-json "$BENCH_OUT/$tag.hyperfine.json")
    rm -f "$BENCH_OUT/$tag.hyperfine.json"
    timed=()
    if [[ "${status[jitld]}" == ok ]]; then
        hf+=(-n jitld "$(quote_cmd "${jitld_cmd[@]}")")
        timed+=(jitld)
    fi
    if [[ "${status[llvm-jitlink]}" == ok ]]; then
        hf+=(-n llvm-jitlink "$(quote_cmd "${ljl_cmd[@]}")")
        timed+=(llvm-jitlink)
    fi
    hf+=(-n native "$(quote_cmd "${native_cmd[@]}")")
    timed+=(native)
    echo "  timing with hyperfine: ${timed[*]}"
    if ! "${hf[@]}" >"$LOGS/$tag.hyperfine.log" 2>&1; then
        warn "$c: hyperfine failed; see $LOGS/$tag.hyperfine.log"
    fi

    # -- peak RSS, then one results line per tool
    for tool in jitld llvm-jitlink native; do
        case "$tool" in
        jitld) cmd=("${jitld_cmd[@]}") ;;
        llvm-jitlink) cmd=("${ljl_cmd[@]+"${ljl_cmd[@]}"}") ;;
        native) cmd=("${native_cmd[@]}") ;;
        esac
        rss=""
        [[ "${status[$tool]}" == ok ]] && rss="$(peak_rss "${cmd[@]}")"
        record "$c" "$tool" "${status[$tool]}" "${rcs[$tool]}" "$nrc" "$rss" \
            "$( ((${#cmd[@]})) && quote_cmd "${cmd[@]}" || true)" "${notes[$tool]:-}"
    done
    unset status rcs notes
done

printf 'load_after\t%s\n' "$(load_avg)" >>"$META"
printf 'finished\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$META"

echo
python3 bench/report.py "$BENCH_OUT"

if ((JITLD_FAILED)); then
    echo "bench/run.sh: ERROR: jitld did not match the native build in at least one case (see above)" >&2
    exit 1
fi
