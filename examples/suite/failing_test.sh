#!/bin/sh
# Fails on purpose: the job's summary names it, and dt submit exits 88.
. ./lib.sh
echo "about to fail"
check "$(tail -n 1 data/words.txt)" "omega" "last word"
