import Foundation
import ReplyGuard
import Testing

/// The evasion families of issue 12, each on the seed lines: what the shipped packs catch by default and
/// what a rule's opt-in `evasions` add. Each test fails without the change it names.
@Suite struct EvasionFamilyTests {
    let shipped = Engine(ruleSet: Repo.shipped)
    static let seedLines = ["你不说话没人把你当哑巴", "我仿佛听见了一群蚊子在嗡嗡嗡", "面子是别人给的，脸是自己丢的。", "你最好永远别来！有你不多无你不少！"]

    func spread(_ text: String, _ filler: (Int) -> String) -> String {
        text.enumerated().map { String($0.element) + ($0.offset == text.count - 1 ? "" : filler($0.offset)) }.joined()
    }

    /// A run of blanks is one filler: five spaces (or tabs, line breaks, ideographic spaces) between every
    /// character stretch a word no further than one.
    @Test func aRunOfBlanksIsOneFiller() throws {
        for line in Self.seedLines {
            let text = spread(line) { ["     ", " \t \n ", "\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}", "\u{2800}\u{2800}  \u{2800} "][$0 % 4] }
            #expect(shipped.decide(text).verdict == .block, "\(text)")
        }
        let e = try engine(["t.yaml": pack(match: "words: [哑巴]")])
        #expect(e.decide("哑          巴").verdict == .block)
        #expect(e.decide("哑 . . . . . 巴").verdict == .block)      // 5 dots: 5 fillers, the spaces add none
        #expect(e.decide("哑.-.-.巴").verdict == .allow)            // 5 punctuation marks: 5 fillers
        // The hit spans the blanks, back to the original characters.
        let hit = try #require(e.decide("x哑     巴y").hits.first)
        #expect(hit.start == 1 && hit.end == 8)
    }

    /// Default-ignorable code points are dropped whatever their category: five zero-width characters of
    /// any kind (U+200B, U+2060, U+FEFF, the Hangul fillers U+3164, U+115F, U+FFA0, U+180E) between every
    /// character.
    @Test func fiveZeroWidthCharactersOfAnyKind() {
        let zeroWidth = ["\u{200B}", "\u{200C}", "\u{200D}", "\u{2060}", "\u{FEFF}", "\u{180E}", "\u{3164}", "\u{00AD}",
                         "\u{115F}", "\u{1160}", "\u{FFA0}", "\u{034F}", "\u{17B4}"]
        for (k, line) in Self.seedLines.enumerated() {
            let text = spread(line) { n in (0..<5).map { zeroWidth[(k + n + $0 * 3) % zeroWidth.count] }.joined() }
            #expect(shipped.decide(text).verdict == .block, "\(text.unicodeScalars.map { String($0.value, radix: 16) })")
        }
    }
}
