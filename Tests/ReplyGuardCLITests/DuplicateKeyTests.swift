import Foundation
import ReplyGuard
import Testing

/// #12.2: a JSON object with a repeated text or id key is ambiguous — replyguard read the first value,
/// most JSON parsers downstream read the last — so it is escalated (or blocked: the whole line is
/// checked), never echoed.
@Suite struct DuplicateKeyTests {
    static let holding = "您的留言已收到，工作人员将尽快人工回复。"
    static let fallback = "抱歉，这个问题我暂时无法回答，请拨打12345政务服务便民热线咨询。"

    @Test func filterHoldsObjectsWithDuplicateTextOrIdKeys() throws {
        let q = CLI.temporaryDirectory() + "/q.sqlite3"
        let input = #"""
        {"id":3,"text":"您好","text":"你不说话没人把你当哑巴"}
        {"id":4,"id":5,"text":"您好"}
        {"id":6,"text":"您好","meta":{"text":"x","id":1}}

        """#
        let result = try CLI.run(["filter", "--jsonl", "--queue", q], stdin: Array(input.utf8))
        #expect(result.status == 0)
        #expect(!result.stdout.contains("哑巴"))
        #expect(result.lines == ["{\"text\":\"\(DuplicateKeyTests.fallback)\",\"id\":3}",
                                 "{\"text\":\"\(DuplicateKeyTests.holding)\"}",
                                 #"{"id":6,"text":"您好","meta":{"text":"x","id":1}}"#])
    }

    @Test func scanEscalatesObjectsWithDuplicateKeys() throws {
        let file = CLI.temporaryFile("d.jsonl", """
        {"id":3,"text":"您好","text":"你不说话没人把你当哑巴"}
        {"id":4,"id":5,"text":"您好"}
        """)
        let result = try CLI.run(["scan", file])
        let records = try result.decisions()
        #expect(records.map(\.verdict) == [.block, .escalate])
        for record in records {
            let message = record.errors.first?.message ?? ""
            #expect(message.contains("more than once"), "\(message)")
        }
    }
}
