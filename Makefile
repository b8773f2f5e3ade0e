# jitld — build, test, fixtures, snapshots, bench.
CARGO ?= cargo

.PHONY: build test fixtures snapshots bench example lint

build:
	$(CARGO) build --release

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

# jitld vs llvm-jitlink-19 vs a native build, side by side, as ratios.
bench: build fixtures
	bash bench/run.sh

# The bundled example: a C program linked against the system's libsqlite3.a, run in memory.
example: build
	bash examples/sqlite/run.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
