import Foundation
import ReplyGuard
import Testing

/// Runs the built `replyguard` binary.
struct CLI {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let binary: String = {
        if let path = ProcessInfo.processInfo.environment["REPLYGUARD_BIN"] { return path }
        let beside = Bundle.main.bundleURL.appendingPathComponent("replyguard").path
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
        return root + "/.build/debug/replyguard"
    }()

    struct Output {
        let status: Int32
        let stdout: String
        let stderr: String
        var lines: [String] { stdout.split(separator: "\n").map(String.init) }
        /// Other JSON lines (review list, export), untyped.
        func records() throws -> [[String: Any]] {
            try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        }
        /// Decision records (scan, explain --json), typed.
        func decisions() throws -> [Decision] {
            try lines.map { try JSONDecoder().decode(Decision.self, from: Data($0.utf8)) }
        }
    }

    /// Runs the binary with `stdin` as its input; output goes through files so nothing can block (a run
    /// over ten minutes is killed: see ``runBounded(_:stdin:stdoutPath:cwd:executable:timeout:)``).
    static func run(_ arguments: [String], stdin: [UInt8] = [], cwd: String = root, executable: String = binary) throws -> Output {
        try runBounded(arguments, stdin: stdin, cwd: cwd, executable: executable, timeout: 600).output
    }

    static func temporaryFile(_ name: String, _ content: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rgcli-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try! content.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
        return dir + "/" + name
    }
}

@Suite struct CLITests {
    @Test func explainBlocksTheTraditionalSeedLineWithTheWholeSpan() throws {
        let result = try CLI.run(["explain", "--json", "你不說話沒人把你當啞巴"])
        #expect(result.status == 1)
        let record = try result.decisions()[0]
        #expect(record.verdict == .block)
        let hit = try #require(record.hits.first)
        #expect(hit.rule == "insult.mute-mockery")
        #expect(hit.start == 0 && hit.end == 11)
        #expect(hit.byteStart == 0 && hit.byteEnd == 33)
        #expect(hit.match == "你不說話沒人把你當啞巴")
    }

    @Test func explainHumanOutputHasNoColourWhenPiped() throws {
        let result = try CLI.run(["explain"], stdin: Array("你\u{200B}不說話 沒人把你當啞巴\n".utf8))
        #expect(result.status == 1)
        #expect(result.stdout.contains("verdict:    BLOCK"))
        #expect(result.stdout.contains("normalized: 你不说话没人把你当哑巴"))
        #expect(result.stdout.contains("text:       你◌不說話 沒人把你當啞巴")) // the zero-width space is shown
        #expect(result.stdout.contains("insult.mute-mockery"))
        #expect(!result.stdout.contains("\u{1B}["))
        let clean = try CLI.run(["explain", "办事大厅周一至周五开放"])
        #expect(clean.status == 0 && clean.stdout.contains("ALLOW"))
    }

