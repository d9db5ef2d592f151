#!/bin/sh
# A tiny test suite for dt's quick start: reads its data file, writes an
# output into ISOLATED_OUTDIR, and fails when the data is not what it expects.
set -e
expected="dt moves a test's whole world"
actual=$(cat data/message.txt)
echo "hello from $(basename "$(pwd)") in a fresh run directory"
echo "message: $actual"
echo "$actual" > "$ISOLATED_OUTDIR/seen.txt"
if [ "$actual" != "$expected" ]; then
  echo "FAIL: expected '$expected'" >&2
  exit 1
fi
echo "PASS"
