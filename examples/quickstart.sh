#!/usr/bin/env bash
# dt's main job on embedded defaults, on one machine: build the binary, start
# a CAS on a free port, archive examples/hello (its files and command) and run
# it with run-isolated from a fresh cache, as a slave would.
set -euo pipefail
cd "$(dirname "$0")/.."

bun run build
work=$(mktemp -d "${TMPDIR:-/tmp}/dt-quickstart.XXXXXX")
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

dist/dt isolate-server --port 0 --host 127.0.0.1 --data-dir "$work/cas" 2>"$work/server.log" &
server_pid=$!
url=
for _ in $(seq 100); do
  url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$work/server.log" || true)
  [ -n "$url" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "isolate server did not start; its log:" >&2; cat "$work/server.log" >&2; exit 1; }
echo "== isolate server at $url"

echo "== dt archive -i examples/hello/hello.isolate"
digest=$(dist/dt archive --isolate-server "$url" -i examples/hello/hello.isolate -s "$work/hello.isolated" --hash-cache "$work/hashes.sqlite" | cut -d' ' -f1)
echo "manifest digest: $digest"

echo "== dt run-isolated --hash $digest"
dist/dt run-isolated --isolate-server "$url" --hash "$digest" --cache "$work/cache" --json "$work/result.json"
echo "== result: $(grep -E '"(exit_code|timed_out)"' "$work/result.json" | tr -d ' \n')"
