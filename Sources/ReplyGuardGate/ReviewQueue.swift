import Foundation

/// Where a held reply stands.
public enum ReviewStatus: String, Sendable, CaseIterable {
    /// Waiting for a reviewer.
    case pending
    /// Approved by a reviewer, not yet delivered (a filter writing it out leaves it approved until the
    /// write has returned).
    case approved
    /// Rejected by a reviewer: never published.
    case rejected
    /// Approved and delivered: written out by a filter, or handed to the HTTP client that held it.
    case released
    /// Not reviewed before the policy's timeout: never published.
    case expired
    /// Held by a request that then failed (the service answered 503 "publish nothing", so the client
    /// never got the review id): never published.
    case withdrawn
}

/// One reply held for review.
public struct ReviewItem: Sendable {
    public let id: Int64
    public let status: ReviewStatus
    /// ISO 8601 UTC times.
    public let createdAt: String
    public let expiresAt: String?
    /// The reply's id as JSON text (JSON Lines mode), if it had one.
    public let messageID: String?
    /// The reply's text, byte for byte as the bot wrote it.
    public let text: [UInt8]
    /// The whole input line in JSON Lines mode (what is published on approval), nil in line mode.
    public let record: [UInt8]?
    /// The decision record (JSON) that held it.
    public let decision: String
    public let note: String?
    public let decidedAt: String?
    public let releasedAt: String?
    /// The filter process that published it (`pid@host`).
    public let releasedBy: String?
    /// Who approved or rejected it (`review --reviewer`, the web page's signed-in reviewer).
    public let decidedBy: String?
    /// Which kind of front end held it and releases it: nil for the line filters, `http` for `serve`.
    public let channel: String?
    /// Bytes of `text` a front end that sends it in parts (WeChat) has surely delivered.
    public let sentBytes: Int
    /// True while such a front end may have a send of the next part under way (its outcome not yet known).
    public let sending: Bool
}

/// The durable human-review queue: one SQLite file that several filters and reviewers may share.
///
/// Writes are committed with `synchronous=FULL` in WAL mode before `enqueue` returns, so a reply is in
/// the queue before its holding reply is published, and survives the filter being killed.
///
/// Delivery of approved replies is at-least-once: a filter claims one reply (``claimNext(by:channel:lease:now:)``),
/// writes it out, and only then marks it released (``markReleased(_:by:now:)``). A claim whose owner died
/// (a process on this host that no longer exists) or whose lease ran out is taken over, so a filter killed
/// mid-write loses nothing; such a reply may be published twice, never zero times. The service's clients
/// release replies themselves (``release(_:by:channel:repeatFor:now:)``), and may ask again.
public final class ReviewQueue {
    public let path: String
    let connection: SQLiteConnection // internal: tests reach the raw connection

