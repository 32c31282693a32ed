import Foundation
import ReplyGuard

/// A reply held for review, as the gate hands it to a ``ReviewStore``.
public struct HeldReply: Sendable {
    /// The reply's text, byte for byte (the whole input when it could not be read).
    public var text: [UInt8]
    /// What to publish on approval instead of the text (a JSON Lines record carrying the reply's id).
    public var record: [UInt8]?
    /// The reply's id as JSON text, if it had one.
    public var messageID: String?
    /// The decision record (JSON) that held it.
    public var decision: String
    public var expiresAt: Date?
    /// Which kind of front end holds it (nil: the line filters; `http`: the service).
    public var channel: String?
}

/// Why a store operation could not run now; the gate tries again later.
public enum ReviewStoreError: Error, Sendable {
    /// Another process holds the store's lock.
    case busy
}

/// Where held replies wait for a reviewer (``ReviewQueue``, SQLite, today). Implementations need not be
/// thread-safe: the gate serializes its calls.
public protocol ReviewStore: AnyObject {
    /// Stores a held reply durably (it must survive a crash once this returns) and returns its review id.
    func enqueue(_ held: HeldReply) throws -> Int64
    /// Claims the oldest approved reply of `channel` that nobody is delivering (or whose deliverer died or
    /// whose `lease` ran out) for `owner`; it stays approved until ``markReleased(_:by:now:)``.
    func claimNext(by owner: String, channel: String?, lease: TimeInterval, now: Date) throws -> ReviewItem?
    /// Marks a claimed reply released once it has been written out; false when it no longer is approved.
    func markReleased(_ id: Int64, by owner: String, now: Date) throws -> Bool
    /// Marks pending replies past their expiry as expired and returns them.
    func expire(now: Date) throws -> [ReviewItem]
    /// Runs `body` without waiting on another process's lock: throws ``ReviewStoreError/busy`` instead.
    func withoutWaiting<T>(_ body: () throws -> T) throws -> T
}

extension ReviewQueue: ReviewStore {
    public func enqueue(_ held: HeldReply) throws -> Int64 {
        try enqueue(text: held.text, record: held.record, messageID: held.messageID, decision: held.decision, expiresAt: held.expiresAt,
                    channel: held.channel)
    }
}

/// What the gate did with a reply: what the transport publishes in its place.
public enum Outcome: Sendable, Equatable {
    /// Allowed: publish the reply as written.
    case publish
    /// Publish this text: the reply with the spans of `mask` rules starred out.
    case masked(String)
    /// Blocked (or escalated but not storable): publish this fallback reply instead.
    case fallback(String)
    /// Escalated and stored under `review`: publish the holding reply `reply`.
    case hold(review: Int64, reply: String)
    /// The gate has stopped (its audit log failed): publish nothing.
    case stopped

    /// The audit log's name for it.
    public var action: FilterAction? {
        switch self {
        case .publish: return .published
        case .masked: return .masked
        case .fallback: return .fallback
        case .hold: return .held
        case .stopped: return nil
        }
    }

    /// The text that replaces the reply, or nil when the reply is published as written (or nothing is).
    public var replacement: String? {
        switch self {
        case .publish, .stopped: return nil
        case .masked(let text), .fallback(let text), .hold(_, let text): return text
        }
    }
}

/// One reply through the gate: the decision and what to publish.
public struct GateResult: Sendable {
    public let decision: Decision
    public let outcome: Outcome
    /// Why the outcome differs from the verdict's usual one: `hold-all`, `queue-failed`.
    public let reason: String?
    /// The decision record as one line of JSON (what the queue and the audit log keep).
    public let record: String
    /// False when the reply's audit record could not be written (the gate then stops, or — resuming —
    /// stays stopped): a caller that has not published yet must not.
    public internal(set) var recorded = true
}

/// The reply gate: message in, decision and outcome out — publish as is, publish the masked text or the
/// fallback, or hold for review and publish the holding reply (SPEC §6). Transport-free: `filter` and
/// `wrap` (``StreamFilter``), and `serve` drive it; each decides on its own ``MessageScanner``.
///
/// Fail closed: a reply that cannot be held durably gets the fallback, never itself; once the audit log
/// cannot be written the gate stops (``failure``) and every later outcome is ``Outcome/stopped`` — unless
/// it `resumes`: then each later reply tries its record again, and the first that is written resumes it.
///
/// Thread-safe (`@unchecked Sendable`): deciding runs on the caller's scanner outside any lock; the
/// store, the audit log and ``failure`` are only touched under `lock`.
public final class ReplyGate: @unchecked Sendable {
    public let engine: Engine
    public let publishing: PublishingPolicy
    /// Escalate every reply that is not blocked ("we don't trust this bot yet").
    public let holdAll: Bool
    /// Identifies this gate in the store when it releases approved replies (`pid@host`).
    public let owner: String
    /// The kind of front end this gate serves (nil: the line filters; `http`: the service): a reply is
    /// released only by the kind that held it, so a filter sharing the queue never publishes a reply
    /// an HTTP client is waiting for.
    public let channel: String?
    private let store: ReviewStore
    private let audit: AuditLog?
    /// Called only under `lock`.
    private let diagnose: (String) -> Void
    private let lock = NSLock()
    private var stoppedBecause: String?
    /// Try the audit log again after a failure (the service: nothing it answers is published before its
    /// record is written) instead of stopping for good (the line filters: the reply whose record failed
    /// was already out, and they exit).
    private let resumes: Bool
    /// Approved replies written out whose release could not be marked yet (the queue was busy): marked
    /// first at the next call, so they are not published again.
    private var deliveredUnmarked: [Int64] = []

