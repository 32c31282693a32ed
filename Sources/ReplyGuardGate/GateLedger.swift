import Foundation
import ReplyGuard

/// The one review-store connection and the one audit log of a gate process, under one lock.
///
/// Everything that writes the queue or the audit log goes through here — the gate holding a reply,
/// releasing an approved one, the ``ReviewDesk`` deciding, releasing, withdrawing and expiring — so a
/// process has one `seq` in its audit records (`(pid, seq)` is unique), and a reload of the rules hands
/// the same ledger to the new ``GateRuntime``. Only I/O runs under the lock (a SQLite write may wait
/// up to 10 s for another process's lock): deciding never does.
final class GateLedger: @unchecked Sendable { // `store` and `audit` are only touched under `lock`
    let store: ReviewStore
    let audit: AuditLog?
    private let lock = NSLock()

    init(store: ReviewStore, audit: AuditLog?) {
        self.store = store
        self.audit = audit
    }

    /// The audit log's path (nil: no audit log); readable without the lock.
    var auditPath: String? { audit?.path }

    /// Runs `body` holding the ledger's lock: the only way to touch the store and the audit log.
    func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    /// Appends an audit record, throwing ``AuditWriteError`` when it cannot be written. Call under the lock.
    func appendLocked(record: String, action: FilterAction, review: Int64?, reason: String? = nil, reviewer: String? = nil,
                      note: String? = nil, fields: [AuditField] = []) throws(AuditWriteError) {
        guard let audit else { return }
        do { try audit.append(record: record, action: action, review: review, reason: reason, reviewer: reviewer, note: note, fields: fields) } catch {
            throw AuditWriteError(path: audit.path, underlying: error)
        }
    }
}

/// The audit log could not be written, so the queue write that went with the record was undone.
public struct AuditWriteError: Error, CustomStringConvertible {
    public let path: String
    public let underlying: Error
    public var description: String { "the audit log \(path) cannot be written (\(RuleFiles.plainReason(underlying)))" }
}
