import Foundation
import ReplyGuard
import Testing

@Suite struct InputTests {
    func frame(_ bytes: [UInt8], chunks: [Int]) -> [[UInt8]] {
        var framer = LineFramer()
        var lines: [[UInt8]] = []
        var offset = 0
        var k = 0
        while offset < bytes.count {
            let size = min(chunks[k % chunks.count], bytes.count - offset)
            bytes[offset..<offset + size].withUnsafeBufferPointer { framer.feed($0) { lines.append(Array($0)) } }
            offset += size
            k += 1
        }
        framer.finishLines { lines.append(Array($0)) }
        return lines
    }

    @Test func framerGivesTheSameLinesHoweverTheInputIsChunked() {
        let input = Array("你好\r\n\n哑巴\n\u{0}x\r\nlast".utf8) + [0xFF, 0x0A, 0xE5]
        let whole = frame(input, chunks: [input.count])
        #expect(whole.count == 6)
        #expect(whole[0] == Array("你好".utf8) && whole[1] == [] && whole[4] == Array("last".utf8) + [0xFF])
        #expect(frame(input, chunks: [1]) == whole)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            let chunks = (0..<8).map { _ in Int.random(in: 1...7, using: &generator) }
            #expect(frame(input, chunks: chunks) == whole, "\(chunks)")
        }
    }

    /// The repeated-key walk: a key twice in one object at any depth (escaped spellings and canonically
    /// equivalent ones the same key; the same key in different objects is fine); malformed JSON is said to be.
    @Test func repeatedKeysAreFoundAtAnyDepth() {
        let unique = [#"{}"#, #"[]"#, #" {"a":1,"b":[{"a":2},{"a":3}],"c":{"a":{"a":null}}} "#, #""x""#, "-1.5e3", #"[1,"a",{"b":true}]"#,
                      #"{"a\"":1,"a":2}"#, "{" + (0..<40).map { "\"k\($0)\":\($0)" }.joined(separator: ",") + "}"]
        for json in unique { #expect(JSONFieldLocator.repeatedKey(in: Array(json.utf8)) == .unique, "\(json)") }
        let repeated: [(String, String)] = [
            (#"{"a":1,"a":2}"#, "a"), (#"{"m":{"content":"x","content":"y"}}"#, "content"), (#"[0,{"b":[{"c":1,"d":2,"c":3}]}]"#, "c"),
            (#"{"\u0063ontent":1,"content":2}"#, "content"), ("{\"\u{E1}\":1,\"a\u{301}\":2}", "\u{E1}"), (#"{"x":{},"x":[]}"#, "x"),
            ("{" + (0..<40).map { "\"k\($0)\":\($0)" }.joined(separator: ",") + ",\"k7\":0}", "k7"),
        ]
        for (json, key) in repeated { #expect(JSONFieldLocator.repeatedKey(in: Array(json.utf8)) == .repeated(key), "\(json)") }
        for json in ["", "{", #"{"a":1,}"#, #"{"a" 1}"#, #"{"a":1}x"#, "[1,]", #"{"a":01}"#, "[1 2]", #"{1:2}"#, #"{"a":1"b":2}"#] {
            #expect(JSONFieldLocator.repeatedKey(in: Array(json.utf8)) == .malformed, "\(json)")
        }
    }

    @Test func jsonLinesKeepIdsAndReportBrokenLines() {
        let reader = MessageReader(format: .jsonl)
        func read(_ line: String) -> InputMessage {
            Array(line.utf8).withUnsafeBufferPointer { reader.message(from: $0, fallbackID: .string("f:1")) }
        }
        #expect(read(#"{"id":42,"text":"好"}"#).id == .number("42"))
        #expect(read(#"{"id":"a","text":"好"}"#).text == Array("好".utf8))
        #expect(read(#"{"text":"好"}"#).id == .string("f:1"))
        #expect(read("{broken").error == "line is not valid JSON")
        #expect(read("[1]").error == "line is not a JSON object")
        #expect(read(#"{"id":1,"text":5}"#).error?.contains("not a string") == true)
        #expect(read(#"{"id":-1.5e3,"text":"\u4f60\ud83d\ude00\n","x":{"text":"inner"}}"#).id == .number("-1.5e3"))
        #expect(read(#"{"id":-1.5e3,"text":"\u4f60\ud83d\ude00\n","x":{"text":"inner"}}"#).text == Array("你😀\n".utf8))
        #expect(read(#"{"x":{"text":"inner"},"text":"outer"}"#).text == Array("outer".utf8))
        #expect(read(#"{"text":"a",}"#).error == "line is not valid JSON")
        #expect(read(#"{"text":"a"} trailing"#).error == "line is not valid JSON")
    }

    @Test func decisionRecordsAreValidJSON() throws {
        let decision = Engine(ruleSet: Repo.shipped).decide("\"引号\"\n\t傻逼\u{1}", id: .string("a\"b"))
        let object = try JSONSerializationRoundTrip.decode(decision.jsonLine())
        #expect(object == decision)
        #expect(object.id == .string("a\"b") && object.verdict == .block && object.hits.first?.match == "傻逼")
        let allowed = Engine(ruleSet: Repo.shipped).decide("好的", id: .string("x"))
        let allow = try JSONSerializationRoundTrip.decode(allowed.jsonLine())
        #expect(allow == allowed && allow.hits.isEmpty && allow.scores.isEmpty)
        // JSONEncoder writes the same record the hot path writes.
        #expect(try JSONSerializationRoundTrip.decode(String(decoding: JSONEncoder().encode(decision), as: UTF8.self)) == decision)
        // A model pack's probability is read back as the model score (as written: four decimals).
        let scored = Engine(ruleSet: Repo.shipped).decide("你这个傻逼真恶心滚", id: .number("7"))
        let modelHit = try #require(scored.hits.first { $0.modelScore != nil })
        let read = try JSONSerializationRoundTrip.decode(scored.jsonLine())
        #expect(read.hits.map(\.rule) == scored.hits.map(\.rule) && read.id == .number("7"))
        #expect(abs((read.hits.first { $0.rule == modelHit.rule }?.modelScore ?? -1) - modelHit.modelScore!) < 0.0001)
        #expect(throws: DecodingError.self) { try JSONSerializationRoundTrip.decode(#"{"schema":"replyguard.decision/9","id":1,"verdict":"allow"}"#) }
        // Every kind of character that needs escaping, in ids, positions and matches, round-trips; line
        // and paragraph separators are escaped so a record never spans lines for any reader.
        for id: MessageID in [.string("x\u{2028}\"\\\u{0}\u{1F}\r\t\u{2029}😀"), .position(file: "a\"b\u{2028}.txt", line: 1207), .number("-12.5")] {
            let tricky = Engine(ruleSet: Repo.shipped).decide("\u{2028}傻逼\"\u{2029}", id: id)
            let line = tricky.jsonLine()
            #expect(!line.contains("\u{2028}") && !line.contains("\u{2029}") && !line.contains("\n"))
            let decoded = try JSONSerializationRoundTrip.decode(line)
            #expect(decoded.id == (id == .number("-12.5") ? id : .string(id.description)))
            #expect(decoded.hits.first?.match == "傻逼")
        }
    }

    /// Strings of every length mixing characters that need escaping with long clean runs (which are
    /// copied eight bytes at a time) round-trip through the escaper and never hold a raw line break.
    @Test func generatedStringsRoundTripThroughTheEscaper() throws {
        let pieces = ["a", "\"", "\\", "\n", "\t", "\u{1}", "\u{1F}", "\u{2028}", "\u{2029}", "\u{2027}", "é", "你", "😀", "abcdefgh", "“引”", "\u{7F}", " "]
        var random = SeededRandom(3)
        for _ in 0..<2000 {
            let value = (0..<random.next(24)).map { _ in pieces[random.next(pieces.count)] }.joined()
            var bytes: [UInt8] = []
            JSONWriter.appendString(value, to: &bytes)
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(!text.contains("\u{2028}") && !text.contains("\u{2029}") && !text.contains("\n"))
            let decoded = try JSONSerialization.jsonObject(with: Data("[\(text)]".utf8)) as? [String]
            #expect(decoded == [value], "\(value.debugDescription)")
        }
    }
}

enum JSONSerializationRoundTrip {
    /// A decision record read back typed.
    static func decode(_ line: String) throws -> Decision {
        try JSONDecoder().decode(Decision.self, from: Data(line.utf8))
    }
}
