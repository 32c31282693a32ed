#!/usr/bin/env python3
"""Added latency of the chat proxy (`serve --upstream`), measured, not asserted.

A scripted upstream (Tests/Fixtures/openai-upstream.py) streams a clean reply one token per event at
RATE tokens/s; the same requests go to the bare upstream, through the proxy, and through the proxy with
--upstream-strict (whole-reply buffering), at 1 and 16 concurrent streams. Printed: time to first
content token and inter-token delay, p50/p99, in ms.

Usage: bench/proxy-latency.py [--binary .build/release/replyguard] [--rules Tests/Fixtures/proxy-rules]
                              [--rules-only] [--rate 40] [--tokens 200] [--streams 1,16]
The rules default to the test pack (words only: a bounded hold); with the shipped rules (--rules rules)
replies are held to sentence ends with the model scored on each prefix (docs/proxies.md#latency);
--rules-only serves a policy extending the rules directory's with its model packs left out (a bounded
hold)."""
import argparse
import base64
import glob
import re
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEXT = "今天天气很好，我们一起去公园散步吧。公园里有很多花，红的黄的紫的都有，孩子们在草地上玩耍，老人们在树下下棋聊天，大家都很开心。"


def event(obj):
    return b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n"


def upstream_script(tokens, rate):
    writes = [event({"id": "b", "object": "chat.completion.chunk", "created": 1, "model": "m",
                     "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})]
    for k in range(tokens):
        writes.append(event({"id": "b", "object": "chat.completion.chunk", "created": 1, "model": "m",
                             "choices": [{"index": 0, "delta": {"content": TEXT[k % len(TEXT)]}, "finish_reason": None}]}))
    writes.append(event({"id": "b", "object": "chat.completion.chunk", "created": 1, "model": "m",
                         "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}) + b"data: [DONE]\n\n")
    return {"writes": [base64.b64encode(w).decode() for w in writes], "delay": 1.0 / rate}


def one(port, path, token, script, results):
    body = json.dumps({"model": "m", "messages": [], "stream": True, "x_script": script})
    start = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    connection.request("POST", path, body=body, headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    response = connection.getresponse()
    times = []
    while True:
        line = response.readline()
        if not line:
            break
        if line.startswith(b"data: {") and b'"content": "' in line and b'"content": ""' not in line:
            times.append(time.perf_counter() - start)
    connection.close()
    results.append(times)


def run(port, path, token, script, streams):
    results = []
    threads = [threading.Thread(target=one, args=(port, path, token, script, results)) for _ in range(streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ttft = [r[0] * 1000 for r in results if r]
    gaps = [(b - a) * 1000 for r in results for a, b in zip(r, r[1:])]
    return ttft, gaps


def pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def serve(binary, rules, upstream, extra):
    directory = tempfile.mkdtemp()
    err = open(os.path.join(directory, "stderr"), "w+")
    env = dict(os.environ, REPLYGUARD_TOKEN="bench-token")
    process = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--rules", rules, "--queue", directory + "/q.sqlite3",
                                "--upstream", f"http://127.0.0.1:{upstream}/v1"] + extra, stderr=err, env=env)
    for _ in range(600):
        err.seek(0)
        text = err.read()
        if "listening on http://127.0.0.1:" in text:
            port = int(text.split("listening on http://127.0.0.1:")[1].split()[0])
            hold = [line for line in text.splitlines() if "held back" in line]
            return process, port, hold[0].split("held back: ")[1] if hold else "?"
        time.sleep(0.05)
    process.kill()
    sys.exit("serve did not start:\n" + text)


def rules_only_policy(rules):
    """A policy file extending `rules`/policy.yaml with every pack but the model packs."""
    base = open(os.path.join(rules, "policy.yaml"), encoding="utf-8").read()
    packs = [p.strip() for p in re.search(r"^packs:\s*\[([^\]]*)\]", base, re.M).group(1).split(",")]
    models = set()
    for path in glob.glob(os.path.join(rules, "*.yaml")):
        text = open(path, encoding="utf-8").read()
        if re.search(r"^model:", text, re.M):
            models.add(re.search(r"^pack:\s*(\S+)", text, re.M).group(1))
    path = os.path.join(tempfile.mkdtemp(), "rules-only.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"version: 1\nextends: {os.path.abspath(os.path.join(rules, 'policy.yaml'))}\n")
        f.write("packs: [" + ", ".join(p for p in packs if p not in models) + "]\n")
    return path


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build/release/replyguard"))
    parser.add_argument("--rules", default=os.path.join(ROOT, "Tests/Fixtures/proxy-rules"))
    parser.add_argument("--rules-only", action="store_true", help="leave the model packs out of the rules directory's policy")
    parser.add_argument("--rate", type=float, default=40)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--streams", default="1,16")
    args = parser.parse_args()
    fake = subprocess.Popen([sys.executable, os.path.join(ROOT, "Tests/Fixtures/openai-upstream.py")], stdout=subprocess.PIPE)
    upstream = int(fake.stdout.readline())
    extra = ["--policy", rules_only_policy(args.rules)] if args.rules_only else []
    proxy, port, hold = serve(args.binary, args.rules, upstream, extra)
    strict, strict_port, _ = serve(args.binary, args.rules, upstream, extra + ["--upstream-strict"])
    script = upstream_script(args.tokens, args.rate)
    print(f"upstream {args.rate:g} tokens/s, {args.tokens} tokens; hold bound: {hold}")
    print(f"{'streams':>7} {'path':<10} {'TTFT p50':>9} {'TTFT p99':>9} {'gap p50':>8} {'gap p99':>8}")
    try:
        for streams in [int(s) for s in args.streams.split(",")]:
            for name, target, path in [("bare", upstream, "/v1/chat/completions"), ("proxy", port, "/v1/chat/completions"),
                                       ("strict", strict_port, "/v1/chat/completions")]:
                ttft, gaps = run(target, path, "bench-token", script, streams)
                print(f"{streams:>7} {name:<10} {pct(ttft, 50):9.1f} {pct(ttft, 99):9.1f} {pct(gaps, 50):8.1f} {pct(gaps, 99):8.1f}", flush=True)
    finally:
        for p in (proxy, strict, fake):
            p.kill()


if __name__ == "__main__":
    main()
