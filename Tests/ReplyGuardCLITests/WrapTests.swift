import Foundation
import ReplyGuard
import ReplyGuardGate
import Testing

@Suite struct WrapAndFilterTests {
    static let bot = CLI.root + "/Tests/Fixtures/fake-bot.sh"
    static let fallback = "抱歉，这个问题我暂时无法回答，请拨打12345政务服务便民热线咨询。"
    static let holding = "您的留言已收到，工作人员将尽快人工回复。"

    func queue() -> String { FileManager.default.temporaryDirectory.appendingPathComponent("wq-\(UUID().uuidString).sqlite3").path }

    @Test func wrappedBotInsultsBecomeTheFallbackAndEscalationsWaitForReview() throws {
        let q = queue(), audit = queue() + ".audit.jsonl"
        let result = try CLI.run(["wrap", "--queue", q, "--audit", audit, "--", WrapAndFilterTests.bot, "script"])
        #expect(result.status == 0)
        #expect(result.lines == ["您好，办事大厅周一至周五上午九点开放。", WrapAndFilterTests.fallback, WrapAndFilterTests.holding,
                                 WrapAndFilterTests.fallback, "感谢您的留言，我们会尽快处理。", WrapAndFilterTests.fallback])
        #expect(!result.stdout.contains("哑巴"))
        let listed = try CLI.run(["review", "list", "--queue", q])
        #expect(listed.lines.count == 1 && listed.stdout.contains("网传明天起全市停水") && listed.stdout.contains("rumour."))
        #expect(try CLI.run(["review", "show", "1", "--queue", q]).stdout.contains("text:     网传明天起全市停水"))
        #expect(try CLI.run(["review", "approve", "1", "--queue", q, "--note", "confirmed"]).status == 0)
        #expect(try CLI.run(["review", "reject", "1", "--queue", q]).status == 1) // no longer pending
        #expect(try CLI.run(["review", "approve", "99", "--queue", q]).status == 1)
        // A running filter publishes the approved reply.
        let released = try CLI.run(["filter", "--queue", q], stdin: Array("好的\n".utf8))
        #expect(released.lines == ["网传明天起全市停水", "好的"])
        #expect(try CLI.run(["review", "list", "--queue", q, "--status", "all"]).stdout.contains("released"))
        let actions = try String(contentsOfFile: audit, encoding: .utf8).split(separator: "\n").map {
            try JSONDecoder().decode(AuditRecord.self, from: Data($0.utf8)).action.rawValue
        }
        #expect(actions == ["published", "fallback", "held", "fallback", "published", "fallback"])
    }

    @Test func wrapExitStatuses() throws {
        let partial = try CLI.run(["wrap", "--queue", queue(), "--", WrapAndFilterTests.bot, "partial"])
        #expect(partial.status == 3)
        #expect(partial.lines == ["您好。"])
        #expect(partial.stderr.contains("discarded a partial reply"))
        #expect(try CLI.run(["wrap", "--queue", queue(), "--", WrapAndFilterTests.bot, "signal"]).status == 128 + 15)
        #expect(try CLI.run(["wrap", "--queue", queue(), "--", WrapAndFilterTests.bot, "exit", "7"]).status == 7)
        #expect(try CLI.run(["wrap", "--queue", queue(), "--", "/nonexistent/bot"]).status == 127)
        #expect(try CLI.run(["wrap", "--queue", queue(), "--", CLI.root + "/README.md"]).status == 126)
        #expect(try CLI.run(["wrap", "--queue", queue()]).status == 64)
        let stderr = try CLI.run(["wrap", "--queue", queue(), "--", WrapAndFilterTests.bot, "stderr"])
        #expect(stderr.stderr.contains("bot: warming up") && stderr.lines == ["您好。"])
    }

    @Test func wrapFeedsTheBotOurInput() throws {
        let result = try CLI.run(["wrap", "--queue", queue(), "--", WrapAndFilterTests.bot, "echo"],
                                 stdin: Array("请问几点开门\n傻逼\n".utf8))
        #expect(result.lines == ["答复：请问几点开门", WrapAndFilterTests.fallback])
    }

    @Test func signalsAreForwardedToTheBot() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.binary)
        process.arguments = ["wrap", "--queue", queue(), "--", WrapAndFilterTests.bot, "sleep"]
        process.currentDirectoryURL = URL(fileURLWithPath: CLI.root)
        let output = Pipe()
        process.standardOutput = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let first = readLine(output.fileHandleForReading)
        #expect(first == "您好。")
        process.terminate() // SIGTERM to replyguard, forwarded to the bot
        process.waitUntilExit()
        #expect(process.terminationStatus == 128 + 15)
    }

    @Test func refusesToStartWhenItsOwnRepliesFailThePolicy() throws {
        let rules = FileManager.default.temporaryDirectory.appendingPathComponent("rules-\(UUID().uuidString)").path
        try FileManager.default.copyItem(atPath: CLI.root + "/rules", toPath: rules)
        try "fallback_reply: \"闭嘴\"\n".write(toFile: rules + "/policy.yaml", atomically: true, encoding: .utf8)
        let filter = try CLI.run(["filter", "--rules", rules, "--queue", queue()])
        #expect(filter.status == 2 && filter.stderr.contains("fallback_reply \"闭嘴\" is itself blocked"))
        #expect(try CLI.run(["wrap", "--rules", rules, "--queue", queue(), "--", WrapAndFilterTests.bot]).status == 125)
    }

    @Test func badInputNeverCrashesOrDesynchronizesTheFilter() throws {
        let q = queue()
        var input: [UInt8] = []
        input += Array("好的\r\n".utf8)
        input += [0xFF, 0xFE, 0x0A]                                  // invalid UTF-8
        input += Array("有\u{0}空字符\n".utf8)                          // NUL
        input += [0x0A]                                               // empty line
        input += Array(String(repeating: "办事大厅开放。", count: 400_000).utf8) + [0x0A] // ~8.4 MB line
        input += Array("结束".utf8)                                     // last line without newline
        let result = try CLI.run(["filter", "--queue", q, "--max-message-size", "16M"], stdin: input)
        #expect(result.status == 0)
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 7) // 6 replies + trailing newline
        #expect(lines[0] == "好的" && lines[1] == Substring(WrapAndFilterTests.holding) && lines[3] == "" && lines[5] == "结束")
        #expect(lines[4].utf8.count == 400_000 * 21)
        let json = try CLI.run(["filter", "--jsonl", "--queue", q], stdin: Array("{\"id\":1,\"text\":\"好\"}\nnot json\n{\"id\":2}\n".utf8))
        #expect(json.lines == ["{\"id\":1,\"text\":\"好\"}", "{\"text\":\"\(WrapAndFilterTests.holding)\"}",
                               "{\"text\":\"\(WrapAndFilterTests.holding)\",\"id\":2}"])
        #expect(try CLI.run(["review", "list", "--queue", q]).lines.count == 3)
    }

    @Test func killDashNineRightAfterAnEscalationLeavesItInTheQueue() throws {
        let q = queue()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.binary)
        process.arguments = ["filter", "--queue", q]
        process.currentDirectoryURL = URL(fileURLWithPath: CLI.root)
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(Data("网传明天起全市停水\n".utf8))
        #expect(readLine(output.fileHandleForReading) == WrapAndFilterTests.holding)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let listed = try CLI.run(["review", "list", "--queue", q])
        #expect(listed.stdout.contains("网传明天起全市停水"))
    }

    @Test func closedOutputEndsTheFilterCleanly() throws {
        let script = "yes 您好 | head -n 200000 | \(CLI.binary) filter --queue \(queue()) | head -n 1; echo \"status=${PIPESTATUS[2]}\""
        let result = try CLI.run(["-c", script], executable: "/bin/bash")
        #expect(result.lines == ["您好", "status=0"])
    }

    private func readLine(_ handle: FileHandle) -> String {
        var bytes: [UInt8] = []
        while true {
            let data = handle.readData(ofLength: 1)
            if data.isEmpty || data.first == 0x0A { break }
            bytes += data
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
