import Foundation
import Testing

/// #12.6: `filter --jsonl` echoed invalid UTF-8 inside the text value byte for byte (line mode holds
/// the same text); a decoder downstream that drops bad bytes then reads what was never checked.
@Suite struct JSONInvalidUTF8Tests {
    static let holding = "您的留言已收到，工作人员将尽快人工回复。"

    @Test func invalidUTF8OrLoneSurrogatesInAJSONLineAreHeld() throws {
        var input: [UInt8] = Array(#"{"id":1,"text":"好"#.utf8) + [0xFF] + Array(#"的"}"#.utf8) + [0x0A]
        input += Array(#"{"id":2,"text":"好\ud800的"}"#.utf8) + [0x0A]
        input += Array(#"{"id":3,"text":"好的","note":""#.utf8) + [0xC3] + Array(#""}"#.utf8) + [0x0A]
        let q = CLI.temporaryDirectory() + "/q.sqlite3"
        let result = try CLI.run(["filter", "--jsonl", "--queue", q], stdin: input)
        #expect(result.status == 0)
        #expect(result.lines == (1...3).map { "{\"text\":\"\(JSONInvalidUTF8Tests.holding)\",\"id\":\($0)}" })
        let line = try CLI.run(["filter", "--queue", q], stdin: Array("好".utf8) + [0xFF] + Array("的\n".utf8))
        #expect(line.lines == [JSONInvalidUTF8Tests.holding])
    }
}
