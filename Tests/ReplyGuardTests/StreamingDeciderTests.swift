import Foundation
import Testing

@testable import ReplyGuard

/// The streaming guarantee (``StreamingDecider``): however a reply is split into pieces, (a) no released
/// character lies inside the span of a hit of the complete reply, (b) every released prefix is itself
/// decided `allow`.
@Suite struct StreamingDeciderTests {
    /// A test pack: words with evasions and fillers, an `all` with `within`, a bounded regex, a mask
    /// rule and a score rule.
    static let testPack = """
        pack: t
        version: 1.0.0
        category: insult
        description: streaming test pack
        rules:
          - id: t.words
            title: words
            description: words with evasions
            action: block
            evasions: [pinyin, stretched-letters, numerals, reversed]
            match:
              words: [你不说话没人把你当哑巴, 狗东西, 下三滥, 滚蛋, fuck]
            examples:
              match: ["⟦狗东西⟧", "⟦狗 东 西⟧", "⟦gou dong xi⟧", "⟦fuuuuck⟧", "⟦下3滥⟧", "⟦西东狗⟧", "⟦你不说话没人把你当哑巴⟧", "⟦滚*蛋⟧"]
              no_match: ["东西"]
          - id: t.near
            title: near
            description: all within
            action: escalate
            match:
              all:
                - words: [哑巴]
                - words: [闭嘴, 不说话]
              within: 12
            examples:
              match: ["⟦闭嘴吧，哑巴⟧"]
              no_match: ["哑巴"]
          - id: t.regex
            title: regex
            description: a bounded regex
            action: block
            match:
              regex: '笨\\F蛋(?:\\F[啊呀])?'
            examples:
              match: ["你这个⟦笨蛋⟧"]
              no_match: ["笨"]
          - id: t.mask
            title: mask
            description: a mask rule
            action: mask
            match:
              words: [他妈的]
            examples:
              match: ["⟦他妈的⟧"]
              no_match: ["他妈"]
          - id: t.score
            title: score
            description: a score rule
            score: 2
            match:
              words: [停水, 网传]
            examples:
              match: ["⟦网传⟧"]
              no_match: ["水"]
        """
    static let testEngine: Engine = try! engine(["t.yaml": testPack, "policy.yaml": "version: 1\nthresholds:\n  insult: {escalate: 4}\n"])

    static let clean = "您好，关于您反映的问题，我们已经转交相关部门处理，"
    static let tail = "。感谢您的耐心等待！"

    /// Feeds `pieces`, checks (b) at every release and (a) at the end; returns the characters leaked.
    static func leaked(_ decider: StreamingDecider, _ pieces: [[UInt8]], file: String = "") -> (leaked: Int, released: Int, detail: String) {
        let stream = decider.makeStream()
        var out: [UInt8] = []
        for piece in pieces {
            let released = stream.append(piece)
            if !released.isEmpty {
                out += released
                let verdict = decider.engine.decide(String(decoding: out, as: UTF8.self)).verdict
                if verdict != .allow { return (1, out.count, "released prefix decided \(verdict): \(String(decoding: out, as: UTF8.self))") }
            }
        }
        let whole = pieces.flatMap { $0 }
        #expect(stream.text == whole)
        let decision = decider.engine.decide(String(decoding: whole, as: UTF8.self))
        var leaked = 0
        var detail = ""
        for hit in decision.hits where hit.byteStart < out.count {
            leaked += min(out.count, hit.byteEnd) - hit.byteStart
            detail += "\(hit.rule) \(hit.match) [\(hit.byteStart), \(hit.byteEnd)) released \(out.count); "
        }
        return (leaked, out.count, detail)
    }

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// Every split into two pieces, one character per piece, and random splits (seeded).
    static func splittings(_ text: String, random: inout SplitRandom) -> [[[UInt8]]] {
        let scalars = Array(text.unicodeScalars).map { Array(String($0).utf8) }
        var result: [[[UInt8]]] = []
        for cut in 1..<scalars.count {
            result.append([scalars[..<cut].flatMap { $0 }, scalars[cut...].flatMap { $0 }])
        }
        result.append(scalars)
        // Random splits at byte level: a UTF-8 character may straddle two pieces.
        let all = bytes(text)
        for _ in 0..<4 {
            var pieces: [[UInt8]] = [], at = 0
            while at < all.count {
                let n = 1 + random.next(6)
                pieces.append(Array(all[at..<min(all.count, at + n)]))
                at += n
            }
            result.append(pieces)
        }
        return result
    }

