#!/usr/bin/env python3
"""Per-file detection figures for a rules directory on the development and validation data.
Runs `replyguard check --corpus DIR --json --list 0` once per data directory and prints, per file and
category, recall (labelled escalate/block) or flagged rate (clean). Usage:
  bench/measure.py [--rules DIR] [--binary PATH] [--data DIR]... [--policy FILE]
Default data: ../shared/dev-data and ../shared/dev-data/validate (relative to the repository)."""
import argparse, json, os, subprocess, sys
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ap = argparse.ArgumentParser()
ap.add_argument('--rules', default=os.path.join(root, 'rules'))
ap.add_argument('--binary', default=os.path.join(root, '.build', 'release', 'replyguard'))
ap.add_argument('--data', action='append')
ap.add_argument('--policy')
a = ap.parse_args()
dev = next((d for d in [os.environ.get('REPLYGUARD_DEV_DATA', ''), os.path.join(root, '..', 'shared', 'dev-data'), '/work/shared/dev-data'] if d and os.path.isdir(d)), None)
if not a.data and not dev: sys.exit('no data: pass --data DIR or set REPLYGUARD_DEV_DATA')
data = a.data or [dev, os.path.join(dev, 'validate')]
for d in data:
    cmd = [a.binary, 'check', '--rules', a.rules, '--corpus', d, '--json', '--list', '0']
    if a.policy: cmd += ['--policy', a.policy]
    p = subprocess.run(cmd, capture_output=True, text=True)
    try:
        j = json.loads(p.stdout)
    except Exception:
        sys.exit(f'{" ".join(cmd)}: exit {p.returncode}\n{p.stderr[-2000:]}')
    for f in j['corpus']['files']:
        name, cat = f['file'], f['category']
        if cat == 'clean':
            print(f"{os.path.basename(d)}/{name:32s} {cat:14s} {f['records']:6d}  flagged {100 * f['flagged'] / max(1, f['records']):5.1f}%  blocked {f['blocked']}")
        else:
            print(f"{os.path.basename(d)}/{name:32s} {cat:14s} {f['records']:6d}  recall  {100 * f['flagged'] / max(1, f['records']):5.1f}%  blocked {f['blocked']}")
