#!/usr/bin/env python3
"""Generates Sources/ReplyGuard/Normalization/NormalizationTables+Families.swift.

Run from the repository root:  python3 Scripts/generate-family-tables.py

Run once when the data changes, never at run time (replyguard calls no ICU and reads no data file). Needs
ICU's shared library (Debian: libicu72 or later; `uspoof`, UTS #39 confusables), Unicode's data files
(Debian: unicode-data, /usr/share/unicode) and CLDR's annotations (Debian: unicode-cldr-core,
/usr/share/unicode/cldr). It writes three tables for the evasion families of issue 17:

- Latin lookalikes: every Cyrillic, Greek, Armenian, Cherokee, Coptic or non-ASCII Latin letter whose
  UTS #39 skeleton (ICU `uspoof_getSkeleton`) is the skeleton of one Latin letter, or of a Latin small
  capital (`ᴍ` is m, `ɴ` is n), folds to that letter in lower case (ѕ → s, м → m, ᴄ → c, Β → b); and the CJK
  radical forms (⺡ ⺨ ⺅) fold to the unified ideographs they stand for (氵 犭 亻), from
  EquivalentUnifiedIdeograph.txt.
- Emoji readings: each emoji (one scalar, U+1F000 or above) whose Chinese CLDR annotation lists a single
  Chinese character as a keyword or as its name stands for that character (🐶 狗, 🐴 马, 🥚 蛋, 💩 屎), plus
  the few additions below that CLDR lacks.
- Common characters: the 3,755 characters of GB 2312 level 1 (the everyday set), the only characters the
  `sound-alikes` evasion swaps in; and the most frequent of them (Unihan kFrequency 1, of the character or
  its Traditional form: 的 是 了 你 有 …), which it never swaps in and which do not anchor a word.
"""
import bz2
import ctypes
import ctypes.util
import glob
import re
import unicodedata
import xml.etree.ElementTree as ET

OUT = "Sources/ReplyGuard/Normalization/NormalizationTables+Families.swift"
UNICODE = "/usr/share/unicode"
CLDR_ZH = UNICODE + "/cldr/common/annotations/zh.xml"

# Emoji that stand for a character online but whose CLDR annotation has no single-character keyword.
EMOJI_ADDITIONS = {
    0x1F33F: "草",  # herb: 草泥马 is written 🌿泥🐴
}


# A character listed by more emoji than this is a category word, not a reading.
MAX_EMOJI_PER_CHARACTER = 4
# Annotations that name no reading (🐞 ladybird: 母 from 瓢虫's other name).
EMOJI_EXCLUDED = {0x1F41E}


