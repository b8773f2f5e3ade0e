#!/usr/bin/env bash
# jitld benchmark: `jitld run` against "link natively, then run" (issue 7).
#
#   bash bench/run.sh            (or `make bench`, which builds jitld and the fixtures first)
#
# Someone who wants to run objects today links them with the fastest linker there is and
# runs the result, so that is what jitld is measured against. For every program of the
# bench (BENCH_CASES, named <library>/<variant>) six commands are compared:
#   native        the natively linked executable, run (the reference: no link at all)
#   jitld         jitld run <inputs> -- <args>               (the default thread count)
#   jitld-t1      jitld run --threads 1 <inputs> -- <args>
#   jitld-t2      jitld run --threads 2 <inputs> -- <args>
#   jitld-ahead   jitld run --prepare-ahead <inputs> -- <args> (a helper parses ahead)
#   jitld-oop     jitld run --oop <inputs> -- <args>: the program runs in jitld-executor
#   jitld-warm    jitld run --cache=DIR <inputs> -- <args>, warm: DIR (target/bench/image-cache/
#                 <case>) is emptied and filled by one cold run before the verification run,
#                 so every timed run starts from the prelinked image (issue 14)
#   mold          link with mold, then run: one command, `sh <script>` where the script is
#                 `<cc> -fuse-ld=mold <link flags> -o EXE <inputs>` then `exec EXE <args>`
#                 (<cc> is gcc, or g++ for C++ programs; scripts in target/bench/linkrun/)
#   lld           the same with lld-19 (`-fuse-ld=lld`, ld.lld found through a -B directory
#                 holding an ld.lld symlink to ld.lld-19)
#   llvm-jitlink  llvm-jitlink-19 on the same inputs, where it runs the program
# The programs:
#   fixtures (target/fixtures/manifest.tsv, built by fixtures/build.sh): sqlite/gcc-O2-pie,
#       sqlite/clang-O2-pic, lua/gcc-O2-pie, zlib/gcc-O2-pie, json/gxx-O2-pie (nlohmann/json)
#   bench programs (bench/programs/, built here into target/bench/programs/):
#       openssl/gcc-O2-pie       openssl_driver.c against the static libcrypto.a (EVP digests,
#                                ciphers, HMAC, PBKDF2, BIGNUM)
#       cpython/gcc-O2-nopic     cpython_driver.c embedding CPython from the static
#                                libpython3.11.a (non-PIC, so linked -no-pie natively)
#       cxx_static/gxx-O2-pie-static  cxx_static_driver.cpp against GCC's libstdc++.a and
#                                libgcc_eh.a (iostreams, containers, exceptions)
#       empty/gcc-O2-pie         int main(void) { return 0; }: every tool's start-up cost
#                                (reported separately, not one of the goals' programs)
#
# For each program this script
#   1. runs each command once and compares its stdout and exit status with the native
#      executable's. jitld (either thread count) disagreeing is an error: the row says
#      FAILED with jitld's first error line, the other tools are still timed, and the
#      script exits 1 at the end. So it does when a jitld command passed that check but
#      failed in some timed runs (the report says FLAKY, with the error). mold, lld or llvm-jitlink disagreeing is a warning:
#      the tool is left out of that program's timing. llvm-jitlink gets C++ programs with
#      its ORC runtime, and is retried with the objects reversed when the manifest's
#      order fails (see ljl_command below);
#   2. times the commands that passed with bench/timer.py: BENCH_WARMUP untimed runs,
#      then BENCH_RUNS rounds, each running every command once (order rotated per round),
#      so the i-th samples of two tools were taken side by side: ratios are medians of
#      these paired per-round ratios. Each run also gives the CPU time (user + system,
#      children included); then BENCH_RSS_RUNS more runs of each under `/usr/bin/time -f %M`
#      give the peak RSS (for link-then-run, the largest of compiler driver, linker and
#      program);
# then the scaling table: bench/gen_many.py --scaling writes a pool of generated objects
# (target/bench/scale/src) compiled once with `gcc -O2 -c` into target/bench/scale/gcc-O2/
# (cached: only sources newer than their object are recompiled, JOBS in parallel), and for
# each N in BENCH_SCALE the program main_<N>.o + f_0.o ... f_<N-1>.o (main references every
# object's entry through a table, calls BENCH_SCALE_CALLED of them) is verified and timed:
#   jitld-eager, jitld-lazy (every f_<i>.o behind --lazy), jitld-t1 and jitld-t2 (eager,
#   --threads 1 and 2),
#   mold (link, then run), native, and llvm-jitlink (eager) for N <= BENCH_SCALE_LLVM_MAX;
#   and jitld-start, jitld on the empty program, so that the per-object cost
#   ((jitld - jitld-start) / N) subtracts a start-up timed in the same rounds.
# then linking the sqlite program for AArch64 (--noexec; see run_cross_link) as a ratio to
# linking it for x86-64.
# Finally bench/report.py prints the tables (times, ratios to native and to mold, threads,
# peak RSS against bench/baseline.json), the scaling table (per-object cost), and the goals
# of issues 7 and 14 with MET / NOT MET, and writes target/bench/summary.json.
#
# Prerequisites (this script installs nothing; it stops with a message if one is missing;
# scripts/install-deps.sh installs all of them): llvm-jitlink-19 (llvm-19) and its ORC
# runtime (libclang-rt-19-dev), mold, ld.lld-19 (lld-19), gcc, g++, python3, libssl-dev,
# libpython3.11-dev, libexpat1-dev, and what `cargo build --release` and fixtures/build.sh
# need. jitld (target/release/jitld) and the fixtures are built if they are missing, not
# if they are only out of date (`make bench` takes care of that).
#
# Environment:
#   BENCH_CASES     programs to run, space separated <library>/<variant> (default: the list
#                   above without empty/, which always runs unless BENCH_BASELINE=0)
#   BENCH_RUNS      timed rounds per program (default 20)
#   BENCH_WARMUP    untimed runs of each command first (default 2)
#   BENCH_RSS_RUNS  runs of each command under /usr/bin/time -f %M, after the timed ones, for
#                   the peak RSS median (default 3)
#   BENCH_START_RUNS  paired rounds of the native executable against the warm start alone
#                   (default 60): their difference is a millisecond or less, which the
#                   rounds of every command together are too few to resolve
#   BENCH_OVERHEAD_RUNS  paired rounds of the native executable, jitld and llvm-jitlink
#                   alone (default 60), wherever llvm-jitlink runs the program: the overhead
#                   goal's ratio comes from them. A round's overhead spreads over 5-19 ms for
#                   sqlite, and the median of 20 rounds among ten commands moved by 0.02 of
#                   the ratio between two runs of the bench
#   BENCH_SCALE     object counts of the scaling table (default "10 100 1000 10000";
#                   empty: no scaling table)
#   BENCH_SCALE_RUNS        timed rounds per object count below 10,000 (default 10)
#   BENCH_SCALE_RUNS_LARGE  timed rounds from 10,000 objects on (default 3; no warm-up run and
#                           one peak RSS run there: jitld takes seconds on 10,000 objects)
#   BENCH_SCALE_CALLED      entries main calls in the scaling programs (default 5)
#   BENCH_SCALE_LLVM_MAX    largest object count llvm-jitlink is run on (default 1000)
#   BENCH_BASELINE  1 (default): also time the empty program
#   BENCH_CROSS     1 (default): also time linking the sqlite program for AArch64 (--noexec)
#                   against linking it for x86-64 (run_cross_link below)
#   BENCH_RECORD_BASELINE  1: write this run's jitld peak RSS to bench/baseline.json
#                   (the "no worse than today" reference; commit it)
#   BENCH_OUT       output directory (default target/bench)
#   JOBS            parallel compiles for the scaling pool (default: the number of CPUs)
#   LLVM_JITLINK    the llvm-jitlink binary (default llvm-jitlink-19)
#   LLVM_ORC_RUNTIME  the ORC runtime archive llvm-jitlink uses for C++ programs
#                   (default: found next to LLVM_JITLINK)
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
#
# C++ programs (jitld inputs with -lstdc++ or libstdc++.a): llvm-jitlink runs C++ only with
# its ORC runtime (static initializers, atexit, __dso_handle), and with the ORC runtime it
# cannot take a shared library as an input ("Unsupported file format"), so for these it gets
# -orc-runtime=<liborc_rt> (<llvm prefix>/lib/clang/*/lib/linux/liborc_rt-x86_64.a, from
# libclang-rt-19-dev, or LLVM_ORC_RUNTIME) and -preload=<lib>.so for every shared library
# among the translated inputs. If llvm-jitlink does not behave like the native build with
# the objects in the manifest's order, it is tried once more with the objects reversed;
# when that run matches, it is the one timed and the report says so in a note.
# (llvm-jitlink-19 drops the FDEs of an object's COMDAT groups that an earlier object
# already defined, but lays out the remaining .eh_frame records at their original alignment
# offsets; the 4 zero bytes of padding that can leave after the CIE read as the end of the
# section to libgcc's __register_frame, so none of the object's FDEs are registered and an
# exception thrown through its frames ends in std::terminate. Which objects that hits
# depends on the order.)
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

