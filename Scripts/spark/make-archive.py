#!/usr/bin/env python3
"""Writes a test archive for the Spark stage: JSON Lines records {"id", "text"} in several part files.

The texts are the labelled corpus's (corpus/*.jsonl: clean government replies, incident lines, evasions,
news), repeated round-robin under new ids until RECORDS records exist, so the archive mixes replies that
are allowed, masked, escalated and blocked. Every record has its own id (a Spark stage cannot use scan's
`path:line` ids: a partition's line numbers are not the file's). A few ids are JSON numbers, and every
97th text gets a suffix so not every copy of a line is identical. Deterministic: same corpus and
arguments, same bytes.

usage: make-archive.py CORPUS_DIR OUT_DIR RECORDS FILES
"""
import glob
import json
import os
import sys


def main() -> int:
    if len(sys.argv) != 5:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 64
    corpus, out, records, files = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    texts = []
    for path in sorted(glob.glob(os.path.join(corpus, "*.jsonl"))):
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    texts.append(json.loads(line)["text"])
    if not texts or records < 1 or files < 1:
        print(f"make-archive: nothing to write (texts {len(texts)}, records {records}, files {files})", file=sys.stderr)
        return 2
    os.makedirs(out, exist_ok=True)
    for old in glob.glob(os.path.join(out, "part-*.jsonl")):
        os.remove(old)
    per_file = (records + files - 1) // files
    written = 0
    for k in range(files):
        with open(os.path.join(out, f"part-{k:05d}.jsonl"), "wb") as f:
            for n in range(k * per_file, min(records, (k + 1) * per_file)):
                text = texts[n % len(texts)]
                if n % 97 == 0:
                    text += f"（第{n}条）"
                record_id = n if n % 50 == 0 else f"archive-{n:07d}"
                line = json.dumps({"id": record_id, "text": text}, ensure_ascii=False).encode("utf-8")
                if n % 1000 == 499:
                    # One line in a thousand carries an invalid UTF-8 byte in its text, as real archives
                    # do: a local scan escalates it, and so must the stage (Spark reads it as U+FFFD).
                    line = line.replace(b'"text": "', b'"text": "\xff', 1)
                f.write(line + b"\n")
                written += 1
    print(f"archive: {written} records from {len(texts)} corpus texts in {files} files under {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
