# jitld — build, test, fixtures, snapshots, bench.
CARGO ?= cargo

.PHONY: build test fixtures snapshots bench bench-baseline bench-instructions example lint executor-aarch64

# build.rs also builds the executor, target/release/jitld-executor, beside jitld.
build:
	$(CARGO) build --release

# The executor for AArch64 (run it under qemu-aarch64 -L /usr/aarch64-linux-gnu), with the
# flags build.rs uses.
AARCH64_CC ?= aarch64-linux-gnu-gcc
executor-aarch64: target/aarch64/jitld-executor
target/aarch64/jitld-executor: executor/jitld-executor.c executor/protocol.h
	mkdir -p target/aarch64
	$(AARCH64_CC) -std=gnu11 -O2 -g -Wall -Wextra -fPIC -pie -pthread -o $@ executor/jitld-executor.c \
		-ldl '-Wl,--export-dynamic-symbol=jitld_executor_*'

# The README's test command: everything CI runs. The fixtures are built first, here, where
# their progress lines show; the e2e tests then find them up to date (a test's own output is
# captured by the harness, so a build inside it would be five silent minutes). The last run
# explores the session's thread interleavings with shuttle's locks in place of std's.
test: fixtures
	$(CARGO) test --workspace
	$(CARGO) test --features shuttle --test session_interleavings

fixtures:
	bash fixtures/build.sh target/fixtures

# Re-record insta snapshots after an intended change (review with `git diff snapshots/`).
snapshots:
	INSTA_UPDATE=always $(CARGO) test --test snapshots

# `jitld run` vs "link with mold / lld, then run" vs llvm-jitlink-19 vs the native executable,
# as ratios, with the scaling table and issue 7's goals (MET / NOT MET). Knobs: bench/run.sh.
bench: build fixtures
	bash bench/run.sh

# The same, and record this run's jitld peak RSS in bench/baseline.json (commit it).
bench-baseline: build fixtures
	BENCH_RECORD_BASELINE=1 bash bench/run.sh

# Instructions executed (valgrind --tool=callgrind): the sqlite link+run and the 1,000-object link.
bench-instructions: build fixtures
	bash bench/instructions.sh

# The bundled example: a C program linked against the system's libsqlite3.a, run in memory.
example: build
	bash examples/sqlite/run.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