FIXTURE_CASES="sqlite/gcc-O2-pie sqlite/clang-O2-pic lua/gcc-O2-pie zlib/gcc-O2-pie json/gxx-O2-pie"
PROGRAM_CASES="openssl/gcc-O2-pie cpython/gcc-O2-nopic cxx_static/gxx-O2-pie-static"
BENCH_CASES="${BENCH_CASES:-$FIXTURE_CASES $PROGRAM_CASES}"
BENCH_RUNS="${BENCH_RUNS:-20}"
BENCH_WARMUP="${BENCH_WARMUP:-2}"
BENCH_RSS_RUNS="${BENCH_RSS_RUNS:-3}"
BENCH_START_RUNS="${BENCH_START_RUNS:-60}"
BENCH_OVERHEAD_RUNS="${BENCH_OVERHEAD_RUNS:-60}"
BENCH_SCALE="${BENCH_SCALE-10 100 1000 10000}"
BENCH_SCALE_RUNS="${BENCH_SCALE_RUNS:-10}"
BENCH_SCALE_RUNS_LARGE="${BENCH_SCALE_RUNS_LARGE:-3}"
BENCH_SCALE_CALLED="${BENCH_SCALE_CALLED:-5}"
BENCH_SCALE_LLVM_MAX="${BENCH_SCALE_LLVM_MAX:-1000}"
BENCH_BASELINE="${BENCH_BASELINE:-1}"
BENCH_RECORD_BASELINE="${BENCH_RECORD_BASELINE:-0}"
BENCH_OUT="${BENCH_OUT:-target/bench}"
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
LLVM_JITLINK="${LLVM_JITLINK:-llvm-jitlink-19}"
JITLD_DEFAULT="$ROOT/target/release/jitld"
JITLD="${JITLD:-$JITLD_DEFAULT}"
FIXTURES_OUT="$ROOT/target/fixtures"
MANIFEST="$FIXTURES_OUT/manifest.tsv"
# A single run of any command is cut off after this many seconds during verification.
VERIFY_TIMEOUT=300

for n in BENCH_RUNS BENCH_WARMUP BENCH_RSS_RUNS BENCH_START_RUNS BENCH_OVERHEAD_RUNS BENCH_SCALE_RUNS BENCH_SCALE_RUNS_LARGE BENCH_SCALE_CALLED BENCH_SCALE_LLVM_MAX JOBS; do
    [[ "${!n}" =~ ^[0-9]+$ ]] || die "$n must be a non-negative integer, got '${!n}'"
done
((BENCH_RUNS >= 2 && BENCH_SCALE_RUNS >= 1 && BENCH_SCALE_RUNS_LARGE >= 1 && BENCH_SCALE_CALLED >= 1 && JOBS >= 1)) ||
    die "BENCH_RUNS must be at least 2, BENCH_SCALE_RUNS*, BENCH_SCALE_CALLED and JOBS at least 1"
