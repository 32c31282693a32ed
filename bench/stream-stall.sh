#!/bin/sh
# How long clean replies stay held in the chat proxy's stream (docs/proxies.md, "What still holds").
# Builds the 402-reply set (bench/stall-replies.py), streams each one character at a time through the
# shipped rules (debug test build, StreamStallBench) and prints the count still held by more than the
# bound + 10 characters at the end, the first release's p50/p90 position and the rules that held them.
# Usage: bench/stream-stall.sh [--models] [DEV_DATA]   (--models: the policy's model packs too: sentence hold)
# Per-reply lines (id, characters held, reason) go to /tmp/stream-stall-detail.tsv.
set -e
cd "$(dirname "$0")/.."
models=0
if [ "$1" = --models ]; then models=1; shift; fi
replies=$(mktemp)
python3 bench/stall-replies.py ${1:+"$1"} "$replies"
export REPLYGUARD_STALL_REPLIES="$replies" REPLYGUARD_STALL_MODELS=$models REPLYGUARD_STALL_DETAIL=/tmp/stream-stall-detail.tsv
flock /tmp/rg-build.lock sh -c 'swift build --build-tests >/dev/null &&
    swift test --skip-build --disable-xctest --filter ReplyGuardTests.StreamStallBench 2>&1' | grep '^stall:'
rm -f "$replies"
