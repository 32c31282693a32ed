import Foundation
import ReplyGuard
import Testing

/// #12.1: a huge line crashed (SIGABRT) instead of failing closed — memory was ~18× the line, ~190× for a
/// line full of hits. A message longer than --max-message-size is escalated unchecked (filter: held, the
/// stream stays in step; scan: an error record and exit 2), and memory stays bounded by the limit.
@Suite struct MessageSizeTests {
    static let holding = "您的留言已收到，工作人员将尽快人工回复。"

    /// Runs `command` in bash under a 600 MB address-space limit, with `replyguard` as `$RG`.
    func capped(_ command: String) throws -> CLI.Output {
        try CLI.run(["-c", "ulimit -v 600000; RG='\(CLI.binary)'; \(command)"], executable: "/bin/bash")
    }

    @Test func filterHoldsAnOverLongReplyAndStaysInStep() throws {
        let dir = CLI.temporaryDirectory()
        let long = String(repeating: "办事大厅开放。", count: 100_000) // 2.1 MB > the 1 MB default
        let input = Array("好的\n\(long)\n您好\n\(long)".utf8)
        let result = try CLI.run(["filter", "--queue", dir + "/q.sqlite3", "--audit", dir + "/a.jsonl"], stdin: input)
        #expect(result.status == 0)
        #expect(result.lines == ["好的", MessageSizeTests.holding, "您好", MessageSizeTests.holding])
        let audit = try String(contentsOfFile: dir + "/a.jsonl", encoding: .utf8)
        #expect(audit.contains("longer than the maximum"))
        // A larger limit lets it through.
        let larger = try CLI.run(["filter", "--queue", dir + "/q.sqlite3", "--max-message-size", "4M"], stdin: input)
        #expect(larger.lines == ["好的", long, "您好", long])
        let json = try CLI.run(["filter", "--jsonl", "--queue", dir + "/q.sqlite3"],
                               stdin: Array("{\"id\":1,\"text\":\"\(long)\"}\n{\"id\":2,\"text\":\"您好\"}\n".utf8))
        #expect(json.lines == ["{\"text\":\"\(MessageSizeTests.holding)\"}", "{\"id\":2,\"text\":\"您好\"}"])
    }

    @Test func filterMemoryIsBoundedByTheLimit() throws {
        // 30 MB of "sb " (a hit every three bytes) on one line, then a normal reply, under a 600 MB cap.
        let result = try capped("{ head -c 30000000 < <(yes 'sb' | tr '\\n' ' '); printf '\\n您好\\n'; } | $RG filter --queue \(CLI.temporaryDirectory())/q.sqlite3")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.lines == [MessageSizeTests.holding, "您好"])
    }

    @Test func scanReportsAnOverLongLineAsAnErrorRecord() throws {
        let dir = CLI.temporaryDirectory()
        let long = String(repeating: "办事大厅开放。", count: 300_000) // 6.3 MB > the 4 MB default
        try "您好\n\(long)\n傻逼\n".write(toFile: dir + "/r.txt", atomically: true, encoding: .utf8)
        let result = try CLI.run(["scan", dir + "/r.txt"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("--max-message-size"), "\(result.stderr)")
        let records = try result.decisions()
        #expect(records.map(\.verdict) == [.allow, .escalate, .block])
        #expect(records[1].id.description.hasSuffix("r.txt:2"))
        #expect(records[1].errors.first?.message.contains("longer than the maximum") == true)
        #expect(try CLI.run(["scan", "--max-message-size", "8M", dir + "/r.txt"]).status == 1)
    }

    @Test func scanMemoryIsBoundedOnAHugeLineAndAGzipBomb() throws {
        let dir = CLI.temporaryDirectory()
        let result = try capped("""
            { printf '您好\\n'; head -c 30000000 < <(yes 'sb' | tr '\\n' ' '); printf '\\n傻逼\\n'; } > \(dir)/sb.txt
            head -c 400000000 /dev/zero | gzip -1 > \(dir)/zeros.txt.gz
            $RG scan \(dir)/sb.txt \(dir)/zeros.txt.gz
            """)
        #expect(result.status == 2, "\(result.stderr)")
        let records = try result.decisions()
        #expect(records.map(\.verdict) == [.allow, .escalate, .block, .escalate])
    }
}
