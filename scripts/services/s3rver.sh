#!/usr/bin/env bash
# Starts s3rver (an S3-compatible server, a devDependency) for the tests, in
# the background on 127.0.0.1:${DT_S3RVER_PORT:-4568} with its data under
# /tmp/dt-s3rver, unless something already answers there. Waits until it
# answers, exits non-zero loudly if it does not come up, and prints the
# endpoint (the value for DT_TEST_S3_ENDPOINT) as its last line.
# Credentials: s3rver's fixed S3RVER/S3RVER pair, which the tests set themselves.
set -euo pipefail
cd "$(dirname "$0")/../.."

port="${DT_S3RVER_PORT:-4568}"
endpoint="http://127.0.0.1:${port}"
data=/tmp/dt-s3rver
log="${data}.log"

answers() { curl -s -o /dev/null -m 2 "${endpoint}/"; }

if ! answers; then
  mkdir -p "$data"
  # Through bun, which runs this Node package as it is; setsid so that it outlives this script.
  setsid bun node_modules/s3rver/bin/s3rver.js --directory "$data" --address 127.0.0.1 --port "$port" --silent >"$log" 2>&1 < /dev/null &
  for _ in $(seq 100); do answers && break; sleep 0.1; done
fi
if ! answers; then
  echo "s3rver did not come up on ${endpoint}; its log (${log}):" >&2
  cat "$log" >&2 || true
  exit 1
fi
echo "$endpoint"
