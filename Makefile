# jitld — build, test, fixtures, snapshots, bench.
CARGO ?= cargo

.PHONY: build test fixtures snapshots bench bench-baseline bench-instructions example lint

build:
	$(CARGO) build --release

# The README's test command: everything CI runs.
test:
	$(CARGO) test --workspace

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
