#!/usr/bin/env bash
# Trains a candidate model pack and measures it alone on the development and validation data.
# Usage: bench/try-model.sh NAME CATEGORY MAX_FALSE_ALARM [replyguard learn arguments: inputs, --negative F, --l2 X …]
# Writes /tmp/try-model/NAME (a copy of rules/ whose policy enables only the candidate) and prints
# bench/measure.py's per-file figures. REPLYGUARD (default .build/release/replyguard) is the binary.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin=${REPLYGUARD:-$root/.build/release/replyguard}
name=$1 category=$2 fa=$3; shift 3
dir=/tmp/try-model/$name
rm -rf "$dir"; mkdir -p /tmp/try-model; cp -r "$root/rules" "$dir"
"$bin" learn --category "$category" --out "$dir/models/$name.model" --max-false-alarm "$fa" "$@"
printf 'pack: %s\nversion: 0.0.1\ncategory: %s\ndescription: candidate model\nmodel: models/%s.model\n' "$name" "$category" "$name" > "$dir/$name.yaml"
sed -i "s/^packs: \[.*\]/packs: [$name]/" "$dir/policy.yaml"
python3 "$root/bench/measure.py" --binary "$bin" --rules "$dir"
