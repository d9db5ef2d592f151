#!/usr/bin/env bash
# CI: a beanstalkd for the tests that read DT_TEST_BEANSTALKD, on a fresh
# Debian machine or one a previous run left behind. Installs the Debian
# package if needed, (re)starts dt's own server on 127.0.0.1:PORT with a
# binlog, waits until it answers `stats`, and prints its address last.
#
# Port 11311, not beanstalkd's 11300: the Debian package may start its own
# server on 11300 (without a binlog), and two servers must not fight over it.
# Override with DT_CI_BEANSTALKD_PORT.
set -euo pipefail

port="${DT_CI_BEANSTALKD_PORT:-11311}"
dir=/tmp/dt-ci-beanstalkd
# Per port, so a second server on another port (DT_CI_BEANSTALKD_PORT) leaves this one alone.
binlog="$dir/binlog-$port"
log="$dir/beanstalkd-$port.log"
pidfile="$dir/beanstalkd-$port.pid"
# 8 MiB: dt puts task descriptions, not archives; this leaves room without letting a runaway job eat memory.
max_job_bytes=$((8 * 1024 * 1024))
mkdir -p "$dir"

if [[ ! -x /usr/bin/beanstalkd ]]; then
  echo "installing beanstalkd (apt-get; log in $dir/apt.log)"
  if ! { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y beanstalkd; } >"$dir/apt.log" 2>&1; then
    cat "$dir/apt.log" >&2
    echo "apt-get install beanstalkd failed (log above)" >&2
    exit 1
  fi
fi

# True when a server on the port answers `stats` with its OK line within 2 s.
answers_stats() {
  timeout 2 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "stats\r\n" >&3
    IFS= read -r line <&3 && [[ $line == OK* ]]
  ' _ "$port" 2>/dev/null
}

# A server a previous run started: stop it, so this run gets a known command line and an empty binlog.
if [[ -f "$pidfile" ]]; then
  old="$(cat "$pidfile")"
  if [[ "$(cat "/proc/$old/comm" 2>/dev/null)" == beanstalkd ]]; then
    kill "$old"
    for _ in $(seq 50); do [[ -d "/proc/$old" ]] || break; sleep 0.1; done
  fi
  rm -f "$pidfile"
fi
if answers_stats; then
  echo "port $port already has a server that this script did not start; free it or set DT_CI_BEANSTALKD_PORT" >&2
  exit 1
fi

rm -rf "$binlog"
mkdir -p "$binlog"
# setsid and no inherited stdio: the server outlives this script and holds none of the CI runner's pipes open.
setsid /usr/bin/beanstalkd -l 127.0.0.1 -p "$port" -b "$binlog" -z "$max_job_bytes" </dev/null >"$log" 2>&1 &
echo $! >"$pidfile"

for _ in $(seq 100); do answers_stats && break; sleep 0.1; done
if ! answers_stats; then
  cat "$log" >&2
  echo "beanstalkd did not answer stats on 127.0.0.1:$port within 10 s (log above)" >&2
  exit 1
fi
echo "beanstalkd up on 127.0.0.1:$port (pid $(cat "$pidfile"), binlog $binlog, log $log)"
