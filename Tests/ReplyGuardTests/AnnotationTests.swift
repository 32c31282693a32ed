import ReplyGuard
import Testing

/// #12.13: the incident line with its pinyin annotation in NFD form (`(da\u{0304}ng)`), or with a
/// zero-width character before or inside the annotation, was allowed.
@Suite struct AnnotationTests {
    @Test func annotationsAreSkippedAfterCompositionAndIgnorableRemoval() {
        let engine = Engine(ruleSet: Repo.shipped)
        for text in ["不說話沒人把你當(dāng)啞巴",
                     "不說話沒人把你當(da\u{0304}ng)啞巴",
                     "不說話沒人把你當\u{200B}(dāng)啞巴",
                     "不說話沒人把你當(d\u{200B}āng)啞巴",
                     "不說話沒人把你當(da\u{0304}\u{200D}ng)啞巴"] {
            #expect(engine.decide(text).verdict == .block, "\(text.unicodeScalars.map { String($0.value, radix: 16) })")
        }
    }

    /// The same through the one-pass prescreen: a pack whose only word spans the annotation.
    @Test func thePrescreenLooksThroughIgnorablesBeforeAnAnnotation() throws {
        let engine = try engine(["p.yaml": pack("p", match: "words: [当哑巴]")])
        for text in ["把你當(dāng)啞巴", "把你當\u{200B}(dāng)啞巴", "把你當\u{0301}(da\u{0304}ng)啞巴"] {
            #expect(engine.decide(text).verdict == .block, "\(text.unicodeScalars.map { String($0.value, radix: 16) })")
        }
    }
}

/// Issue 17, R7: the verbatim incident line with `當` written as an HTML character reference, the
/// parentheses or the tone mark as references, or a tag inside the annotation, was allowed (and `filter`
/// published it): references were decoded, but the annotation skip did not see a decoded character nor
/// look across tags. Decoding now produces a stream every later step reads.
@Suite struct AnnotationAfterMarkupTests {
    static let lines = ["你不說話沒人把你&#x7576;(dāng)啞巴", "你不說話沒人把你&#30070;(dāng)啞巴",
                        "你不說話沒人把你當&#x28;dāng&#x29;啞巴", "你不說話沒人把你當(d&#257;ng)啞巴",
                        "你不說話沒人把你<b>當(</b>dāng)啞巴", "你不說話沒人把你當(<i>dāng</i>)啞巴",
                        "你不說話沒人把你當</b>(dāng)啞巴", "你不說話沒人把你&#x7576;&#x28;d&#x101;ng&#41;啞巴"]

    @Test(arguments: lines)
    func theIncidentLineBlocksThroughHTML(_ text: String) {
        var off = EngineOptions()
        off.prefilter = false
        let on = Engine(ruleSet: Repo.shipped).decide(text), without = Engine(ruleSet: Repo.shipped, options: off).decide(text)
        #expect(on.verdict == .block)
        #expect(on.hits.contains { $0.rule == "insult.mute-mockery" && $0.start == 0 && $0.match == text })
        #expect(on.hits == without.hits && on.verdict == without.verdict)
    }

    /// The normalized text a page shows: the annotation is gone, whatever the HTML around it.
    @Test func theKeptTextIsTheLineAsAPageShowsIt() {
        for text in AnnotationAfterMarkupTests.lines {
            #expect(Normalizer().normalize(text).keptString == "你不说话没人把你当哑巴", "\(text)")
        }
    }

    /// A regex sees the same: the folded view skips the annotations the kept text skips, and keeps the tags
    /// inside them as written (a link in an attribute stays visible to regexes).
    @Test func regexesSeeTheAnnotationSkippedAndItsTagsKept() throws {
        let e = try engine(["p.yaml": regexPack([("当\\F哑巴", "folded"), ("href=\"x\"", "folded")])])
        for text in ["把你&#x7576;(dāng)啞巴", "把你當(<i>dāng</i>)啞巴", "把你當&#x28;dāng&#x29;啞巴"] {
            #expect(e.decide(text).hits.map(\.rule) == ["p.r0"], "\(text)")
        }
        let link = e.decide("把你當(<a href=\"x\">dāng</a>)啞巴")
        #expect(link.hits.map(\.rule).sorted() == ["p.r0", "p.r1"])
    }
}

/// Found while restructuring the annotation skip: any 1–6 letters in parentheses after a Chinese character
/// were dropped as an annotation, so an insult written there (`你就是个(sb)`) passed. An annotation is now
/// one pinyin syllable (with or without tone marks or a tone digit), and may have blanks around it.
@Suite struct AnnotationShapeTests {
    @Test func lettersThatAreNoSyllableStayText() {
        let engine = Engine(ruleSet: Repo.shipped)
        for text in ["你就是个(sb)", "你是个(nmsl)", "你就是个（ＳＢ）"] {
            #expect(engine.decide(text).verdict == .block, "\(text)")
        }
        #expect(Normalizer().normalize("你就是个(sb)").keptString == "你就是个sb")
    }

    @Test func syllablesWithToneDigitsBlanksAndFullWidthLettersAreAnnotations() {
        let normalizer = Normalizer()
        for text in ["把你當(dang1)啞巴", "把你當 (dāng) 啞巴", "把你當( dāng )啞巴", "把你當（ＤĀＮＧ）啞巴", "女(nǚ)人", "女(nv)人"] {
            let kept = normalizer.normalize(text).keptString
            #expect(kept == "把你当哑巴" || kept == "女人", "\(text): \(kept)")
        }
        // The prescreen hands such a parenthesis to the full path (a blank between does not hide it).
        let e = try! engine(["p.yaml": pack("p", match: "words: [当哑巴]")])
        #expect(e.decide("把你當 (dāng)啞巴").verdict == .block)
        #expect(e.decide("把你當\u{3000}（dang4）啞巴").verdict == .block)
    }
}
