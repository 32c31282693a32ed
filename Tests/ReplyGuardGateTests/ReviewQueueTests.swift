import Foundation
import ReplyGuardGate
import Testing

@Suite struct ReviewQueueTests {
    func path() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("rq-\(UUID().uuidString)/queue.sqlite3").path
    }

    @Test func heldRepliesAreApprovedRejectedAndReleasedOnce() throws {
        let file = path()
        let queue = try ReviewQueue(path: file)
        let a = try queue.enqueue(text: Array("网传明天停水".utf8), record: nil, messageID: nil, decision: "{}", expiresAt: nil)
        let b = try queue.enqueue(text: [0xFF, 0x00], record: Array("{\"id\":7}".utf8), messageID: "7", decision: "{}", expiresAt: nil)
        #expect(try queue.list(status: .pending).map(\.id) == [a, b])
        #expect(try queue.decide(a, approve: true, note: "checked with the water company"))
        #expect(try !queue.decide(a, approve: false, note: nil)) // already decided
        #expect(try queue.decide(b, approve: false, note: nil))
        #expect(try !queue.decide(999, approve: true, note: nil))
        // A second connection (another filter) and this one race for the approved reply: one wins.
        let other = try ReviewQueue(path: file)
        let first = try other.claimNext(by: "other", channel: nil)
        let second = try queue.claimNext(by: "this", channel: nil)
        #expect(first?.id == a && second == nil)
        #expect(try other.markReleased(a, by: "other"))
        let released = try queue.item(a)
        #expect(released?.status == .released && released?.releasedBy == "other" && released?.note == "checked with the water company")
        #expect(try queue.item(b)?.text == [0xFF, 0x00])
        #expect(try queue.item(b)?.status == .rejected)
    }

    @Test func pendingRepliesExpire() throws {
        let queue = try ReviewQueue(path: path())
        let soon = try queue.enqueue(text: [0x61], record: nil, messageID: nil, decision: "{}", expiresAt: Date().addingTimeInterval(60))
        _ = try queue.enqueue(text: [0x62], record: nil, messageID: nil, decision: "{}", expiresAt: nil)
        #expect(try queue.expire(now: Date()).isEmpty)
        #expect(try queue.expire(now: Date().addingTimeInterval(120)).map(\.id) == [soon])
        #expect(try queue.item(soon)?.status == .expired)
        #expect(try !queue.decide(soon, approve: true, note: nil))
    }
}
