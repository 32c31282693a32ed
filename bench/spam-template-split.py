#!/usr/bin/env python3
"""Splits the spam records of a chat-spam development file into two halves by *template*, so that rules
written from one half can be measured on ads they were not written from (issue 21: rules fitted to the
development file's repeated ad templates did not carry over to another split of the same source).

Clustering: records are joined (union-find) when they share a run of 8 CJK characters (after NFKC and
lower-casing, with URLs and @handles removed; a shorter CJK text must be equal), or a contact token (a
run of 6+ letters or digits with 4+ distinct characters: a handle, a phone or QQ number, a t.me invite).
A cluster goes to half A or B by SHA-256 of SALT + its smallest normalized text (salt 1: the most even of
salts 0-7, chosen before any rule was written). Clean records are written whole to A (false alarms are
measured on all of them). Prints sizes only, never text.

Usage: bench/spam-template-split.py SRC.jsonl OUT_DIR      (OUT_DIR outside the repository)
  then: replyguard check --corpus OUT_DIR/A …; replyguard check --corpus OUT_DIR/B …
"""
import collections, hashlib, json, os, re, sys, unicodedata

SALT = "1"


def nf(t):
    return unicodedata.normalize("NFKC", t).lower()


def cjk(t):
    t = re.sub(r"https?://\S+|t\.me/\S+|@\w+", "", t)
    return re.sub(r"[^\u4e00-\u9fff]", "", t)


def tokens(t):
    t = re.sub(r"[\s\-_.·]", "", t)
    out = {m for m in re.findall(r"[a-z0-9]{6,}", t) if len(set(m)) >= 4}
    return out | set(re.findall(r"t\.me/\+?(\w{3,})", t))


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, out = sys.argv[1], sys.argv[2]
    recs = [json.loads(l) for l in open(src, encoding="utf-8") if l.strip()]
    spam = [r for r in recs if r["category"] != "clean"]
    parent = list(range(len(spam)))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first = {}

    def link(i, g):
        if g in first:
            a, b = find(i), find(first[g])
            if a != b:
                parent[a] = b
        else:
            first[g] = i

    for i, r in enumerate(spam):
        t = nf(r["text"])
        k, toks = cjk(t), tokens(t)
        for g in ({k} if len(k) < 8 else {k[j : j + 8] for j in range(len(k) - 7)}):
            if g:
                link(i, "c" + g)
        for h in toks:
            link(i, "h" + h)
        if not k and not toks:
            link(i, "r" + re.sub(r"\d", "0", t)[:6])
    clusters = collections.defaultdict(list)
    for i in range(len(spam)):
        clusters[find(i)].append(i)
    half = {}
    for members in clusters.values():
        key = min(nf(spam[i]["text"]) for i in members)
        h = "A" if hashlib.sha256((SALT + key).encode()).digest()[0] % 2 == 0 else "B"
        for i in members:
            half[i] = h
    name = os.path.basename(src)
    for h in "AB":
        os.makedirs(os.path.join(out, h), exist_ok=True)
        with open(os.path.join(out, h, name), "w", encoding="utf-8") as f:
            for i, r in enumerate(spam):
                if half[i] == h:
                    f.write(json.dumps(r, ensure_ascii=False) + "\n")
            if h == "A":
                for r in recs:
                    if r["category"] == "clean":
                        f.write(json.dumps(r, ensure_ascii=False) + "\n")
    sizes = sorted((len(m) for m in clusters.values()), reverse=True)
    print(f"{len(spam)} spam records, {len(clusters)} clusters (largest {sizes[:5]}); "
          f"A {sum(1 for v in half.values() if v == 'A')}, B {sum(1 for v in half.values() if v == 'B')}")


if __name__ == "__main__":
    main()
