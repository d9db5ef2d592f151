#!/usr/bin/env bash
# CI: promtool, for the tests that check dt's /metrics output with
# `promtool check metrics` (they skip, saying so, without it). Idempotent:
# does nothing when promtool is on the PATH already.
#
# Only the promtool binary is taken from Debian's `prometheus` package
# (apt-get download + dpkg-deb -x), not the package installed: its
# postinst would start a Prometheus server on :9090 on the CI machine, and
# it pulls in a dozen JavaScript packages for its web UI. promtool is one
# static Go binary.
set -euo pipefail

dir=/tmp/dt-ci-promtool
target=/usr/local/bin/promtool

if command -v promtool >/dev/null 2>&1; then
  echo "promtool present: $(command -v promtool) ($(promtool --version 2>&1 | head -n 1))"
  exit 0
fi

rm -rf "$dir"
mkdir -p "$dir/extract"
echo "fetching promtool from Debian's prometheus package (apt-get download; log in $dir/apt.log)"
if ! (cd "$dir" && { apt-get update && apt-get download prometheus; }) >"$dir/apt.log" 2>&1; then
  cat "$dir/apt.log" >&2
  echo "apt-get download prometheus failed (log above)" >&2
  exit 1
fi
dpkg-deb -x "$dir"/prometheus_*.deb "$dir/extract"
install -m 0755 "$dir/extract/usr/bin/promtool" "$target"
rm -rf "$dir"
echo "promtool installed: $target ($("$target" --version 2>&1 | head -n 1))"
