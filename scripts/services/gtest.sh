#!/usr/bin/env bash
# CI: builds dt's own small gtest suites (test/fixtures/gtest/: sample_test, and
# flaky_test beside it for the retry tests) against
# Debian's googletest, for the tests that read DT_TEST_GTEST_BIN (they skip,
# saying so, without it). Installs what is missing from Debian first
# (libgtest-dev, which brings the googletest sources; g++, cmake, make).
# Idempotent: a second run is an incremental cmake build that does nothing
# (well under a second). Prints the binary's absolute path as its last line.
#
# The build dir defaults to test/fixtures/gtest/build (git-ignored); override
# with DT_CI_GTEST_BUILD_DIR.
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
src="$repo/test/fixtures/gtest"
build="${DT_CI_GTEST_BUILD_DIR:-$src/build}"
dir=/tmp/dt-ci-gtest
mkdir -p "$dir"

# libgtest-dev: googletest prebuilt, with the cmake files find_package(GTest) reads; it depends on googletest,
# the sources the CMakeLists builds instead when the prebuilt library is absent. make: cmake's generator.
missing=()
for pkg in libgtest-dev googletest g++ cmake make; do
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" == installed ]] || missing+=("$pkg")
done
if ((${#missing[@]} > 0)); then
  echo "installing ${missing[*]} (apt-get; log in $dir/apt.log)"
  # --no-install-recommends: a compiler and a build tool, not a desktop's worth of documentation.
  if ! { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"; } >"$dir/apt.log" 2>&1; then
    cat "$dir/apt.log" >&2
    echo "apt-get install ${missing[*]} failed (log above)" >&2
    exit 1
  fi
fi

# A build dir configured from another checkout (a moved or copied work tree) makes cmake refuse; start it over.
cache="$build/CMakeCache.txt"
if [[ -f "$cache" ]] && ! grep -qxF "CMAKE_HOME_DIRECTORY:INTERNAL=$src" "$cache"; then
  echo "$build was configured for another source dir; building it afresh"
  rm -rf "$build"
fi

start_ns=$(date +%s%N)
# cmake re-runs its configure step only when CMakeLists.txt changed, and make rebuilds only what changed.
if ! { cmake -S "$src" -B "$build" && cmake --build "$build" -j "$(nproc)"; } >"$dir/build.log" 2>&1; then
  cat "$dir/build.log" >&2
  echo "building $src into $build failed (log above)" >&2
  exit 1
fi
bin="$build/sample_test"
# Proof the binary runs and is a gtest binary: it lists its cases.
if ! "$bin" --gtest_list_tests >"$dir/list.txt" 2>&1 || ! grep -q '^MathTest\.$' "$dir/list.txt"; then
  cat "$dir/list.txt" >&2
  echo "$bin does not list its tests (output above)" >&2
  exit 1
fi
# The retry fixture (docs/retries.md) beside it, where the tests look for it.
if ! "$build/flaky_test" --gtest_list_tests >"$dir/flaky-list.txt" 2>&1 || ! grep -q '^FlakyTest\.$' "$dir/flaky-list.txt"; then
  cat "$dir/flaky-list.txt" >&2
  echo "$build/flaky_test does not list its tests (output above)" >&2
  exit 1
fi
gtest_from="$(grep -m1 '^GTest_DIR:PATH=' "$build/CMakeCache.txt" | cut -d= -f2)"
if [[ -z "$gtest_from" || "$gtest_from" == *-NOTFOUND ]]; then gtest_from="/usr/src/googletest, built here"; fi
echo "gtest sample built in $(( ($(date +%s%N) - start_ns) / 1000000 )) ms (googletest from $gtest_from)"
echo "$bin"