    /// - Parameter diagnose: reports a problem to the operator (stderr); never part of the output.
    public init(engine: Engine, publishing: PublishingPolicy? = nil, store: ReviewStore, audit: AuditLog?,
                holdAll: Bool = false, owner: String = "\(getpid())@\(ProcessInfo.processInfo.hostName)",
                channel: String? = nil, resumes: Bool = false, diagnose: @escaping (String) -> Void) {
        self.channel = channel
        self.resumes = resumes
        self.engine = engine
        self.publishing = publishing ?? engine.ruleSet.publishing
        self.store = store
        self.audit = audit
        self.holdAll = holdAll
        self.owner = owner
        self.diagnose = diagnose
    }

    /// Why the gate stopped (the audit log could not be written); once set, nothing more is published.
    public var failure: String? { lock.withLock { stoppedBecause } }

    /// Fallback and holding replies that the policy itself would not allow, or that span lines: a gate
    /// must not start with any (it would publish them).
    public static func unsafeReplies(engine: Engine, publishing: PublishingPolicy? = nil) -> [String] {
        let policy = publishing ?? engine.ruleSet.publishing
        let replies = [("fallback_reply", policy.fallbackReply), ("holding_reply", policy.holdingReply)]
            + policy.fallbackReplies.sorted { $0.key < $1.key }.map { ("fallback_replies.\($0.key)", $0.value) }
        return replies.compactMap { name, text in
            // One output line per input line: a reply that spans lines would pair every later reply
            // with the wrong input.
            let breaks: Set<UInt32> = [0x0A, 0x0B, 0x0C, 0x0D, 0x85, 0x2028, 0x2029]
            if let found = text.unicodeScalars.first(where: { breaks.contains($0.value) }) {
                return "\(name) \(text.debugDescription) contains a line break (U+\(String(format: "%04X", found.value))); each reply must be a single line"
            }
            let decision = engine.decide(text)
            guard decision.verdict != .allow else { return nil }
            return "\(name) \"\(text)\" is itself \(decision.verdict.rawValue)ed (\(decision.hits.map(\.rule).joined(separator: ", ")))"
        }
    }

    /// Decides `message` on `scanner`, holds it when escalated, hands the result to `publish`, then
    /// records it in the audit log — in that order, so a reply is in the queue before its holding reply
    /// goes out, and the log says `published` only of what was published. `publish` throwing (the
    /// output is gone) skips the audit record and rethrows.
    /// - Parameters:
    ///   - original: the input as received, stored for review when the message could not be read
    ///     (evaluated only for a reply that is held).
    ///   - record: what to publish if a reviewer approves (a JSON Lines record), if not the text (evaluated
    ///     only for a reply that is held).
    ///   - heldOn: the store channel to hold this reply on, when not the gate's own ``channel`` (a front
    ///     end of the service whose replies no HTTP client releases, such as Dify's moderation extension).
    @discardableResult
    public func handle(_ message: InputMessage, scanner: MessageScanner, original: @autoclosure () -> [UInt8]? = nil,
                       record: @autoclosure () -> [UInt8]? = nil, heldOn: String? = nil,
                       publish: (GateResult) throws -> Void = { _ in }) rethrows -> GateResult {
        var decision = scanner.decide(message)
        var reason: String?
        if holdAll && decision.verdict < .escalate {
            decision.verdict = .escalate
            reason = "hold-all"
        }
        let json = decision.jsonLine()
        var result: GateResult = lock.withLock {
            guard stoppedBecause == nil || resumes else { return GateResult(decision: decision, outcome: .stopped, reason: reason, record: json) }
            switch decision.verdict {
            case .allow:
                return GateResult(decision: decision, outcome: .publish, reason: reason, record: json)
            case .mask:
                return GateResult(decision: decision, outcome: .masked(decision.masked(message.text, with: publishing.maskWith)), reason: reason, record: json)
            case .block:
                return GateResult(decision: decision, outcome: .fallback(fallback(for: decision)), reason: reason, record: json)
            case .escalate:
                let expiry = publishing.reviewExpiryMinutes.map { Date().addingTimeInterval(Double($0) * 60) }
                let held = HeldReply(text: message.error == nil ? message.text : original() ?? message.text, record: record(),
                                     messageID: message.idJSON, decision: json, expiresAt: expiry, channel: heldOn ?? channel)
                do {
                    return GateResult(decision: decision, outcome: .hold(review: try store.enqueue(held), reply: publishing.holdingReply), reason: reason, record: json)
                } catch {
                    // Fail closed: a reply that cannot be held durably is not published; the fallback is.
                    diagnose("could not store an escalated reply in the review queue (\(error)); published the fallback reply instead")
                    return GateResult(decision: decision, outcome: .fallback(fallback(for: decision)), reason: "queue-failed", record: json)
                }
            }
        }
        try publish(result)
        if let action = result.outcome.action {
            var review: Int64?
            if case .hold(let id, _) = result.outcome { review = id }
            result.recorded = lock.withLock { logLocked(record: json, action: action, review: review, reason: result.reason) }
        }
        return result
    }

