#!/usr/bin/env bash
# Installs what jitld's tests, fixtures and benchmarks need on a fresh Debian machine.
# Compilers build the fixtures; llvm-19 is the reference (llvm-jitlink-19, llvm-readelf-19);
# the -dev packages provide the real static libraries the tests link (sqlite, Lua, zlib) and
# the bench links (OpenSSL's libcrypto, CPython's libpython3.11 with expat); mold and lld are the
# bench's link-then-run columns, valgrind its instruction counts (make bench-instructions).
# AArch64 (issue 11): the cross compilers build jitld-executor-aarch64 (cargo build) and the
# AArch64 fixtures; the arm64 -dev packages (Debian multiarch: `dpkg --add-architecture arm64`
# first) are the static libraries those link and the arm64 C and C++ runtime they run with;
# qemu-user runs them all (tests/aarch64.rs). gcc-mingw-w64-x86-64 is a real COFF compiler
# (tests/coff.rs).
set -euo pipefail
packages=(gcc g++ make clang-19 lld-19 llvm-19 libsqlite3-dev liblua5.4-dev zlib1g-dev hyperfine time gdb nlohmann-json3-dev libclang-rt-19-dev
  mold libssl-dev libpython3.11-dev libexpat1-dev valgrind python3
  gcc-aarch64-linux-gnu g++-aarch64-linux-gnu qemu-user libsqlite3-dev:arm64 liblua5.4-dev:arm64 zlib1g-dev:arm64 gcc-mingw-w64-x86-64)
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
added_arch=0
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  $sudo_cmd dpkg --add-architecture arm64
  added_arch=1
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} || added_arch)); then
  $sudo_cmd apt-get update -qq
fi
if ((${#missing[@]})); then
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}"
fi