def icu_skeleton():
    path = sorted(glob.glob("/usr/lib/*/libicui18n.so.*") + glob.glob("/usr/lib/libicui18n.so.*"))
    if not path:
        raise SystemExit("ICU (libicui18n) not found: apt-get install libicu-dev")
    lib = ctypes.CDLL(path[0])
    suffix = next(s for s in [""] + ["_%d" % v for v in range(50, 100)] if hasattr(lib, "uspoof_open" + s))
    open_ = getattr(lib, "uspoof_open" + suffix)
    open_.restype = ctypes.c_void_p
    error = ctypes.c_int(0)
    checker = open_(ctypes.byref(error))
    assert error.value <= 0, error.value
    get = getattr(lib, "uspoof_getSkeleton" + suffix)
    get.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_char_p, ctypes.c_int32, ctypes.c_char_p, ctypes.c_int32,
                    ctypes.POINTER(ctypes.c_int)]

    def skeleton(text):
        data = text.encode("utf-16-le")
        out = ctypes.create_string_buffer(256)
        error = ctypes.c_int(0)
        n = get(checker, 0, data, len(data) // 2, out, 128, ctypes.byref(error))
        assert error.value <= 0, (text, error.value)
        return out.raw[:2 * n].decode("utf-16-le")
    return skeleton


def latin_lookalikes():
    skeleton = icu_skeleton()
    # What each Latin letter's skeleton stands for; I and l share one (resolved by the lookalike's case).
    targets = {}
    for letter in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ":
        targets.setdefault(skeleton(letter), set()).add(letter)
    for value in range(0x80, 0x2000):
        name = unicodedata.name(chr(value), "")
        m = re.fullmatch(r"LATIN LETTER SMALL CAPITAL ([A-Z])", name)
        if m:
            targets.setdefault(skeleton(chr(value)), set()).add(m.group(1).lower())
    targets.setdefault(skeleton("\u0138"), set()).add("k")  # kra: a small capital K
    scripts = ("CYRILLIC ", "GREEK ", "LATIN ", "ARMENIAN ", "CHEROKEE ", "COPTIC ")
    pairs = {}
    for value in list(range(0x80, 0x2000)) + list(range(0x2C00, 0x2D00)) + list(range(0xA640, 0xA800)) + list(range(0xAB30, 0xABC0)) + list(range(0x13A0, 0x1400)):
        ch = chr(value)
        name = unicodedata.name(ch, "")
        if not name.startswith(scripts) or not unicodedata.category(ch).startswith("L"):
            continue
        if unicodedata.normalize("NFKC", ch).isascii():
            continue  # folding already makes it a Latin letter
        letters = targets.get(skeleton(ch))
        if not letters:
            continue
        if len(letters) > 1:  # I or l: an upper-case lookalike is I, a lower-case one l
            letters = {x for x in letters if x.isupper() == unicodedata.category(ch).startswith("Lu")} or letters
        folded = {x.lower() for x in letters}
        if len(folded) == 1:
            pairs[value] = ord(folded.pop())
    # CJK radical forms → the unified ideographs (⺡ → 氵); Kangxi radicals are folded by NFKC already.
    for line in open(UNICODE + "/EquivalentUnifiedIdeograph.txt", encoding="utf-8"):
        line = line.split("#")[0].strip()
        if not line:
            continue
        source, target = [x.strip() for x in line.split(";")]
        first, _, last = source.partition("..")
        for value in range(int(first, 16), int(last or first, 16) + 1):
            if 0x2E80 <= value <= 0x2EFF and int(target, 16) < 0x20000:
                pairs[value] = int(target, 16)
    return pairs


def is_han(c):
    v = ord(c)
    return 0x4E00 <= v <= 0x9FFF or 0x3400 <= v <= 0x4DBF


def emoji_readings():
    readings = {}
    root = ET.parse(CLDR_ZH).getroot()
    for node in root.iter("annotation"):
        cp = node.get("cp")
        if len(cp) != 1 or ord(cp) < 0x1F000:
            continue
        words = [w.strip() for w in (node.text or "").split("|")]
        chars = [w for w in words if len(w) == 1 and is_han(w)]
        for c in chars:
            readings.setdefault(ord(cp), [])
            if c not in readings[ord(cp)]:
                readings[ord(cp)].append(c)
    # A character that many emoji list is a category (脸 face, 手 hand, 花 flower, 笑 laugh), not a reading:
    # 不要😂 is not 不要脸.
    counts = {}
    for chars in readings.values():
        for c in chars:
            counts[c] = counts.get(c, 0) + 1
    readings = {k: [c for c in v if counts[c] <= MAX_EMOJI_PER_CHARACTER] for k, v in readings.items()}
    readings = {k: v for k, v in readings.items() if v and k not in EMOJI_EXCLUDED}
    for value, chars in EMOJI_ADDITIONS.items():
        readings.setdefault(value, [])
        for c in chars:
            if c not in readings[value]:
                readings[value].append(c)
    return readings


def common_characters():
    chars = []
    for hi in range(0xB0, 0xD8):
        for lo in range(0xA1, 0xFF):
            try:
                c = bytes([hi, lo]).decode("gb2312")
            except UnicodeDecodeError:
                continue
            chars.append(c)
    return chars


def frequent_characters(common):
    frequency = {}
    for line in bz2.open(UNICODE + "/Unihan_DictionaryLikeData.txt.bz2", "rt", encoding="utf-8"):
        if "\tkFrequency\t" in line:
            cp, _, value = line.strip().split("\t")
            frequency[int(cp[2:], 16)] = int(value)
    traditional = {}
    for line in bz2.open(UNICODE + "/Unihan_Variants.txt.bz2", "rt", encoding="utf-8"):
        if "\tkTraditionalVariant\t" in line:
            cp, _, value = line.strip().split("\t")
            traditional[int(cp[2:], 16)] = [int(x[2:].split("<")[0], 16) for x in value.split()]
    def most_frequent(c):
        v = ord(c)
        return any(frequency.get(x) == 1 for x in [v] + traditional.get(v, []))
    return [c for c in common if most_frequent(c)]


def lines(items, per_line):
    return "\n".join(" ".join(items[i:i + per_line]) for i in range(0, len(items), per_line))


def main():
    lookalikes = latin_lookalikes()
    emoji = emoji_readings()
    common = common_characters()
    frequent = frequent_characters(common)
    hexa = lambda v: "%X" % v
    lookalike_items = ["%s:%s" % (hexa(k), hexa(v)) for k, v in sorted(lookalikes.items())]
    emoji_items = ["%s:%s" % (hexa(k), ",".join(hexa(ord(c)) for c in v)) for k, v in sorted(emoji.items())]
    text = f'''// GENERATED by Scripts/generate-family-tables.py — do not edit by hand.
// {len(lookalike_items)} lookalike foldings, {len(emoji_items)} emoji readings, {len(common)} common characters ({len(frequent)} most frequent).
// Format: "SCALAR:REPLACEMENT[,REPLACEMENT…]" in hex, separated by spaces.

extension NormalizationTables {{
    /// Latin lookalikes (UTS #39 skeletons, ICU) folded to the Latin letter, CJK radical forms to the
    /// unified ideograph: applied after the folding table, for messages and words alike.
    static let generatedLookalikes = """
{lines(lookalike_items, 12)}
"""

    /// Emoji and the characters each stands for (CLDR's Chinese annotations).
    static let generatedEmojiReadings = """
{lines(emoji_items, 10)}
"""

    /// The characters of GB 2312 level 1 (everyday characters), 64 per line.
    static let generatedCommonCharacters = """
{chr(10).join("".join(common[i:i + 64]) for i in range(0, len(common), 64))}
"""

    /// The most frequent of them (Unihan kFrequency 1).
    static let generatedFrequentCharacters = """
{chr(10).join("".join(frequent[i:i + 64]) for i in range(0, len(frequent), 64))}
"""
}}
'''
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"lookalikes: {len(lookalike_items)}, emoji: {len(emoji_items)}, common characters: {len(common)}, most frequent: {len(frequent)}")


if __name__ == "__main__":
    main()
