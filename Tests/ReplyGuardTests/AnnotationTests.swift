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
