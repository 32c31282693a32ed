#!/usr/bin/env python3
"""Writes the clean-reply set of the streaming stall measurement (bench/stream-stall.sh), one JSON object a line.

Usage: bench/stall-replies.py [DEV_DATA] OUT   (DEV_DATA: ../shared/dev-data by default)

402 replies of 200 characters, the same every run: the first 201 government replies of
clean-gov-replies.jsonl that have at least 200 characters, each cut to its first 200; and 201 travel
assistant replies made of consecutive system turns of clean-crosswoz.jsonl, joined until they reach 200
characters and cut there (each turn used once, in file order).
"""
import json
import os
import sys

LENGTH, EACH = 200, 201


def main():
    args = sys.argv[1:]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    data = args[0] if len(args) == 2 else next((d for d in (os.path.join(root, "../shared/dev-data"), os.path.join(root, "../../shared/dev-data"))
                                                 if os.path.isdir(d)), "/work/shared/dev-data")
    out = args[-1]
    replies = []
    with open(os.path.join(data, "clean-gov-replies.jsonl"), encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            if len(record["text"]) >= LENGTH and len(replies) < EACH:
                replies.append({"id": record["id"], "text": record["text"][:LENGTH]})
    joined, ids = "", []
    with open(os.path.join(data, "clean-crosswoz.jsonl"), encoding="utf-8") as f:
        for line in f:
            if len(replies) == 2 * EACH:
                break
            record = json.loads(line)
            joined += record["text"]
            ids.append(str(record["id"]))
            if len(joined) >= LENGTH:
                replies.append({"id": ids[0] + ".." + ids[-1], "text": joined[:LENGTH]})
                joined, ids = "", []
    assert len(replies) == 2 * EACH, len(replies)
    with open(out, "w", encoding="utf-8") as f:
        for reply in replies:
            f.write(json.dumps(reply, ensure_ascii=False) + "\n")


main()
