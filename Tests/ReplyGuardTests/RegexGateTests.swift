import Foundation
import Testing

@testable import ReplyGuard

/// The prefilter clauses of Chinese characters a folded-view regex gets (issue 20).
@Suite struct RegexGateTests {
    static let patterns: [(String, String)] = [
        ("[a-z0-9]{2,}[点點](?:com|net)", "folded"), ("转[载載]", "folded"), ("(?:網絡|网络)谣言", "folded"),
    ]

    /// A clause naming a Traditional form beside its Simplified one (`[点點]`) keeps the Simplified one:
    /// the folded view never holds 點, so 点 is what every match there needs. Before, the whole clause was
    /// dropped and the regex ran on every message the other clauses let through.
    @Test func aClauseWithATraditionalFormKeepsTheFormsTheFoldedViewHolds() throws {
        let engine = try engine(["p.yaml": regexPack(Self.patterns)])
        for index in engine.regexGates.indices {
            let clauses = engine.gateClauses[engine.regexGates[index].clauses]
            #expect(clauses.contains { !$0.han.isEmpty }, "regex \(index) has no clause of Chinese characters")
        }
    }

    /// Decisions are the same with the prefilters on and off, with the Traditional forms written as
    /// themselves, as character references, in markup, as JSON escapes and between fillers.
    @Test func traditionalFormsInClausesNeverChangeDecisions() throws {
        let fragments = ["abc点com", "abc點com", "ab&#40670;com", "ab&#x9ede;net", "ab<b>點</b>com", "ab\\u9edecom", "x点com",
                         "a1點 net", "转载", "轉載", "转載", "转&#36617;", "网络谣言", "網絡謠言", "網络谣言", "网絡 谣言", "谣言"]
        let palette = Array("点點转轉载載网網络絡谣謠言abcomnt1 &#;<>\u{200B}，")
        let decisions = try decideWithAndWithoutPrefilters(["p.yaml": regexPack(Self.patterns)], fragments: fragments,
                                                           palette: palette, maxNoise: 4, seed: 28, insert: true)
        #expect(Set(decisions.flatMap { $0.hits.map(\.rule) }).count == Self.patterns.count)
    }

    /// A rule that can match without a word, through any of several regexes (`decide` checks them from
    /// flat lists of slot and gate, those with a clause of Chinese characters only when it is seen): each
    /// regex alone makes it match, with another rule's regexes between them in the list, and decisions
    /// are the same with the prefilters on and off, also with markup (whose tags the automaton does not read).
    @Test func everyUngatedRegexOfARuleCanMakeItMatch() throws {
        let pack = """
        pack: p
        version: 1.0.0
        category: p
        description: several ungated regexes per rule
        rules:
          - id: p.several
            title: t
            description: d
            action: block
            match:
              any:
                - regex: '1[3-9]\\d{9}'
                - regex: 'qq\\d{5,}'
                - regex: '加[微薇]信'
                - words: [兼职]
            examples: {match: ["⟦x⟧"], no_match: ["y"]}
          - id: p.other
            title: t
            description: d
            action: escalate
            match:
              any:
                - regex: '\\d{4}年'
                - regex: '刷[单單]'
            examples: {match: ["⟦x⟧"], no_match: ["y"]}
          - id: p.last
            title: t
            description: d
            action: escalate
            match:
              any:
                - regex: 'vx[a-z]{3}'
                - regex: '@@'
            examples: {match: ["⟦x⟧"], no_match: ["y"]}
        """
        let fragments = ["13912345678", "qq123456", "加微信", "加薇信", "兼职", "2024年", "刷单", "刷單", "vxabc", "@@", "qq12", "1391234567",
                         "<a title=\"刷单\">x</a>", "<i>加</i>微信", "&#21152;微信"]
        let decisions = try decideWithAndWithoutPrefilters(["p.yaml": pack], fragments: fragments, palette: Array("加微薇信qv1x3@年刷单 ，a"),
                                                           maxNoise: 4, seed: 29)
        let engine = try engine(["p.yaml": pack])
        #expect(engine.decide("电话13912345678").hits.map(\.rule) == ["p.several"])
        #expect(engine.decide("我的qq123456").hits.map(\.rule) == ["p.several"])
        #expect(engine.decide("请加微信").hits.map(\.rule) == ["p.several"])
        #expect(engine.decide("刷单").hits.map(\.rule) == ["p.other"])
        #expect(engine.decide("看@@").hits.map(\.rule) == ["p.last"])
        #expect(engine.decide("<a title=\"刷单\">x</a>").hits.map(\.rule) == ["p.other"])
        #expect(Set(decisions.flatMap { $0.hits.map(\.rule) }) == ["p.several", "p.other", "p.last"])
    }
}
