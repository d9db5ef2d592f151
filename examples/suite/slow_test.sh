#!/bin/sh
# A slow test: the scheduler starts long tasks first once it has their history.
. ./lib.sh
seconds=${1:-3}
echo "working for ${seconds}s"
sleep "$seconds"
check "$(wc -l < data/words.txt | tr -d ' ')" "5" "the data file came along"
