import ReplyGuardPCRE2
import Testing
@testable import ReplyGuard

/// How `\F` is expanded (issue 17): the class written out at each slot, or — for a pattern PCRE2 finds too
/// large that way — a call of the class defined once; the prefilter reads both as transparent to runs of
/// Chinese characters (a regex whose requirement it could not read ran on every message).
@Suite struct RegexFillerExpansionTests {
    func matches(_ pattern: PCRE2Pattern, _ text: String) throws -> Bool {
        var found = false
        var bytes = Array(text.utf8)
        try bytes.withUnsafeMutableBufferPointer { buffer in
            try PCRE2Matcher(limits: PCRE2Limits()).forEachMatch(of: pattern, in: UnsafeBufferPointer(buffer)) { _ in found = true; return false }
        }
        return found
    }

    @Test func bothFormsMatchTheSameAndNeedTheSameRun() throws {
        let source = #"(?<!张)闭\F嘴|(?:讨厌|看不起)\F黑人"#
        guard case .success(let inline) = RegexFillers.expand(source, maxFiller: 4, literals: true),
              case .success(let called) = RegexFillers.expand(source, maxFiller: 4, literals: true, inline: false) else {
            Issue.record("no expansion")
            return
        }
        #expect(inline.count == called.count && inline.count == 6)
        #expect(called.pattern.hasSuffix(RegexFillers.definition(maxFiller: 4)))
        let a = try PCRE2Pattern(inline.pattern), b = try PCRE2Pattern(called.pattern)
        for text in ["闭嘴", "闭 嘴", "闭*·嘴", "闭，嘴", "闭*****嘴", "讨 厌*黑 人", "看不 起黑人", "讨厌，黑人"] {
            #expect(try matches(a, text) == matches(b, text), "\(text)")
        }
        for pattern in [inline.pattern, called.pattern] {
            let requirement = try #require(RegexRequirement.of(pattern))
            #expect(requirement.clauses.count == 1)
            #expect(Set(requirement.clauses[0].han) == [Array("闭嘴".unicodeScalars.map(\.value)), Array("讨厌黑人".unicodeScalars.map(\.value)),
                                                      Array("看不起黑人".unicodeScalars.map(\.value))], "\(pattern.prefix(40))")
        }
        // Digits: a slot ends a run (fillers count as they are written) but not the count.
        guard case .success(let phone) = RegexFillers.expand(#"1(?:(?!\d)\F\d){10}"#, maxFiller: 4) else { return }
        let digits = try #require(RegexRequirement.of(phone.pattern))
        #expect(digits.digitRun == 1 && digits.digitCount == 11)
    }

    /// A pattern too large with the class written out at every slot compiles with calls instead.
    @Test func aPatternTooLargeWrittenOutCallsTheClass() throws {
        let source = Array(repeating: "闭", count: 700).joined(separator: #"\F"#)
        guard case .success(let inline) = RegexFillers.expand(source, maxFiller: 4) else { Issue.record("no expansion"); return }
        #expect(throws: PCRE2CompileError.self) { try PCRE2Pattern(inline.pattern) }
        let compiled = try RegexFillers.compile(source, expanded: inline.pattern, count: inline.count, maxFiller: 4, literals: false)
        #expect(compiled.pattern.contains(RegexFillers.call))
        #expect(try matches(compiled, Array(repeating: "闭", count: 700).joined(separator: " ")))
    }
}
