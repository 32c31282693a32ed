import Foundation
import ReplyGuard
import Testing

/// `scan --format jsonl` renders what a file's records share (the start up to a position id's line
/// number, with the file name escaped, and the policy and engine at the end) once per batch and copies
/// it (issue 20). Its records must be byte for byte what ``Decision/jsonLine(extra:)`` renders for the
/// same decision, whatever the file names, ids and input order.
@Suite struct RecordRenderingTests {
    @Test func scanRecordsAreTheDecisionsRenderedOneByOne() throws {
        let dir = CLI.temporaryDirectory()
        let texts = ["好的", "你不说话没人把你当哑巴", "办事大厅九点开门", "网传明天全市停水"]
        // File names that need escapes (a quote, a backslash, a tab), non-ASCII, and a plain one.
        let names = ["a \"q\".txt", "b\\x.txt", "中文 名.txt", "t\tab.txt", "plain.txt"]
        var paths: [String] = []
        for (n, name) in names.enumerated() {
            let path = dir + "/" + name
            try ((0..<(3 + n)).map { texts[($0 + n) % texts.count] }.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            paths.append(path)
        }
        // JSON Lines: string ids needing escapes, numbers, and records without an id (a position id)
        // between them.
        let jsonl = dir + "/ids \"x\".jsonl"
        let jsonLines = [#"{"id":"x\"y\\z\u2028w","text":"好的"}"#, #"{"text":"你不说话没人把你当哑巴"}"#, #"{"id":17,"text":"好的"}"#,
                         #"{"text":"好的"}"#, #"{"id":"中\t文","text":"网传明天全市停水"}"#, #"{"text":"办事大厅九点开门"}"#]
        try (jsonLines.joined(separator: "\n") + "\n").write(toFile: jsonl, atomically: true, encoding: .utf8)
        paths.insert(jsonl, at: 2)

        let scan = try CLI.run(["scan", "-j", "2", "--format", "jsonl", "--no-progress"] + paths + ["-"],
                               stdin: Array("好的\n你不说话没人把你当哑巴\n".utf8))
        #expect(scan.status == 1, "\(scan.stderr)")
        let decisions = try scan.decisions()
        #expect(scan.lines.count == (3 + 4 + 5 + 6 + 7) + jsonLines.count + 2)
        for (line, decision) in zip(scan.lines, decisions) { #expect(line == decision.jsonLine(), "\(line)") }

        // Each record names its own file and line.
        var expected: [String] = []
        for path in paths {
            if path == jsonl {
                expected += [#"x"y\z"# + "\u{2028}w", "\(jsonl):2", "17", "\(jsonl):4", "中\t文", "\(jsonl):6"]
            } else {
                let count = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").count
                expected += (1...count).map { "\(path):\($0)" }
            }
        }
        expected += ["<stdin>:1", "<stdin>:2"]
        #expect(decisions.map(\.id.description) == expected)
    }
}
