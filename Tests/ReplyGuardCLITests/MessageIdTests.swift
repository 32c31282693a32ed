import Foundation
import ReplyGuard
import Testing

/// #12.3: an id that is not a JSON number or string was copied raw into scan records, the audit log and
/// `review list --json`, making them invalid JSON. Such a line is escalated and no output copies it.
@Suite struct MessageIdTests {
    static let badIds = [#"1"2"#, "9x", "0x1f", "1.2.3", "01", "-", "1e", "true", "[1]"]

    @Test func malformedIdsNeverMakeInvalidJSON() throws {
        let dir = CLI.temporaryDirectory()
        let lines = MessageIdTests.badIds.map { "{\"id\":\($0),\"text\":\"您好\"}" } + [#"{"id":-1.5e3,"text":"您好"}"#]
        let file = dir + "/ids.jsonl"
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let scan = try CLI.run(["scan", file])
        let records = try scan.decisions() // throws when a record is not a valid decision record
        #expect(records.count == lines.count)
        #expect(records.dropLast().allSatisfy { $0.verdict == .escalate })
        #expect(records.last?.verdict == .allow && records.last?.id == .number("-1500"))

        let q = dir + "/q.sqlite3", audit = dir + "/audit.jsonl"
        let filter = try CLI.run(["filter", "--jsonl", "--queue", q, "--audit", audit], stdin: Array(FileManager.default.contents(atPath: file)!))
        #expect(filter.status == 0)
        #expect(filter.lines.count == lines.count)
        for line in filter.lines { #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) != nil, "\(line)") }
        for line in try String(contentsOfFile: audit, encoding: .utf8).split(separator: "\n") {
            #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) != nil, "\(line)")
        }
        let listed = try CLI.run(["review", "list", "--json", "--queue", q])
        #expect(listed.lines.count == MessageIdTests.badIds.count)
        for line in listed.lines { #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) != nil, "\(line)") }
    }
}
