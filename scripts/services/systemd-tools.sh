#!/usr/bin/env bash
# CI: systemd-analyze, which test/service/verify.test.ts runs on dt's units
# (`systemd-analyze verify` reads unit files without a running systemd, so
# it works in a container). Installs Debian's systemd package if the tool is
# missing; does nothing otherwise. Prints the version it found last.
set -euo pipefail

dir=/tmp/dt-ci-systemd
mkdir -p "$dir"

if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "installing systemd for systemd-analyze (apt-get; log in $dir/apt.log)"
  # --no-install-recommends: the tool, not a desktop's worth of services.
  if ! { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends systemd; } >"$dir/apt.log" 2>&1; then
    cat "$dir/apt.log" >&2
    echo "apt-get install systemd failed (log above)" >&2
    exit 1
  fi
fi
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "systemd-analyze is still missing after installing Debian's systemd package" >&2
  exit 1
fi
echo "systemd-analyze: $(systemd-analyze --version | head -n 1)"
