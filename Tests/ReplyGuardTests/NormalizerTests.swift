import ReplyGuard
import Testing

@Suite struct NormalizerTests {
    let normalizer = Normalizer(maxFiller: 4)

    @Test func foldsWidthCaseTraditionalAndDropsZeroWidth() {
        #expect(normalizer.normalize("你不說話沒人把你當啞巴").keptString == "你不说话没人把你当哑巴")
        #expect(normalizer.normalize("ＳＢ Ｗｉｄｔｈ").keptString == "sbwidth")
        #expect(normalizer.normalize("哑\u{200B}巴\u{FEFF}\u{200D}").keptString == "哑巴")
        #expect(normalizer.normalize("Café ①").keptString == "cafe1")
        #expect(normalizer.normalize("𝐒𝐁").keptString == "sb")
    }

    @Test func fillersAreCountedAsGapsNotKept() {
        let text = normalizer.normalize("哑 。😀巴")
        #expect(text.keptString == "哑巴")
        #expect(text.gaps == [0, 3])
    }

    @Test func offsetsMapBackWithMultiByteAndAstralCharacters() {
        let original = "😀a哑\u{200B}巴👍🏽x"
        let text = normalizer.normalize(original)
        let scalars = Array(original.unicodeScalars)
        #expect(text.originalScalarCount == scalars.count)
        #expect(text.keptString == "a哑巴x")
        #expect(text.keptOrigin == [1, 2, 4, 7])
        // Byte offsets of every scalar agree with the UTF-8 encoding.
        var bytes = 0
        for (i, scalar) in scalars.enumerated() {
            #expect(Int(text.scalarByteOffsets[i]) == bytes)
            bytes += String(scalar).utf8.count
        }
        #expect(Int(text.scalarByteOffsets.last!) == original.utf8.count)
    }

    @Test func invalidUTF8IsCountedAndReadAsReplacement() {
        var text = NormalizedText()
        let bytes: [UInt8] = [0xE5, 0x93, 0x91, 0xFF, 0xC0, 0xAF, 0xED, 0xA0, 0x80, 0xE5, 0xB7]
        bytes.withUnsafeBufferPointer { normalizer.normalize($0, into: &text) }
        #expect(text.invalidUTF8Count == 8)
        #expect(text.originalScalarCount == 9)
        #expect(text.scalarByteOffsets.prefix(3) == [0, 3, 4])
    }

    @Test func expansionsKeepTheirOrigin() {
        let text = normalizer.normalize("㈱x")
        #expect(text.keptString == "株x")
        #expect(text.keptOrigin == [0, 1])
    }

    /// The tables skip the Unicode property lookup for these blocks and keep every scalar in them; that
    /// is only right while all of them are letters.
    @Test func blocksKeptWithoutLookupAreAllLetters() {
        for block: ClosedRange<UInt32> in [0x4E00...0x9FFF, 0x3400...0x4DBF, 0xAC00...0xD7A3] {
            let others = block.filter { Unicode.Scalar($0)!.properties.generalCategory != .otherLetter }
            #expect(others.isEmpty, "\(others.prefix(5).map { String($0, radix: 16) })")
        }
        #expect(normalizer.normalize("丂㐀가").keptString == "丂㐀가")
    }
}
