import Foundation
import ReplyGuardGate
import Testing

/// #12.12: a pending reply past its expiry could still be approved (no filter had run to expire it) and
/// was then published. Expiry is a property of the row's time, not of a filter being awake.
@Suite struct ReviewExpiryTests {
    @Test func anExpiredReplyCannotBeApprovedOrReleased() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("rx-\(UUID().uuidString).sqlite3").path
        let queue = try ReviewQueue(path: path)
        let expired = try queue.enqueue(text: Array("网传明天停水".utf8), record: nil, messageID: nil, decision: "{}",
                                        expiresAt: Date().addingTimeInterval(-5))
        let live = try queue.enqueue(text: Array("网传后天停水".utf8), record: nil, messageID: nil, decision: "{}",
                                     expiresAt: Date().addingTimeInterval(600))
        #expect(try !queue.decide(expired, approve: true, note: nil))
        #expect(try queue.decide(live, approve: true, note: nil))
        #expect(try queue.claimNext(by: "t", channel: nil)?.id == live)
        #expect(try queue.claimNext(by: "u", channel: nil) == nil)
        #expect(try queue.item(expired)?.status != .released)
    }
}
