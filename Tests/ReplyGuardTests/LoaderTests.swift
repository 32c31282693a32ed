import ReplyGuard
import Testing

@Suite struct LoaderTests {
    @Test func shippedPacksLoad() {
        #expect(Repo.shipped.packs.count >= 6)
        #expect(Repo.shipped.digest.hasPrefix("sha256:"))
    }

    @Test func everyProblemIsReportedWithFileAndLine() {
        let broken = """
        pack: t
        version: 1
        category: t
        description: d
        rules:
          - id: t.one
            title: t
            description: d
            action: block
            colour: red
            match:
              regex: 'ab(c'
            examples:
              match: ["⟦x⟧"]
              no_match: ["y"]
          - id: t.one
            title: t
            description: d
            match:
              not: {words: [x]}
            examples:
              match: ["no marker"]
              no_match: ["y"]

        """
        let problems = loadProblems(["t.yaml": broken])
        let byLine = Dictionary(grouping: problems, by: { $0.line ?? 0 })
        #expect(problems.allSatisfy { $0.file.hasSuffix("t.yaml") })
        #expect(byLine[10]?.first?.message.contains("unknown key 'colour'") == true)
        let regex = byLine[12]?.first
        #expect(regex?.message.contains("missing closing parenthesis") == true)
        #expect(regex?.detail == ["ab(c", "    ^"])
        #expect(byLine[16]?.contains { $0.message.contains("duplicate rule id 't.one'") } == true)
        #expect(problems.contains { $0.message.contains("needs an 'action'") })
        #expect(byLine[20]?.first?.message.contains("'not' is only allowed") == true)
        #expect(byLine[22]?.first?.message.contains("⟦…⟧") == true)
    }

    @Test func yamlSyntaxErrorsAndDuplicateKeysHavePositions() {
        let problems = loadProblems(["a.yaml": "pack: a\n  bad: [\n", "b.yaml": "pack: b\npack: c\n"])
        #expect(problems.count == 2)
        #expect(problems.allSatisfy { $0.line != nil })
        #expect(problems.contains { $0.message.contains("duplicate key 'pack'") })
    }

    @Test func wordsThatNormalizeToNothingAreRejected() {
        let problems = loadProblems(["t.yaml": pack(match: "words: ['！！', '  ']")])
        #expect(problems.map(\.message) == [
            "word '！！' normalizes to nothing (only spaces, punctuation, symbols or emoji); use a regex with on: original",
            "a word must not be empty",
        ])
    }

    @Test func policyProblems() {
        let policy = """
        packs: [t, missing]
        thresholds:
          t: {escalate: 10, block: 5}
          nosuch: {block: 1}
        exceptions:
          - rules: [t.rule]
            reason: ok
            expires: tomorrow
          - rules: [other.*]
        """
        let problems = loadProblems(["t.yaml": pack(match: "words: [x]"), "policy.yaml": policy])
        let messages = problems.map(\.message)
        #expect(messages.contains { $0.contains("pack 'missing'") })
        #expect(messages.contains { $0.contains("must not be above block") })
        #expect(messages.contains { $0.contains("unknown key 'nosuch'") })
        #expect(messages.contains { $0.contains("expires must be a date") })
        #expect(messages.contains { $0.contains("matches no rule") })
        #expect(messages.contains { $0.contains("missing required key 'reason'") })
        #expect(problems.allSatisfy { $0.file.hasSuffix("policy.yaml") && $0.line != nil })
    }

    @Test func missingDirectoryFailsClosed() {
        do {
            _ = try RuleLoader.load(rulesDirectory: "/nonexistent/rules")
            Issue.record("expected a failure")
        } catch {
            #expect(error.problems.first?.message.contains("not found") == true)
        }
    }

    @Test func digestChangesWithThePacks() throws {
        let a = try RuleLoader.load(rulesDirectory: makeRulesDirectory(["t.yaml": pack(match: "words: [x]")]))
        let b = try RuleLoader.load(rulesDirectory: makeRulesDirectory(["t.yaml": pack(match: "words: [xy]")]))
        let c = try RuleLoader.load(rulesDirectory: makeRulesDirectory(["t.yaml": pack(match: "words: [x]")]))
        #expect(a.digest != b.digest)
        #expect(a.digest == c.digest)
    }
}
