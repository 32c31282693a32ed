import Foundation
import ReplyGuard
import ReplyGuardGate

/// Every call the chat proxy makes into the gate, over the serving state's ``GateRuntime``: one
/// completion is one message to the gate (one audit record with the proxy's ``AuditField``s, one review
/// item when escalated, held on the channel ``channel``).
///
/// The text decided is every part of the completion — each choice's content, then each tool call's
/// name, raw arguments and decoded string values, then any other text field — joined with blank lines
/// (a blank run is a filler, so a word split across two parts is found too: more is held, never less).
/// Blocking (the queue, the audit log): call it off the event loops.
struct ProxyGate: Sendable {
    let app: ServerApp

    /// The store channel of replies the proxy held (nothing can take an approved one back to the client).
    static let channel = "openai"
    static let separator = "\n\n"

    /// What the gate made of a completion.
    enum Verdict: Sendable {
        case publish
        /// Each part as published (same order as given).
        case masked([String])
        /// Block (the fallback reply) or escalate (the holding reply; `review` in the queue).
        case replaced(reply: String, review: Int64?)
        /// The gate cannot record (its audit log failed): publish the fallback, nothing of the reply.
        case stopped(reply: String)
    }

    /// Decides the completion's `parts` and writes its one audit record with `fields`.
    func decide(id: String, parts: [String], fields: [AuditField]) -> (Verdict, Decision?) {
        let state = app.state
        let text = Array(parts.joined(separator: ProxyGate.separator).utf8)
        let fallback = state.engine.ruleSet.publishing.fallbackReply
        return state.scanners.with { scanner in
            let message = InputMessage(id: .string(id), text: text, error: nil, idJSON: jsonString(id))
            let result = state.gate.handle(message, scanner: scanner, heldOn: ProxyGate.channel, order: .recordThenPublish, fields: fields)
            app.metrics.record(result.decision)
            guard result.publishable else {
                if case .hold(let review, _) = result.outcome {
                    try? state.desk.withdraw([review], because: "its audit record could not be written; the client was sent the fallback reply")
                }
                return (.stopped(reply: fallback), result.decision)
            }
            if let action = ServerApp.actionName(result.outcome) { app.metrics.record(outcome: action) }
            switch result.outcome {
            case .publish: return (.publish, result.decision)
            case .masked:
                return (.masked(ProxyGate.masked(result.decision, parts: parts, with: state.engine.ruleSet.publishing.maskWith)), result.decision)
            case .fallback(let reply): return (.replaced(reply: reply, review: nil), result.decision)
            case .hold(let review, let reply): return (.replaced(reply: reply, review: review), result.decision)
            case .stopped: return (.stopped(reply: fallback), result.decision)
            }
        }
    }

    /// Each part with the characters inside the decision's mask spans (byte offsets into the joined
    /// text) replaced by `mask`.
    static func masked(_ decision: Decision, parts: [String], with mask: String) -> [String] {
        let total = parts.reduce(0) { $0 + $1.utf8.count + separator.utf8.count }
        var hidden = [Bool](repeating: false, count: total)
        for hit in decision.hits where hit.action == .mask {
            for i in max(0, hit.byteStart)..<min(total, max(hit.byteStart, hit.byteEnd)) { hidden[i] = true }
        }
        var out: [String] = []
        var offset = 0
        for part in parts {
            var masked = ""
            var at = offset
            for scalar in part.unicodeScalars {
                if hidden[at] { masked += mask } else { masked.unicodeScalars.append(scalar) }
                at += String(scalar).utf8.count
            }
            out.append(masked)
            offset += part.utf8.count + separator.utf8.count
        }
        return out
    }

    /// Records a completion that never ended normally (upstream error, dropped, malformed, cancelled):
    /// nothing more of it is published.
    func discard(id: String, parts: [String], reason: String) {
        let state = app.state
        let text = Array(parts.joined(separator: ProxyGate.separator).utf8)
        state.scanners.with { scanner in
            state.gate.discard(InputMessage(id: .string("\(id) (\(reason))"), text: text, error: nil), scanner: scanner)
        }
    }
}
