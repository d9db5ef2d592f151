#!/bin/sh
# Fails on its first attempt and passes on the retry: a flaky group, which still passes.
. ./lib.sh
echo "attempt ${DT_ATTEMPT:-0}"
check "$([ "${DT_ATTEMPT:-0}" -ge 1 ] && echo retry || echo first)" "retry" "passes on retry"