    @Test func theBoundIsDerivedFromTheRules() throws {
        let words = try engine(["t.yaml": pack(match: "words: [傻瓜蛋, 你个大笨蛋]")])
        #expect(StreamingDecider(engine: words).bound.units == 6)
        let regex = try engine(["t.yaml": pack(match: #"regex: '\d{11,}'"#)])
        #expect(StreamingDecider(engine: regex).bound.units == 12)
        let unbounded = try engine(["t.yaml": pack(match: #"regex: 'a.*b'"#)])
        #expect(StreamingDecider(engine: unbounded).bound.units == nil)
        let shipped = Engine(ruleSet: Repo.shipped)
        #expect(StreamingDecider(engine: shipped).bound.units == nil) // the offensive model pack
        let bound = StreamingDecider(engine: StreamingDeciderTests.testEngine).bound
        #expect(bound.units == 30, "\(bound)") // the pinyin of 你不说话没人把你当哑巴 (29 letters) + 1
    }

    /// Every match example of every rule of the test pack, inside a clean reply, split at every position,
    /// one character per piece and at random byte positions: no leaked character.
    @Test func noCharacterOfAHitIsEverReleasedOverEverySplit() throws {
        let engine = StreamingDeciderTests.testEngine
        let decider = StreamingDecider(engine: engine)
        guard decider.bound.units != nil else {
            Issue.record("the shipped packs have no bound: \(decider.bound)")
            return
        }
        var random = SplitRandom(seed: 7)
        var replies = 0, releasedSomething = 0
        for rule in engine.rules {
            for example in rule.examples where example.kind == .match {
                let text = StreamingDeciderTests.clean + example.textAndSpans.text + StreamingDeciderTests.tail
                for pieces in StreamingDeciderTests.splittings(text, random: &random) {
                    let result = StreamingDeciderTests.leaked(decider, pieces)
                    #expect(result.leaked == 0, "\(rule.id): \(text): \(result.detail)")
                    if result.leaked > 0 { return }
                    replies += 1
                    if result.released > 0 { releasedSomething += 1 }
                }
            }
        }
        #expect(replies > 300)
        #expect(releasedSomething > 0) // it streams, it does not hold everything
    }

    @Test func cleanRepliesComeThroughWholeAndStrictHoldsEverything() throws {
        let decider = StreamingDecider(engine: StreamingDeciderTests.testEngine)
        let text = StreamingDeciderTests.clean + "请您携带身份证到三楼窗口办理" + StreamingDeciderTests.tail
        let stream = decider.makeStream()
        var out: [UInt8] = []
        for scalar in text.unicodeScalars { out += stream.append(Array(String(scalar).utf8)) }
        #expect(out.count > 0)
        #expect(Array(text.utf8).starts(with: out))
        #expect(stream.longestHold <= decider.bound.units! + 20)
        let strict = decider.makeStream(strict: true)
        for scalar in text.unicodeScalars { #expect(strict.append(Array(String(scalar).utf8)).isEmpty) }
    }

    @Test func aCharacterSplitAcrossPiecesWaitsForItsEnd() {
        #expect(StreamingDecider.completePrefix([0xE5, 0x82]) == 0)
        #expect(StreamingDecider.completePrefix([0x61, 0xE5, 0x82]) == 1)
        #expect(StreamingDecider.completePrefix([0x61, 0xE5, 0x82, 0xBB]) == 4)
        #expect(StreamingDecider.completePrefix([0x61, 0x62]) == 2)
    }
}

/// A small seeded generator (the same splits every run).
struct SplitRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }
    mutating func next(_ n: Int) -> Int {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return Int(state % UInt64(n))
    }
}
