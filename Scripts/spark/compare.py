#!/usr/bin/env python3
"""Compares two sets of replyguard decision records by id: exit 0 when every id has one record on each
side and the same verdict, 1 otherwise, with a summary of what differs (missing, extra, duplicate ids,
verdict changes by kind, a few examples). Ids are compared as JSON values, so the number 7 and the
string "7" are different ids, as they are in the records.

usage: compare.py EXPECTED ACTUAL   (each a JSON Lines file or a directory of part-* / *.jsonl files)
"""
import collections
import glob
import json
import os
import sys


def files(path):
    if os.path.isdir(path):
        found = sorted(glob.glob(os.path.join(path, "part-*")) + glob.glob(os.path.join(path, "*.jsonl")))
        return [f for f in found if not f.endswith(".crc")]
    return [path]


def load(path):
    """id (as JSON text) -> list of (verdict, policy); plus the count of lines that are not records."""
    records, bad = collections.defaultdict(list), []
    for name in files(path):
        with open(name, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    key = json.dumps(record["id"], ensure_ascii=False)
                    records[key].append((record["verdict"], record.get("policy")))
                except (ValueError, KeyError, TypeError) as error:
                    bad.append(f"{name}:{number}: {error.__class__.__name__}: {line[:80].rstrip()}")
    return records, bad


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 64
    expected, expected_bad = load(sys.argv[1])
    actual, actual_bad = load(sys.argv[2])
    problems = []
    for side, bad in (("local", expected_bad), ("stage", actual_bad)):
        if bad:
            problems.append(f"{len(bad)} {side} line(s) are not decision records, e.g. {bad[0]}")
    for side, records in (("local", expected), ("stage", actual)):
        duplicates = [k for k, v in records.items() if len(v) > 1]
        if duplicates:
            problems.append(f"{len(duplicates)} id(s) with more than one {side} record, e.g. {duplicates[0]}")
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    if missing:
        problems.append(f"{len(missing)} id(s) have no record in the stage's output, e.g. {', '.join(missing[:5])}")
    if extra:
        problems.append(f"{len(extra)} id(s) only in the stage's output, e.g. {', '.join(extra[:5])}")
    changes = collections.Counter()
    examples = {}
    for key in expected.keys() & actual.keys():
        want, got = expected[key][0][0], actual[key][0][0]
        if want != got:
            changes[(want, got)] += 1
            examples.setdefault((want, got), key)
    if changes:
        total = sum(changes.values())
        kinds = "; ".join(f"{want} -> {got}: {n} (e.g. id {examples[(want, got)]})"
                          for (want, got), n in changes.most_common())
        problems.append(f"{total} verdict(s) differ (local -> stage): {kinds}")
    verdicts = collections.Counter(v[0][0] for v in expected.values())
    policies = {side: sorted({p for v in records.values() for _, p in v if p})
                for side, records in (("local", expected), ("stage", actual))}
    print(f"compared {len(expected)} local and {len(actual)} stage decision records by id; local verdicts: "
          + ", ".join(f"{k} {verdicts[k]}" for k in ("allow", "mask", "escalate", "block") if verdicts[k]))
    if policies["local"] != policies["stage"]:
        # The digest covers the rule files' bytes and the paths written in them, not the directory's
        # location, so a difference means different rules (e.g. --stage-rules): informational only.
        print(f"note: policy digests differ (different rules): local {', '.join(policies['local'])}, "
              f"stage {', '.join(policies['stage'])}")
    if problems:
        print("DIFFERENT:")
        for problem in problems:
            print("  " + problem)
        return 1
    print("identical: every id has the same verdict")
    return 0


if __name__ == "__main__":
    sys.exit(main())
