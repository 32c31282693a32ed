import Foundation
import ReplyGuard
import Testing
@testable import ReplyGuardGate

/// The order of holding: a reply is in the queue before its holding reply is published, and a reply
/// that cannot be stored yields exactly one line, the fallback (never the reply, never two lines).
@Suite struct HoldOrderTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let engine = try! Engine(rulesDirectory: root + "/rules")
    static let held = Array("网传明天停水\n".utf8)

    func queuePath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("ho-\(UUID().uuidString).sqlite3").path
    }

    @Test func theReplyIsInTheQueueWhenItsHoldingReplyIsPublished() throws {
        let queue = try ReviewQueue(path: queuePath())
        var pendingAtPublish: [Int] = []
        var lines: [String] = []
        let filter = LineTransport(engine: HoldOrderTests.engine, queue: queue, audit: nil, options: LineTransportOptions(),
                                  publish: { bytes in
                                      pendingAtPublish.append((try? queue.list(status: .pending).count) ?? -1)
                                      lines.append(String(decoding: bytes, as: UTF8.self))
                                  }, diagnose: { _ in })
        HoldOrderTests.held.withUnsafeBufferPointer { filter.feed($0) }
        #expect(lines == [HoldOrderTests.engine.ruleSet.publishing.holdingReply + "\n"])
        #expect(pendingAtPublish == [1])
    }

    @Test func aReplyThatCannotBeStoredYieldsExactlyTheFallback() throws {
        let path = queuePath()
        let queue = try ReviewQueue(path: path)
        // Every insert fails from now on, as on a full disk.
        try queue.connection.execute("CREATE TRIGGER refuse BEFORE INSERT ON reviews BEGIN SELECT RAISE(ABORT, 'disk full'); END;")
        var lines: [String] = []
        var problems: [String] = []
        let filter = LineTransport(engine: HoldOrderTests.engine, queue: queue, audit: nil, options: LineTransportOptions(),
                                  publish: { lines.append(String(decoding: $0, as: UTF8.self)) }, diagnose: { problems.append($0) })
        HoldOrderTests.held.withUnsafeBufferPointer { filter.feed($0) }
        #expect(lines == [HoldOrderTests.engine.ruleSet.publishing.fallbackReply + "\n"])
        #expect(problems.count == 1 && problems[0].contains("review queue"))
        #expect(try queue.list().isEmpty)
    }
}
