#!/usr/bin/env python3
"""Candidates for the celebrity pack's KdConv star-name lists (rules/lists/celebrity-names-kdconv-{f,m}.txt, #21).
Prints, for every person name in KdConv's film and music utterances (jieba 0.42.1 POS nr/nrfg/nrt, MIT:
`pip install jieba==0.42.1`; or a `given·family` name) seen in at least --min-dialogues dialogues: the name, the
number of film/music dialogues, its count in the negatives (expect allow) of the training and development files,
its count in KdConv's travel turns, and IN when the pack already lists it. The lists were chosen by hand from
this output (docs/detection.md, "Star names from KdConv"): only actors, singers, directors and songwriters;
no ordinary words, common names, fictional or historical figures, politicians or athletes.
Usage: bench/kdconv-star-names.py [--shared DIR] [--min-dialogues N]"""
import argparse, collections, glob, json, os, re
import jieba, jieba.posseg as pseg
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ap = argparse.ArgumentParser()
ap.add_argument('--shared', default='/work/shared')
ap.add_argument('--min-dialogues', type=int, default=2)
a = ap.parse_args()
jieba.setLogLevel(60)
recs = [json.loads(l) for l in open(os.path.join(a.shared, 'train-data', 'celebrity-kdconv.jsonl'))]
seen = collections.defaultdict(set)
for r in recs:
    if r['note'] not in ('film', 'music'):
        continue
    dialogue = r['id'].rsplit('-', 1)[0]
    for w, f in pseg.cut(r['text']):
        if f in ('nr', 'nrfg', 'nrt') and len(w) >= 2:
            seen[w].add(dialogue)
    for m in re.finditer(r'[\u4e00-\u9fff]{1,6}(?:·[\u4e00-\u9fff]{1,8})+', r['text']):
        seen[m.group()].add(dialogue)
travel = '\n'.join(r['text'] for r in recs if r['note'] == 'travel')
files = glob.glob(os.path.join(a.shared, 'dev-data', '*.jsonl')) + glob.glob(os.path.join(a.shared, 'train-data', '*.jsonl'))
negatives = '\n'.join(json.loads(l)['text'] for f in files if 'kdconv' not in f for l in open(f) if '"allow"' in l)
pack = open(os.path.join(root, 'rules', 'celebrity.yaml')).read()
rows = [(k, len(v)) for k, v in seen.items() if len(v) >= a.min_dialogues and re.fullmatch(r'[\u4e00-\u9fff·]{2,16}', k)]
for name, n in sorted(rows, key=lambda x: (-x[1], x[0])):
    print(f"{name}\t{n}\t{negatives.count(name)}\t{travel.count(name)}\t{'IN' if name in pack else ''}")
