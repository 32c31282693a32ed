import Foundation
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

    /// Scores were summed and `within` converted to Int32 unchecked: a pack with two rules of score
    /// 2^62 crashed the scan that hit both, `within: 3000000000` crashed building the engine, and a
    /// policy's `reported_speech.window` near Int.max crashed the scan of a quoted block. Each is now a
    /// problem at its line.
    @Test func wholeNumbersTooLargeAreProblemsNotCrashes() throws {
        let big = """
        pack: t
        version: 1.0.0
        category: t
        description: d
        rules:
          - id: t.a
            title: t
            description: d
            score: 4611686018427387904
            match: {words: [xx]}
            examples: {match: ["⟦xx⟧"], no_match: ["y"]}
          - id: t.b
            title: t
            description: d
            score: 4611686018427387904
            match:
              all: [{words: [xx]}, {words: [zz]}]
              within: 3000000000
            examples: {match: ["⟦xx zz⟧"], no_match: ["y"]}

        """
        let policy = "reported_speech: {window: 9223372036854775807}\nlimits: {match_limit: 99999999999}\n"
        let lines = loadProblems(["t.yaml": big, "policy.yaml": policy])
            .map { "\(($0.file as NSString).lastPathComponent):\($0.line ?? 0): \($0.message)" }
        #expect(lines.contains("t.yaml:9: score must be at most 1000000"), "\(lines)")
        #expect(lines.contains("t.yaml:15: score must be at most 1000000"), "\(lines)")
        #expect(lines.contains("t.yaml:18: within must be at most 1000000"), "\(lines)")
        #expect(lines.contains("policy.yaml:1: reported_speech.window must be at most 1000000"), "\(lines)")
        #expect(lines.contains("policy.yaml:2: match_limit must be at most 4294967295"), "\(lines)")
        // The largest values load and decide.
        let largest = big.replacingOccurrences(of: "4611686018427387904", with: "1000000").replacingOccurrences(of: "3000000000", with: "1000000")
        let e = try engine(["t.yaml": largest, "policy.yaml": "thresholds: {t: {block: 2000000}}\nreported_speech: {window: 1000000}\n"])
        #expect(e.decide("xx zz").scores["t"] == 2_000_000)
        #expect(e.decide("xx zz").verdict == .block)
    }

    /// A match example marking an empty span `⟦⟧` crashed the load of a regex rule (its `spaced` mutation
    /// made a range ending before it starts; found by fuzzing): now a problem at the example's line.
    @Test func anEmptyMarkedSpanIsAProblemNotACrash() throws {
        let yaml = pack(match: "regex: 'x\\Fy'").replacingOccurrences(of: "match: [\"⟦x⟧\"]", with: "match: [\"⟦xy⟧\", \"a⟦⟧b\"]")
        let lines = loadProblems(["t.yaml": yaml]).map { "\(($0.file as NSString).lastPathComponent):\($0.line ?? 0): \($0.message)" }
        #expect(lines == ["t.yaml:13: match example marks an empty span ⟦⟧; mark the text the rule matches"])
        let checker = ExampleChecker(ruleSet: try RuleLoader.load(rulesDirectory: makeRulesDirectory(["t.yaml": pack(match: "words: [x]")])))
        #expect(checker.mutate("ab", [1..<1], .spaced) == ("a b", [2..<2]))
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

    @Test func wordListFilesLoadLikeInlineWordsAndTheirBytesAreInTheDigest() throws {
        let list = "# abuse\n\n傻瓜蛋\r\n  蠢 驴  \n傻瓜蛋\n# end\n"
        let files = ["t.yaml": pack(match: "any: [{words_file: lists/core.txt}, {words_file: [lists/core.txt]}]", extra: "    evasions: [pinyin-initials]\n"),
                     "lists/core.txt": list]
        let e = try engine(files)
        #expect(e.decide("你这个傻瓜蛋").verdict == .block)
        #expect(e.decide("蠢驴").verdict == .block)
        #expect(e.decide("SGD").verdict == .block) // pinyin initials of 傻瓜蛋
        #expect(e.decide("# abuse").verdict == .allow)
        let dir = makeRulesDirectory(files)
        let before = try RuleLoader.load(rulesDirectory: dir).digest
        try (list + "笨驴\n").write(toFile: dir + "/lists/core.txt", atomically: true, encoding: .utf8)
        #expect(try RuleLoader.load(rulesDirectory: dir).digest != before)
    }

    @Test func badWordListEntriesAreReportedWithTheListsFileAndLine() throws {
        let dir = makeRulesDirectory(["t.yaml": pack(match: "words_file: bad.txt"), "u.yaml": pack("u", match: "words_file: missing.txt"),
                                      "v.yaml": pack("v", match: "words_file: empty.txt"), "empty.txt": "# nothing\n"])
        var bytes = Array("好词\n，。！\n".utf8)
        bytes += [0xE5, 0x82, 0x0A]  // line 3: a cut-off UTF-8 sequence
        FileManager.default.createFile(atPath: dir + "/bad.txt", contents: Data(bytes))
        #expect(mkfifo(dir + "/fifo.txt", 0o600) == 0)
        try pack("w", match: "words_file: fifo.txt").write(toFile: dir + "/w.yaml", atomically: true, encoding: .utf8)
        do {
            _ = try RuleLoader.load(rulesDirectory: dir)
            Issue.record("expected problems")
        } catch {
            let lines = error.problems.map { "\(($0.file as NSString).lastPathComponent):\($0.line ?? 0): \($0.message)" }
            #expect(lines.contains("bad.txt:2: word '，。！' normalizes to nothing (only spaces, punctuation, symbols or emoji)"), "\(lines)")
            #expect(lines.contains("bad.txt:3: not valid UTF-8"), "\(lines)")
            #expect(lines.contains { $0.hasPrefix("u.yaml:") && $0.contains("words_file 'missing.txt' not found") }, "\(lines)")
            #expect(lines.contains { $0.hasPrefix("v.yaml:") && $0.contains("words_file 'empty.txt' has no words") }, "\(lines)")
            #expect(lines.contains { $0.hasPrefix("w.yaml:") && $0.contains("words_file 'fifo.txt' is not a regular file") }, "\(lines)")
        }
    }

    @Test func aProfileExtendsItsBasePolicyAndItsDigestCoversTheBase() throws {
        let files = ["t.yaml": pack(action: "escalate", match: "words: [明星]"),
                     "policy.yaml": "thresholds: {t: {escalate: 3}}\nholding_reply: 稍候\nexceptions: [{rules: [t.rule], match: {words: [慈善]}, reason: base}]\n",
                     "profiles/posts.yaml": "extends: ../policy.yaml\nholding_reply: 待审\nexceptions: [{rules: [t.rule], match: {words: [公益]}, reason: profile}]\n",
                     "profiles/loop.yaml": "extends: loop.yaml\n"]
        let dir = makeRulesDirectory(files)
        let profile = try RuleLoader.load(rulesDirectory: dir, policyFile: dir + "/profiles/posts.yaml")
        #expect(profile.publishing.holdingReply == "待审")
        #expect(profile.policy.thresholds["t"] == Thresholds(escalate: 3))
        #expect(profile.policy.exceptions.map(\.reason) == ["base", "profile"])
        try "thresholds: {t: {escalate: 2}}\n".write(toFile: dir + "/policy.yaml", atomically: true, encoding: .utf8)
        #expect(try RuleLoader.load(rulesDirectory: dir, policyFile: dir + "/profiles/posts.yaml").digest != profile.digest)
        #expect(throws: RuleLoadFailure.self) { try RuleLoader.load(rulesDirectory: dir, policyFile: dir + "/profiles/loop.yaml") }
    }
}