for n in $BENCH_SCALE; do
    [[ "$n" =~ ^[0-9]+$ ]] && ((n >= 1)) || die "BENCH_SCALE must be positive integers, got '$BENCH_SCALE'"
done
[[ -n "${BENCH_CASES// /}" ]] || die "BENCH_CASES is empty"
for c in $BENCH_CASES; do
    [[ "$c" =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] || die "bad case '$c' in BENCH_CASES (expected <library>/<variant>)"
    [[ "$c" != many/* ]] || die "the many/* cases are gone: the scaling table (BENCH_SCALE) measures lazy vs eager start-up"
done

# ---------------------------------------------------------------- prerequisites
need() { # need TOOL APT-PACKAGE
    command -v "$1" >/dev/null 2>&1 || die "'$1' not found; install it with: apt-get install $2 (or run scripts/install-deps.sh)"
}
need "$LLVM_JITLINK" llvm-19
need python3 python3
need timeout coreutils
need gcc gcc
need g++ g++
need mold mold
need ld.lld-19 lld-19

if [[ "$JITLD" != "$JITLD_DEFAULT" ]]; then
    [[ -x "$JITLD" ]] || die "JITLD=$JITLD is not an executable"
    JITLD="$(cd "$(dirname "$JITLD")" && pwd)/$(basename "$JITLD")"
elif [[ ! -x "$JITLD" ]]; then
    echo "bench: $JITLD is missing, running cargo build --release"
    need cargo "cargo (or install Rust with rustup)"
    cargo build --release
    [[ -x "$JITLD" ]] || die "cargo build --release did not produce $JITLD"
elif [[ -n "$(find src linker/src Cargo.toml linker/Cargo.toml Cargo.lock -newer "$JITLD" -print -quit 2>/dev/null)" ]]; then
    warn "$JITLD is older than the sources; run 'make build' (or 'make bench') to benchmark the current code"
fi

mkdir -p "$BENCH_OUT"
BENCH_OUT="$(cd "$BENCH_OUT" && pwd)"
RESULTS="$BENCH_OUT/results.tsv"
META="$BENCH_OUT/meta.tsv"
LOGS="$BENCH_OUT/logs"
PROGRAMS_OUT="$BENCH_OUT/programs"
PROGRAMS_MANIFEST="$PROGRAMS_OUT/manifest.tsv"
mkdir -p "$LOGS" "$PROGRAMS_OUT" "$BENCH_OUT/linkrun" "$BENCH_OUT/timing"
: >"$RESULTS"
rm -f "$BENCH_OUT"/timing/*.json

# lld through the compiler driver: gcc's -fuse-ld=lld runs `ld.lld` from its program search
# path, and Debian's lld-19 installs only ld.lld-19 in PATH, so a -B directory gets the link.
LLD_BIN="$BENCH_OUT/lld-bin"
mkdir -p "$LLD_BIN"
ln -sfn "$(command -v ld.lld-19)" "$LLD_BIN/ld.lld"

# ---------------------------------------------------------------- the bench programs
# bench/programs/<name>_driver.{c,cpp}: compiled and linked natively here, one variant each.
# PROGRAM_<field>[name]: the variant, compiler command, jitld inputs after the object (the
# native link takes the same inputs in the same order) and the native link driver + flags.
LIBDIR=/usr/lib/x86_64-linux-gnu
LIBSTDCXX_A="$(g++ -print-file-name=libstdc++.a)"
LIBGCC_EH_A="$(g++ -print-file-name=libgcc_eh.a)"
declare -A PROGRAM_SRC=(
    [openssl]=openssl_driver.c [cpython]=cpython_driver.c [cxx_static]=cxx_static_driver.cpp [empty]=empty_driver.c)
declare -A PROGRAM_VARIANT=(
    [openssl]=gcc-O2-pie [cpython]=gcc-O2-nopic [cxx_static]=gxx-O2-pie-static [empty]=gcc-O2-pie)
declare -A PROGRAM_CC=(
    [openssl]="gcc -c -g0 -O2 -fPIE"
    [cpython]="gcc -c -g0 -O2 -fno-pic -I/usr/include/python3.11"
    [cxx_static]="g++ -c -g0 -std=c++17 -O2 -fPIE"
    [empty]="gcc -c -g0 -O2 -fPIE")
declare -A PROGRAM_INPUTS=(
    [openssl]="$LIBDIR/libcrypto.a -ldl -lpthread"
    [cpython]="$LIBDIR/libpython3.11.a -lexpat -lz -ldl -lm"
    [cxx_static]="$LIBSTDCXX_A $LIBGCC_EH_A -lm"
    [empty]="")
declare -A PROGRAM_LINK=(
    [openssl]="gcc -pie"
    [cpython]="gcc -no-pie"
    [cxx_static]="g++ -pie -static-libstdc++ -static-libgcc"
    [empty]="gcc -pie")
declare -A PROGRAM_NEEDS=(
    [openssl]="$LIBDIR/libcrypto.a:libssl-dev /usr/include/openssl/evp.h:libssl-dev"
    [cpython]="$LIBDIR/libpython3.11.a:libpython3.11-dev /usr/include/python3.11/Python.h:libpython3.11-dev $LIBDIR/libexpat.so:libexpat1-dev $LIBDIR/libz.so:zlib1g-dev"
    [cxx_static]="$LIBSTDCXX_A:g++ $LIBGCC_EH_A:gcc"
    [empty]="")

# build_program NAME: compiles and links target/bench/programs/NAME/<variant>/ when out of
# date and appends its manifest line (the fixtures' columns, plus the native link command).
build_program() {
    local name=$1 variant=${PROGRAM_VARIANT[$1]} need file pkg
    for need in ${PROGRAM_NEEDS[$name]}; do
        file=${need%%:*}
        pkg=${need#*:}
        [[ -e "$file" ]] || die "$name: $file is missing; install it with: apt-get install $pkg (or run scripts/install-deps.sh)"
    done
    local src="$ROOT/bench/programs/${PROGRAM_SRC[$name]}" dir="$PROGRAMS_OUT/$name/$variant"
    local obj="$dir/driver.o" native="$dir/native"
    local inputs="$obj${PROGRAM_INPUTS[$name]:+ ${PROGRAM_INPUTS[$name]}}"
    local cmd="${PROGRAM_CC[$name]} -o $obj $src; ${PROGRAM_LINK[$name]} -o $native $inputs"
    mkdir -p "$dir"
    if [[ "$(cat "$dir/.cmd" 2>/dev/null || true)" != "$cmd" || ! "$obj" -nt "$src" || ! -x "$native" ]]; then
        echo "bench: building $name/$variant"
        # shellcheck disable=SC2086 # (the commands are word lists)
        ${PROGRAM_CC[$name]} -o "$obj" "$src" >"$LOGS/program-$name.build.log" 2>&1 &&
            ${PROGRAM_LINK[$name]} -o "$native" $inputs >>"$LOGS/program-$name.build.log" 2>&1 ||
            die "building the $name program failed; see $LOGS/program-$name.build.log"
        echo "$cmd" >"$dir/.cmd"
    fi
    printf 'bench\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$variant" "$native" "$inputs" "" "${PROGRAM_LINK[$name]}" \
        >>"$PROGRAMS_MANIFEST"
}

# The cases that are bench programs are built; the others must be fixtures.
: >"$PROGRAMS_MANIFEST"
FIXTURE_WANTED=""
ALL_CASES="$BENCH_CASES"
if [[ "$BENCH_BASELINE" == 1 && " $BENCH_CASES " != *" empty/gcc-O2-pie "* ]]; then
    ALL_CASES="empty/gcc-O2-pie $BENCH_CASES"
fi
# The scaling table subtracts jitld's start-up, timed on the empty program in every round.
if [[ -n "${BENCH_SCALE// /}" && " $ALL_CASES " != *" empty/gcc-O2-pie "* ]]; then
    build_program empty
fi
EMPTY_OBJ="$PROGRAMS_OUT/empty/${PROGRAM_VARIANT[empty]}/driver.o"
for c in $ALL_CASES; do
    name=${c%%/*}
    if [[ -n "${PROGRAM_SRC[$name]+set}" ]]; then
        [[ "${c#*/}" == "${PROGRAM_VARIANT[$name]}" ]] ||
            die "case '$c': the $name program is built in one variant only, ${PROGRAM_VARIANT[$name]}"
        build_program "$name"
    else
        FIXTURE_WANTED+="$c "
    fi
done

# manifest_line CASE : the case's manifest line, from the fixtures' or the programs' manifest.
manifest_line() {
    local f
    for f in "$PROGRAMS_MANIFEST" "$MANIFEST"; do
        [[ -f "$f" ]] || continue
        awk -F'\t' -v n="${1%%/*}" -v v="${1#*/}" '($1 == "real" || $1 == "bench") && $2 == n && $3 == v { print; found = 1; exit }
            END { exit !found }' "$f" && return 0
    done
    return 0
}

# Every fixture case needs its manifest line, its objects and its native executable; build
# the fixtures if any is missing.
fixtures_ready() {
    [[ -n "$FIXTURE_WANTED" ]] || return 0
    [[ -f "$MANIFEST" ]] || return 1
    local c line f
    for c in $FIXTURE_WANTED; do
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
for c in $FIXTURE_WANTED; do
    [[ -n "$(manifest_line "$c")" ]] ||
        die "case '$c' is neither a bench program ($PROGRAM_CASES) nor in $MANIFEST; fixtures available: $(awk -F'\t' '$1 == "real" { printf "%s/%s ", $2, $3 }' "$MANIFEST")"
done

# C++ cases: cases whose jitld inputs include the C++ runtime.
is_cxx_case() {
    [[ " $(manifest_line "$1" | cut -f5) " =~ [[:space:]](-lstdc\+\+|[^[:space:]]*/libstdc\+\+\.a)[[:space:]] ]]
}
CXX_CASES=""
for c in $BENCH_CASES; do
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
# Quotes a command (array) as one string, for the logs and the report.
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

# Column 7 of results.tsv is free text; keep it on one line and free of tabs.
one_line() {
    tr '\t\n' '  ' | sed 's/ *$//' | cut -c1-400
}

# record CASE TOOL STATUS RC EXPECTED_RC COMMAND NOTE
record() {
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"
}

# write_argv FILE CMD... : the command as NUL-terminated words, for bench/timer.py.
write_argv() {
    local f=$1
    shift
    printf '%s\0' "$@" >"$f"
}

# link_run_script SCRIPT LINKER DRIVER-AND-FLAGS EXE INPUTS PROGRAM-ARGS : writes the
# "link with LINKER, then run" script (LINKER: mold or lld).
link_run_script() {
    local script=$1 ld=$2 driver=$3 exe=$4 inputs=$5 pargs=$6 use
    case "$ld" in
    mold) use="-fuse-ld=mold" ;;
    lld) use="-B$LLD_BIN/ -fuse-ld=lld" ;;
    esac
    # ($driver, $inputs and $pargs are word lists without quoting, as in the manifests.)
    printf '#!/bin/sh\n# Written by bench/run.sh: link with %s, then run.\nset -e\n%s %s -o %s %s\nexec %s %s\n' \
        "$ld" "$driver" "$use" "$exe" "$inputs" "$exe" "$pargs" >"$script"
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
    printf 'scale\t%s\n' "$BENCH_SCALE"
    printf 'scale_runs\t%s\n' "$BENCH_SCALE_RUNS"
    printf 'scale_runs_large\t%s\n' "$BENCH_SCALE_RUNS_LARGE"
    printf 'scale_called\t%s\n' "$BENCH_SCALE_CALLED"
    printf 'llvm_jitlink\t%s\n' "$("$LLVM_JITLINK" --version 2>&1 | grep -m1 -i 'version' | sed 's/^ *//')"
    printf 'mold\t%s\n' "$(mold --version | head -n1)"
    printf 'lld\t%s\n' "$(ld.lld-19 --version | head -n1)"
    printf 'gcc\t%s\n' "$(gcc --version | head -n1)"
    printf 'jitld\t%s\n' "$("$JITLD" --version 2>&1 | head -n1)"
    printf 'jitld_path\t%s\n' "$JITLD"
    printf 'cases\t%s\n' "$BENCH_CASES"
    printf 'cxx_cases\t%s\n' "${CXX_CASES% }"
    printf 'orc_runtime\t%s\n' "$ORC_RUNTIME"
} >"$META"

echo "bench: programs: $BENCH_CASES"
echo "bench: $BENCH_RUNS paired rounds after $BENCH_WARMUP warm-up runs; scaling: ${BENCH_SCALE:-none}; load average $(load_avg) on $(nproc) CPUs"

# ---------------------------------------------------------------- programs
# check_tool CASE TAG TOOL NRC CMD... : runs CMD once and compares it with the native run
# (LOGS/TAG.native.{out,err}); sets status[TOOL], rcs[TOOL] and notes[TOOL].
check_tool() {
    local c=$1 tag=$2 tool=$3 nrc=$4 rc same err
    shift 4
    rc="$(run_once "$LOGS/$tag.$tool" "$@")"
    rcs[$tool]=$rc
    cmp -s "$LOGS/$tag.native.out" "$LOGS/$tag.$tool.out" && same=same || same=differs
    if [[ "$rc" == "$nrc" && "$same" == same ]]; then
        status[$tool]=ok
        echo "  $tool: same stdout and exit status ($rc) as native"
        return 0
    fi
    err="$(grep -m1 -v '^\s*$' "$LOGS/$tag.$tool.err" | one_line || true)"
    notes[$tool]="exit $rc vs native $nrc; stdout $same; first stderr line: ${err:-none}"
    if [[ "$tool" == jitld* ]]; then
        status[$tool]=FAILED
        echo "bench/run.sh: ERROR: $c: $tool does not behave like the native build (${notes[$tool]}); see $LOGS/$tag.$tool.{out,err}; it is left out of the timing" >&2
        JITLD_FAILED=1
    else
        status[$tool]=failed
    fi
    return 1
}

# run_case CASE : verify, time and record one program.
run_case() {
    local c=$1 tag=${1//\//-}
    local line cxx=0 native jargs pargs driver inputs
    echo
    echo "=== $c"
    line="$(manifest_line "$c")"
    if is_cxx_case "$c"; then cxx=1; fi
    native="$(cut -f4 <<<"$line")"
    inputs="$(cut -f5 <<<"$line")"
    read -r -a jargs <<<"$inputs"
    read -r -a pargs <<<"$(cut -f6 <<<"$line")"
    driver="$(cut -f7 <<<"$line")"
    if [[ -z "$driver" ]]; then
        # A fixture: the link its native build used, with gcc/g++ as the driver.
        if ((cxx)); then driver=g++; else driver=gcc; fi
        if [[ "${c#*/}" == *nopic* ]]; then driver+=" -no-pie"; else driver+=" -pie"; fi
        if [[ " $inputs " == *"/libstdc++.a "* ]]; then driver+=" -static-libstdc++ -static-libgcc"; fi
    fi

    local -a native_cmd=("$native" "${pargs[@]+"${pargs[@]}"}")
    local -a jitld_cmd=("$JITLD" run "${jargs[@]}")
    local -a jitld1_cmd=("$JITLD" run --threads 1 "${jargs[@]}")
    local -a jitld2_cmd=("$JITLD" run --threads 2 "${jargs[@]}")
    local -a jitld_ahead_cmd=("$JITLD" run --prepare-ahead "${jargs[@]}")
    local -a jitld_oop_cmd=("$JITLD" run --oop "${jargs[@]}")
    local warm_dir="$BENCH_OUT/image-cache/$tag"
    local -a jitld_warm_cmd=("$JITLD" run --cache="$warm_dir" "${jargs[@]}")
    if ((${#pargs[@]})); then
        jitld_cmd+=(-- "${pargs[@]}")
        jitld1_cmd+=(-- "${pargs[@]}")
        jitld2_cmd+=(-- "${pargs[@]}")
        jitld_warm_cmd+=(-- "${pargs[@]}")
    fi
    local ld
    for ld in mold lld; do
        link_run_script "$BENCH_OUT/linkrun/$tag.$ld.sh" "$ld" "$driver" "$BENCH_OUT/linkrun/$tag.$ld.exe" "$inputs" \
            "${pargs[*]+"${pargs[*]}"}"
    done
    local -a mold_cmd=(sh "$BENCH_OUT/linkrun/$tag.mold.sh")
    local -a lld_cmd=(sh "$BENCH_OUT/linkrun/$tag.lld.sh")
    local -a ljl_cmd=()
    local ljl_note=""
    if ljl_command "$cxx" manifest "${jargs[@]}" 2>"$LOGS/$tag.llvm-jitlink.args.err"; then
        ljl_cmd=("${LJL_CMD[@]}" "${pargs[@]+"${pargs[@]}"}")
    else
        ljl_note="could not translate the inputs: $(one_line <"$LOGS/$tag.llvm-jitlink.args.err")"
    fi

    # -- verification: one run each, native is the reference
    local nrc
    nrc="$(run_once "$LOGS/$tag.native" "${native_cmd[@]}")"
    if ((nrc >= 124)); then
        warn "$c: the native executable itself failed (exit status $nrc); see $LOGS/$tag.native.err"
    fi
    declare -A status=([native]=ok) rcs=([native]=$nrc) notes=()
    check_tool "$c" "$tag" jitld "$nrc" "${jitld_cmd[@]}" || true
    check_tool "$c" "$tag" jitld-t1 "$nrc" "${jitld1_cmd[@]}" || true
    check_tool "$c" "$tag" jitld-t2 "$nrc" "${jitld2_cmd[@]}" || true
    check_tool "$c" "$tag" jitld-ahead "$nrc" "${jitld_ahead_cmd[@]}" || true
    check_tool "$c" "$tag" jitld-oop "$nrc" "${jitld_oop_cmd[@]}" || true
    # The first run links cold and fills the cache; the second, verified one starts warm.
    rm -rf "$warm_dir"
    if check_tool "$c" "$tag" jitld-warm "$nrc" "${jitld_warm_cmd[@]}"; then
        check_tool "$c" "$tag" jitld-warm "$nrc" "${jitld_warm_cmd[@]}" || true
    fi
    for ld in mold lld; do
        local -n lcmd="${ld}_cmd"
        if ! check_tool "$c" "$tag" "$ld" "$nrc" "${lcmd[@]}"; then
            warn "$c: link with $ld, then run does not behave like the native build (${notes[$ld]}); left out. Log: $LOGS/$tag.$ld.err"
        fi
        unset -n lcmd
    done
    if ((${#ljl_cmd[@]} == 0)); then
        status[llvm-jitlink]=failed
        rcs[llvm-jitlink]=""
        notes[llvm-jitlink]="$ljl_note"
        warn "$c: llvm-jitlink cannot run this case: $ljl_note"
    elif ! check_tool "$c" "$tag" llvm-jitlink "$nrc" "${ljl_cmd[@]}"; then
        local first_err=${notes[llvm-jitlink]}
        # Once more with the objects in reverse order (see the top of this file).
        if ljl_command "$cxx" reversed "${jargs[@]}" 2>/dev/null &&
            [[ "${LJL_CMD[*]}" != "${ljl_cmd[*]:0:${#LJL_CMD[@]}}" ]]; then
            local -a retry_cmd=("${LJL_CMD[@]}" "${pargs[@]+"${pargs[@]}"}")
            if check_tool "$c" "$tag" llvm-jitlink-reversed "$nrc" "${retry_cmd[@]}"; then
                status[llvm-jitlink]=ok
                rcs[llvm-jitlink]=${rcs[llvm-jitlink-reversed]}
                notes[llvm-jitlink]="timed with the objects in reverse order: in the manifest's order it fails ($first_err; log: logs/$tag.llvm-jitlink.err)"
                ljl_cmd=("${retry_cmd[@]}")
            fi
        fi
        if [[ "${status[llvm-jitlink]}" != ok ]]; then
            notes[llvm-jitlink]=$first_err
            warn "$c: llvm-jitlink cannot run this case ($first_err); timed without it. Full log: $LOGS/$tag.llvm-jitlink.err"
        fi
    fi

    # -- timing: paired rounds of every command that passed
    local tool timed=() specs=()
    local -a cmd
    for tool in native jitld jitld-t1 jitld-t2 jitld-ahead jitld-oop jitld-warm mold lld llvm-jitlink; do
        case "$tool" in
        native) cmd=("${native_cmd[@]}") ;;
        jitld) cmd=("${jitld_cmd[@]}") ;;
        jitld-t1) cmd=("${jitld1_cmd[@]}") ;;
        jitld-t2) cmd=("${jitld2_cmd[@]}") ;;
        jitld-ahead) cmd=("${jitld_ahead_cmd[@]}") ;;
        jitld-oop) cmd=("${jitld_oop_cmd[@]}") ;;
        jitld-warm) cmd=("${jitld_warm_cmd[@]}") ;;
        mold) cmd=("${mold_cmd[@]}") ;;
        lld) cmd=("${lld_cmd[@]}") ;;
        llvm-jitlink) cmd=("${ljl_cmd[@]+"${ljl_cmd[@]}"}") ;;
        esac
        if [[ "${status[$tool]}" == ok ]]; then
            write_argv "$BENCH_OUT/timing/$tag.$tool.argv" "${cmd[@]}"
            specs+=("$tool=$BENCH_OUT/timing/$tag.$tool.argv")
            timed+=("$tool")
        fi
        record "$c" "$tool" "${status[$tool]}" "${rcs[$tool]}" "$nrc" \
            "$( ((${#cmd[@]})) && quote_cmd "${cmd[@]}" || true)" "${notes[$tool]:-}"
    done
    echo "  timing $BENCH_RUNS paired rounds: ${timed[*]}"
    python3 bench/timer.py --runs "$BENCH_RUNS" --warmup "$BENCH_WARMUP" --rss-runs "$BENCH_RSS_RUNS" --out "$BENCH_OUT/timing/$tag.json" \
        "${specs[@]}" >"$LOGS/$tag.timer.log" 2>&1 || warn "$c: bench/timer.py failed; see $LOGS/$tag.timer.log"
    if [[ "${status[jitld-warm]}" == ok ]] && ((BENCH_START_RUNS > 0)); then
        echo "  timing $BENCH_START_RUNS paired rounds: native jitld-warm"
        python3 bench/timer.py --runs "$BENCH_START_RUNS" --warmup "$BENCH_WARMUP" --rss-runs 0 --out "$BENCH_OUT/timing/$tag.start.json" \
            "native=$BENCH_OUT/timing/$tag.native.argv" "jitld-warm=$BENCH_OUT/timing/$tag.jitld-warm.argv" \
            >"$LOGS/$tag.start.timer.log" 2>&1 || warn "$c: bench/timer.py failed; see $LOGS/$tag.start.timer.log"
    fi
    if [[ "${status[jitld]}" == ok && "${status[llvm-jitlink]}" == ok ]] && ((BENCH_OVERHEAD_RUNS > 0)); then
        echo "  timing $BENCH_OVERHEAD_RUNS paired rounds: native jitld llvm-jitlink"
        python3 bench/timer.py --runs "$BENCH_OVERHEAD_RUNS" --warmup "$BENCH_WARMUP" --rss-runs 0 --out "$BENCH_OUT/timing/$tag.overhead.json" \
            "native=$BENCH_OUT/timing/$tag.native.argv" "jitld=$BENCH_OUT/timing/$tag.jitld.argv" \
            "llvm-jitlink=$BENCH_OUT/timing/$tag.llvm-jitlink.argv" \
            >"$LOGS/$tag.overhead.timer.log" 2>&1 || warn "$c: bench/timer.py failed; see $LOGS/$tag.overhead.timer.log"
    fi
}

