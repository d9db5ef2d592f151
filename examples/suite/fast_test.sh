#!/bin/sh
. ./lib.sh
check "$(head -n 1 data/words.txt)" "alpha" "first word"
echo "shard ${GTEST_SHARD_INDEX:-none} of ${GTEST_TOTAL_SHARDS:-none}"
mkdir -p test-logs && echo "a log this test kept" > test-logs/fast.log
