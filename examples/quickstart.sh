#!/usr/bin/env bash
# dt's main job on embedded defaults, on one machine: build the binary, then
# `dt local` starts a master (SQLite, in-process queue, local CAS and
# artifacts), two slave processes, archives examples/suite, submits it,
# watches it and prints the summary.
#
# The suite has a test that fails on purpose, so dt local exits 88 ("some
# tests failed"), exactly as it would in CI; this script reports that as the
# expected outcome and exits 0. Any other exit code is passed on.
set -uo pipefail
cd "$(dirname "$0")/.."

bun run build || exit 1
echo "== dt local examples/suite/tasks.json"
dist/dt local examples/suite/tasks.json --slaves 2 --slots 2
code=$?
if [ "$code" -eq 88 ]; then
  echo "== dt local exited 88: failing_test fails on purpose (and flaky_test passed on its retry), as expected"
  exit 0
fi
echo "== dt local exited $code; expected 88 (one test in examples/suite fails on purpose)" >&2
exit "$code"
