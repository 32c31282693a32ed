import Foundation
import ReplyGuard
import ReplyGuardGate
import Testing

@Suite struct ScanScaleTests {
    func directory() -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("scan-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    static let replies = (1...400).map { i -> String in
        ["您好，办事大厅周一至周五开放。", "你不说话没人把你当哑巴", "网传明天起全市停水", "为爱豆打call", "投诉人电话13812345678",
         "面子是別人給的，臉是自己丟的", "感谢您的留言\u{200B}。"][i % 7] + (i % 3 == 0 ? "（第\(i)条）" : "")
    }

    @Test func scanVerdictsAreExactlyThoseFilterGives() throws {
        let dir = directory()
        let lines = ScanScaleTests.replies.enumerated().map { i, text in
            String(decoding: try! JSONSerialization.data(withJSONObject: ["id": i, "text": text]), as: UTF8.self)
        } + ["not json", "{\"id\":999}"]
        let file = dir + "/replies.jsonl"
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let scanned = try CLI.run(["scan", "-j", "2", file]).decisions()
        _ = try CLI.run(["filter", "--jsonl", "--queue", dir + "/q.sqlite3", "--audit", dir + "/audit.jsonl"], stdin: Array(FileManager.default.contents(atPath: file)!))
        let audited = try String(contentsOfFile: dir + "/audit.jsonl", encoding: .utf8).split(separator: "\n").map {
            try JSONDecoder().decode(AuditRecord.self, from: Data($0.utf8)).decision
        }
        #expect(scanned.count == lines.count && audited.count == lines.count)
        for (s, a) in zip(scanned, audited) {
            #expect(s.verdict == a.verdict, "\(s.id)")
            #expect(s.hits.map(\.rule) == a.hits.map(\.rule))
        }
    }

    @Test func parallelOutputIsInInputOrderAndIdenticalToOneJob() throws {
        let file = directory() + "/r.txt"
        try (Array(repeating: ScanScaleTests.replies, count: 30).flatMap { $0 }.joined(separator: "\n") + "\n")
            .write(toFile: file, atomically: true, encoding: .utf8)
        let one = try CLI.run(["scan", "-j", "1", file]), four = try CLI.run(["scan", "-j", "4", file])
        #expect(one.stdout == four.stdout)
        #expect(one.lines.count == 12_000)
        #expect(!four.stderr.contains("\r")) // no progress bar when stderr is not a terminal
    }

    /// Lines that straddle the reader's pieces (128 KB), one longer than several pieces, CRLF endings,
    /// blank lines and no newline at the end: every non-blank line is one record, numbered as in the file.
    @Test func linesAcrossReadPiecesKeepTheirNumbers() throws {
        let file = directory() + "/long.txt"
        var lines: [String] = []
        for i in 1...30_000 {
            switch i {
            case 20_000: lines.append(String(repeating: "你", count: 200_000) + "你不说话没人把你当哑巴")
            case _ where i % 97 == 0: lines.append(i % 2 == 0 ? "" : " \t ")
            case _ where i % 7 == 0: lines.append("第\(i)条：你不说话没人把你当哑巴")
            default: lines.append("您好，第\(i)条回复已收到")
            }
        }
        try lines.joined(separator: "\r\n").write(toFile: file, atomically: true, encoding: .utf8)
        let records = try CLI.run(["scan", "-j", "2", file]).decisions()
        let expected = lines.indices.filter { !lines[$0].allSatisfy { $0 == " " || $0 == "\t" } }
        #expect(records.map(\.id) == expected.map { .string("\(file):\($0 + 1)") })
        #expect(records.map(\.verdict) == expected.map { lines[$0].contains("哑巴") ? .block : .allow })
    }

