import Foundation
import ReplyGuard
import Testing
@testable import ReplyGuardGate

/// The runtime's API for front ends: record-then-publish, a front end's own audit fields, approved
/// replies of a channel from the desk, and one audit sequence across a reload.
@Suite struct GateRuntimeUnitTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    func open(channel: String? = "proxy") throws -> (GateRuntime, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("grt-\(UUID().uuidString)").path
        var configuration = GateConfiguration(rules: RuleSource(rulesDirectory: GateRuntimeUnitTests.root + "/rules", policyFile: nil),
                                              queuePath: dir + "/q.sqlite3", auditPath: nil)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        configuration.auditPath = dir + "/audit.jsonl"
        configuration.channel = channel
        configuration.checkExamples = false
        return (try GateRuntime.open(configuration, diagnose: { _ in }), dir + "/audit.jsonl")
    }

    func lines(_ path: String) -> [String] {
        (try? String(contentsOfFile: path, encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
    }

    @Test func recordThenPublishWritesTheRecordWithTheFrontEndsFieldsBeforePublishing() throws {
        let (runtime, audit) = try open()
        let scanner = runtime.engine.makeScanner()
        var linesAtPublish = -1
        let message = InputMessage(id: .string("c-1"), text: Array("网传明天停水".utf8), error: nil)
        let result = runtime.gate.handle(message, scanner: scanner, order: .recordThenPublish,
                                         fields: [.string("completion", "chatcmpl-1"), .int("released_chars", 0)]) { _ in
            linesAtPublish = lines(audit).count
        }
        #expect(linesAtPublish == 1)
        guard case .hold(let review, _) = result.outcome else { Issue.record("not held: \(result.outcome)"); return }
        #expect(lines(audit).first?.contains(#""completion":"chatcmpl-1","released_chars":0"#) == true, "\(lines(audit))")

        // The desk: approved replies of the channel, claimed by one sender, released once delivered
        // (audited both times).
        #expect(try runtime.desk.claimApproved(channel: "proxy", by: "sender") == nil)
        #expect(try runtime.desk.decide(review, approve: true, note: nil, by: "li") == .done)
        #expect(try runtime.desk.decide(review, approve: true, note: nil, by: "li") == .notPending(.approved))
        #expect(try runtime.desk.claimApproved(channel: "wechat", by: "sender") == nil)
        #expect(try runtime.desk.claimApproved(channel: "proxy", by: "sender")?.id == review)
        #expect(try runtime.desk.claimApproved(channel: "proxy", by: "another") == nil, "claimed by sender for its lease")
        try runtime.desk.delivered(review, by: "sender", reason: "sent")
        #expect(try runtime.desk.item(review)?.status == .released)

        // A reload keeps the ledger: the sequence goes on.
        let reloaded = try runtime.reloaded()
        reloaded.gate.handle(message, scanner: reloaded.engine.makeScanner(), order: .recordThenPublish)
        let records = try lines(audit).map { try JSONDecoder().decode(AuditRecord.self, from: Data($0.utf8)) }
        #expect(records.map(\.action) == [.held, .approved, .released, .held])
        #expect(records.map(\.seq) == [1, 2, 3, 4])
    }

    @Test func recordThenPublishDoesNotPublishWhatCouldNotBeRecorded() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("grt-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var configuration = GateConfiguration(rules: RuleSource(rulesDirectory: GateRuntimeUnitTests.root + "/rules", policyFile: nil),
                                              queuePath: dir + "/q.sqlite3", auditPath: "/dev/full")
        configuration.checkExamples = false
        configuration.resumes = true
        let runtime = try GateRuntime.open(configuration, diagnose: { _ in })
        var published = 0
        let result = runtime.gate.handle(InputMessage(id: .string("1"), text: Array("您好".utf8), error: nil), scanner: runtime.engine.makeScanner(),
                                         order: .recordThenPublish) { _ in published += 1 }
        #expect(published == 0 && !result.publishable && result.failure?.contains("/dev/full") == true, "\(String(describing: result.failure))")
    }
}
