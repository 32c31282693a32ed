import Foundation
import ReplyGuard
import Testing

/// Issue 17: one space inside a word defeated 104 of the shipped packs' 406 match examples (in 56 rules)
/// whose words a regex gates, and `check` ran its filler mutation only on rules made of words. Regexes now
/// say where fillers may stand (`\F`, `fillers: literals`), every mutation runs on every rule, and a rule
/// whose examples hold as written but not with fillers does not load unless it says why.
@Suite struct RegexFillerTests {
    /// One rule `p.r` around `match` (YAML of a match expression), with `examples` and extra rule keys.
    func rulePack(_ match: String, examples: String = #"{match: ["⟦x⟧"], no_match: ["y"]}"#, extra: String = "") -> String {
        "pack: p\nversion: 1.0.0\ncategory: p\ndescription: d\nrules:\n  - id: p.r\n    title: t\n    description: d\n"
            + "    action: block\n" + extra + "    match: \(match)\n    examples: \(examples)\n"
    }

    func hits(_ e: Engine, _ text: String) -> [String] {
        e.decide(text).hits.map(\.match)
    }

    @Test func fillerClassTakesFillersTagsAndBlankRunsButNoClauseBreak() throws {
        let e = try engine(["p.yaml": rulePack(#"{regex: '闭\F嘴'}"#)])
        for text in ["闭嘴", "闭 嘴", "闭    嘴", "闭**嘴", "闭·😀嘴", "闭<b></b>嘴", "闭&#x20;嘴", "闭\u{200B}嘴", "闭 *~ 嘴", "闭<span class=\"a\">嘴"] {
            #expect(hits(e, text).count == 1, "\(text)")
        }
        // A clause break, more than max_filler (4) fillers, a letter: no match.
        for text in ["闭，嘴", "闭。嘴", "闭（嘴", "闭*****嘴", "闭x嘴", "闭 . , 嘴"] {
            #expect(hits(e, text).isEmpty, "\(text)")
        }
        // The span is the match, fillers inside it only.
        #expect(hits(e, "请 闭 * 嘴 !") == ["闭 * 嘴"])
    }

    @Test func whatFollowsFillerSlotsMayStillBeAFiller() throws {
        let e = try engine(["p.yaml": rulePack(#"{regex: '网\F友\F[:：]'}"#)])
        #expect(hits(e, "网友：") == ["网友："])
        #expect(hits(e, "网 友 :") == ["网 友 :"])
    }

    @Test func literalsTakeFillersBetweenLettersAndDigitsOnly() throws {
        let e = try engine(["p.yaml": rulePack(#"{regex: '(?<!不讨)(?:讨厌|看不起)\F(?:黑人|外地人)|你们?扯', fillers: literals}"#)])
        #expect(hits(e, "讨 厌*黑·人") == ["讨 厌*黑·人"])
        #expect(hits(e, "看😀不起 外 地 人") == ["看😀不起 外 地 人"])
        // An optional letter takes its fillers with it: no trailing filler in the span.
        #expect(hits(e, "你 扯") == ["你 扯"])
        #expect(hits(e, "你 们 扯") == ["你 们 扯"])
        #expect(hits(e, "你扯 ") == ["你扯"])
        #expect(hits(e, "讨，厌黑人").isEmpty)
    }

    @Test func theLoaderRefusesFillerSlotsWherePCRE2CannotTakeThem() {
        let inClass = loadProblems(["p.yaml": rulePack(#"{regex: '闭[\F]嘴'}"#)])
        #expect(inClass.count == 1 && inClass[0].message.contains("inside a character class"), "\(inClass)")
        #expect(inClass.first?.detail.last == "   ^")
        let inLookbehind = loadProblems(["p.yaml": rulePack(#"{regex: '(?<!张\F)嘴'}"#)])
        #expect(inLookbehind.count == 1 && inLookbehind[0].message.contains("lookbehind"), "\(inLookbehind)")
        let bad = loadProblems(["p.yaml": rulePack(#"{regex: '闭嘴', fillers: everywhere}"#)])
        #expect(bad.count == 1 && bad[0].message.contains("'fillers' must be 'literals'"), "\(bad)")
        let words = loadProblems(["p.yaml": rulePack(#"{words: [闭嘴], fillers: literals}"#)])
        #expect(words.count == 1 && words[0].message.contains("'fillers' only goes with 'regex'"), "\(words)")
        // An escaped backslash and an F is text, as in PCRE2: `\\F` matches `\F`.
        #expect(loadProblems(["p.yaml": rulePack(#"{regex: 'a\\F'}"#)]).isEmpty)
    }

    @Test func thePolicyMaxFillerBoundsFillerSlots() throws {
        let policy = "version: 1\nnormalization: {max_filler: 1}\n"
        let e = try engine(["p.yaml": rulePack(#"{regex: '闭\F嘴'}"#), "policy.yaml": policy])
        #expect(hits(e, "闭*嘴").count == 1)
        #expect(hits(e, "闭**嘴").isEmpty)
        #expect(hits(e, "闭 \t 嘴").count == 1) // one blank run
    }

    /// A regex that gates its word without fillers, with an example that shows the word: not loaded.
    @Test func aRegexWhoseExamplesFailFillersDoesNotLoad() {
        let examples = "\n      match: [\"他说⟦闭嘴⟧\"]\n      no_match: [\"张嘴\"]"
        let problems = loadProblems(["p.yaml": rulePack("{regex: '闭嘴'}", examples: examples)])
        #expect(problems.count == 2, "\(problems)")
        #expect(problems.allSatisfy { $0.line == 12 && $0.message.contains("p.r: match example holds as written but not with") && $0.message.contains("\\F") })
        #expect(problems.contains { $0.message.contains("skip_mutations: {spaced: <reason>}") })
        #expect(problems.contains { $0.detail == ["text: 他说闭 嘴"] })
        // With \F it loads; a rule that says why it cannot take fillers loads too.
        #expect(loadProblems(["p.yaml": rulePack(#"{regex: '闭\F嘴'}"#, examples: examples)]).isEmpty)
        let skipped = "    skip_mutations:\n      spaced: 'the word is a code, spaced it is another one'\n      fillers: 'same'\n"
        #expect(loadProblems(["p.yaml": rulePack("{regex: '闭嘴'}", examples: examples, extra: skipped)]).isEmpty)
        // An example that fails as written is `check`'s to report, not a load error.
        #expect(loadProblems(["p.yaml": rulePack("{regex: '闭嘴'}")]).isEmpty)
    }

    @Test func skippingAMutationNeedsAKnownNameAndAReason() {
        let empty = loadProblems(["p.yaml": rulePack("{words: [闭嘴]}", extra: "    skip_mutations: {spaced: ''}\n")])
        #expect(empty.count == 1 && empty[0].message.contains("must not be empty"), "\(empty)")
        let unknown = loadProblems(["p.yaml": rulePack("{words: [闭嘴]}", extra: "    skip_mutations: {reversed: why}\n")])
        #expect(unknown.count == 1 && unknown[0].message.contains("unknown key 'reversed'"), "\(unknown)")
    }

    /// `check` runs every mutation on every rule (it ran the spaced one on rules of words only).
    @Test func checkRunsEveryMutationOnEveryRule() throws {
        let set = try RuleLoader.load(rulesDirectory: makeRulesDirectory(["p.yaml": rulePack(#"{regex: '闭\F嘴', on: original}"#)]))
        let rule = set.packs[0].rules[0]
        #expect(ExampleChecker.mutations(for: rule) == ExampleChecker.Mutation.allCases)
        for rule in Repo.shipped.packs.flatMap(\.rules) {
            #expect(ExampleChecker.mutations(for: rule).count + rule.skippedMutations.count == ExampleChecker.Mutation.allCases.count)
        }
        let checker = ExampleChecker(ruleSet: Repo.shipped)
        let (mutated, spans) = checker.mutate("ab哑巴x", [2..<4], .fillers)
        #expect(mutated == "ab哑 巴x" && spans == [2..<5])
        let (three, moved) = checker.mutate("哑巴呀呀", [0..<3], .fillers)
        #expect(three == "哑 巴*呀呀" && moved == [0..<5])
    }

    /// The words the issue names, with a space (or another filler) inside: each rule missed its line.
    @Test func theShippedRegexRulesTakeFillers() {
        let engine = Engine(ruleSet: Repo.shipped)
        let cases = [("闭 嘴", "insult.shut-up-go-away"), ("去 死", "insult.death-wish"), ("真是脑 残", "insult.abuse"),
                     ("你 就 是 个 残 废", "discrimination.disability-slur"), ("网传明 天 停 水", "rumour.claim-lockdown"),
                     ("投诉人电话138 1234 5678", "privacy.mobile-number"), ("投诉人电话1 3 8 1 2 3 4 5 6 7 8", "privacy.mobile-number"),
                     ("身份证号110105 19491231 002X", "privacy.resident-id"), ("卡号6222 0212 3456 7890 128", "privacy.bank-card"),
                     ("又是女 拳在闹", "discrimination.gender-slur"), ("信不信我*报警", "hostile.threat"), ("看 不 起河南人", "discrimination.hate-of-group"),
                     ("加微信 a b c 1 2 3 4 5", "spam.contact-push"), ("详情见 t . cn / A6xyz12", "spam.short-link")]
        for (text, rule) in cases {
            #expect(engine.decide(text).hits.contains { $0.rule == rule }, "\(text): \(rule)")
        }
        // Groups of digits of any size are not a phone number (a list of scores).
        #expect(!engine.decide("140 140 135 56 8").hits.contains { $0.rule == "privacy.mobile-number" })
    }

    /// The prefilters read the expanded patterns (a subroutine call per filler slot, the class defined at
    /// the end): decisions are the same with them on and off.
    @Test func prefiltersAgreeOnFillerSlots() throws {
        let files = ["p.yaml": regexPack([(#"闭\F嘴"#, "folded"), (#"(?<![0-9])1(?:(?!\d)\F\d){10}(?![0-9])"#, "folded"),
                                          (#"[加家]\F微信\F[a-z0-9]{5,}"#, "original")])]
        let decisions = try decideWithAndWithoutPrefilters(files, fragments: ["闭 嘴", "1 3 8 1 2 3 4 5 6 7 8", "加 微信abcde", "闭*嘴"],
                                                           palette: Array("闭嘴 *·1 3<b>加微信ab,，"), maxNoise: 6, seed: 17, count: 3000)
        #expect(decisions.contains { !$0.hits.isEmpty })
    }
}
