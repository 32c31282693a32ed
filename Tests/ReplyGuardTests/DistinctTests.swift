import Foundation
import ReplyGuard
import Testing

/// `distinct: N` on a child of `all`: N hits of different matched text of one list or pattern (two
/// actresses named together), which plain `all` cannot ask for — one hit satisfies every child.
@Suite struct DistinctTests {
    /// A pack whose rule needs two different names of one list next to 同台 within 12 characters.
    static let twoNames = pack(action: "escalate", match: """
        all:
          - words: [张三丰, 李四光, 王五, 迪丽热巴, 热巴]
            distinct: 2
          - words: [同台]
        within: 12
        """)

    @Test func twoDifferentHitsOfOneListMatchAndOneHitTwiceDoesNot() throws {
        let e = try engine(["t.yaml": DistinctTests.twoNames])
        let pair = e.decide("张三丰与李四光同台演出")
        #expect(pair.verdict == .escalate)
        #expect(pair.hits.map { [$0.start, $0.end] } == [[0, 9]], "\(pair.hits)")
        #expect(e.decide("昨晚李四光同台王五").verdict == .escalate)
        // One name, or the same name twice (also written another way: Traditional, spaced), is one text.
        for text in ["张三丰同台演出", "张三丰同台，张三丰", "张三丰和張三豐同台", "张三丰和张 三 丰同台",
                     // a name inside a longer name of the list overlaps it: one name
                     "迪丽热巴同台演出"] {
            #expect(e.decide(text).verdict == .allow, "\(text)")
        }
        // The second name outside the window.
        #expect(e.decide("张三丰同台演出，观众很多，大家都说好看极了，李四光").verdict == .allow)
        #expect(e.decide("迪丽热巴与王五同台").verdict == .escalate)
    }

    @Test func countsAboveTwoAndWithoutWindowAndOnRegexes() throws {
        let three = pack("a", action: "escalate", match: """
            all:
              - any: [{words: [张三丰, 李四光]}, {words: [王五]}]
                distinct: 3
              - words: [合影]
            """)
        let numbers = pack("b", action: "escalate", match: """
            all:
              - regex: '\\d+号'
                distinct: 2
              - words: [窗口]
            within: 10
            """)
        let e = try engine(["a.yaml": three, "b.yaml": numbers])
        #expect(e.decide("张三丰、李四光、王五合影").verdict == .escalate)
        #expect(e.decide("合影：张三丰、李四光，后来张三丰又来了").verdict == .allow)
        #expect(e.decide("请到3号和5号窗口").verdict == .escalate)
        #expect(e.decide("请到3号窗口，3号").verdict == .allow)
    }

    @Test func badValuesAndPlacesAreProblemsAtTheirLine() {
        func lines(_ match: String) -> [String] {
            loadProblems(["t.yaml": pack(match: match)]).map { "\(($0.file as NSString).lastPathComponent):\($0.line ?? 0): \($0.message)" }
        }
        // pack(match:) puts the match body from line 11 on.
        #expect(lines("all:\n  - words: [甲乙]\n    distinct: 1\n  - words: [丙丁]").contains("t.yaml:13: distinct must be at least 2"))
        #expect(lines("all:\n  - words: [甲乙]\n    distinct: 101\n  - words: [丙丁]").contains("t.yaml:13: distinct must be at most 100"))
        #expect(lines("all:\n  - words: [甲乙]\n    distinct: two\n  - words: [丙丁]").contains("t.yaml:13: distinct must be a whole number"))
        let placement = "'distinct' only goes on a child directly inside 'all' that is not 'not'"
        for (match, line) in [("words: [甲乙]\ndistinct: 2", 12),
                              ("any:\n  - words: [甲乙]\n    distinct: 2", 13),
                              ("all:\n  - words: [丙丁]\n  - not: {words: [甲乙]}\n    distinct: 2", 14)] {
            let found = lines(match)
            #expect(found.contains { $0.hasPrefix("t.yaml:\(line): \(placement)") }, "\(found)")
        }
    }
}
