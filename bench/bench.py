#!/usr/bin/env python3
"""Benchmark replyguard scan against peers on the same inputs, in one run (see bench/run).

Inputs (deterministic, in bench/out/): replies.txt (bench/make-replies.py, default 100 MB) and packs of
1k, 20k and 100k literal words taken from jieba's dictionary (frequency ranks from 30,000 on, 2-4 Chinese
characters), 100 words per rule, plus 30 regex rules (10 ungated, 20 gated by a word). The same word
lists go to the peers:
  - ripgrep: rg -c -F -f words.txt replies.txt (counts matching lines; no normalization)
  - Hyperscan (python hyperscan, block mode over the whole buffer, HS_FLAG_SINGLEMATCH)
  - pyahocorasick (iterating every match over the decoded text)
replyguard runs with normalization on, --format summary (no per-message output), 1 job and all jobs;
also all jobs writing a JSON record per message. Prints MB/s, peak RSS and ratios, start-up times, and
throughput with 1k / 20k / 100k literals. The main comparison runs in five interleaved rounds
(replyguard, ripgrep, Hyperscan each round; process start-up included for the command-line tools,
Hyperscan's time is the median of three scans of the loaded buffer) and reports medians and the median
per-round ratio, so the machine's slow spells do not favour one tool; the other measurements are medians
of three; pyahocorasick (slow) runs once.
"""
import argparse, json, os, re, subprocess, sys, time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
out = os.path.join(here, "out")
binary = os.path.join(root, ".build/release/replyguard")
jobs = os.cpu_count() or 1

REGEXES_UNGATED = [r"(?<!\d)1[3-9]\d{9}(?!\d)", r"\d{3,4}-\d{7,8}", r"https?://[a-z0-9./_-]+", r"[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}",
                   r"第[一二三四五六七八九十百]+[章条款]", r"\d+(?:元|万元|亿元)", r"(?<![0-9a-z])[1-9]\d{16}[0-9x](?![0-9a-z])",
                   r"\d{4}年\d{1,2}月\d{1,2}日", r"[a-z]{3,}\d{3,}", r"(?:加|\+)\s*(?:微信|v|vx|qq)\s*[a-z0-9_-]{5,}"]

def words_from_jieba(count):
    import jieba
    entries = []
    with open(os.path.join(os.path.dirname(jieba.__file__), "dict.txt"), encoding="utf-8") as f:
        for line in f:
            w, freq = line.split()[:2]
            if 2 <= len(w) <= 4 and all("\u4e00" <= c <= "\u9fff" for c in w):
                entries.append((-int(freq), w))
    entries.sort()
    chosen = [w for _, w in entries[30000:30000 + count]]
    assert len(chosen) == count, f"jieba has only {len(chosen)} words in range"
    return chosen

