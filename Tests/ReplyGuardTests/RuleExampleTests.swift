import Foundation
import ReplyGuard
import Testing

/// Every example of every shipped rule is a test case; a failure is reported at the example's own
/// file:line in rules/*.yaml. Mutated runs (emoji prefix, full-width, Traditional, spaced) included.
@Suite struct RuleExampleTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let rule: String
        let index: Int
        let location: ReplyGuard.SourceLocation
        var testDescription: String { "\(rule) example \(index + 1) (\(location.file):\(location.line))" }
    }

    static let cases: [Case] = Repo.shipped.packs.flatMap(\.rules).flatMap { rule in
        rule.examples.enumerated().map { Case(rule: rule.id, index: $0.offset, location: $0.element.location) }
    }
    static let results: [ExampleChecker.Result] = ExampleChecker(ruleSet: Repo.shipped).checkAll()

    @Test(arguments: cases)
    func example(_ testCase: Case) {
        let mine = RuleExampleTests.results.filter {
            $0.rule.id == testCase.rule && $0.example.location == testCase.location
        }
        #expect(!mine.isEmpty)
        for result in mine where !result.passed {
            let location = Testing.SourceLocation(fileID: "replyguard/" + testCase.location.file,
                                                filePath: Repo.root + "/" + testCase.location.file,
                                                line: testCase.location.line, column: testCase.location.column)
            Issue.record("\(result.mutation.map { "(\($0.rawValue)) " } ?? "")\(result.failure!)", sourceLocation: location)
        }
    }

    @Test func everyShippedRuleHasMatchAndNoMatchExamples() {
        for rule in Repo.shipped.packs.flatMap(\.rules) {
            #expect(rule.examples.contains { $0.kind == .match }, "\(rule.id)")
            #expect(rule.examples.contains { $0.kind == .noMatch }, "\(rule.id)")
        }
    }

    @Test func prefilterNeverChangesResults() {
        let on = ExampleChecker(ruleSet: Repo.shipped, prefilter: true).checkAll()
        let off = ExampleChecker(ruleSet: Repo.shipped, prefilter: false).checkAll()
        #expect(on.map(\.failure) == off.map(\.failure))
        var options = EngineOptions()
        options.prefilter = false
        let withPrefilter = Engine(ruleSet: Repo.shipped), without = Engine(ruleSet: Repo.shipped, options: options)
        for text in ["加微信abc12345", "加V：shoe_888 高仿鞋", "x", "", "咨询请加微信", "加qq 12345"] {
            #expect(withPrefilter.decide(text).hits == without.decide(text).hits, "\(text)")
        }
    }

    @Test func mutationsMoveSpansWithTheText() {
        let checker = ExampleChecker(ruleSet: Repo.shipped)
        let (spaced, spans) = checker.mutate("ab哑巴", [2..<4], .spaced)
        #expect(spaced == "a b 哑 巴")
        #expect(spans == [4..<7])
        let (prefixed, shifted) = checker.mutate("哑巴", [0..<2], .emojiPrefix)
        #expect(Array(prefixed.unicodeScalars)[shifted[0].lowerBound] == "哑")
        #expect(checker.mutate("说话 sb", [], .traditional).0 == "說話 sb")
        #expect(checker.mutate("sb 1", [], .fullWidth).0 == "ｓｂ\u{3000}１")
    }
}