    @Test func csvColumnsByNameWithQuotedNewlines() throws {
        let dir = directory()
        let csv = "id,author,text\na1,bot,\"您好，办事大厅开放\"\na2,bot,\"第一行\n你不说话没人把你当哑巴\"\r\n"
            + "a3,\"x, \"\"y\"\"\",\"说\"\"网传\"\"明天停水\"\n"
        try csv.write(toFile: dir + "/r.csv", atomically: true, encoding: .utf8)
        let records = try CLI.run(["scan", dir + "/r.csv"]).decisions()
        #expect(records.map(\.id) == [.string("a1"), .string("a2"), .string("a3")])
        #expect(records.map(\.verdict) == [.allow, .block, .escalate])
        let missing = try CLI.run(["scan", "--text-field", "body", dir + "/r.csv"])
        #expect(missing.status == 2 && missing.stderr.contains("has no column 'body'"))
    }

    @Test func gzipInputIsDecompressed() throws {
        let dir = directory()
        try "好的\n你不说话没人把你当哑巴\n".write(toFile: dir + "/r.txt", atomically: true, encoding: .utf8)
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
        gzip.arguments = [dir + "/r.txt"]
        try gzip.run()
        gzip.waitUntilExit()
        let records = try CLI.run(["scan", dir]).decisions()
        #expect(records.map(\.verdict) == [.allow, .block])
        #expect(records[1].id.description.hasSuffix("r.txt.gz:2"))
    }

    @Test func includeAndExcludeGlobs() throws {
        let dir = directory()
        try FileManager.default.createDirectory(atPath: dir + "/old", withIntermediateDirectories: true)
        for name in ["a.txt", "b.log", "old/c.txt", "d.dat"] { try "傻逼\n".write(toFile: dir + "/" + name, atomically: true, encoding: .utf8) }
        func ids(_ args: [String]) throws -> [String] {
            try CLI.run(["scan"] + args + [dir]).decisions().map { $0.id.description.replacingOccurrences(of: dir + "/", with: "") }
        }
        #expect(try ids([]) == ["a.txt:1", "b.log:1", "old/c.txt:1"])
        #expect(try ids(["--exclude", "old"]) == ["a.txt:1", "b.log:1"])
        #expect(try ids(["--include", "*.dat", "--include", "*.log"]) == ["b.log:1", "d.dat:1"])
    }

    @Test func sarifHasRulesAndLocatedResults() throws {
        let file = directory() + "/r.txt"
        try "好的\n😀 你不说话没人把你当哑巴\n".write(toFile: file, atomically: true, encoding: .utf8)
        let result = try CLI.run(["scan", "--format", "sarif", file])
        #expect(result.status == 1)
        let log = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
        #expect(log["version"] as? String == "2.1.0")
        let run = (log["runs"] as! [[String: Any]])[0]
        let rules = ((run["tool"] as! [String: Any])["driver"] as! [String: Any])["rules"] as! [[String: Any]]
        #expect(rules.contains { $0["id"] as? String == "insult.mute-mockery" })
        let results = run["results"] as! [[String: Any]]
        #expect(results.count == 1)
        #expect(results[0]["ruleId"] as? String == "insult.mute-mockery" && results[0]["level"] as? String == "error")
        let index = results[0]["ruleIndex"] as! Int
        #expect(rules[index]["id"] as? String == "insult.mute-mockery")
        let region = ((((results[0]["locations"] as! [[String: Any]])[0])["physicalLocation"] as! [String: Any])["region"] as! [String: Any])
        #expect(region["startLine"] as? Int == 2 && region["startColumn"] as? Int == 3 && region["endColumn"] as? Int == 14)
    }

    @Test func tableAndSummaryFormats() throws {
        let file = directory() + "/r.txt"
        try (ScanScaleTests.replies.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let summary = try CLI.run(["scan", "--format", "summary", file])
        #expect(summary.stdout.contains("verdict     messages") && summary.stdout.contains("top rules"))
        #expect(summary.stdout.contains("insult.mute-mockery") && !summary.stdout.contains("\t"))
        let table = try CLI.run(["scan", "--format", "table", file])
        #expect(table.stdout.contains("\tblock   \tinsult.mute-mockery\t你不说话没人把你当哑巴"))
        #expect(!table.stdout.contains("\tallow"))
        #expect(table.stdout.contains("category    messages"))
    }
}
