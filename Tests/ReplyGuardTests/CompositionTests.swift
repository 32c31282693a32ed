import Foundation
import ReplyGuard
import Testing

/// Issue 17: the normalizer's steps must compose in any order. For lines that make shipped rules match,
/// random compositions of the encodings it claims to undo — Traditional and full-width forms, HTML character
/// references (hex and decimal), tags, zero-width characters, fillers between characters, pinyin annotations
/// after Chinese characters (tone marks precomposed or combining, upper case, full-width letters or
/// parentheses, a tone digit; with tags, references and blanks inside and around them) — never lower the
/// verdict, and the prefilters never change a decision.
///
/// What is composed, and why each stays within what the normalizer claims:
/// - a character's own spelling first (Traditional, full-width), then how a page may write it (a reference):
///   a reference of a full-width `＆` is text a browser shows as written, not the character;
/// - between two characters at most one filler (a blank run, a tag, one symbol or emoji) plus zero-width
///   characters, so an annotation with a filler on each side stays within `max_filler`; fillers are taken
///   from those regexes allow too (`\F` refuses clause breaks such as `，` by design);
/// - a run of ASCII letters and digits (`sb`, a phone number) is kept whole: the rules spell those as one
///   token (a phone number written together or with a filler between every digit, not a mix).
@Suite struct CompositionTests {
    /// The incident lines and the evasions the corpus keeps, and the match examples of the shipped rules
    /// that escalate or block (the ones whose regexes now take fillers among them).
    static let lines: [String] = {
        var lines: [String] = []
        for file in ["incidents.jsonl", "evasions.jsonl"] {
            let text = (try? String(contentsOfFile: Repo.root + "/corpus/" + file, encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n") {
                guard let record = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                      let text = record["text"] as? String, record["expect"] as? String != "allow" else { continue }
                lines.append(text)
            }
        }
        // Lines already written in HTML are compositions themselves (the named tests below cover them).
        for rule in Repo.shipped.packs.flatMap(\.rules) where rule.action == .block || rule.action == .escalate {
            for example in rule.examples where example.kind == .match { lines.append(example.textAndSpans.text) }
        }
        return lines.filter { !$0.contains("&") && !$0.contains("<") }
    }()

    static let engines: (on: Engine, off: Engine) = {
        var off = EngineOptions()
        off.prefilter = false
        return (Engine(ruleSet: Repo.shipped), Engine(ruleSet: Repo.shipped, options: off))
    }()

    @Test func theLinesAreThere() {
        #expect(CompositionTests.lines.count > 250)
        #expect(CompositionTests.lines.contains("你不說話沒人把你當(dāng)啞巴"))
    }

    @Test(arguments: 0..<8)
    func compositionsNeverLowerTheVerdict(_ shard: Int) {
        let (on, off) = CompositionTests.engines
        let lines = CompositionTests.lines.enumerated().filter { $0.offset % 8 == shard }.map(\.element)
        var random = SeededRandom(0x5EED_0000 + UInt64(shard))
        for line in lines {
            let expected = on.decide(line).verdict
            for _ in 0..<24 {
                let encoded = Encoder.encode(line, &random)
                let a = on.decide(encoded), b = off.decide(encoded)
                #expect(a.verdict >= expected, "\(line) → \(encoded): \(a.verdict) < \(expected)")
                #expect(a.verdict == b.verdict && a.hits == b.hits, "prefilters on and off disagree on \(encoded)")
            }
        }
    }

    /// The compositions the issue names, written out (each one was allowed before).
    @Test func theNamedCompositionsBlock() {
        for text in ["你不說話沒人把你&#x7576;(dāng)啞巴", "你不說話沒人把你&#30070;(dāng)啞巴", "你不說話沒人把你當&#x28;dāng&#x29;啞巴",
                     "你不說話沒人把你當(d&#257;ng)啞巴", "你不說話沒人把你<b>當(</b>dāng)啞巴", "你不說話沒人把你當(<i>dāng</i>)啞巴",
                     "你不說話沒人把你<span>&#x7576;</span>\u{200B}（<i>D&#x100;NG</i>）&#21854;巴"] {
            #expect(CompositionTests.engines.on.decide(text).verdict == .block, "\(text)")
        }
    }

    /// Random encodings of one line, as a page would show the same text.
    enum Encoder {
        static let tables = NormalizationTables.shared
        static let gapFillers = [" ", "*", "·", "~", "\u{1F600}", "<b>", "</span>", "<span style=\"color:red\">", "&nbsp;", "\u{3000}"]
        static let annotationGaps = ["", "<i>", "</i>", "\u{200B}", " "]
        static let tones: [Character: [Character]] = ["a": ["ā", "á", "ǎ", "à"], "e": ["ē", "é", "ě", "è"], "i": ["ī", "í", "ǐ", "ì"],
                                                      "o": ["ō", "ó", "ǒ", "ò"], "u": ["ū", "ú", "ǔ", "ù"]]

        /// A character the normalizer keeps (a letter or digit), a run of ASCII letters and digits, with what
        /// follows it up to the next one: an annotation the line already has (`(dāng)`), then fillers.
        struct Segment {
            var unit: [Unicode.Scalar]
            var annotation: [Unicode.Scalar] = []
            var tail: [Unicode.Scalar] = []
        }

        static func isKept(_ s: Unicode.Scalar) -> Bool {
            let p = s.properties
            return (p.isAlphabetic || p.numericType != nil) && !p.isDefaultIgnorableCodePoint
        }
        /// A letter or digit that is not a Chinese character: runs of them (with `_` or `-` inside) are one
        /// token (`sb`, `shoe_888`, a phone number, `❶❸❽…`).
        static func isWordCharacter(_ s: Unicode.Scalar) -> Bool { isKept(s) && !s.properties.isIdeographic }
        static let joiners: Set<Unicode.Scalar> = ["_", "-", "＿", "－"]

        /// How many fillers a run counts as (a blank run one, an ignorable character none).
        static func fillerCount(_ run: [Unicode.Scalar]) -> Int {
            var count = 0, blank = false
            for s in run {
                if s.properties.isDefaultIgnorableCodePoint || s.properties.generalCategory == .nonspacingMark { continue }
                let isBlank = s.properties.isWhitespace
                if !(isBlank && blank) { count += 1 }
                blank = isBlank
            }
            return count
        }

        static func segments(_ line: String) -> (lead: [Unicode.Scalar], segments: [Segment]) {
            let scalars = Array(line.unicodeScalars)
            var lead: [Unicode.Scalar] = [], segments: [Segment] = []
            var i = 0
            while i < scalars.count {
                let s = scalars[i]
                let joins = joiners.contains(s) && i + 1 < scalars.count && isWordCharacter(scalars[i + 1])
                if isKept(s) || joins {
                    if isWordCharacter(s) || joins, var last = segments.last, last.tail.isEmpty, last.annotation.isEmpty,
                       last.unit.allSatisfy({ isWordCharacter($0) || joiners.contains($0) }) {
                        last.unit.append(s)
                        segments[segments.count - 1] = last
                    } else {
                        segments.append(Segment(unit: [s]))
                    }
                    i += 1
                    if s.properties.isIdeographic, i < scalars.count, scalars[i] == "(" || scalars[i] == "（",
                       let close = scalars[i...].firstIndex(where: { $0 == ")" || $0 == "）" }), close - i <= 9,
                       scalars[i + 1..<close].allSatisfy({ $0.properties.isAlphabetic || $0.properties.generalCategory == .nonspacingMark }) {
                        segments[segments.count - 1].annotation = Array(scalars[i...close])
                        i = close + 1
                    }
                } else if segments.isEmpty {
                    lead.append(s)
                    i += 1
                } else {
                    segments[segments.count - 1].tail.append(s)
                    i += 1
                }
            }
            return (lead, segments)
        }

        static func encode(_ line: String, _ random: inout SeededRandom) -> String {
            let traditional = random.next(2) == 0, fullWidth = random.next(3) == 0
            let referenceRate = [0, 3, 10][random.next(3)], gapRate = [0, 3, 10][random.next(3)], annotationRate = [0, 2, 4][random.next(3)]
            func spelled(_ scalars: [Unicode.Scalar]) -> String {
                scalars.map { spell($0, traditional: traditional, fullWidth: fullWidth, referenceRate: referenceRate, &random) }.joined()
            }
            let (lead, segments) = segments(line)
            var out = spelled(lead)
            for segment in segments {
                out += spelled(segment.unit)
                // At most max_filler (4) fillers between two kept characters: what the line has, an
                // annotation's leading gap, one more filler.
                var budget = 4 - fillerCount(segment.tail)
                if !segment.annotation.isEmpty {
                    if budget >= 1, random.next(3) == 0 { out += annotationGaps[random.next(annotationGaps.count)]; budget -= 1 }
                    out += spelled(segment.annotation)
                } else if segment.unit.count == 1, annotationRate > 0, budget >= 1, random.next(10) < annotationRate,
                          let syllable = tables.pinyin(of: segment.unit[0].value) {
                    out += annotation(syllable, referenceRate: referenceRate, &random)
                    budget -= 1
                }
                if gapRate > 0, budget >= 1, random.next(10) < gapRate { out += gap(&random) }
                out += spelled(segment.tail)
            }
            return out
        }

        static func gap(_ random: inout SeededRandom) -> String {
            var text = gapFillers[random.next(gapFillers.count)]
            if random.next(4) == 0 { text = "\u{200B}" + text }
            return text
        }

        /// One character: its own spelling first (Traditional, full-width), then maybe as a reference.
        static func spell(_ scalar: Unicode.Scalar, traditional: Bool, fullWidth: Bool, referenceRate: Int, _ random: inout SeededRandom) -> String {
            var s = scalar
            if traditional, let t = tables.simplifiedToTraditional[s] { s = t }
            if fullWidth, (0x21...0x7E).contains(s.value), s != "&", s != "<" { s = Unicode.Scalar(s.value + 0xFEE0)! }
            if referenceRate > 0, random.next(10) < referenceRate {
                return random.next(2) == 0 ? "&#x\(String(s.value, radix: 16));" : "&#\(s.value);"
            }
            return String(s)
        }

        /// `(dāng)` in one of the forms conversion tools and evaders write, with gaps inside and before it.
        static func annotation(_ syllable: [UInt32], referenceRate: Int, _ random: inout SeededRandom) -> String {
            var letters = syllable.map { Character(Unicode.Scalar($0)!) }
            let style = random.next(6)
            if style <= 1, let vowel = letters.firstIndex(where: { tones[$0] != nil }) {
                let toned = tones[letters[vowel]]![random.next(4)]
                // NFD: the letter and a combining mark.
                if style == 1 { letters.replaceSubrange(vowel...vowel, with: Array(String(toned).decomposedStringWithCanonicalMapping)) } else { letters[vowel] = toned }
            }
            var body = letters.map(String.init)
            if style == 2 { body = body.map { $0.uppercased() } }
            if style == 3 { body = body.map { String(Unicode.Scalar($0.unicodeScalars.first!.value + 0xFEE0)!) } }
            if style == 4 { body.append(String(random.next(5) + 1)) }
            let (open, close) = random.next(3) == 0 ? ("（", "）") : ("(", ")")
            var parts = [open] + body + [close]
            parts = parts.map { part in
                guard referenceRate > 0, random.next(10) < referenceRate, let v = part.unicodeScalars.first?.value, part.unicodeScalars.count == 1 else { return part }
                return "&#x\(String(v, radix: 16));"
            }
            var text = random.next(3) == 0 ? annotationGaps[random.next(annotationGaps.count)] : ""
            for (k, part) in parts.enumerated() {
                if k > 0, random.next(4) == 0 { text += annotationGaps[random.next(annotationGaps.count)] }
                text += part
            }
            return text
        }
    }
}
