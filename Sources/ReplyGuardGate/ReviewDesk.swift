import Foundation
import ReplyGuard

/// What became of a reviewer's decision (``ReviewDesk/decide(_:approve:note:by:)``).
public enum DeskDecision: Sendable, Equatable {
    /// Stored and recorded in the audit log.
    case done
    /// The reply is no longer pending (already decided, released, expired or withdrawn).
    case notPending(ReviewStatus)
    /// Approving a reply past its expiry (`review.expire_after_minutes`), whether or not it was marked
    /// expired yet: refused.
    case expired(at: String)
    /// No such review.
    case missing

    /// Why a decision was not taken, in a reviewer's words ("expired at …", "is approved, not pending");
    /// nil for ``done``.
    public var refusal: String? {
        switch self {
        case .done: return nil
        case .notPending(let status): return "is \(status.rawValue), not pending"
        case .expired(let at): return "expired at \(at) (review.expire_after_minutes in the policy) and can no longer be approved"
        case .missing: return "does not exist"
        }
    }
}

/// The reviewer's side of the review queue: list, read, approve or reject, release, withdraw, expire —
/// every change recorded in the audit log, whoever makes it (`review approve` on the command line, the
/// web page, a front end releasing a reply). The CLI and the service use this one type, so an approval
/// is audited alike wherever it is made.
///
/// A queue change and its audit record agree: each runs in one queue transaction with its record, and
/// a record that cannot be written (``AuditWriteError``) rolls the change back — the reply stays as it
/// was. Without an audit log (none configured) changes are simply not recorded.
///
/// Thread-safe (`@unchecked Sendable`): any thread may call any method; each takes the ledger's lock
/// (shared with the process's ``ReplyGate``: one queue connection, one audit log) for its queue and log
/// calls. A call may wait on another process's queue lock (up to 10 s): call it where blocking is
/// allowed — not on an event loop that must stay responsive.
public final class ReviewDesk: @unchecked Sendable {
    let ledger: GateLedger
    /// The ledger's store, as the queue it is (the desk's queries need one); touched under the ledger's lock.
    let queue: ReviewQueue

    init(ledger: GateLedger, queue: ReviewQueue) {
        self.ledger = ledger
        self.queue = queue
    }

    /// A desk on its own connection to the queue at `queuePath` and its own audit log at `auditPath`
    /// (`replyguard review`): a process that also gates replies uses its ``GateRuntime/desk`` instead.
    /// A queue this user may only read is opened for reading: listing works, deciding throws.
    public static func open(queuePath: String, auditPath: String?) throws(GateRefused) -> ReviewDesk {
        let queue: ReviewQueue
        do { queue = try ReviewQueue(path: queuePath) } catch {
            throw GateRefused(.queue, "cannot open the review queue \(queuePath)", file: (queuePath, error))
        }
        let audit: AuditLog?
        do { audit = try auditPath.map { try AuditLog(path: $0) } } catch {
            throw GateRefused(.audit, "cannot open the audit log \(auditPath!)", file: (auditPath!, error))
        }
        return ReviewDesk(ledger: GateLedger(store: queue, audit: audit), queue: queue)
    }

    /// The queue file's path.
    public var queuePath: String { queue.path }
    /// The audit log's path (nil: none, nothing is recorded).
    public var auditPath: String? { ledger.auditPath }

    /// Held replies in `status` (all when nil), oldest first.
    public func list(_ status: ReviewStatus? = nil) throws -> [ReviewItem] { try ledger.locked { try queue.list(status: status) } }

    public func item(_ id: Int64) throws -> ReviewItem? { try ledger.locked { try queue.item(id) } }

    /// The `limit` replies decided most recently, newest first.
    public func recentlyDecided(limit: Int) throws -> [ReviewItem] { try ledger.locked { try queue.recentlyDecided(limit: limit) } }

    /// Replies per status (statuses with none left out), counted by the queue.
    public func counts() throws -> [ReviewStatus: Int] { try ledger.locked { try queue.counts() } }

    /// Approves or rejects a pending reply in `reviewer`'s name (kept in the queue as `decided_by`, in the
    /// audit log as `reviewer`, with `note`). Throws ``AuditWriteError`` when the record cannot be written
    /// (then nothing is stored: the reply is still pending), or the queue's error.
    public func decide(_ id: Int64, approve: Bool, note: String?, by reviewer: String) throws -> DeskDecision {
        try ledger.locked {
            let now = Date()
            let decided = try queue.transaction {
                guard try queue.decide(id, approve: approve, note: note, by: reviewer, now: now) else { return false }
                if let item = try queue.item(id) {
                    try ledger.appendLocked(record: item.decision, action: approve ? .approved : .rejected, review: id, reviewer: reviewer, note: note)
                }
                return true
            }
            if decided { return .done }
            guard let item = try queue.item(id) else { return .missing }
            if item.status == .pending, let expires = item.expiresAt, expires <= ReviewQueue.timestamp(now) { return .expired(at: expires) }
            return .notPending(item.status)
        }
    }

