import Foundation
import Testing

@testable import ReplyGuard

/// The prescreen reads on past a word that matters only next to others (a trigger of `all`) and checks
/// the rule's other parts at the end of the message, before sending it to the full path (issue 20).
@Suite struct DeferredWordTests {
    /// Rules whose words matter only in combination: `all` with `within`, with `not`, with a regex, `any`
    /// inside `all`, a score rule, and a `homophones` word (one character swapped) next to another word.
    static let pack = """
        pack: p
        version: 1.0.0
        category: p
        description: words that matter only next to other words
        rules:
          - id: p.pair
            title: t
            description: d
            action: block
            match:
              all:
                - words: [刷单]
                - words: [返利, 佣金]
              within: 8
            examples: {match: ["⟦刷单返利⟧"], no_match: ["刷单"]}
          - id: p.warned
            title: t
            description: d
            action: block
            match:
              all:
                - any:
                    - words: [兼职刷单, 网贷秒批]
                    - regex: '日赚\\d+'
                - not: {words: [警惕, 诈骗, qq]}
            examples: {match: ["⟦兼职刷单⟧"], no_match: ["警惕兼职刷单"]}
          - id: p.regex
            title: t
            description: d
            action: escalate
            match:
              all:
                - words: [微信号]
                - regex: '[a-z]{3}\\d{4}'
            examples: {match: ["⟦微信号abc1234⟧"], no_match: ["微信号"]}
          - id: p.scored
            title: t
            description: d
            action: escalate
            score: 2
            match:
              all:
                - any:
                    - words: [宝妈]
                    - words: [学生党]
                - any:
                    - words: [日结, 手机操作]
            examples: {match: ["⟦宝妈日结⟧"], no_match: ["宝妈"]}
          - id: p.swapped
            title: t
            description: d
            action: block
            evasions: [homophones]
            match:
              all:
                - words: [你不说话没人把你当哑巴]
                - words: [真的]
            examples: {match: ["⟦你不说话没人把你当哑巴真的⟧"], no_match: ["你不说话没人把你当哑巴"]}

        """

    /// Each message decided by one scanner (prefilters on) and by an engine without prefilters: the same
    /// hits and verdict; returns the rules hit and how many messages the scanner settled after reading on.
    func decide(_ messages: [String], scanner: MessageScanner, without: Engine) -> (hits: [[String]], settled: Int) {
        let before = scanner.settledAfterDeferredWords
        var hits: [[String]] = []
        for text in messages {
            let a = scanner.decide(text, id: .string("-")), b = without.decide(text)
            #expect(a.hits == b.hits && a.verdict == b.verdict && a.scores == b.scores, "\(text)")
            hits.append(Array(Set(a.hits.map(\.rule))).sorted())
        }
        return (hits, scanner.settledAfterDeferredWords - before)
    }

    func engines() throws -> (scanner: MessageScanner, without: Engine) {
        var off = EngineOptions()
        off.prefilter = false
        return (try engine(["p.yaml": Self.pack]).makeScanner(), try engine(["p.yaml": Self.pack], options: off))
    }

    /// A trigger word alone, or beside a word of `not` that certainly matches, is settled by the prescreen
    /// (before, every one of these messages went to the full path).
    @Test func aWordThatMattersOnlyNextToOthersIsSettledWithoutThem() throws {
        let (scanner, without) = try engines()
        let alone = ["今天刷单了吗", "警惕兼职刷单诈骗", "兼职刷单是诈骗", "我的微信号是多少", "微信号abc", "宝妈们好", "学生党放假了",
                     "你不说话没人把你当哑巴", "你不说话没人把你当哑吧"]
        let (hits, settled) = decide(alone, scanner: scanner, without: without)
        #expect(hits.allSatisfy { $0.isEmpty })
        #expect(settled == alone.count)
    }

    /// Where the combination is there, or the prescreen cannot be sure it is not, the message still reaches
    /// the full path: a prescreen that trusted a `not` word that may not match (a Latin word, a word broken
    /// by more fillers than the policy allows), took a regex its prefilters let through for one that cannot
    /// match, or missed the word a half of a `homophones` word stands for, fails here.
    @Test func theCombinationStillReachesTheFullPath() throws {
        let (scanner, without) = try engines()
        let cases: [(String, [String])] = [
            ("刷单返利", ["p.pair"]), ("刷单有佣金", ["p.pair"]),
            ("刷单，一二三四五六七八九十返利", []),          // beyond `within`: decided by the full path
            ("兼职刷单", ["p.warned"]),
            ("兼职刷单 qqq", ["p.warned"]),                  // qq inside a longer Latin word does not match
            ("兼职刷单，警，，，，，惕", ["p.warned"]),        // 警惕 broken by five fillers does not match
            ("兼职刷单日赚500诈骗", []),                       // the regex runs, the `not` then stops the rule
            ("微信号abc1234", ["p.regex"]),
            ("学生党日结", ["p.scored"]), ("宝妈手机操作", ["p.scored"]),
            ("你不说话没人把你当哑巴真的", ["p.swapped"]), ("你不说话没人把你当哑吧真的", ["p.swapped"]),
        ]
        let (hits, settled) = decide(cases.map(\.0), scanner: scanner, without: without)
        for ((text, expected), got) in zip(cases, hits) { #expect(got == expected, "\(text)") }
        #expect(settled == 0)
    }

    /// Generated messages around the rules' words, with fillers, Latin letters and swapped characters:
    /// decisions the same with the prefilters on and off, and some settled after reading on.
    @Test func generatedMessagesDecideAsWithoutThePrescreen() throws {
        let (scanner, without) = try engines()
        let fragments = ["刷单返利", "刷单", "返利", "佣金", "兼职刷单", "网贷秒批", "警惕", "诈骗", "qq", "日赚300", "微信号", "xyz9876",
                         "宝妈", "学生党", "日结", "手机操作", "你不说话没人把你当哑巴", "你不说话没人把你当哑吧", "真的"]
        let palette = Array("刷单返利佣金兼职警惕诈骗qQ日赚3微信号xyz宝妈学生党结手机操作你哑巴吧真的 ，。\u{200B}!")
        var random = SeededRandom(20)
        var messages: [String] = []
        for _ in 0..<4000 {
            var text = ""
            for _ in 0..<(1 + random.next(3)) {
                text += String((0..<random.next(5)).map { _ in palette[random.next(palette.count)] })
                text += fragments[random.next(fragments.count)]
            }
            messages.append(text)
        }
        let (hits, settled) = decide(messages, scanner: scanner, without: without)
        #expect(Set(hits.joined()) == ["p.pair", "p.warned", "p.regex", "p.scored", "p.swapped"])
        #expect(settled > 0)
    }

    /// The shipped packs: the fraud warning of the bench corpus (刷单返利 beside 警惕 and 诈骗, 兼职 without
    /// an offer word) is settled by the prescreen, an offer is not, and decisions match those without prefilters.
    @Test func theShippedFraudWarningIsSettled() throws {
        var off = EngineOptions()
        off.prefilter = false
        let scanner = Engine(ruleSet: Repo.shipped).makeScanner(), without = Engine(ruleSet: Repo.shipped, options: off)
        let (hits, settled) = decide(["警惕刷单返利诈骗，任何要求先垫付资金的兼职都是诈骗。"], scanner: scanner, without: without)
        #expect(hits == [[]] && settled == 1)
        let offers = decide(["宝妈兼职，手机操作，日结", "兼职刷单，日赚三百"], scanner: scanner, without: without)
        #expect(offers.hits.allSatisfy { !$0.isEmpty } && offers.settled == 0)
    }
}
