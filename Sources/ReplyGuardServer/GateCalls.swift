import Foundation
import ReplyGuard
import ReplyGuardReview

/// What `/v1/filter` tells a client to publish.
enum PublishOutcome {
    case publish(String)
    case masked(String)
    case fallback(String)
    case hold(review: Int64, reply: String)

    var name: String {
        switch self {
        case .publish: return "publish"
        case .masked: return "masked"
        case .fallback: return "fallback"
        case .hold: return "hold"
        }
    }

    var reply: String {
        switch self {
        case .publish(let text), .masked(let text), .fallback(let text), .hold(_, let text): return text
        }
    }
}

/// Every call the server makes into the reply gate and the review queue, in one place.
///
/// Interim: until the transport-free `ReplyGate` lands, this decides verdict → outcome the way
/// `StreamFilter.process` does. The queue's SQLite connection is not thread-safe, so every queue call
/// is made under `lock`.
final class GateCalls: @unchecked Sendable { // `queue` is only touched under `lock`; the rest is immutable
    let engine: Engine
    let holdAll: Bool
    private let queue: ReviewQueue
    private let lock = NSLock()

    init(engine: Engine, queuePath: String, holdAll: Bool) throws {
        self.engine = engine
        self.holdAll = holdAll
        queue = try ReviewQueue(path: queuePath)
        if queue.isReadOnly { throw ServeError("the review queue \(queuePath) is read-only for this user: escalated replies could not be held") }
    }

    /// Fallback and holding replies the rules would not allow: the server must not start (or reload) with any.
    static func unsafeReplies(engine: Engine) -> [String] {
        StreamFilter.unsafeReplies(engine: engine)
    }

    /// Decides `message` and says what to publish. Fails closed: a reply that cannot be held is
    /// answered with the fallback reply, never with its own text.
    func handle(_ message: InputMessage, scanner: MessageScanner) -> (Decision, PublishOutcome) {
        var decision = scanner.decide(message)
        if holdAll && decision.verdict < .escalate { decision.verdict = .escalate }
        let policy = engine.ruleSet.policy
        switch decision.verdict {
        case .allow:
            return (decision, .publish(String(decoding: message.text, as: UTF8.self)))
        case .mask:
            return (decision, .masked(decision.masked(message.text, with: policy.maskWith)))
        case .block:
            return (decision, .fallback(fallback(for: decision)))
        case .escalate:
            let expiry = policy.reviewExpiryMinutes.map { Date().addingTimeInterval(Double($0) * 60) }
            do {
                let review = try locked {
                    try queue.enqueue(text: message.text, record: nil, messageID: message.idJSON, decision: decision.jsonLine(), expiresAt: expiry)
                }
                return (decision, .hold(review: review, reply: policy.holdingReply))
            } catch {
                return (decision, .fallback(fallback(for: decision)))
            }
        }
    }

    func fallback(for decision: Decision) -> String {
        let policy = engine.ruleSet.policy
        let blocking = decision.hits.first { $0.action == .block && !$0.reported }?.category
            ?? decision.scores.max { $0.value < $1.value }?.key
        return blocking.flatMap { policy.fallbackReplies[$0] } ?? policy.fallbackReply
    }

    func item(_ id: Int64) throws -> ReviewItem? { try locked { try queue.item(id) } }

    func list(_ status: ReviewStatus?) throws -> [ReviewItem] { try locked { try queue.list(status: status) } }

    /// Approves or rejects a pending reply in the reviewer's name; false when it is no longer pending.
    func decide(_ id: Int64, approve: Bool, note: String?, by reviewer: String) throws -> Bool {
        try locked { try queue.decide(id, approve: approve, note: note) }
    }

    /// Marks pending replies past their expiry as expired.
    func expire() throws { _ = try locked { try queue.expire() } }

    func depth() throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for item in try list(nil) { counts[item.status.rawValue, default: 0] += 1 }
        return counts
    }

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