    /// Records a reply that is never published (a partial line left when a wrapped bot died).
    public func discard(_ message: InputMessage, scanner: MessageScanner) {
        log(record: scanner.decide(message).jsonLine(), action: .discarded, review: nil, reason: nil)
    }

    /// Expires replies past their review time and hands every approved one to `publish`, at least once
    /// across all gates sharing the store: each is claimed, handed over, and only then marked released,
    /// so a process killed while `publish` writes leaves it to be claimed again (and maybe published
    /// twice, never lost). A store locked by another process is skipped until the next call: replies
    /// being decided never wait on it.
    public func releaseApproved(publish: (ReviewItem) -> Void) {
        lock.lock()
        defer { lock.unlock() }
        guard stoppedBecause == nil else { return }
        do {
            try store.withoutWaiting {
                while let id = deliveredUnmarked.first {
                    _ = try store.markReleased(id, by: owner, now: Date())
                    deliveredUnmarked.removeFirst()
                }
                for item in try store.expire(now: Date()) {
                    logLocked(record: item.decision, action: .expired, review: item.id, reason: nil)
                }
                while stoppedBecause == nil, let item = try store.claimNext(by: owner, channel: channel, lease: ReviewQueue.defaultLease, now: Date()) {
                    publish(item)
                    // Written: from here on it must not be published again, even if the audit log fails.
                    deliveredUnmarked.append(item.id)
                    logLocked(record: item.decision, action: .released, review: item.id, reason: nil)
                    _ = try store.markReleased(item.id, by: owner, now: Date())
                    deliveredUnmarked.removeLast()
                }
            }
        } catch ReviewStoreError.busy {
            // Another process is writing; next time.
        } catch {
            diagnose("review queue: \(error)")
        }
    }

    /// The fallback for a blocked decision: the blocking category's own, else the policy's.
    /// The fallback reply for a blocked `decision`: the policy's reply for the category that blocked, else
    /// its general fallback reply.
    public func fallback(for decision: Decision) -> String {
        let blocking = decision.hits.first { $0.action == .block && !$0.reported }?.category
            ?? decision.scores.max { $0.value < $1.value }?.key
        return blocking.flatMap { publishing.fallbackReplies[$0] } ?? publishing.fallbackReply
    }

    private func log(record: String, action: FilterAction, review: Int64?, reason: String?) {
        lock.withLock { _ = logLocked(record: record, action: action, review: review, reason: reason) }
    }

    /// Tries the audit log again when the gate stopped on it and `resumes` (the service calls it from its
    /// health check and timer, so a gate with no traffic comes back too): a line break written (which also
    /// ends a record cut short by the failure) resumes the gate. True when the gate is running.
    @discardableResult
    public func resumeIfStopped() -> Bool {
        lock.withLock {
            guard stoppedBecause != nil else { return true }
            guard resumes, let audit else { return false }
            do { try audit.endLine() } catch { return false }
            stoppedBecause = nil
            diagnose("the audit log \(audit.path) can be written again: resumed")
            return true
        }
    }

    /// Appends an audit record; a failure stops the gate (fail closed: no reply goes unrecorded). False
    /// when the record was not written.
    @discardableResult
    private func logLocked(record: String, action: FilterAction, review: Int64?, reason: String?) -> Bool {
        guard let audit else { return true }
        guard stoppedBecause == nil || resumes else { return false }
        do { try audit.append(record: record, action: action, review: review, reason: reason) } catch {
            stoppedBecause = "cannot write the audit log \(audit.path) (\(RuleFiles.plainReason(error))); stopped so that no reply goes unrecorded"
            return false
        }
        if stoppedBecause != nil {
            stoppedBecause = nil
            diagnose("the audit log \(audit.path) can be written again: resumed")
        }
        return true
    }
}
