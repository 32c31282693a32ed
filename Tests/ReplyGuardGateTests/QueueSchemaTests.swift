import Foundation
import ReplyGuard
import Testing
@testable import ReplyGuardGate

/// The queue file carries a schema version (`PRAGMA user_version`); a first-release file is migrated in
/// place, a file from a newer replyguard is refused.
@Suite struct QueueSchemaTests {
    func temporaryPath() -> String {
        NSTemporaryDirectory() + "rg-schema-\(UUID().uuidString).sqlite3"
    }

    @Test func aFirstReleaseQueueIsMigratedAndKeepsItsReplies() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        // The first release's table, user_version 0, one pending reply.
        let old = try SQLiteConnection(path: path)
        try old.execute("""
            CREATE TABLE reviews (id INTEGER PRIMARY KEY AUTOINCREMENT, status TEXT NOT NULL DEFAULT 'pending',
              created_at TEXT NOT NULL, expires_at TEXT, message_id TEXT, text BLOB NOT NULL, record BLOB,
              decision TEXT NOT NULL, note TEXT, decided_at TEXT, released_at TEXT, released_by TEXT);
            INSERT INTO reviews (created_at, text, decision) VALUES ('2026-01-01T00:00:00Z', X'E4BDA0', '{}');
            """)
        let queue = try ReviewQueue(path: path)
        #expect(try queue.connection.query("PRAGMA user_version").first?.first == .int(Int64(ReviewQueue.schemaVersion)))
        #expect(try queue.list().map(\.text) == [Array("你".utf8)])
        #expect(try queue.decide(1, approve: false, note: "rude", by: "li.wei"))
        #expect(try queue.item(1)?.decidedBy == "li.wei")
        // The claim columns (version 4) are there: an approved reply is claimed and released.
        let approved = try queue.enqueue(text: Array("好".utf8), record: nil, messageID: nil, decision: "{}", expiresAt: nil)
        #expect(try queue.decide(approved, approve: true, note: nil))
        #expect(try queue.claimNext(by: "t", channel: nil)?.id == approved)
        #expect(try queue.markReleased(approved, by: "t"))
    }

    /// Version 5 keeps how far a delivery in parts got: a version-4 file is migrated (its replies sent
    /// nothing yet); only the claim's owner records progress, and a claim taken over sees it.
    @Test func aVersion4QueueGetsDeliveryProgress() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let old = try SQLiteConnection(path: path)
        try old.execute("""
            CREATE TABLE reviews (id INTEGER PRIMARY KEY AUTOINCREMENT, status TEXT NOT NULL DEFAULT 'pending',
              created_at TEXT NOT NULL, expires_at TEXT, message_id TEXT, text BLOB NOT NULL, record BLOB,
              decision TEXT NOT NULL, note TEXT, decided_at TEXT, released_at TEXT, released_by TEXT,
              decided_by TEXT, channel TEXT, claimed_by TEXT, claimed_until TEXT);
            INSERT INTO reviews (status, created_at, text, decision, channel) VALUES ('approved', '2026-01-01T00:00:00Z', X'E4BDA0E5A5BD', '{}', 'wechat');
            PRAGMA user_version = 4;
            """)
        let queue = try ReviewQueue(path: path)
        #expect(try queue.connection.query("PRAGMA user_version").first?.first == .int(5))
        let claimed = try #require(try queue.claimNext(by: "a", channel: "wechat", lease: 0.2))
        #expect(claimed.sentBytes == 0 && !claimed.sending)
        #expect(try queue.recordDelivery(1, by: "a", sentBytes: 3, sending: true))
        #expect(try !queue.recordDelivery(1, by: "b", sentBytes: 6, sending: false))
        let later = try #require(try queue.claimNext(by: "b", channel: "wechat", now: Date().addingTimeInterval(1)))
        #expect(later.sentBytes == 3 && later.sending)
        #expect(try !queue.recordDelivery(1, by: "a", sentBytes: 6, sending: false))
    }

    @Test func aQueueFromANewerReplyguardIsRefused() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = try ReviewQueue(path: path)
        try SQLiteConnection(path: path).execute("PRAGMA user_version = 99")
        #expect(throws: SQLiteError.self) { try ReviewQueue(path: path) }
        do { _ = try ReviewQueue(path: path) } catch { #expect("\(error)".contains("schema version 99")) }
    }
}

/// What the service's page and metrics read without loading the whole queue.
@Suite struct QueueSummaryTests {
    @Test func countsAndRecentlyDecidedReadOnlyWhatTheyNeed() throws {
        let path = NSTemporaryDirectory() + "rg-counts-\(UUID().uuidString).sqlite3"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let queue = try ReviewQueue(path: path)
        for i in 1...5 { _ = try queue.enqueue(text: Array("r\(i)".utf8), record: nil, messageID: nil, decision: "{}", expiresAt: nil) }
        let start = Date()
        #expect(try queue.decide(2, approve: true, note: nil, now: start))
        #expect(try queue.decide(4, approve: false, note: nil, now: start.addingTimeInterval(1)))
        #expect(try queue.decide(3, approve: false, note: nil, now: start.addingTimeInterval(2)))
        #expect(try queue.counts() == [.pending: 2, .approved: 1, .rejected: 2])
        #expect(try queue.recentlyDecided(limit: 2).map(\.id) == [3, 4])
        #expect(try queue.recentlyDecided(limit: 10).map(\.id) == [3, 4, 2])
    }
}