    /// Marks an approved reply of `channel` released by `owner` and returns it, recorded as `released`;
    /// asked again within ``ReviewQueue/defaultLease`` it returns the same reply again (recorded with
    /// reason `repeated`: a client whose answer was lost asks again). Nil when it is not approved, was
    /// held on another channel, or was released longer ago. Throws ``AuditWriteError`` (the reply stays
    /// approved) when the record cannot be written.
    public func release(_ id: Int64, channel: String?, by owner: String) throws -> ReviewItem? {
        try ledger.locked {
            try queue.transaction {
                guard let (item, first) = try queue.release(id, by: owner, channel: channel) else { return nil }
                try ledger.appendLocked(record: item.decision, action: .released, review: id, reason: first ? nil : "repeated")
                return item
            }
        }
    }

    /// Claims the oldest approved reply of `channel` that no live process is delivering, for `owner`, for
    /// ``ReviewQueue/defaultLease`` (a claim of a process that died is taken over): for a front end that
    /// delivers approved replies itself through another API. Deliver it, then ``delivered(_:by:reason:)``.
    public func claimApproved(channel: String, by owner: String) throws -> ReviewItem? {
        try ledger.locked { try queue.claimNext(by: owner, channel: channel) }
    }

    /// A reply claimed with ``claimApproved(channel:by:)`` went out: released and recorded `released`
    /// with `reason` in one transaction. Throws ``AuditWriteError`` (the reply stays approved, and is
    /// delivered again once the claim lapses: at least once) when the record cannot be written.
    /// `fields` go into the record (a front end's own: parts sent…).
    public func delivered(_ id: Int64, by owner: String, reason: String?, fields: [AuditField] = []) throws {
        try ledger.locked {
            try queue.transaction {
                guard try queue.markReleased(id, by: owner), let item = try queue.item(id) else { return }
                try ledger.appendLocked(record: item.decision, action: .released, review: id, reason: reason, fields: fields)
            }
        }
    }

    /// Records how far `owner`'s delivery in parts of a reply claimed with ``claimApproved(channel:by:)``
    /// got (``ReviewQueue/recordDelivery(_:by:sentBytes:sending:)``): kept in the queue, so a delivery
    /// taken over — after the lease, or by another process after a restart — resumes after the parts that
    /// surely went out and never sends one whose outcome is unknown. False when the claim is no longer
    /// `owner`'s (stop delivering).
    public func recordDelivery(_ id: Int64, by owner: String, sentBytes: Int, sending: Bool) throws -> Bool {
        try ledger.locked { try queue.recordDelivery(id, by: owner, sentBytes: sentBytes, sending: sending) }
    }

    /// Withdraws replies held by a request that then failed (its client was told to publish nothing and
    /// never got the review ids), recording each as `withdrawn` where the audit log can be written: a
    /// withdrawal is never undone for want of its record.
    public func withdraw(_ ids: [Int64], because reason: String, fields: [AuditField] = []) throws {
        try ledger.locked {
            for item in try queue.withdraw(ids, note: reason) {
                try? ledger.appendLocked(record: item.decision, action: .withdrawn, review: item.id, reason: reason, fields: fields)
            }
        }
    }

    /// Marks pending replies past their expiry as expired, each recorded (when a record cannot be written
    /// they stay pending — approving them is refused all the same — until next time).
    public func expire() throws {
        try ledger.locked {
            try queue.transaction {
                for item in try queue.expire() {
                    try ledger.appendLocked(record: item.decision, action: .expired, review: item.id)
                }
            }
        }
    }

    /// The last `lines` records of the audit log, newest first; nil without an audit log. Records that
    /// do not read as audit records (another program's lines, a record cut off) are left out; only a
    /// regular file is read (an audit log on a pipe or device has no tail to read).
    public func auditTail(lines: Int) -> [AuditRecord]? {
        guard let path = auditPath else { return nil }
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG, let handle = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        let start = size > 256 * 1024 ? size - 256 * 1024 : 0
        try? handle.seek(toOffset: start)
        let data = (try? handle.readToEnd()) ?? Data()
        var text = Substring(String(decoding: data, as: UTF8.self))
        if start > 0, let newline = text.firstIndex(of: "\n") { text = text[text.index(after: newline)...] }
        let decoder = JSONDecoder()
        return text.split(separator: "\n").suffix(lines).reversed().compactMap { try? decoder.decode(AuditRecord.self, from: Data($0.utf8)) }
    }
}
