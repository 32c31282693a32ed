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
    /// Why nothing may be published (the gate has stopped, or this reply's record failed); nil otherwise.
    public internal(set) var failure: String?

    /// True when the outcome may go out: the gate had not stopped and the reply's record was written.
    public var publishable: Bool { outcome != .stopped && recorded }
}

/// When the gate hands a result to its front end's `publish`, relative to writing its audit record.
public enum PublishOrder: Sendable {
    /// A pipe (`filter`, `wrap`): publish, then record — the log says `published` only of what was
    /// written out, and a reply whose record then fails was already out (the gate stops).
    case publishThenRecord
    /// A request/response front end (HTTP, proxies): record, then publish — `publish` is called only
    /// when the record was written and the gate runs (``GateResult/publishable``), so nothing answered
    /// goes unrecorded.
    case recordThenPublish
}

/// The reply gate: message in, decision and outcome out — publish as is, publish the masked text or the
/// fallback, or hold for review and publish the holding reply (SPEC §6). Transport-free: `filter` and
/// `wrap` (``LineTransport``), `serve` and its front ends drive it; each decides on its own
/// ``MessageScanner``. A process gets its gate from a ``GateRuntime``.
///
/// Fail closed: a reply that cannot be held durably gets the fallback, never itself; once the audit log
/// cannot be written the gate stops (``failure``) and every later outcome is ``Outcome/stopped`` — unless
/// it `resumes`: then each later reply tries its record again, and the first that is written resumes it.
///
/// Thread-safe (`@unchecked Sendable`): any thread may call any method. Deciding runs on the caller's
/// scanner outside any lock, and so does picking the outcome; the store and the audit log are touched
/// only under the ledger's lock (shared with the ``ReviewDesk``), and ``failure`` under `stateLock`
/// (taken inside the ledger's lock, never around it), so reading ``failure`` never waits on SQLite.
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
    let ledger: GateLedger
    /// Called only under the ledger's lock.
    private let diagnose: (String) -> Void
    private let stateLock = NSLock()
    /// Only touched under `stateLock`.
    private var stoppedBecause: String?
    /// Try the audit log again after a failure (the service: nothing it answers is published before its
    /// record is written) instead of stopping for good (the line filters: the reply whose record failed
    /// was already out, and they exit).
    private let resumes: Bool
    /// Approved replies written out whose release could not be marked yet (the queue was busy): marked
    /// first at the next call, so they are not published again. Only touched under the ledger's lock.
    private var deliveredUnmarked: [Int64] = []

    /// A gate on its own store and audit log (tests, embedders); a process's front ends share one
    /// through ``GateRuntime``.
    /// - Parameter diagnose: reports a problem to the operator (stderr); never part of the output.
    public convenience init(engine: Engine, publishing: PublishingPolicy? = nil, store: ReviewStore, audit: AuditLog?,
                            holdAll: Bool = false, owner: String = "\(getpid())@\(ProcessInfo.processInfo.hostName)",
                            channel: String? = nil, resumes: Bool = false, diagnose: @escaping (String) -> Void) {
        self.init(engine: engine, publishing: publishing, ledger: GateLedger(store: store, audit: audit), holdAll: holdAll, owner: owner,
                  channel: channel, resumes: resumes, diagnose: diagnose)
    }

    init(engine: Engine, publishing: PublishingPolicy? = nil, ledger: GateLedger, holdAll: Bool, owner: String,
         channel: String?, resumes: Bool, diagnose: @escaping (String) -> Void) {
        self.channel = channel
        self.resumes = resumes
        self.engine = engine
        self.publishing = publishing ?? engine.ruleSet.publishing
        self.ledger = ledger
        self.holdAll = holdAll
        self.owner = owner
        self.diagnose = diagnose
    }

    /// Why the gate stopped (the audit log could not be written); once set, nothing more is published.
    public var failure: String? { stateLock.withLock { stoppedBecause } }

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

    /// Decides `message` on `scanner`, holds it when escalated, then publishes and records it in the
    /// order `order` says (see ``PublishOrder``) — a reply is in the queue before its holding reply goes
    /// out either way. `publish` throwing (the output is gone) skips what had not happened yet and
    /// rethrows. Only `enqueue` and the audit append run under the ledger's lock.
    /// - Parameters:
    ///   - original: the input as received, stored for review when the message could not be read
    ///     (evaluated only for a reply that is held).
    ///   - record: what to publish if a reviewer approves (a JSON Lines record), if not the text (evaluated
    ///     only for a reply that is held).
    ///   - heldOn: the store channel to hold this reply on, when not the gate's own ``channel`` (a front
    ///     end of the service whose replies no HTTP client releases, such as Dify's moderation extension).
    ///   - order: pipes publish first (the default); request/response front ends record first.
    ///   - fields: the front end's own fields for this reply's audit record (``AuditField``).
    ///   - publish: with ``PublishOrder/publishThenRecord`` called for every result (``Outcome/stopped``
    ///     included: publish nothing); with ``PublishOrder/recordThenPublish`` only for a publishable one.
    @discardableResult
    public func handle(_ message: InputMessage, scanner: MessageScanner, original: @autoclosure () -> [UInt8]? = nil,
                       record: @autoclosure () -> [UInt8]? = nil, heldOn: String? = nil, order: PublishOrder = .publishThenRecord,
                       fields: [AuditField] = [], publish: (GateResult) throws -> Void) rethrows -> GateResult {
        var decision = scanner.decide(message)
        var reason: String?
        if holdAll && decision.verdict < .escalate {
            decision.verdict = .escalate
            reason = "hold-all"
        }
        let json = decision.jsonLine()
        var result: GateResult
        if !resumes, let stopped = failure {
            result = GateResult(decision: decision, outcome: .stopped, reason: reason, record: json, failure: stopped)
        } else {
            switch decision.verdict {
            case .allow:
                result = GateResult(decision: decision, outcome: .publish, reason: reason, record: json)
            case .mask:
                result = GateResult(decision: decision, outcome: .masked(decision.masked(message.text, with: publishing.maskWith)), reason: reason, record: json)
            case .block:
                result = GateResult(decision: decision, outcome: .fallback(fallback(for: decision)), reason: reason, record: json)
            case .escalate:
                let expiry = publishing.reviewExpiryMinutes.map { Date().addingTimeInterval(Double($0) * 60) }
                let held = HeldReply(text: message.error == nil ? message.text : original() ?? message.text, record: record(),
                                     messageID: message.idJSON, decision: json, expiresAt: expiry, channel: heldOn ?? channel)
                let stored: Int64? = ledger.locked {
                    do { return try ledger.store.enqueue(held) } catch {
                        // Fail closed: a reply that cannot be held durably is not published; the fallback is.
                        diagnose("could not store an escalated reply in the review queue (\(error)); published the fallback reply instead")
                        return nil
                    }
                }
                if let stored {
                    result = GateResult(decision: decision, outcome: .hold(review: stored, reply: publishing.holdingReply), reason: reason, record: json)
                } else {
                    result = GateResult(decision: decision, outcome: .fallback(fallback(for: decision)), reason: "queue-failed", record: json)
                }
            }
        }
        switch order {
        case .publishThenRecord:
            try publish(result)
            recordResult(&result, fields: fields)
        case .recordThenPublish:
            recordResult(&result, fields: fields)
            if result.publishable { try publish(result) }
        }
        return result
    }

    /// ``handle(_:scanner:original:record:heldOn:order:fields:publish:)`` for a front end that reads the
    /// result instead of being handed it (what it publishes, it takes from the result — only when
    /// ``GateResult/publishable``).
    @discardableResult
    public func handle(_ message: InputMessage, scanner: MessageScanner, original: @autoclosure () -> [UInt8]? = nil,
                       record: @autoclosure () -> [UInt8]? = nil, heldOn: String? = nil, order: PublishOrder = .publishThenRecord,
                       fields: [AuditField] = []) -> GateResult {
        handle(message, scanner: scanner, original: original(), record: record(), heldOn: heldOn, order: order, fields: fields, publish: { _ in })
    }

    /// Writes the audit record of a decided reply (nothing for ``Outcome/stopped``), setting `recorded`
    /// and `failure`.
    private func recordResult(_ result: inout GateResult, fields: [AuditField]) {
        guard let action = result.outcome.action else {
            result.recorded = false
            if result.failure == nil { result.failure = failure ?? "the gate has stopped" }
            return
        }
        var review: Int64?
        if case .hold(let id, _) = result.outcome { review = id }
        let (recorded, why) = ledger.locked {
            let done = logLocked(record: result.record, action: action, review: review, reason: result.reason, fields: fields)
            return (done, done ? nil : failure)
        }
        result.recorded = recorded
        result.failure = recorded ? nil : why ?? "the audit log cannot be written"
    }

    /// Records a reply that is never published (a partial line left when a wrapped bot died).
    public func discard(_ message: InputMessage, scanner: MessageScanner) {
        let record = scanner.decide(message).jsonLine()
        ledger.locked { _ = logLocked(record: record, action: .discarded, review: nil, reason: nil) }
    }

    /// Expires replies past their review time and hands every approved one of this gate's ``channel`` to
    /// `publish`, at least once across all gates sharing the store: each is claimed, handed over, and only
    /// then marked released, so a process killed while `publish` writes leaves it to be claimed again
    /// (and maybe published twice, never lost). A store locked by another process is skipped until the
    /// next call: replies being decided never wait on it. `publish` runs under the ledger's lock.
    public func releaseApproved(publish: (ReviewItem) -> Void) {
        ledger.locked {
            guard failure == nil else { return }
            let store = ledger.store
            do {
                try store.withoutWaiting {
                    while let id = deliveredUnmarked.first {
                        _ = try store.markReleased(id, by: owner, now: Date())
                        deliveredUnmarked.removeFirst()
                    }
                    for item in try store.expire(now: Date()) {
                        logLocked(record: item.decision, action: .expired, review: item.id, reason: nil)
                    }
                    while failure == nil, let item = try store.claimNext(by: owner, channel: channel, lease: ReviewQueue.defaultLease, now: Date()) {
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
    }

    /// The fallback reply for a blocked `decision`: the policy's reply for the category that blocked, else
    /// its general fallback reply.
    public func fallback(for decision: Decision) -> String {
        let blocking = decision.hits.first { $0.action == .block && !$0.reported }?.category
            ?? decision.scores.max { $0.value < $1.value }?.key
        return blocking.flatMap { publishing.fallbackReplies[$0] } ?? publishing.fallbackReply
    }

    /// The category a held (or blocked) `decision` is about: its hit with the highest action (a score-only
    /// hit after those; the first of equals). What a reviewer's rejection labels (`review export`).
    public static func heldCategory(of decision: Decision) -> String? {
        func rank(_ hit: Hit) -> Int { hit.action?.rank ?? -1 }
        let best = decision.hits.enumerated().max { a, b in rank(a.element) != rank(b.element) ? rank(a.element) < rank(b.element) : a.offset > b.offset }
        return best?.element.category
    }

    /// Tries the audit log again when the gate stopped on it and `resumes` (the service calls it from its
    /// health check and timer, so a gate with no traffic comes back too): a line break written (which also
    /// ends a record cut short by the failure) resumes the gate. True when the gate is running.
    @discardableResult
    public func resumeIfStopped() -> Bool {
        guard failure != nil else { return true }
        guard resumes, let audit = ledger.audit else { return false }
        return ledger.locked {
            guard failure != nil else { return true }
            do { try audit.endLine() } catch { return false }
            stateLock.withLock { stoppedBecause = nil }
            diagnose("the audit log \(audit.path) can be written again: resumed")
            return true
        }
    }

    /// Appends an audit record; a failure stops the gate (fail closed: no reply goes unrecorded). False
    /// when the record was not written. Call under the ledger's lock.
    @discardableResult
    private func logLocked(record: String, action: FilterAction, review: Int64?, reason: String?, fields: [AuditField] = []) -> Bool {
        guard let audit = ledger.audit else { return true }
        let stopped = failure
        guard stopped == nil || resumes else { return false }
        do { try audit.append(record: record, action: action, review: review, reason: reason, fields: fields) } catch {
            stateLock.withLock {
                stoppedBecause = "cannot write the audit log \(audit.path) (\(RuleFiles.plainReason(error))); stopped so that no reply goes unrecorded"
            }
            return false
        }
        if stopped != nil {
            stateLock.withLock { stoppedBecause = nil }
            diagnose("the audit log \(audit.path) can be written again: resumed")
        }
        return true
    }
}
