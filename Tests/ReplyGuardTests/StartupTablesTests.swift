import Foundation
import Testing
@testable import ReplyGuard

/// Faster ways of building the start-up tables (issue 19, part 5) give what the slower ways gave.
@Suite struct StartupTablesTests {
    /// The listed Default_Ignorable_Code_Point ranges are the runtime's property, scalar for scalar (a
    /// toolchain with a newer Unicode version fails here until the list is brought up to date).
    @Test func defaultIgnorableRangesAreTheUnicodeProperty() {
        var differing: [UInt32] = []
        for value in UInt32(0)...0x10FFFF {
            guard let scalar = Unicode.Scalar(value) else { continue }
            if NormalizationTables.isDefaultIgnorable(value) != scalar.properties.isDefaultIgnorableCodePoint { differing.append(value) }
        }
        #expect(differing.isEmpty, "\(differing.prefix(8).map { String($0, radix: 16) })")
    }

    /// Every reading from the flat syllable table is the one splitting the generated text by words gives.
    @Test func pinyinReadingsAreTheGeneratedText() {
        let words = NormalizationTables.generatedPinyin.split(whereSeparator: { $0 == " " || $0 == "\n" })
        #expect(words.count == 0xA000 - 0x4E00)
        let tables = NormalizationTables.shared
        for (offset, word) in words.enumerated() {
            let expected = word == "." ? nil : word.unicodeScalars.map { $0.value }
            #expect(tables.pinyin(of: 0x4E00 + UInt32(offset)) == expected)
        }
        #expect(tables.pinyin(of: 0x4DFF) == nil && tables.pinyin(of: 0xA000) == nil)
        #expect(tables.isPinyinSyllable(NormalizationTables.packSyllable(Array("shuang".unicodeScalars.map { $0.value }))))
    }

    /// The class written at each slot as the scanner goes equals the calls written first and replaced by
    /// the class afterwards (the older way, still taken for a pattern that spells the call itself).
    @Test func inlineExpansionIsTheCalledFormWithEachCallReplaced() {
        let definition = RegexFillers.definition(maxFiller: 3)
        for (source, literals) in [(#"闭\F嘴"#, false), (#"(?<!张)闭\F嘴|(?:讨厌|看不起)\F黑人"#, true), (#"你们?扯\F[a-z]{2,}"#, true),
                                    (#"\d{3}\F\d{4}"#, false), (#"无\F填充"#, true), ("abc", false), (#"x(?&__filler)y\Fz"#, false)] {
            guard case .success(let inline) = RegexFillers.expand(source, maxFiller: 3, literals: literals),
                  case .success(let called) = RegexFillers.expand(source, maxFiller: 3, literals: literals, inline: false) else {
                Issue.record("no expansion of \(source)")
                continue
            }
            let calls = called.count > 0 ? String(called.pattern.dropLast(definition.count)) : called.pattern
            let expected = called.count > 0 ? calls.replacingOccurrences(of: RegexFillers.call, with: RegexFillers.inlineClass(maxFiller: 3)) : calls
            #expect(inline.pattern == expected, "\(source)")
            #expect(inline.count == called.count, "\(source)")
        }
    }

    /// The trie's open-addressing table answers as a dictionary does.
    @Test func transitionTableAgreesWithADictionary() {
        var random = SeededRandom(19)
        var table = LiteralAutomaton.TransitionTable(capacity: 5000)
        var dictionary: [UInt64: Int32] = [:]
        while dictionary.count < 5000 {
            let key = UInt64(random.next(3000)) << 32 | UInt64(random.next(70000))
            if dictionary[key] != nil { continue }
            let value = Int32(dictionary.count)
            dictionary[key] = value
            table.insert(key, value)
        }
        for _ in 0..<20000 {
            let key = UInt64(random.next(3000)) << 32 | UInt64(random.next(70000))
            #expect(table.value(key) == dictionary[key])
        }
        for (key, value) in dictionary { #expect(table.value(key) == value) }
    }
}

extension StartupTablesTests {
    /// Decoding a pattern's UTF-8 gives its Unicode scalars (one, two, three and four bytes each).
    @Test func scalarValuesDecodeEveryLength() {
        for text in ["", "abc", "é闭\\F嘴🐶", "(?:[\\t-\\r\\x20]++|<[a-z]>){0,4}", String(repeating: "加微信💩ü", count: 50)] {
            #expect(RegexRequirement.scalarValues(text) == text.unicodeScalars.map { $0.value }, "\(text)")
        }
    }
}

extension StartupTablesTests {
    /// A model file's lines as ranges are the lines splitting its bytes at each line break gives (a last
    /// empty one dropped).
    @Test func modelLineRangesAreTheSplitLines() {
        for text in ["", "\n", "a", "a\n", "a\nb", "a\n\nb\n", "\n\na\n\n", "w 1 0.5\nend 1 sha256:x\n"] {
            let bytes = Array(text.utf8)
            var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
            if lines.last?.isEmpty == true { lines.removeLast() }
            #expect(NGramModel.lineRanges(bytes).map { Array(bytes[$0]) } == lines.map { Array($0) }, "\(text.debugDescription)")
            #expect(NGramModel.lineRanges(bytes).map(\.lowerBound) == lines.map(\.startIndex), "\(text.debugDescription)")
        }
    }
}