    /// The default queue file: `$REPLYGUARD_QUEUE`, else `$XDG_DATA_HOME/replyguard/review-queue.sqlite3`,
    /// else `~/.local/share/replyguard/review-queue.sqlite3`.
    public static var defaultPath: String {
        let env = ProcessInfo.processInfo.environment
        if let path = env["REPLYGUARD_QUEUE"], !path.isEmpty { return path }
        let base = env["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (NSHomeDirectory() as NSString).appendingPathComponent(".local/share")
        return (base as NSString).appendingPathComponent("replyguard/review-queue.sqlite3")
    }

    /// Opens (creating if needed, with its directory) the queue at `path`.
    public init(path: String) throws {
        self.path = path
        // (not NSString.deletingLastPathComponent: it traps on a one-character relative path such as `q`)
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? ""
        if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        connection = try SQLiteConnection(path: path)
        try connection.execute("PRAGMA journal_mode=WAL")
        try connection.execute("PRAGMA synchronous=FULL")
        try migrate()
    }

    /// The queue file's schema version (`PRAGMA user_version`): 1 is the first release's table (which
    /// left user_version at 0), 2 adds `decided_by` (the reviewer's name), 3 adds `channel` (which kind
    /// of front end held the reply: NULL for the line filters, `http` for `serve`), 4 adds `claimed_by`
    /// and `claimed_until` (the filter writing an approved reply out, and until when its claim holds)
    /// and the status `withdrawn`, 5 adds `sent_bytes` and `sending` (how far a front end that sends an
    /// approved reply in parts got, and whether a send of its next part may be under way: a delivery taken
    /// over resumes after what surely went out, and stops where the outcome is unknown).
    public static let schemaVersion = 5

    /// How long a claim on an approved reply holds against filters on other hosts (a filter on this host
    /// that died is taken over at once), and how long the service gives a released reply out again.
    public static let defaultLease: TimeInterval = 600

    /// Creates the table or brings an older file up to ``schemaVersion`` in one transaction (several
    /// filters may open a new file at once); a file from a newer replyguard is refused, not guessed at.
    private func migrate() throws {
        if connection.isReadOnly {
            // Reading only (a reviewer with read access; a filter refuses such a queue): nothing to
            // change, and a first-release file simply has no reviewer names.
            let version = try userVersion()
            if version > ReviewQueue.schemaVersion { throw newerSchema(version) }
            if version < 2 { columns = columns.replacingOccurrences(of: ", decided_by", with: ", NULL") }
            if version < 3 { columns = columns.replacingOccurrences(of: ", channel", with: ", NULL") }
            if version < 5 { columns = columns.replacingOccurrences(of: ", sent_bytes, sending", with: ", 0, 0") }
            return
        }
        // Up to date: nothing to write, so no write lock to wait for (another process may hold it).
        if try userVersion() == ReviewQueue.schemaVersion { return }
        try connection.execute("BEGIN IMMEDIATE")
        do {
            let version = try userVersion()
            let hasTable = !(try connection.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'reviews'").isEmpty)
            if version > ReviewQueue.schemaVersion { throw newerSchema(version) }
            if !hasTable {
                try connection.execute("""
                    CREATE TABLE reviews (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        status TEXT NOT NULL DEFAULT 'pending',
                        created_at TEXT NOT NULL,
                        expires_at TEXT,
                        message_id TEXT,
                        text BLOB NOT NULL,
                        record BLOB,
                        decision TEXT NOT NULL,
                        note TEXT,
                        decided_at TEXT,
                        released_at TEXT,
                        released_by TEXT,
                        decided_by TEXT,
                        channel TEXT,
                        claimed_by TEXT,
                        claimed_until TEXT,
                        sent_bytes INTEGER NOT NULL DEFAULT 0,
                        sending INTEGER NOT NULL DEFAULT 0
                    );
                    CREATE INDEX reviews_status ON reviews(status);
                    """)
            } else {
                if version < 2 { try connection.execute("ALTER TABLE reviews ADD COLUMN decided_by TEXT") }
                if version < 3 { try connection.execute("ALTER TABLE reviews ADD COLUMN channel TEXT") }
                if version < 4 {
                    try connection.execute("ALTER TABLE reviews ADD COLUMN claimed_by TEXT")
                    try connection.execute("ALTER TABLE reviews ADD COLUMN claimed_until TEXT")
                }
                if version < 5 {
                    try connection.execute("ALTER TABLE reviews ADD COLUMN sent_bytes INTEGER NOT NULL DEFAULT 0")
                    try connection.execute("ALTER TABLE reviews ADD COLUMN sending INTEGER NOT NULL DEFAULT 0")
                }
            }
            if version != ReviewQueue.schemaVersion {
                try connection.execute("PRAGMA user_version = \(ReviewQueue.schemaVersion)")
            }
            try connection.execute("COMMIT")
        } catch {
            try? connection.execute("ROLLBACK")
            throw error
        }
    }

    private func userVersion() throws -> Int {
        let row = try connection.query("PRAGMA user_version").first
        if let row, case .int(let n) = row[0] { return Int(n) }
        return 0
    }

    private func newerSchema(_ version: Int) -> SQLiteError {
        SQLiteError(code: 1, message: "the queue \(path) has schema version \(version), newer than this replyguard knows (\(ReviewQueue.schemaVersion)); use a newer replyguard or another --queue")
    }

    /// Runs `body` without waiting for another connection's lock: while the queue is busy, statements
    /// fail at once with SQLITE_BUSY instead of waiting up to 10 s (for work that can be retried later).
    /// A busy or locked database (SQLITE_BUSY, SQLITE_LOCKED) throws ``ReviewStoreError/busy``.
    public func withoutWaiting<T>(_ body: () throws -> T) throws -> T {
        connection.setBusyTimeout(milliseconds: 0)
        defer { connection.setBusyTimeout(milliseconds: 10_000) }
        do { return try body() } catch let error as SQLiteError where error.code == 5 || error.code == 6 { throw ReviewStoreError.busy }
    }

    /// Runs `body` in one transaction holding the queue's write lock (`BEGIN IMMEDIATE`): committed when
    /// `body` returns, rolled back when it throws — so a queue write and the audit record that goes with
    /// it stand or fall together. Inside another transaction it runs as a savepoint of that one.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        let nested = connection.inTransaction
        try connection.execute(nested ? "SAVEPOINT rg_nested" : "BEGIN IMMEDIATE")
        do {
            let value = try body()
            try connection.execute(nested ? "RELEASE rg_nested" : "COMMIT")
            return value
        } catch {
            if nested {
                try? connection.execute("ROLLBACK TO rg_nested")
                try? connection.execute("RELEASE rg_nested")
            } else {
                try? connection.execute("ROLLBACK")
            }
            throw error
        }
    }

    /// True when the file could only be opened read-only (SQLite falls back silently): nothing could be
    /// held, so a filter must not start on it.
    public var isReadOnly: Bool { connection.isReadOnly }

    public static func timestamp(_ date: Date = Date()) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    /// Stores a held reply durably and returns its review id.
    /// `channel`: which kind of front end holds it (nil: the line filters); only that kind releases it.
    ///
    /// On a channel (the service) the message id is the client's retry key: the same message (id and
    /// text) held again while its review is pending or approved, and not past its expiry, gets that
    /// review's id back instead of a second row — a client whose answer was lost (a dropped connection,
    /// a killed server) sends the message again and learns the review id it missed.
    public func enqueue(text: [UInt8], record: [UInt8]?, messageID: String?, decision: String,
                        expiresAt: Date?, channel: String? = nil) throws -> Int64 {
        guard let channel, let messageID else {
            return try insert(text: text, record: record, messageID: messageID, decision: decision, expiresAt: expiresAt, channel: channel)
        }
        return try transaction {
            let row = try connection.query("""
                SELECT id FROM reviews WHERE status IN ('pending', 'approved') AND channel = ? AND message_id = ? AND text = ?
                AND (expires_at IS NULL OR expires_at > ?) ORDER BY id DESC LIMIT 1
                """, [.text(channel), .text(messageID), .blob(text), .text(ReviewQueue.timestamp())]).first
            if let row, case .int(let id) = row[0] { return id }
            return try insert(text: text, record: record, messageID: messageID, decision: decision, expiresAt: expiresAt, channel: channel)
        }
    }

    private func insert(text: [UInt8], record: [UInt8]?, messageID: String?, decision: String, expiresAt: Date?, channel: String?) throws -> Int64 {
        try connection.query("""
            INSERT INTO reviews (created_at, expires_at, message_id, text, record, decision, channel) VALUES (?, ?, ?, ?, ?, ?, ?)
            """, [.text(ReviewQueue.timestamp()), expiresAt.map { .text(ReviewQueue.timestamp($0)) } ?? .null,
                  messageID.map { .text($0) } ?? .null, .blob(text), record.map { .blob($0) } ?? .null, .text(decision),
                  channel.map { .text($0) } ?? .null])
        return connection.lastInsertRowID
    }

    public func list(status: ReviewStatus? = nil) throws -> [ReviewItem] {
        if let status {
            return try connection.query("SELECT \(columns) FROM reviews WHERE status = ? ORDER BY id", [.text(status.rawValue)]).map(item)
        }
        return try connection.query("SELECT \(columns) FROM reviews ORDER BY id").map(item)
    }

    /// How many replies are in each status (statuses with none left out), without reading them.
    public func counts() throws -> [ReviewStatus: Int] {
        var counts: [ReviewStatus: Int] = [:]
        for row in try connection.query("SELECT status, COUNT(*) FROM reviews GROUP BY status") {
            if case .text(let name) = row[0], let status = ReviewStatus(rawValue: name), case .int(let n) = row[1] { counts[status] = Int(n) }
        }
        return counts
    }

    /// The `limit` replies decided (approved, rejected, released or expired) most recently, newest first.
    public func recentlyDecided(limit: Int) throws -> [ReviewItem] {
        try connection.query("""
            SELECT \(columns) FROM reviews WHERE status != 'pending' ORDER BY COALESCE(decided_at, created_at) DESC, id DESC LIMIT ?
            """, [.int(Int64(limit))]).map(item)
    }

    public func item(_ id: Int64) throws -> ReviewItem? {
        try connection.query("SELECT \(columns) FROM reviews WHERE id = ?", [.int(id)]).first.map(item)
    }

    /// Approves or rejects a pending reply. Returns false when it is not pending (already decided,
    /// released or expired) or does not exist, and — when approving — when its expiry has passed, whether
    /// or not a filter has marked it expired yet (expiry is a property of the row's time).
    /// `reviewer` (who decided) is kept in the queue.
    public func decide(_ id: Int64, approve: Bool, note: String?, by reviewer: String? = nil, now: Date = Date()) throws -> Bool {
        let time = ReviewQueue.timestamp(now)
        try connection.query("""
            UPDATE reviews SET status = ?, note = ?, decided_at = ?, decided_by = ? WHERE id = ? AND status = 'pending'
            AND (? = 0 OR expires_at IS NULL OR expires_at > ?)
            """, [.text(approve ? ReviewStatus.approved.rawValue : ReviewStatus.rejected.rawValue),
                  note.map { .text($0) } ?? .null, .text(time), reviewer.map { .text($0) } ?? .null, .int(id),
                  .int(approve ? 1 : 0), .text(time)])
        return connection.changes == 1
    }

    /// Claims the oldest approved reply of `channel` (nil: the line filters') that nobody is delivering,
    /// for `owner` until `lease` from `now`, and returns it (nil: none). The reply stays `approved`: the
    /// caller writes it out, then calls ``markReleased(_:by:now:)``. A claim is taken over when its lease
    /// has run out, or at once when its owner (`PID@HOST`, as ``ReplyGate/owner`` names it) is a process
    /// on this host that no longer exists — a filter killed while writing loses nothing.
    public func claimNext(by owner: String, channel: String?, lease: TimeInterval = ReviewQueue.defaultLease,
                          now: Date = Date()) throws -> ReviewItem? {
        let cutoff = ReviewQueue.timestamp(now)
        return try transaction {
            let rows = try connection.query("SELECT id, claimed_by, claimed_until FROM reviews WHERE status = 'approved' AND channel IS ? ORDER BY id",
                                            [channel.map { .text($0) } ?? .null])
            var gone: [String: Bool] = [:]
            for row in rows {
                guard case .int(let id) = row[0] else { continue }
                if case .text(let holder) = row[1] {
                    var leaseOver = true
                    if case .text(let until) = row[2] { leaseOver = until <= cutoff }
                    if !leaseOver {
                        let dead = gone[holder] ?? ReviewQueue.ownerIsGone(holder)
                        gone[holder] = dead
                        if !dead { continue }
                    }
                }
                try connection.query("UPDATE reviews SET claimed_by = ?, claimed_until = ? WHERE id = ?",
                                     [.text(owner), .text(ReviewQueue.timestamp(now.addingTimeInterval(lease))), .int(id)])
                return try item(id)
            }
            return nil
        }
    }

    /// Records how far `owner`'s delivery of a claimed approved reply got: `sentBytes` of its text surely
    /// went out; `sending` true just before a send of the next part that may reach its recipient, false
    /// once that send surely did not. The claim's lease is kept as it was. False when the reply is no
    /// longer approved or no longer claimed by `owner` (taken over): stop delivering it.
    public func recordDelivery(_ id: Int64, by owner: String, sentBytes: Int, sending: Bool) throws -> Bool {
        try connection.query("""
            UPDATE reviews SET sent_bytes = ?, sending = ? WHERE id = ? AND status = 'approved' AND claimed_by = ?
            """, [.int(Int64(sentBytes)), .int(sending ? 1 : 0), .int(id), .text(owner)])
        return connection.changes == 1
    }

    /// Marks an approved reply released by `owner`, once it has been written out. False when it is no
    /// longer approved (another filter took the claim over and released it first).
    public func markReleased(_ id: Int64, by owner: String, now: Date = Date()) throws -> Bool {
        try connection.query("""
            UPDATE reviews SET status = 'released', released_at = ?, released_by = ?, claimed_by = NULL, claimed_until = NULL
            WHERE id = ? AND status = 'approved'
            """, [.text(ReviewQueue.timestamp(now)), .text(owner), .int(id)])
        return connection.changes == 1
    }

    /// True when `owner` (`PID@HOST`, optionally after a word: `serve PID@HOST`) names a process on this
    /// host that no longer exists. Another host's process, or a name that does not read so, is never
    /// taken for gone (its claim waits for its lease).
    static func ownerIsGone(_ owner: String) -> Bool {
        guard let at = owner.lastIndex(of: "@"), owner[owner.index(after: at)...] == ProcessInfo.processInfo.hostName,
              let word = owner[..<at].split(separator: " ").last, let pid = Int32(word), pid > 0 else { return false }
        return kill(pid, 0) != 0 && errno == ESRCH
    }

    /// Hands an approved reply of `channel` to a client to publish: marks it released by `owner` and
    /// returns it with `first` true. Asked again within `repeatFor` seconds of that release, it returns the
    /// same reply with `first` false — a client whose answer was lost asks again and gets it (and tells the
    /// two apart by the review id). Nil when the reply is not approved, was held on another channel, or was
    /// released longer ago. Run it in a ``transaction(_:)`` with its audit record.
    public func release(_ id: Int64, by owner: String, channel: String?, repeatFor: TimeInterval = ReviewQueue.defaultLease,
                        now: Date = Date()) throws -> (item: ReviewItem, first: Bool)? {
        let channelValue: SQLiteConnection.Value = channel.map { .text($0) } ?? .null
        try connection.query("""
            UPDATE reviews SET status = 'released', released_at = ?, released_by = ? WHERE id = ? AND status = 'approved' AND channel IS ?
            """, [.text(ReviewQueue.timestamp(now)), .text(owner), .int(id), channelValue])
        if connection.changes == 1, let item = try item(id) { return (item, true) }
        guard let item = try item(id), item.status == .released, item.channel == channel, let releasedAt = item.releasedAt,
              releasedAt > ReviewQueue.timestamp(now.addingTimeInterval(-repeatFor)) else { return nil }
        return (item, false)
    }

    /// Withdraws held replies whose holding answer never reached the client (the request failed after
    /// holding them), if still pending or approved: status `withdrawn`, never published, `note` says why.
    /// Returns those withdrawn.
    public func withdraw(_ ids: [Int64], note: String, now: Date = Date()) throws -> [ReviewItem] {
        try transaction {
            var withdrawn: [ReviewItem] = []
            for id in ids {
                try connection.query("""
                    UPDATE reviews SET status = 'withdrawn', note = ?, decided_at = ?, claimed_by = NULL, claimed_until = NULL
                    WHERE id = ? AND status IN ('pending', 'approved')
                    """, [.text(note), .text(ReviewQueue.timestamp(now)), .int(id)])
                if connection.changes == 1, let item = try item(id) { withdrawn.append(item) }
            }
            return withdrawn
        }
    }

    /// Marks pending replies whose expiry has passed as expired and returns them.
    public func expire(now: Date = Date()) throws -> [ReviewItem] {
        let cutoff = ReviewQueue.timestamp(now)
        return try transaction {
            let items = try connection.query("""
                SELECT \(columns) FROM reviews WHERE status = 'pending' AND expires_at IS NOT NULL AND expires_at <= ?
                """, [.text(cutoff)]).map(item)
            try connection.query("""
                UPDATE reviews SET status = 'expired', decided_at = ? WHERE status = 'pending' AND expires_at IS NOT NULL AND expires_at <= ?
                """, [.text(cutoff), .text(cutoff)])
            return items
        }
    }

    private var columns = "id, status, created_at, expires_at, message_id, text, record, decision, note, decided_at, released_at, released_by, decided_by, channel, sent_bytes, sending"

    private func item(_ row: [SQLiteConnection.Value]) -> ReviewItem {
        func text(_ i: Int) -> String? {
            switch row[i] {
            case .text(let s): return s
            case .blob(let b): return String(decoding: b, as: UTF8.self)
            case .int(let n): return String(n)
            case .null: return nil
            }
        }
        func bytes(_ i: Int) -> [UInt8]? {
            switch row[i] {
            case .blob(let b): return b
            case .text(let s): return Array(s.utf8)
            default: return nil
            }
        }
        var id: Int64 = 0
        if case .int(let n) = row[0] { id = n }
        return ReviewItem(id: id, status: ReviewStatus(rawValue: text(1) ?? "") ?? .pending, createdAt: text(2) ?? "",
                          expiresAt: text(3), messageID: text(4), text: bytes(5) ?? [], record: bytes(6),
                          decision: text(7) ?? "{}", note: text(8), decidedAt: text(9), releasedAt: text(10), releasedBy: text(11), decidedBy: text(12), channel: text(13),
                          sentBytes: Int(text(14) ?? "0") ?? 0, sending: text(15).map { $0 != "0" } ?? false)
    }
}
