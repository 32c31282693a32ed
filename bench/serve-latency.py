#!/usr/bin/env python3
"""Throughput and latency of `replyguard serve`'s POST /v1/check (and /v1/filter), measured with wrk, next to `filter`'s pipe.

Usage: bench/serve-latency.py [--seconds S] [--binary PATH] [--filter-replies N]

Starts the release binary on 127.0.0.1 (an ephemeral port, a token, a fresh queue), then runs wrk with a
Lua script that POSTs `{"text": …}` bodies drawn from bench/make-replies.py's mix (ordinary replies,
incident lines, random Han text) — with 1 connection (one request in flight: the delay one bot sees) and
with 64 connections (throughput). wrk runs on the same 2 cores as the server, so the 64-connection
numbers are a floor. Then runs bench/filter-latency.py for the pipe's per-reply latency.
Prints a Markdown table. Installs wrk with apt-get when missing. Only loopback traffic; every run is
bounded by --seconds.
"""
import argparse, os, re, json, random, shutil, signal, subprocess, sys, tempfile, time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)

def replies(n):
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

def lua_script(path, token, bodies):
    def lua_string(s):
        return '"' + "".join(c if c not in '\\"\n' and ord(c) >= 0x20 else "\\%03d" % ord(c) for c in s) + '"'
    with open(path, "w", encoding="utf-8") as f:
        f.write("wrk.method = \"POST\"\n")
        f.write(f"wrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.headers[\"Authorization\"] = \"Bearer {token}\"\n")
        f.write("bodies = {\n" + ",\n".join(lua_string(json.dumps({"text": b}, ensure_ascii=False)) for b in bodies) + "\n}\n")
        f.write("i = 0\nrequest = function()\n  i = i % #bodies + 1\n  return wrk.format(nil, nil, nil, bodies[i])\nend\n")
        # Fail loudly if any response is not 200 (a benchmark of 401s would be meaningless).
        f.write("bad = 0\nresponse = function(status, headers, body)\n  if status ~= 200 then bad = bad + 1 end\nend\n")
        f.write("done = function(summary, latency, requests)\n  io.write(string.format(\"NON200 %d\\n\", summary.errors.status))\n"
                "  for _, p in pairs({50, 90, 99}) do io.write(string.format(\"P%d %.1f\\n\", p, latency:percentile(p))) end\nend\n")

def wrk(url, script, connections, threads, seconds):
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script, url],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p = {int(m.group(1)): float(m.group(2)) for m in re.finditer(r"^P(\d+) ([\d.]+)$", out, re.M)}
    non200 = int(re.search(r"^NON200 (\d+)$", out, re.M).group(1))
    if non200: raise SystemExit(f"{non200} responses were not 200:\n{out}")
    return rps, p[50], p[99], out

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--binary", default=os.path.join(root, ".build/release/replyguard"))
    ap.add_argument("--filter-replies", type=int, default=20000)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    work = tempfile.mkdtemp()
    token = "bench-" + os.urandom(8).hex()
    env = dict(os.environ, REPLYGUARD_TOKEN=token)
    server = subprocess.Popen([args.binary, "serve", "--listen", "127.0.0.1:0", "--queue", os.path.join(work, "q.sqlite3")],
                              cwd=root, env=env, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stderr.readline()
        m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        if not m: raise SystemExit(f"serve did not start: {line}")
        base = m.group(1)
        script = os.path.join(work, "bodies.lua")
        lua_script(script, token, replies(500))
        wrk(base + "/v1/check", script, 1, 1, 2)  # warm-up
        rows = []
        # /v1/filter holds escalated replies in the queue (SQLite, synchronous=FULL) before answering, as filter does.
        for path, connections, threads in (("/v1/check", 1, 1), ("/v1/check", 64, 2), ("/v1/filter", 1, 1)):
            rps, p50, p99, _ = wrk(base + path, script, connections, threads, args.seconds)
            rows.append((f"serve POST {path}, {connections} connection{'s' if connections > 1 else ''}", f"{rps:,.0f}", p50 / 1000, p99 / 1000))  # wrk: µs
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    pipe = subprocess.run([sys.executable, os.path.join(here, "filter-latency.py"), "--replies", str(args.filter_replies), "--binary", args.binary],
                          capture_output=True, text=True, check=True).stdout
    m = re.search(r"replyguard filter\s+median\s+([\d.]+) µs\s+p99\s+([\d.]+) µs", pipe)
    rows.append((f"filter pipe, one reply in flight ({args.filter_replies} replies)", "–", float(m.group(1)) / 1000, float(m.group(2)) / 1000))
    print(f"| what | requests/s | p50 | p99 |\n|---|---:|---:|---:|")
    for name, rps, p50, p99 in rows:
        print(f"| {name} | {rps} | {p50:.3f} ms | {p99:.3f} ms |")

main()