# ---------------------------------------------------------------- scaling
# run_scaling : the generated N-object programs (see the top of this file).
run_scaling() {
    local src="$BENCH_OUT/scale/src" dir="$BENCH_OUT/scale/gcc-O2" want="gcc -O2 -c"
    local sizes max=0 n i f
    sizes="$(tr ' ' '\n' <<<"$BENCH_SCALE" | grep . | sort -n | uniq | tr '\n' ' ')"
    for n in $sizes; do ((n > max)) && max=$n; done
    echo
    echo "=== scaling: ${sizes% } objects"
    python3 bench/gen_many.py "$src" --scaling "$(tr ' ' ',' <<<"${sizes% }")" --called "$BENCH_SCALE_CALLED" \
        >"$LOGS/scale.gen.log" 2>&1 || die "bench/gen_many.py failed; see $LOGS/scale.gen.log"
    mkdir -p "$dir"
    if [[ "$(cat "$dir/compile-command" 2>/dev/null || true)" != "$want" ]]; then
        rm -f "$dir"/*.o "$dir"/native_*
        echo "$want" >"$dir/compile-command"
    fi
    local stale=()
    for ((i = 0; i < max; i++)); do
        [[ "$dir/f_$i.o" -nt "$src/f_$i.c" ]] || stale+=("f_$i")
    done
    for n in $sizes; do
        [[ "$dir/main_$n.o" -nt "$src/main_$n.c" ]] || stale+=("main_$n")
    done
    if ((${#stale[@]})); then
        echo "  compiling ${#stale[@]} generated sources with '$want' on $JOBS jobs (cached in $dir for later runs)"
        local t0=$SECONDS
        # Several sources per gcc: its outputs land in the current directory as NAME.o.
        (cd "$dir" && printf "$src/%s.c\n" "${stale[@]}" | xargs -P "$JOBS" -n 32 gcc -O2 -c) \
            >"$LOGS/scale.compile.log" 2>&1 ||
            die "compiling the generated sources failed; see $LOGS/scale.compile.log"
        echo "  compiled in $((SECONDS - t0)) s"
    fi

    # The commands take the objects by their names in $dir, to keep 10,000 of them short.
    cd "$dir"
    local -a objs=() lazy_objs=() pargs cmd
    local -A status=() rcs=() notes=()
    local tool nrc kib runs tag tools specs
    for n in $sizes; do
        tag="scale-$n"
        echo "  -- $n objects"
        objs=()
        lazy_objs=()
        for ((i = 0; i < n; i++)); do
            objs+=("f_$i.o")
            lazy_objs+=(--lazy "f_$i.o")
        done
        read -r -a pargs <"$src/called_$n.txt"
        # The native executable (relinked when an object is newer).
        if [[ ! -x "native_$n" || -n "$(find "main_$n.o" "${objs[@]}" -newer "native_$n" -print -quit)" ]]; then
            gcc -o "native_$n" "main_$n.o" "${objs[@]}" >"$LOGS/$tag.link.log" 2>&1 ||
                die "scaling: linking native_$n failed; see $LOGS/$tag.link.log"
        fi
        printf '#!/bin/sh\n# Written by bench/run.sh: link with mold, then run.\nset -e\ngcc -fuse-ld=mold -o mold_%s.exe main_%s.o %s\nexec ./mold_%s.exe %s\n' \
            "$n" "$n" "${objs[*]}" "$n" "${pargs[*]}" >"link-run-mold_$n.sh"
        kib="$(du -k -c "${objs[@]}" | tail -n 1 | cut -f1)"
        status=([native]=ok)
        notes=()
        nrc="$(run_once "$LOGS/$tag.native" "./native_$n" "${pargs[@]}")"
        rcs=([native]=$nrc)
        tools=(native jitld-start jitld-eager jitld-lazy jitld-t1 jitld-t2 mold)
        if ((n <= BENCH_SCALE_LLVM_MAX)); then tools+=(llvm-jitlink); fi
        specs=()
        for tool in "${tools[@]}"; do
            case "$tool" in
            native) cmd=("./native_$n" "${pargs[@]}") ;;
            jitld-start) cmd=("$JITLD" run "$EMPTY_OBJ") ;;
            jitld-eager) cmd=("$JITLD" run "main_$n.o" "${objs[@]}" -- "${pargs[@]}") ;;
            jitld-lazy) cmd=("$JITLD" run "main_$n.o" "${lazy_objs[@]}" -- "${pargs[@]}") ;;
            jitld-t1) cmd=("$JITLD" run --threads 1 "main_$n.o" "${objs[@]}" -- "${pargs[@]}") ;;
            jitld-t2) cmd=("$JITLD" run --threads 2 "main_$n.o" "${objs[@]}" -- "${pargs[@]}") ;;
            mold) cmd=(sh "link-run-mold_$n.sh") ;;
            llvm-jitlink) cmd=("$LLVM_JITLINK" "main_$n.o" "${objs[@]}" -args "main_$n.o" "${pargs[@]}") ;;
            esac
            if [[ "$tool" == jitld-start ]]; then
                status[$tool]=ok # (not the same program: nothing to compare)
                rcs[$tool]=0
            elif [[ "$tool" != native ]] && ! check_tool "scale/$n" "$tag" "$tool" "$nrc" "${cmd[@]}" && [[ "$tool" != jitld* ]]; then
                warn "scale/$n: $tool does not behave like the native build (${notes[$tool]}); left out. Log: $LOGS/$tag.$tool.err"
            fi
            if [[ "${status[$tool]}" == ok ]]; then
                write_argv "$BENCH_OUT/timing/$tag.$tool.argv" "${cmd[@]}"
                specs+=("$tool=$BENCH_OUT/timing/$tag.$tool.argv")
            fi
            record "scale/$n" "$tool" "${status[$tool]}" "${rcs[$tool]:-}" "$nrc" \
                "(in $dir) $(quote_cmd "${cmd[@]:0:5}")$( ((${#cmd[@]} > 5)) && echo " ... (${#cmd[@]} words)")" "${notes[$tool]:-}"
        done
        # Objects linked and lazy stubs: one untimed --stats run of each jitld command.
        run_once "$LOGS/$tag.jitld-eager.stats" "$JITLD" run --stats "main_$n.o" "${objs[@]}" -- "${pargs[@]}" >/dev/null
        run_once "$LOGS/$tag.jitld-lazy.stats" "$JITLD" run --stats "main_$n.o" "${lazy_objs[@]}" -- "${pargs[@]}" >/dev/null
        # From 10,000 objects on: fewer rounds, no warm-up run, one peak RSS run (a jitld run
        # of 10,000 objects takes seconds).
        local warm=1 rss_runs=$BENCH_RSS_RUNS
        runs=$BENCH_SCALE_RUNS
        if ((n >= 10000)); then runs=$BENCH_SCALE_RUNS_LARGE warm=0 rss_runs=1; fi
        echo "     $kib KiB of objects; timing $runs paired rounds: ${specs[*]%%=*}"
        printf 'scale_kib_%s\t%s\n' "$n" "$kib" >>"$META"
        python3 "$ROOT/bench/timer.py" --runs "$runs" --warmup "$warm" --rss-runs "$rss_runs" --out "$BENCH_OUT/timing/$tag.json" "${specs[@]}" \
            >"$LOGS/$tag.timer.log" 2>&1 || warn "scale/$n: bench/timer.py failed; see $LOGS/$tag.timer.log"
    done
    cd "$ROOT"
}

# ---------------------------------------------------------------- linking for AArch64
# run_cross_link : the sqlite program linked for AArch64 (jitld run --noexec on its arm64
# build, fixtures' aarch64/real/sqlite/gcc-O2-pic: the libraries are resolved in
# jitld-executor-aarch64 under qemu-aarch64, which runs nothing) against the same program
# linked for x86-64 (real/sqlite/gcc-O2-pie, --noexec: in jitld's process) and for x86-64 in an
# executor process (--noexec --oop), in paired rounds. Skipped with a warning when the AArch64
# fixtures were not built (no cross compiler).
run_cross_link() {
    local a64_manifest="$FIXTURES_OUT/aarch64/manifest.tsv" a64 x86 tag=cross-sqlite
    echo
    echo "=== linking for AArch64: sqlite, jitld run --noexec"
    a64="$(awk -F'\t' '$1 == "real" && $2 == "sqlite" && $3 == "gcc-O2-pic" { print $5; exit }' "$a64_manifest" 2>/dev/null || true)"
    x86="$(awk -F'\t' '$1 == "real" && $2 == "sqlite" && $3 == "gcc-O2-pie" { print $5; exit }' "$MANIFEST")"
    if [[ -z "$a64" || -z "$x86" ]]; then
        warn "no AArch64 sqlite fixture ($a64_manifest: $(grep -m1 '^# skipped' "$a64_manifest" 2>/dev/null || echo missing)); the AArch64 link is not timed"
        return 0
    fi
    local -a a64_args x86_args
    read -r -a a64_args <<<"$a64"
    read -r -a x86_args <<<"$x86"
    local -A cmds=()
    local tool specs=()
    for tool in link-x86-64 link-x86-64-oop link-aarch64; do
        local -a cmd
        case "$tool" in
        link-x86-64) cmd=("$JITLD" run --noexec "${x86_args[@]}") ;;
        link-x86-64-oop) cmd=("$JITLD" run --noexec --oop "${x86_args[@]}") ;;
        link-aarch64) cmd=("$JITLD" run --noexec "${a64_args[@]}") ;;
        esac
        if ! "${cmd[@]}" >"$LOGS/$tag.$tool.out" 2>"$LOGS/$tag.$tool.err"; then
            warn "$tool: $(quote_cmd "${cmd[@]}") failed: $(head -n 1 "$LOGS/$tag.$tool.err"); not timed"
            JITLD_FAILED=1
            continue
        fi
        write_argv "$BENCH_OUT/timing/$tag.$tool.argv" "${cmd[@]}"
        specs+=("$tool=$BENCH_OUT/timing/$tag.$tool.argv")
    done
    echo "  timing $BENCH_RUNS paired rounds: ${specs[*]%%=*}"
    python3 bench/timer.py --runs "$BENCH_RUNS" --warmup "$BENCH_WARMUP" --rss-runs 1 --out "$BENCH_OUT/timing/$tag.json" \
        "${specs[@]}" >"$LOGS/$tag.timer.log" 2>&1 || warn "AArch64 link: bench/timer.py failed; see $LOGS/$tag.timer.log"
}

# ---------------------------------------------------------------- run
JITLD_FAILED=0
for c in $ALL_CASES; do
    run_case "$c"
done
if [[ -n "${BENCH_SCALE// /}" ]]; then
    run_scaling
fi
if [[ "${BENCH_CROSS:-1}" == 1 ]]; then
    run_cross_link
fi

printf 'load_after\t%s\n' "$(load_avg)" >>"$META"
printf 'finished\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$META"

echo
report_args=("$BENCH_OUT")
if [[ "$BENCH_RECORD_BASELINE" == 1 ]]; then report_args+=(--record-baseline "$ROOT/bench/baseline.json"); fi
# (report.py exits 1 when a jitld command failed in some of the timed runs: FLAKY)
python3 bench/report.py "${report_args[@]}" || JITLD_FAILED=1

if ((JITLD_FAILED)); then
    echo "bench/run.sh: ERROR: jitld did not match the native build in at least one case (see FAILED / FLAKY above)" >&2
    exit 1
fi
