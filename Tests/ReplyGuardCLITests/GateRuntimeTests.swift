import Foundation
import ReplyGuardGate
import Testing

/// One gate runtime per process: `filter`, `wrap` and `serve` start their gate the same way (the same
/// checks), a process writes its audit records through one log (`(pid, seq)` unique, also across a
/// reload), and a reviewer's decision is recorded whether it is made on the page or with `review`.
@Suite struct GateRuntimeTests {
    static let rumour = "网传明天停水"

    /// The audit log's records as (pid, seq, action).
    static func records(_ path: String) throws -> [(pid: Int32, seq: Int, action: FilterAction, record: AuditRecord)] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let record = try JSONDecoder().decode(AuditRecord.self, from: Data(line.utf8))
            return (record.pid, record.seq, record.action, record)
        }
    }

    /// The gate (`held`), the page (`approved`), a client's release (`released`) and, after a reload,
    /// the gate again: one serve process, one sequence — no `(pid, seq)` twice.
    @Test func oneServeProcessWritesEachPidAndSeqOnceAcrossTheGateThePageAndAReload() throws {
        let server = try ServeProcess()
        defer { server.stop() }
        let review = try #require(try server.post("/v1/filter", json: "{\"id\":\"m-1\",\"text\":\"\(GateRuntimeTests.rumour)\"}").results().first?["review"] as? Int)
        let basic = ("Authorization", "Basic " + Data("li:\(server.token!)".utf8).base64EncodedString())
        let page = try server.request("GET", "/review", headers: [basic])
        let csrf = try #require(page.text.range(of: #"name="csrf" value="[0-9a-f]+""#, options: .regularExpression).map { page.text[$0].split(separator: "\"")[3] })
        let approved = try server.request("POST", "/review/\(review)/decide", body: Array("csrf=\(csrf)&decision=approve&note=ok".utf8),
                                          headers: [basic, ("Origin", "http://127.0.0.1:\(server.port)")], contentType: "application/x-www-form-urlencoded")
        #expect(approved.status == 303)
        #expect(try server.post("/v1/reviews/\(review)/release", json: "").status == 200)
        #expect(try server.post("/v1/reload", json: "").status == 200)
        #expect(try server.post("/v1/filter", json: "{\"text\":\"\(GateRuntimeTests.rumour)\"}").status == 200)

        let records = try GateRuntimeTests.records(server.auditPath)
        #expect(records.map(\.action) == [.held, .approved, .released, .held], "\(records.map(\.action))")
        #expect(Set(records.map(\.pid)) == [server.process.processIdentifier])
        // One writer: the sequence runs 1, 2, 3, … through the gate, the desk and the reload.
        #expect(records.map(\.seq) == Array(1...records.count), "\(records.map(\.seq))")
    }

    /// `review approve --audit` records the approval (with the reviewer and the note) as the page does,
    /// `review reject --audit` the rejection; an audit log that cannot be written leaves the reply
    /// pending (exit 2).
    @Test func reviewApproveAndRejectWriteAuditRecords() throws {
        let dir = CLI.temporaryDirectory()
        let queue = dir + "/q.sqlite3", audit = dir + "/audit.jsonl"
        let held = try CLI.run(["filter", "--queue", queue, "--audit", audit], stdin: Array("\(GateRuntimeTests.rumour)\n\(GateRuntimeTests.rumour)了\n".utf8))
        #expect(held.status == 0, "\(held.stderr)")

        let full = try CLI.run(["review", "approve", "1", "--queue", queue, "--audit", "/dev/full"])
        #expect(full.status == 2 && full.stderr.contains("cannot be written"), "\(full.stderr)")
        #expect(try CLI.run(["review", "list", "--queue", queue]).stdout.split(separator: "\n").count == 2) // both still pending

        let approve = try CLI.run(["review", "approve", "1", "--queue", queue, "--audit", audit, "--reviewer", "li", "--note", "checked"])
        #expect(approve.status == 0 && approve.stdout == "review 1 approved\n", "\(approve.stderr)")
        let reject = try CLI.run(["review", "reject", "2", "--queue", queue, "--audit", audit, "--reviewer", "wang"])
        #expect(reject.status == 0, "\(reject.stderr)")

        let records = try GateRuntimeTests.records(audit)
        #expect(records.map(\.action) == [.held, .held, .approved, .rejected], "\(records.map(\.action))")
        #expect(records[2].record.review == 1 && records[2].record.reviewer == "li" && records[2].record.note == "checked")
        #expect(records[3].record.review == 2 && records[3].record.reviewer == "wang")
        #expect(Set(records.map { "\($0.pid):\($0.seq)" }).count == records.count)

        // Without --audit the decision is made, and the reviewer is told it was not recorded.
        let unaudited = try CLI.run(["review", "approve", "1", "--queue", queue])
        #expect(unaudited.status == 1 && unaudited.stderr.contains("is approved, not pending"), "\(unaudited.stderr)")
    }

    /// The same checks for every front end: a rule set whose examples fail (`replyguard check`) is
    /// refused by `filter` and `wrap` as by `serve` — nothing is filtered with rules `serve` would not run.
    @Test func filterAndWrapRefuseRulesWhoseExamplesFailAsServeDoes() throws {
        let rules = CLI.temporaryDirectory() + "/rules"
        try FileManager.default.copyItem(atPath: CLI.root + "/rules", toPath: rules)
        let word = "紫色长颈鹿"
        try """
        pack: giraffe
        version: 1
        category: spam
        description: test pack
        rules:
          - id: giraffe.word
            title: t
            description: d
            action: block
            match:
              words: ["\(word)"]
            examples:
              match: ["我看见了⟦\(word)⟧"]
              no_match: ["\(word)WRONG"]
        """.write(toFile: rules + "/giraffe.yaml", atomically: true, encoding: .utf8)
        let queue = CLI.temporaryDirectory() + "/q.sqlite3"
        let filter = try CLI.run(["filter", "--rules", rules, "--queue", queue], stdin: Array("你好\n".utf8))
        #expect(filter.status == 2 && filter.stdout.isEmpty, "\(filter.stdout)")
        #expect(filter.stderr.contains("rule example failed") && filter.stderr.contains("giraffe.word"), "\(filter.stderr)")
        let wrap = try CLI.run(["wrap", "--rules", rules, "--queue", queue, "--", "/bin/echo", "你好"])
        #expect(wrap.status == 125 && wrap.stdout.isEmpty && wrap.stderr.contains("giraffe.word"), "\(wrap.stderr)")
        let serve = try CLI.run(["serve", "--rules", rules, "--queue", queue, "--listen", "127.0.0.1:0", "--insecure-local"])
        #expect(serve.status == 2 && serve.stderr.contains("rule example failed") && serve.stderr.contains("giraffe.word"), "\(serve.stderr)")
    }
}