def write_pack(directory, words):
    os.makedirs(directory, exist_ok=True)
    lines = ["pack: bench", "version: 1.0.0", "category: bench", "description: generated benchmark pack", "rules:"]
    def rule(rid, match, example):
        lines.extend([f"  - id: bench.{rid}", "    title: t", "    description: d", "    action: escalate", "    match:",
                      *["      " + m for m in match], "    examples:", f"      match: [\"⟦{example}⟧\"]", "      no_match: [\"zzz\"]"])
    for i in range(0, len(words), 100):
        chunk = words[i:i + 100]
        rule(f"w{i // 100:05d}", ["words: [" + ", ".join(chunk) + "]"], chunk[0])
    for i, pattern in enumerate(REGEXES_UNGATED):
        rule(f"r{i:02d}", ["regex: '" + pattern.replace("'", "''") + "'"], "x")
    for i in range(20):
        gate = words[i * 7]
        rule(f"g{i:02d}", ["all:", f"  - words: [{gate}]", "  - regex: '" + gate + r".{0,20}\d+'"], gate)
    with open(os.path.join(directory, "bench.yaml"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(directory, "policy.yaml"), "w", encoding="utf-8") as f:
        f.write("packs: [bench]\n")
    with open(os.path.join(directory, "words.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(words) + "\n")

def write_list_pack(directory, words):
    """An operator's word list as one file (words_file), the way sensitive-word libraries keep theirs."""
    os.makedirs(os.path.join(directory, "lists"), exist_ok=True)
    with open(os.path.join(directory, "lists", "operator.txt"), "w", encoding="utf-8") as f:
        f.write("# generated operator word list\n" + "\n".join(words) + "\n")
    with open(os.path.join(directory, "list.yaml"), "w", encoding="utf-8") as f:
        f.write("\n".join(["pack: list", "version: 1.0.0", "category: list", "description: generated word-list pack", "rules:",
                           "  - id: list.operator", "    title: t", "    description: d", "    action: escalate",
                           "    match: {words_file: lists/operator.txt}",
                           f"    examples: {{match: [\"⟦{words[0]}⟧\"], no_match: [\"zzz\"]}}"]) + "\n")

def timed(cmd, discard_output=False, runs=3):
    """Runs cmd `runs` times under /usr/bin/time; returns (median seconds, peak RSS MB, last stdout)."""
    results = sorted((timed_once(cmd, discard_output) for _ in range(runs)), key=lambda r: r[0])
    return results[len(results) // 2][0], max(r[1] for r in results), results[-1][2]

def timed_once(cmd, discard_output=False):
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, stdout=subprocess.DEVNULL if discard_output else subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - t0
    if p.returncode not in (0, 1):
        raise SystemExit(f"{cmd[0]} failed ({p.returncode}): {p.stderr[-500:]}")
    return elapsed, int(p.stderr.strip().splitlines()[-1]) / 1024, p.stdout

PEER = r'''
import sys, time, resource
kind, words_path, data_path = sys.argv[1:4]
words = open(words_path, encoding="utf-8").read().split()
data = open(data_path, "rb").read()
if kind == "hyperscan":
    import hyperscan, re
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    t0 = time.perf_counter()
    db.compile(expressions=[re.escape(w).encode() for w in words], ids=list(range(len(words))),
               flags=[hyperscan.HS_FLAG_SINGLEMATCH] * len(words))
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(3):
        found = []
        t0 = time.perf_counter()
        db.scan(data, match_event_handler=lambda i, a, b, f, c: found.append(i))
        times.append(time.perf_counter() - t0)
    scan_s = sorted(times)[1]
else:
    import ahocorasick
    t0 = time.perf_counter()
    A = ahocorasick.Automaton()
    for w in words: A.add_word(w, w)
    A.make_automaton()
    compile_s = time.perf_counter() - t0
    text = data.decode("utf-8")
    t0 = time.perf_counter()
    found = sum(1 for _ in A.iter(text))
    scan_s = time.perf_counter() - t0
print(compile_s, scan_s, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
'''

def peer(kind, words, data):
    p = subprocess.run([sys.executable, "-c", PEER, kind, words, data], capture_output=True, text=True)
    if p.returncode != 0: raise SystemExit(p.stderr[-800:])
    c, s, rss = map(float, p.stdout.split())
    return c, s, rss

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=float, default=100)
    ap.add_argument("--gigabyte", action="store_true", help="also scan a 1 GB file (the 100 MB corpus ten times) with the 20k pack")
    args = ap.parse_args()
    os.makedirs(out, exist_ok=True)
    replies = os.path.join(out, "replies.txt")
    subprocess.run([sys.executable, os.path.join(here, "make-replies.py"), str(args.size_mb), replies], check=True)
    mb = os.path.getsize(replies) / 1e6
    packs = {}
    for n in (1000, 20000, 100000):
        d = os.path.join(out, f"rules-{n // 1000}k")
        write_pack(d, words_from_jieba(n))
        packs[n] = d
    d20 = packs[20000]
    words20 = os.path.join(d20, "words.txt")
    def rg_scan(j, pack=d20, fmt="summary"):
        return timed([binary, "scan", "--rules", pack, "--format", fmt, "-j", str(j), "--no-progress", replies],
                     discard_output=fmt == "jsonl")
    print(f"corpus: {mb:.1f} MB, {sum(1 for _ in open(replies, 'rb'))} lines; machine: {jobs} cores\n", flush=True)
    # The main comparison runs in interleaved rounds, so a slow spell of the machine hits every tool alike;
    # ratios are the median of the per-round ratios.
    def scan_cmd(j, fmt="summary"):
        return [binary, "scan", "--rules", d20, "--format", fmt, "-j", str(j), "--no-progress", replies]
    commands = [("replyguard scan -j1 (summary)", scan_cmd(1), False),
                (f"replyguard scan -j{jobs} (summary)", scan_cmd(jobs), False),
                (f"replyguard scan -j{jobs} (JSONL record per message)", scan_cmd(jobs, "jsonl"), True),
                ("ripgrep rg -c -F -f words.txt", ["rg", "-c", "-F", "-f", words20, replies], False)]
    hs_name = "Hyperscan block mode (scan only)"
    times = {name: [] for name, _, _ in commands + [(hs_name, None, None)]}
    rss = dict.fromkeys(times, 0.0)
    rounds = 5
    for _ in range(rounds):
        for name, cmd, discard in commands:
            t, r, _ = timed_once(cmd, discard)
            times[name].append(t)
            rss[name] = max(rss[name], r)
        hc, hs, hrss = peer("hyperscan", words20, replies)
        times[hs_name].append(hs)
        rss[hs_name] = max(rss[hs_name], hrss)
    ac, acs, acrss = peer("ahocorasick", words20, replies)
    times["pyahocorasick iter (scan only)"] = [acs]
    rss["pyahocorasick iter (scan only)"] = acrss
    median = lambda xs: sorted(xs)[len(xs) // 2]
    print(f"{'20k-word pack + 30 regexes (median of ' + str(rounds) + ' rounds)':56} {'seconds':>8} {'MB/s':>8} {'peak MB':>8}")
    for name, ts in times.items():
        print(f"{name:56} {median(ts):8.2f} {mb / median(ts):8.1f} {rss[name]:8.0f}")
    j1, jn = times[commands[0][0]], times[commands[1][0]]
    def ratio(label, peer_times, ours):
        rs = sorted(p / o for p, o in zip(peer_times, ours))
        return f"{label} = {median(rs):.2f} (rounds {rs[0]:.2f}–{rs[-1]:.2f})"
    print("\nratios (throughput, per round): " + ratio("replyguard -j1 / ripgrep", times[commands[3][0]], j1) + ", "
          + ratio(f"replyguard -j{jobs} / Hyperscan", times[hs_name], jn)
          + f", replyguard -j1 / pyahocorasick = {acs / median(j1):.1f}")
    print(f"peer set-up: Hyperscan compile {hc:.2f} s, pyahocorasick build {ac:.2f} s")
    # Start-up: load + compile the rules, decide one message.
    one_line = os.path.join(out, "one.txt")
    open(one_line, "w").write("您好\n")
    for name, pack in (("shipped packs", os.path.join(root, "rules")), ("20k pack", d20), ("100k pack", packs[100000])):
        times = sorted(timed_once([binary, "scan", "--rules", pack, "--format", "summary", "--no-progress", one_line])[0] for _ in range(5))
        print(f"start-up with {name}: {times[2] * 1000:.0f} ms (median of 5)")
    list60 = os.path.join(out, "rules-60k-list")
    write_list_pack(list60, words_from_jieba(60000))
    times = sorted(timed_once([binary, "scan", "--rules", list60, "--format", "summary", "--no-progress", one_line])[0] for _ in range(5))
    t, rss60, _ = rg_scan(1, list60)
    print(f"60k-word list file (words_file): start-up {times[2] * 1000:.0f} ms (median of 5), -j1 {mb / t:.1f} MB/s, peak {rss60:.0f} MB")
    print()
    for n, pack in sorted(packs.items()):
        t, rss, _ = rg_scan(1, pack)
        print(f"{n:>6} literals: replyguard -j1 {mb / t:6.1f} MB/s, peak {rss:.0f} MB")
    shipped = os.path.join(root, "rules")
    for j in (1, jobs):
        t, rss, _ = rg_scan(j, shipped)
        print(f"shipped packs (default policy, with its model packs): replyguard -j{j} {mb / t:6.1f} MB/s, peak {rss:.0f} MB")
    # The same rules without the model packs (packs that declare `model:`): what the rules alone cost.
    policy_text = open(os.path.join(shipped, "policy.yaml"), encoding="utf-8").read()
    model_packs = {os.path.splitext(f)[0] for f in os.listdir(shipped) if f.endswith(".yaml")
                   and re.search(r"^model:", open(os.path.join(shipped, f), encoding="utf-8").read(), re.M)}
    packs = [p.strip() for p in re.search(r"^packs:\s*\[(.*)\]", policy_text, re.M).group(1).split(",")]
    rules_only = os.path.join(out, "policy-rules-only.yaml")
    with open(rules_only, "w", encoding="utf-8") as f:
        f.write(f"extends: {os.path.join(shipped, 'policy.yaml')}\npacks: [{', '.join(p for p in packs if p not in model_packs)}]\n")
    for j in (1, jobs):
        t, rss, _ = timed([binary, "scan", "--rules", shipped, "--policy", rules_only, "--format", "summary", "-j", str(j),
                           "--no-progress", replies])
        print(f"shipped packs, rules only (no model packs): replyguard -j{j} {mb / t:6.1f} MB/s, peak {rss:.0f} MB")
    if args.gigabyte:
        big = os.path.join(out, "replies-1gb.txt")
        with open(big, "wb") as f:
            chunk = open(replies, "rb").read()
            while f.tell() < 1_000_000_000: f.write(chunk)
        gb = os.path.getsize(big) / 1e6
        t, rss, _ = timed([binary, "scan", "--rules", d20, "--format", "summary", "--no-progress", big], runs=1)
        print(f"\n1 GB ({gb:.0f} MB), 20k pack, -j{jobs}: {t:.1f} s, {gb / t:.1f} MB/s, peak {rss:.0f} MB")

main()