    @Test func checkPassesOnTheShippedPacks() throws {
        let result = try CLI.run(["check"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("all passed"))
    }

    @Test func checkExitsTwoNamingFileAndLineOfABrokenPack() throws {
        let file = CLI.temporaryFile("broken.yaml", """
        pack: broken
        version: 1
        category: broken
        description: d
        rules:
          - id: broken.regex
            title: t
            description: d
            action: block
            match:
              regex: '哑巴(abc'
            examples:
              match: ["⟦哑巴⟧"]
              no_match: ["x"]
        """)
        let result = try CLI.run(["check", "--rules", (file as NSString).deletingLastPathComponent])
        #expect(result.status == 2)
        #expect(result.stderr.contains("broken.yaml:11:14: regex does not compile: missing closing parenthesis"))
        #expect(result.stderr.contains("            ^"))
        #expect(result.stdout.isEmpty)
    }

    @Test func checkExitsOneWhenAnExampleFails() throws {
        let file = CLI.temporaryFile("t.yaml", """
        pack: t
        version: 1
        category: t
        description: d
        rules:
          - id: t.words
            title: t
            description: d
            action: block
            match:
              words: [哑巴]
            examples:
              match: ["⟦哑⟧巴"]
              no_match: ["哑巴"]
        """)
        let result = try CLI.run(["check", "--rules", (file as NSString).deletingLastPathComponent])
        #expect(result.status == 1)
        #expect(result.stdout.contains("t.yaml:13:"))
        #expect(result.stdout.contains("t.yaml:14:"))
        #expect(result.stdout.contains("failed"))
    }

    @Test func scanOfJSONLinesKeepsIdsAndOrder() throws {
        let ids: [Any] = [30, "b", 1, "z-9", 2]
        let texts = ["你最好永远别来", "办事大厅周一至周五开放", "为爱豆打call", "傻逼", "请拨打12345"]
        let lines = zip(ids, texts).map { id, text in
            String(decoding: try! JSONSerialization.data(withJSONObject: ["id": id, "text": text, "extra": true]), as: UTF8.self)
        }
        let file = CLI.temporaryFile("replies.jsonl", lines.joined(separator: "\n") + "\nnot json\n")
        let result = try CLI.run(["scan", file])
        #expect(result.status == 1)
        let records = try result.decisions()
        #expect(records.map(\.id) == [.number("30"), .string("b"), .number("1"), .string("z-9"), .number("2"), .string(file + ":6")])
        #expect(records.map(\.verdict) == [.block, .allow, .escalate, .block, .allow, .escalate])
        #expect(result.stderr.contains("scanned 6 messages"))
    }

    @Test func scanExitCodesFollowFailOn() throws {
        let file = CLI.temporaryFile("r.txt", "为爱豆打call\n\n办事大厅开放\n")
        #expect(try CLI.run(["scan", file]).status == 1)
        #expect(try CLI.run(["scan", "--fail-on", "block", file]).status == 0)
        #expect(try CLI.run(["scan", "/nonexistent/file.txt"]).status == 2)
        #expect(try CLI.run(["scan"]).status == 64)
        #expect(try CLI.run(["scan", "--format", "nope", file]).status == 64)
    }

    @Test func scanOfStdinSurvivesInvalidUTF8AndCRLF() throws {
        let input: [UInt8] = Array("好的\r\n".utf8) + [0xFF, 0xFE, 0x00] + Array("傻逼\r\n\n".utf8)
        let result = try CLI.run(["scan", "--only-flagged", "-"], stdin: input)
        #expect(result.status == 1)
        let records = try result.decisions()
        #expect(records.count == 1)
        #expect(records[0].id == .string("<stdin>:2"))
        #expect(records[0].verdict == .block)
        #expect(records[0].errors.first?.message.contains("UTF-8") == true)
    }

    @Test func scanWalksDirectories() throws {
        let file = CLI.temporaryFile("a.txt", "傻逼\n")
        let dir = (file as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        try "{\"id\":5,\"text\":\"好\"}\n".write(toFile: dir + "/sub/b.jsonl", atomically: true, encoding: .utf8)
        try "傻逼\n".write(toFile: dir + "/README.md", atomically: true, encoding: .utf8)
        let records = try CLI.run(["scan", dir]).decisions()
        #expect(records.count == 2)
        #expect(records[1].id == .number("5"))
    }

    @Test func checkCorpusPrintsTheTableAndPassesOnTheShippedCorpus() throws {
        let result = try CLI.run(["check", "--corpus", "corpus"])
        #expect(result.status == 0, "\(result.stdout)")
        #expect(result.stdout.contains("file / category"))
        #expect(result.stdout.contains("\nall files\n  celebrity "))
        // Every record labelled clean in corpus/ is counted, and none is flagged.
        let files = try FileManager.default.contentsOfDirectory(atPath: CLI.root + "/corpus").filter { $0.hasSuffix(".jsonl") }
        let clean = try files.reduce(0) { count, file in
            try String(contentsOfFile: CLI.root + "/corpus/" + file, encoding: .utf8).split(separator: "\n").reduce(count) { count, line in
                let record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                return count + (record?["category"] as? String == "clean" ? 1 : 0)
            }
        }
        #expect(clean > 200)
        let cleanRow = result.stdout.split(separator: "\n").last { $0.hasPrefix("  clean ") }
        #expect(cleanRow?.split(separator: " ").map(String.init) == ["clean", "\(clean)", "0", "0", "-", "-", "0.0%"], "\(cleanRow ?? "")")
        #expect(result.stdout.contains("floors: all met"))
    }

    @Test func checkCorpusExitsOneWhenAFloorIsMissedAndTwoWhenItCannotLoad() throws {
        let file = CLI.temporaryFile("c.jsonl", """
        {"id":"a","text":"办事大厅开放","expect":"block","category":"insult","source":"t"}
        {"id":"b","text":"为爱豆打call应援","expect":"allow","category":"clean","source":"t"}
        """)
        let dir = (file as NSString).deletingLastPathComponent
        let missed = try CLI.run(["check", "--corpus", dir])
        #expect(missed.status == 1)
        #expect(missed.stdout.contains("c.jsonl:1  a [insult]  expect block, got allow  rules: none"))
        #expect(missed.stdout.contains("c.jsonl:2  b [clean]  expect allow, got escalate  rules: celebrity.fandom-cheer"))
        #expect(missed.stdout.contains("✗ insult: recall 0.0% (0/1) below floor 95.0%"))
        try "{broken\n".write(toFile: dir + "/d.jsonl", atomically: true, encoding: .utf8)
        let broken = try CLI.run(["check", "--corpus", dir])
        #expect(broken.status == 2)
        #expect(broken.stderr.contains("d.jsonl:1: not a JSON object"))
    }

    @Test func checkCorpusJSONReportsPerFileAndListsAtMostN() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rgcorpus-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let lines = (0..<30).map { #"{"id":"m\#($0)","text":"您好\#($0)","expect":"escalate","category":"spam","source":"s"}"# }
        try (lines.joined(separator: "\n") + "\n").write(toFile: dir + "/spam.jsonl", atomically: true, encoding: .utf8)
        try "files: {spam.jsonl: {spam: {recall: 0.5}}}\ndefault: {recall: 0}\n".write(toFile: dir + "/floors.yaml", atomically: true, encoding: .utf8)
        let result = try CLI.run(["check", "--corpus", dir, "--json", "--list", "2", "--sample", "3"])
        #expect(result.status == 1)
        let document = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
        #expect(document["schema"] as? String == "replyguard.check/1")
        let corpus = document["corpus"] as! [String: Any]
        #expect(corpus["misses"] as? Int == 30)
        #expect((corpus["listedMisses"] as! [Any]).count == 2)
        #expect((corpus["sample"] as! [Any]).count == 3)
        let file = (corpus["files"] as! [[String: Any]])[0]
        #expect(file["file"] as? String == "spam.jsonl" && file["recall"] as? Double == 0)
        #expect(corpus["floorFailures"] as? [String] == ["spam.jsonl spam: recall 0.0% (0/30) below floor 50.0%"])
        let text = try CLI.run(["check", "--corpus", dir, "--list", "1", "--color", "never"])
        #expect(text.stdout.contains("misses (verdict below label): 30, first 1 (--list N for more)"))
        #expect(text.stdout.components(separatedBy: "expect escalate, got allow").count == 2)
    }

    @Test func explainShowsTheNormalizedTextOfAnAllowedMessageToo() throws {
        let result = try CLI.run(["explain", "--color", "never", "您好，請到 辦事大廳 Ｂ座 辦理"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("normalized: 您好请到办事大厅b座办理\n"), "\(result.stdout)")
    }

    @Test func theShippedPostsProfileLoadsAndAShortLinkAloneIsNotSpamThere() throws {
        let post = "【市政府发布】今年第三季度空气质量通报 http://t.cn/A6abcdE 点击领取"
        let replies = try CLI.run(["explain", "--json", post])
        let posts = try CLI.run(["explain", "--json", "--profile", "posts", post])
        #expect(try replies.decisions()[0].verdict == .escalate)
        #expect(try posts.decisions()[0].verdict == .allow, "\(posts.stdout)")
        #expect(try CLI.run(["check", "--profile", "posts"]).status == 0)
        let missing = try CLI.run(["explain", "--profile", "nope", "x"])
        #expect(missing.status == 2 && missing.stderr.contains("no profile 'nope'") && missing.stderr.contains("posts"))
        #expect(try CLI.run(["explain", "--profile", "posts", "--policy", "rules/policy.yaml", "x"]).status == 64)
    }
}
