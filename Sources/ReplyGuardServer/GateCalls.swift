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
/// them, nor does the service release a filter's; the client that got the holding reply releases an
/// approved one itself (`POST /v1/reviews/{id}/release`), and may ask again for a while.
///
/// A queue write and its audit record agree: a decision or release whose audit record cannot be written
/// is rolled back in the queue (a transaction around both).
final class GateCalls: @unchecked Sendable { // `queue` and `audit` are only touched under `lock`; `gate` is thread-safe
    let engine: Engine
    let gate: ReplyGate
    // Internal, not private: the WeChat front end's adapter (WeChat/WeChatGateAdapter.swift) delivers approved
    // replies of its own channel through them, under `locked`.
    let queue: ReviewQueue
    let audit: AuditLog?
    private let lock = NSLock()

    init(engine: Engine, queuePath: String, auditPath: String?, holdAll: Bool) throws {
        self.engine = engine
        let store = try ReviewQueue(path: queuePath)
        if store.isReadOnly { throw ServeError("the review queue \(queuePath) is read-only for this user: escalated replies could not be held") }
        let gateAudit: AuditLog?
        do { gateAudit = try auditPath.map { try AuditLog(path: $0) } } catch { throw ServeError("cannot open the audit log \(auditPath!): \(error)") }
        gate = ReplyGate(engine: engine, store: store, audit: gateAudit, holdAll: holdAll, channel: GateCalls.channel, resumes: true,
                         diagnose: { FileHandle.standardError.write(Data("replyguard serve: \($0)\n".utf8)) })
        queue = try ReviewQueue(path: queuePath)
        audit = try auditPath.map { try AuditLog(path: $0) }
    }

    /// Why the gate has stopped (its audit log could not be written): nothing may be published any more.
    var failure: String? { gate.failure }

    /// Decides `message`, holds it when escalated (before answering) and records it in the audit log;
    /// `publishable` is false when the gate has stopped (publish nothing). `heldOn`: the channel to hold
    /// it on, when not ``channel`` (the Dify endpoint's ``ServerApp/difyChannel``).
    func handle(_ message: InputMessage, scanner: MessageScanner, heldOn: String? = nil) -> (result: GateResult, publishable: Bool) {
        let result = gate.handle(message, scanner: scanner, heldOn: heldOn, publish: { _ in })
        // The gate records a reply after handing it over; here nothing has been sent yet, so a reply
        // whose own audit record failed is not published either.
        return (result, result.outcome != .stopped && result.recorded)
    }

    /// The policy's fallback reply for a blocked decision.
    func fallback(for decision: Decision) -> String { gate.fallback(for: decision) }

    /// Tries the audit log again if the gate stopped on it; true when the gate runs.
    @discardableResult
    func resumeIfStopped() -> Bool { gate.resumeIfStopped() }

    /// Withdraws replies held by a request that then failed (its client was told to publish nothing and
    /// never got the review ids), recording each as `withdrawn` where the audit log can be written.
    func withdraw(_ ids: [Int64], because reason: String) throws {
        try locked {
            for item in try queue.withdraw(ids, note: reason) {
                try? audit?.append(record: item.decision, action: .withdrawn, review: item.id, reason: reason)
            }
        }
    }

    /// The store channel of replies held by the service.
    static let channel = "http"

    func item(_ id: Int64) throws -> ReviewItem? { try locked { try queue.item(id) } }

    /// Hands an approved reply held here to the client to publish (recorded as `released` in the audit
    /// log), and again to a client that asks again within ``ReviewQueue/defaultLease`` (recorded with
    /// reason `repeated`); nil when it is not approved, was held by a line filter, or was released longer
    /// ago. Throws — and the reply stays as it was — when the queue or the audit log cannot be written.
    func release(_ id: Int64, by owner: String) throws -> ReviewItem? {
        try locked {
            try queue.transaction {
                guard let (item, first) = try queue.release(id, by: owner, channel: GateCalls.channel) else { return nil }
                do { try audit?.append(record: item.decision, action: .released, review: id, reason: first ? nil : "repeated") } catch {
                    throw AuditWriteError(path: audit?.path ?? "", underlying: error)
                }
                return item
            }
        }
    }

    func list(_ status: ReviewStatus?) throws -> [ReviewItem] { try locked { try queue.list(status: status) } }

    /// Approves or rejects a pending reply in the reviewer's name (kept in the queue as `decided_by` and in
    /// the audit log as `reviewer`). False when it is no longer pending (or, approving, past its expiry).
    /// Throws when the queue or the audit record cannot be written (``AuditWriteError``): then the
    /// decision is not stored either — the reply is still pending.
    func decide(_ id: Int64, approve: Bool, note: String?, by reviewer: String) throws -> Bool {
        try locked {
            try queue.transaction {
                guard try queue.decide(id, approve: approve, note: note, by: reviewer) else { return false }
                if let audit, let item = try queue.item(id) {
                    do { try audit.append(record: item.decision, action: approve ? .approved : .rejected, review: id, reviewer: reviewer, note: note) } catch {
                        throw AuditWriteError(path: audit.path, underlying: error)
                    }
                }
                return true
            }
        }
    }

    /// Marks pending replies past their expiry as expired (recorded in the audit log; when the record
    /// cannot be written they stay pending — approving them is refused all the same — until next time).
    func expire() throws {
        try locked {
            try queue.transaction {
                for item in try queue.expire() {
                    try audit?.append(record: item.decision, action: .expired, review: item.id)
                }
            }
        }
    }

    /// Replies per status (counted by the queue, not read).
    func depth() throws -> [String: Int] {
        Dictionary(uniqueKeysWithValues: try locked { try queue.counts() }.map { ($0.key.rawValue, $0.value) })
    }

    func recentlyDecided(limit: Int) throws -> [ReviewItem] { try locked { try queue.recentlyDecided(limit: limit) } }

    func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }
}

/// The audit log could not be written, so the queue write that went with the record was undone.
struct AuditWriteError: Error, CustomStringConvertible {
    let path: String
    let underlying: Error
    var description: String { "the audit log \(path) cannot be written (\(RuleFiles.plainReason(underlying)))" }
}

/// A reason the server cannot start or go on.
public struct ServeError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
