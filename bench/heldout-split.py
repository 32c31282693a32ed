#!/usr/bin/env python3
"""Writes a copy of a labelled corpus directory that keeps, of the files named, only the records
`replyguard learn` held out (FNV-1a of the id's UTF-8 bytes, mod 10000, below 2000: the default fifth),
and the other files whole: measure rules + models on records the models did not train on.

Usage: bench/heldout-split.py SRC_DIR OUT_DIR TRAINED_FILE.jsonl…
  bench/heldout-split.py ../shared/dev-data /tmp/dev-heldout offensive-cold.jsonl clean-crosswoz.jsonl \
      clean-lccc.jsonl rumour-weibo21.jsonl
  replyguard check --corpus /tmp/dev-heldout --floors corpus/dev-data.floors.yaml --list 0
(Write OUT_DIR outside the repository: the development data must not be copied into it.)
"""
import json, os, sys

def held_out(record_id):
    h = 2166136261
    for b in record_id.encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h % 10000 < 2000

def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    src, out, trained = sys.argv[1], sys.argv[2], set(sys.argv[3:])
    os.makedirs(out, exist_ok=True)
    for name in sorted(os.listdir(src)):
        if not name.endswith(".jsonl"):
            continue
        kept = 0
        with open(os.path.join(src, name), encoding="utf-8") as f, open(os.path.join(out, name), "w", encoding="utf-8") as g:
            for line in f:
                if not line.strip():
                    continue
                if name in trained and not held_out(str(json.loads(line)["id"])):
                    continue
                g.write(line)
                kept += 1
        print(f"{name}: {kept} records{' (held out)' if name in trained else ''}", file=sys.stderr)

if __name__ == "__main__":
    main()
