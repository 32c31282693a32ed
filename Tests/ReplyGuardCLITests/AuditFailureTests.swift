import Foundation
import Testing

/// #12.11: an audit log that could not be written (`--audit /dev/full`, a full disk) was ignored: exit
/// 0, no warning. It stops the filter with a message, and nothing more is published.
@Suite struct AuditFailureTests {
    @Test func auditLogWriteFailureStopsTheFilter() throws {
        let dir = CLI.temporaryDirectory()
        let input = Array(String(repeating: "您好\n", count: 50).utf8)
        let (filter, timedOut) = try CLI.runBounded(["filter", "--queue", dir + "/q.sqlite3", "--audit", "/dev/full"], stdin: input, timeout: 30)
        #expect(!timedOut)
        #expect(filter.status == 2)
        #expect(filter.stderr.contains("audit log") && filter.stderr.contains("/dev/full"), "\(filter.stderr)")
        #expect(filter.lines.count <= 1)
        let (wrap, _) = try CLI.runBounded(["wrap", "--queue", dir + "/q.sqlite3", "--audit", "/dev/full", "--", WrapAndFilterTests.bot, "script"], timeout: 30)
        #expect(wrap.status == 125)
        #expect(wrap.lines.count <= 1)
    }
}
