import Foundation
import Testing

/// #12.10: a holding or fallback reply with a line break wrote two output lines per reply, pairing every
/// later reply with the wrong input. The filter refuses to start.
@Suite struct ReplyLineBreakTests {
    @Test func repliesWithLineBreaksAreRefusedAtStartUp() throws {
        for (key, value) in [("holding_reply", #""您的留言已收到。\n工作人员将尽快回复。""#),
                             ("fallback_reply", #""抱歉。\r请拨打12345。""#),
                             ("fallback_replies", "{insult: \"抱歉。\\u2028请拨打12345。\"}")] {
            let rules = CLI.rulesWithoutPolicy()
            try "version: 1\n\(key): \(value)\n".write(toFile: rules + "/policy.yaml", atomically: true, encoding: .utf8)
            let q = CLI.temporaryDirectory() + "/q.sqlite3"
            let filter = try CLI.run(["filter", "--rules", rules, "--queue", q], stdin: Array("网传明天停水\n你不说话没人把你当哑巴\n".utf8))
            #expect(filter.status == 2, "\(key)")
            #expect(filter.stdout.isEmpty)
            #expect(filter.stderr.contains(key) && filter.stderr.contains("line break"), "\(filter.stderr)")
            #expect(try CLI.run(["wrap", "--rules", rules, "--queue", q, "--", WrapAndFilterTests.bot]).status == 125)
        }
    }
}
