import Foundation
import Testing

/// #12.8: a failed write to standard output was ignored: `filter > /dev/full` exited 0 and audited the
/// reply as published. A failed write is fatal and never audited as published.
@Suite struct WriteErrorTests {
    @Test func writeErrorsOnStandardOutputAreFatal() throws {
        let dir = CLI.temporaryDirectory()
        let audit = dir + "/audit.jsonl"
        let (filter, _) = try CLI.runBounded(["filter", "--queue", dir + "/q.sqlite3", "--audit", audit],
                                             stdin: Array("您好\n感谢您的留言。\n".utf8), stdoutPath: "/dev/full")
        #expect(filter.status == 2)
        #expect(filter.stderr.contains("standard output"), "\(filter.stderr)")
        let audited = (try? String(contentsOfFile: audit, encoding: .utf8)) ?? ""
        #expect(!audited.contains("\"published\""))
        let file = CLI.temporaryFile("r.txt", "您好\n")
        let (scan, _) = try CLI.runBounded(["scan", file], stdoutPath: "/dev/full")
        #expect(scan.status == 2)
        #expect(scan.stderr.contains("standard output"), "\(scan.stderr)")
        let (wrap, _) = try CLI.runBounded(["wrap", "--queue", dir + "/q.sqlite3", "--", WrapAndFilterTests.bot, "script"], stdoutPath: "/dev/full")
        #expect(wrap.status == 125)
    }
}
