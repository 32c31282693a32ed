#!/usr/bin/env python3
"""Latency that `replyguard filter` adds per reply, against `cat` on the same input.

Usage: bench/filter-latency.py [--replies N] [--binary PATH]

Generates N reply lines (bench/make-replies.py's mix: ordinary replies, incident lines, random text),
then for each command writes one line, waits for its one output line, and records the round trip.
Prints median and p99 for `cat` and for `replyguard filter` (shipped packs, a fresh review queue) and
the difference. Ping-pong, one reply in flight: this is the delay a chatbot's user would see.
"""
import argparse, os, random, subprocess, tempfile, time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)

def replies(n):
    """The same mix as make-replies.py (its word lists, read from that file), as a list of lines."""
    rng = random.Random(2018)
    ns = {}
    exec(open(os.path.join(here, "make-replies.py"), encoding="utf-8").read().split("def main")[0], ns)
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.02: out.append(rng.choice(ns["BAD"]))
        elif r < 0.6: out.append(rng.choice(ns["CLEAN"]))
        else: out.append("".join(rng.choice(ns["HAN"]) for _ in range(rng.randint(10, 80))) + "。")
    return out

def measure(cmd, lines):
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0, cwd=root)
    times = []
    out = proc.stdout
    for line in lines:
        data = (line + "\n").encode()
        t0 = time.perf_counter_ns()
        proc.stdin.write(data)
        got = b""
        while not got.endswith(b"\n"):
            chunk = out.readline()
            if not chunk: raise SystemExit(f"{cmd[0]} ended early")
            got += chunk
        times.append(time.perf_counter_ns() - t0)
    proc.stdin.close()
    proc.wait()
    times.sort()
    return [times[int(len(times) * q)] / 1000 for q in (0.5, 0.99, 0.999)] + [times[-1] / 1000]

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--replies", type=int, default=100_000)
    ap.add_argument("--binary", default=os.path.join(root, ".build/release/replyguard"))
    args = ap.parse_args()
    lines = replies(args.replies)
    queue = os.path.join(tempfile.mkdtemp(), "queue.sqlite3")
    cat = measure(["cat"], lines)
    rg = measure([args.binary, "filter", "--queue", queue], lines)
    print(f"{args.replies} replies, one in flight")
    for name, t in (("cat", cat), ("replyguard filter", rg)):
        print(f"{name:20} median {t[0]:8.1f} µs   p99 {t[1]:8.1f} µs   p99.9 {t[2]:8.1f} µs   max {t[3]:9.1f} µs")
    print(f"{'added by replyguard':20} median {rg[0]-cat[0]:8.1f} µs   p99 {rg[1]-cat[1]:8.1f} µs   p99.9 {rg[2]-cat[2]:8.1f} µs")

main()
