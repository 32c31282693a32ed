import Foundation
import ReplyGuard
import ReplyGuardGate

/// Every call the WeChat front end makes into the reply gate, the review queue and the audit log — in
/// this one file, over the serving state's ``GateRuntime`` (its gate, scanners and ``ReviewDesk``).
///
/// A bot reply is decided like `POST /v1/filter` (audited; an escalated reply held in the review queue on
/// the ``channel`` `wechat`, its message id `"wechat:<OpenID>:<message key>"`). Approved replies of that
/// channel are claimed, handed to the customer-service API part by part — how far it got kept in the
/// queue (``recordDelivery(_:by:sentBytes:sending:)``) — then marked released (audited `released`); one
/// the platform refuses for good (45015, outside the 48-hour window), or one a part of which may or may not
/// have been shown, is withdrawn with the reason (audited `withdrawn`), never tried again. Call it off the event loops: the queue and the log block.
struct WeChatGate: Sendable {
    let app: ServerApp

    /// The store channel of replies held for WeChat users.
    static let channel = "wechat"

    /// What the gate made of a bot reply.
    enum Verdict: Sendable, Equatable {
        /// Allowed as the bot wrote it.
        case publish
        /// Publish this text instead: the masked reply, or the fallback of a blocked one.
        case replace(String)
        /// Escalated and held for review: publish the holding reply now.
        case hold(review: Int64, reply: String)
        /// The gate has stopped (its audit log cannot be written): publish nothing.
        case stopped
    }

    static func messageID(user: String, key: String) -> String { "wechat:\(user):\(key)" }

    /// The OpenID in a held reply's message id (nil when it is not one of this channel's).
    static func user(ofMessageID json: String?) -> String? {
        guard let json, let id = (try? JSONSerialization.jsonObject(with: Data(json.utf8), options: [.fragmentsAllowed])) as? String else { return nil }
        let parts = id.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "wechat", !parts[1].isEmpty else { return nil }
        return String(parts[1])
    }

    /// Decides the bot's reply `text` to `user`'s message `key`.
    func decide(_ text: [UInt8], user: String, key: String) -> Verdict {
        let state = app.state
        let id = WeChatGate.messageID(user: user, key: key)
        return state.scanners.with { scanner in
            let message = InputMessage(id: .string(id), text: text, error: nil, idJSON: jsonString(id))
            let result = state.gate.handle(message, scanner: scanner, heldOn: WeChatGate.channel, order: .recordThenPublish)
            app.metrics.record(result.decision)
            guard result.publishable else {
                if case .hold(let review, _) = result.outcome {
                    try? state.desk.withdraw([review], because: "its audit record could not be written; the WeChat user was sent nothing")
                }
                return .stopped
            }
            if let action = ServerApp.actionName(result.outcome) { app.metrics.record(outcome: action) }
            switch result.outcome {
            case .publish: return .publish
            case .masked(let text), .fallback(let text): return .replace(text)
            case .hold(let review, let reply): return .hold(review: review, reply: reply)
            case .stopped: return .stopped
            }
        }
    }

    /// The policy's fallback reply (said when the bot fails, so the user is not left with nothing).
    var fallbackReply: String { app.state.engine.ruleSet.publishing.fallbackReply }

    /// An approved reply held for a WeChat user, claimed by `owner` for the review queue's lease.
    struct Approved: Sendable {
        let review: Int64
        let user: String?
        let text: String
        /// Bytes of `text` that surely went out in an earlier delivery of it (one that stopped or was taken over).
        let sentBytes: Int
        /// An earlier delivery may have been sending the part after `sentBytes` when it stopped.
        let sending: Bool
    }

    /// Claims the oldest approved reply of this channel nobody is delivering (nil: none).
    func claimApproved(by owner: String) throws -> Approved? {
        guard let item = try app.state.desk.claimApproved(channel: WeChatGate.channel, by: owner) else { return nil }
        return Approved(review: item.id, user: WeChatGate.user(ofMessageID: item.messageID), text: String(decoding: item.text, as: UTF8.self),
                        sentBytes: item.sentBytes, sending: item.sending)
    }

    /// The approved reply went out through the customer-service API (all `parts` of it): released, and
    /// audited so with `parts` and `parts_sent` (`resumed`: after how many parts sent by an earlier delivery).
    func delivered(_ review: Int64, by owner: String, parts: Int, resumed: Int) throws {
        var reason = "wechat customer-service message"
        if parts > 1 { reason += " in \(parts) parts" }
        if resumed > 0 { reason += " (resumed after part \(resumed), which an earlier delivery sent)" }
        try app.state.desk.delivered(review, by: owner, reason: reason, fields: [.int("parts", parts), .int("parts_sent", parts)])
    }

    /// How far the delivery of a claimed reply got (kept in the queue; see ``ReviewDesk/recordDelivery(_:by:sentBytes:sending:)``).
    func recordDelivery(_ review: Int64, by owner: String, sentBytes: Int, sending: Bool) throws -> Bool {
        try app.state.desk.recordDelivery(review, by: owner, sentBytes: sentBytes, sending: sending)
    }

    /// The approved reply cannot be delivered (45015, no user to send it to, a part perhaps shown): withdrawn
    /// with `reason` and audited (with `parts` and `parts_sent` when known), never tried again.
    func undeliverable(_ review: Int64, because reason: String, parts: Int? = nil, sent: Int? = nil) throws {
        var fields: [AuditField] = []
        if let parts { fields.append(.int("parts", parts)) }
        if let sent { fields.append(.int("parts_sent", sent)) }
        try app.state.desk.withdraw([review], because: reason, fields: fields)
    }

    /// Records how a reply went out when it was not a passive reply (on standard error): `sent` of its
    /// `parts` went out, then `result`.
    func recordLate(user: String, key: String, result: WeChatSendResult, sent: Int, parts: Int) {
        let line: String
        switch result {
        case .sent: line = "sent through the customer-service API" + (parts > 1 ? " in \(parts) parts" : "")
        case .outOfWindow(let why):
            line = "NOT delivered: \(WeChatGate.progress(sent, of: parts)); the customer-service API refused the rest for good (\(why)); not tried again"
        case .failed(let why):
            line = "NOT delivered: \(WeChatGate.progress(sent, of: parts)); part \(sent + 1) failed (\(why)) and was not shown; the rest is not sent"
        case .uncertain(let why):
            line = "delivery stopped: \(WeChatGate.progress(sent, of: parts)); part \(sent + 1) may or may not have been shown (\(why)); "
                + "it is not sent again and the rest is not sent, so nothing appears twice"
        }
        FileHandle.standardError.write(Data("replyguard serve: wechat \(WeChatGate.messageID(user: user, key: key)): \(line)\n".utf8))
    }

    /// "parts 1–2 of 3 went out", "no part of 3 went out", "nothing went out" (one part).
    static func progress(_ sent: Int, of parts: Int) -> String {
        if sent == 0 { return parts > 1 ? "none of its \(parts) parts went out" : "nothing went out" }
        return sent == 1 ? "part 1 of \(parts) went out" : "parts 1–\(sent) of \(parts) went out"
    }
}
