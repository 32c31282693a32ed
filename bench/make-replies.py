#!/usr/bin/env python3
"""Writes a deterministic file of reply-like lines for throughput measurements.

Usage: bench/make-replies.py SIZE_MB OUT [--jsonl]

Lines mix ordinary government-service replies, the seed incident lines (Simplified and Traditional, with
inserted fillers) and random Chinese text, so matching, normalization and the literal automaton all work.
Same arguments, same bytes.
"""
import json, random, sys

CLEAN = [
    "您好，办事大厅工作时间为周一至周五上午9:00-12:00，下午13:30-17:00。",
    "感谢您的留言，您反映的道路积水问题已转交市政部门处理，请耐心等待。",
    "气象台发布暴雨蓝色预警，请市民减少外出，注意防范。",
    "警惕刷单返利诈骗，任何要求先垫付资金的兼职都是诈骗。",
    "关于社保卡办理，请携带身份证原件到社区服务中心办理。",
    "对于给您带来的不便，我们深表歉意，工作人员将尽快与您联系。",
    "Please call 12345 for English service between 9am and 5pm.",
    "本周六上午在市民广场举办公益慈善音乐会，欢迎市民参加。",
]
BAD = [
    "你不说话没人把你当哑巴", "你不說話沒人把你當啞巴", "我仿佛听见了一群蚊子在嗡嗡嗡",
    "面子是别人给的，脸是自己丢的", "你最好永远别来！有你不多无你不少！", "为某嘻哈明星打call",
    "你 不 说 话 没 人 把 你 当 哑 巴", "网传明天起全市停水，紧急扩散", "高仿耐克鞋，加微信abc12345下单",
]
HAN = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]

def main():
    size = int(float(sys.argv[1]) * 1_000_000)
    out = sys.argv[2]
    jsonl = "--jsonl" in sys.argv
    rng = random.Random(2018)
    written = 0
    n = 0
    with open(out, "w", encoding="utf-8") as f:
        while written < size:
            r = rng.random()
            if r < 0.02:
                text = rng.choice(BAD)
            elif r < 0.6:
                text = rng.choice(CLEAN)
            else:
                text = "".join(rng.choice(HAN) for _ in range(rng.randint(10, 80))) + "。"
            n += 1
            line = json.dumps({"id": n, "text": text}, ensure_ascii=False) if jsonl else text
            f.write(line + "\n")
            written += len(line.encode("utf-8")) + 1
    print(f"wrote {n} lines, {written / 1e6:.1f} MB to {out}", file=sys.stderr)

main()
