import Foundation
import ReplyGuard
import ReplyGuardGate

/// Every call the server makes into the reply gate, the review queue and the audit log, in one place.
///
/// Replies go through a ``ReplyGate`` (which holds, audits and serializes its own store and log calls).
/// The reviewer's side — listing, approving and rejecting in a reviewer's name, expiring — uses a second
/// connection to the same queue file and a second audit-log descriptor, serialized by `lock`: SQLite and
/// `O_APPEND` writes keep the two sides consistent, as they do for several `filter`s on one queue.
/// Replies held here are stored on the `http` channel: a `filter` sharing the queue never releases
/// them, and the client that got the holding reply releases an approved one itself, once
/// (`POST /v1/reviews/{id}/release`).
final class GateCalls: @unchecked Sendable { // `queue` and `audit` are only touched under `lock`; `gate` is thread-safe
    let engine: Engine
    let gate: ReplyGate
    private let queue: ReviewQueue
    private let audit: AuditLog?
    private let lock = NSLock()

    init(engine: Engine, queuePath: String, auditPath: String?, holdAll: Bool) throws {
        self.engine = engine
        let store = try ReviewQueue(path: queuePath)
        if store.isReadOnly { throw ServeError("the review queue \(queuePath) is read-only for this user: escalated replies could not be held") }
        let gateAudit: AuditLog?
        do { gateAudit = try auditPath.map { try AuditLog(path: $0) } } catch { throw ServeError("cannot open the audit log \(auditPath!): \(error)") }
        gate = ReplyGate(engine: engine, store: store, audit: gateAudit, holdAll: holdAll, channel: GateCalls.channel,
                         diagnose: { FileHandle.standardError.write(Data("replyguard serve: \($0)\n".utf8)) })
        queue = try ReviewQueue(path: queuePath)
        audit = try auditPath.map { try AuditLog(path: $0) }
    }

    /// Why the gate has stopped (its audit log could not be written): nothing may be published any more.
    var failure: String? { gate.failure }

    /// Decides `message`, holds it when escalated (before answering) and records it in the audit log;
    /// `publishable` is false when the gate has stopped (publish nothing).
    func handle(_ message: InputMessage, scanner: MessageScanner) -> (result: GateResult, publishable: Bool) {
        let result = gate.handle(message, scanner: scanner, publish: { _ in })
        // The gate records a reply after handing it over; here nothing has been sent yet, so a reply
        // whose own audit record failed is not published either.
        return (result, result.outcome != .stopped && gate.failure == nil)
    }

    /// The store channel of replies held by the service.
    static let channel = "http"

    func item(_ id: Int64) throws -> ReviewItem? { try locked { try queue.item(id) } }

    /// Takes an approved reply for publishing, once (recorded as `released` in the audit log); nil when it
    /// is not approved (or was already released).
    func release(_ id: Int64, by owner: String) throws -> ReviewItem? {
        try locked {
            guard let item = try queue.claim(id, by: owner) else { return nil }
            try audit?.append(record: item.decision, action: .released, review: id)
            return item
        }
    }

    func list(_ status: ReviewStatus?) throws -> [ReviewItem] { try locked { try queue.list(status: status) } }

    /// Approves or rejects a pending reply in the reviewer's name (kept in the queue as `decided_by` and in
    /// the audit log as `reviewer`). False when it is no longer pending (or, approving, past its expiry).
    /// Throws when the audit record cannot be written: the decision stands in the queue, and the page says so.
    func decide(_ id: Int64, approve: Bool, note: String?, by reviewer: String) throws -> Bool {
        try locked {
            guard try queue.decide(id, approve: approve, note: note, by: reviewer) else { return false }
            if let audit, let item = try queue.item(id) {
                try audit.append(record: item.decision, action: approve ? .approved : .rejected, review: id, reviewer: reviewer, note: note)
            }
            return true
        }
    }

    /// Marks pending replies past their expiry as expired (recorded in the audit log).
    func expire() throws {
        try locked {
            for item in try queue.expire() {
                try audit?.append(record: item.decision, action: .expired, review: item.id)
            }
        }
    }

    /// Replies per status (counted by the queue, not read).
    func depth() throws -> [String: Int] {
        Dictionary(uniqueKeysWithValues: try locked { try queue.counts() }.map { ($0.key.rawValue, $0.value) })
    }

    func recentlyDecided(limit: Int) throws -> [ReviewItem] { try locked { try queue.recentlyDecided(limit: limit) } }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }
}

/// A reason the server cannot start or go on.
public struct ServeError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
