import Foundation
import ReplyGuard
import ReplyGuardGate

/// `POST /v1/dify/moderation`: Dify's API-based moderation extension, a front end on the service's gate.
///
/// Dify sends `{"point": …, "params": {…}}` with the service's bearer token as its API key:
/// - `ping` → `{"result": "pong"}` (Dify pings when the extension is saved);
/// - `app.moderation.output` (`app_id`, `text`): the bot's answer, decided through the gate like
///   `/v1/filter` — audited, an escalated answer held in the review queue on the `dify` channel with
///   message id `"dify:<app_id>"`; block and escalate answer `direct_output` with the fallback or holding
///   reply, mask answers `overridden` with the masked text;
/// - `app.moderation.input` (`app_id`, `inputs`, `query`): the user's message and the string values of
///   its variables, decided like `/v1/check` (not audited, nothing held: a user's input is no reply to
///   release); block or escalate answers `direct_output` with the fallback reply, mask `overridden`.
///
/// A streamed answer arrives as several calls for one message. Dify sends the whole answer so far each
/// time (its docs speak of 100-character segments); both are decided safely with ``DifyStreams``: an
/// answer that extends one already flagged gets the same answer (no second review row), and a text that
/// does not extend the app's previous text is also decided joined to its end when that was a full
/// segment (``DifyStreams/segmentCharacters``), so a span split across two segments is found. Anything that goes wrong inside answers flagged: Dify lets output through when its
/// moderation call fails, so an error must never be an HTTP error here, only a malformed request is.
extension ServerApp {
    /// The store channel of answers held for Dify (no HTTP client releases them: Dify cannot take an
    /// answer back; a reviewer reads an approved one on the page or with `review list`).
    static let difyChannel = "dify"

    func difyModeration(_ body: [UInt8]) -> HTTPResponse {
        let call: DifyCall
        do { call = try DifyCall(body) } catch { return ServerApp.refused(error) }
        switch call {
        case .ping:
            return .json(200, #"{"result":"pong"}"#)
        case .input(let app, let inputs, let query):
            return difyInput(app: app, inputs: inputs, query: query)
        case .output(let app, let text):
            return .json(200, difyOutput(app: app, text: Array(text.utf8)).json)
        case .ambiguous(let why):
            // Which value Dify meant is unknown: flagged, as an internal failure is (never an HTTP error).
            FileHandle.standardError.write(Data("replyguard serve: dify: \(why); answered flagged with the fallback reply\n".utf8))
            let fallback = jsonString(state.engine.ruleSet.publishing.fallbackReply)
            return .json(200, "{\"flagged\":true,\"action\":\"direct_output\",\"preset_response\":\(fallback),\"text\":\"\",\"inputs\":{},\"query\":\"\"}")
        }
    }

    /// Decides the user's query and every string inside `inputs` (values at any depth of lists and
    /// objects, and the keys of nested objects); the worst verdict answers. A masked key cannot be
    /// rewritten in place (the app reads its variables by their keys): the fallback reply answers.
    private func difyInput(app: String, inputs: [String: Any], query: String?) -> HTTPResponse {
        let state = self.state
        var worst: Decision?
        var masked = inputs
        var maskedQuery = query
        var maskedKey = false
        let mask = state.engine.ruleSet.publishing.maskWith
        state.scanners.with { scanner in
            func decide(_ text: String, _ name: String) -> String {
                let bytes = Array(text.utf8)
                let decision = scanner.decide(InputMessage(id: .string("dify:\(app):\(name)"), text: bytes, error: nil))
                metrics.record(decision)
                if worst.map({ decision.verdict > $0.verdict }) ?? true { worst = decision }
                return decision.verdict == .mask ? decision.masked(bytes, with: mask) : text
            }
            /// `value` with every string inside it decided (masked in place).
            func walk(_ value: Any, _ name: String) -> Any {
                if let text = value as? String { return decide(text, name) }
                if let list = value as? [Any] { return list.enumerated().map { walk($0.element, "\(name)[\($0.offset)]") } }
                if let object = value as? [String: Any] {
                    var out: [String: Any] = [:]
                    for (key, inner) in object.sorted(by: { $0.key < $1.key }) {
                        if decide(key, "\(name){key}") != key { maskedKey = true }
                        out[key] = walk(inner, "\(name).\(key)")
                    }
                    return out
                }
                return value
            }
            if let query { maskedQuery = decide(query, "query") }
            for (key, value) in inputs.sorted(by: { $0.key < $1.key }) { masked[key] = walk(value, "inputs." + key) }
        }
        if maskedKey, worst?.verdict == .mask {
            let fallback = state.engine.ruleSet.publishing.fallbackReply
            return .json(200, "{\"flagged\":true,\"action\":\"direct_output\",\"preset_response\":\(jsonString(fallback)),\"inputs\":\(ServerApp.jsonObject(inputs)),\"query\":\(jsonString(query ?? ""))}")
        }
        let inputsJSON = ServerApp.jsonObject(masked)
        let originalJSON = ServerApp.jsonObject(inputs)
        func answer(_ flagged: Bool, _ action: String, _ preset: String, _ inputs: String, _ query: String?) -> HTTPResponse {
            .json(200, "{\"flagged\":\(flagged),\"action\":\"\(action)\",\"preset_response\":\(jsonString(preset)),\"inputs\":\(inputs),\"query\":\(jsonString(query ?? ""))}")
        }
        switch worst?.verdict ?? .allow {
        case .allow:
            return answer(false, "direct_output", "", originalJSON, query)
        case .mask:
            return answer(true, "overridden", "", inputsJSON, maskedQuery)
        case .block, .escalate:
            return answer(true, "direct_output", state.gate.fallback(for: worst!), originalJSON, query)
        }
    }

    /// Decides one output call (see the type's notes on streamed answers).
    private func difyOutput(app: String, text: [UInt8]) -> DifyAnswer {
        let state = self.state
        let recalled = difyStreams.recall(app: app, text: text)
        if let prefix = recalled.prefix, prefix.answer.flagged, prefix.answer.action == "direct_output" {
            // The same message grew (or came again) after it was flagged: the same answer, nothing new held.
            return prefix.answer
        }
        let fallback = state.engine.ruleSet.publishing.fallbackReply
        return state.scanners.with { scanner in
            var decided = text
            var joined = 0
            if let latest = recalled.latest, !text.starts(with: latest.text),
               String(decoding: latest.text, as: UTF8.self).unicodeScalars.count >= DifyStreams.segmentCharacters {
                // Perhaps the next segment of the app's previous text (a full segment: a shorter text ended
                // its answer): a span across the join counts.
                let tail = DifyStreams.tail(of: latest.text)
                let together = tail + text
                let own = scanner.decide(InputMessage(id: .string("dify"), text: text, error: nil)).verdict
                let across = scanner.decide(InputMessage(id: .string("dify"), text: together, error: nil)).hits
                    .filter { $0.byteStart < tail.count && $0.byteEnd > tail.count }.compactMap(\.action).max()
                if let across, across > own {
                    decided = together
                    joined = tail.count
                }
            }
            let message = InputMessage(id: .string("dify:\(app)"), text: decided, error: nil, idJSON: jsonString("dify:\(app)"))
            // Recorded (and held) before Dify is answered: a reply whose record fails is answered flagged.
            var answered: DifyAnswer?
            let result = state.gate.handle(message, scanner: scanner, heldOn: ServerApp.difyChannel, order: .recordThenPublish) { result in
                switch result.outcome {
                case .publish:
                    answered = DifyAnswer(flagged: false, action: "direct_output", preset: "", text: nil)
                case .masked(let masked):
                    answered = DifyAnswer(flagged: true, action: "overridden", preset: "",
                                          text: joined == 0 ? masked : DifyStreams.masked(text, from: result.decision, shiftedBy: joined, with: state.engine.ruleSet.publishing.maskWith))
                case .fallback(let reply), .hold(_, let reply):
                    answered = DifyAnswer(flagged: true, action: "direct_output", preset: reply, text: nil)
                case .stopped:
                    answered = nil
                }
            }
            metrics.record(result.decision)
            guard let answer = answered else {
                if case .hold(let review, _) = result.outcome {
                    try? state.desk.withdraw([review], because: "its audit record could not be written; Dify was told to show the fallback reply")
                }
                return DifyAnswer(flagged: true, action: "direct_output", preset: fallback, text: nil)
            }
            difyStreams.remember(app: app, text: text, answer: answer)
            return answer
        }
    }

    static func jsonObject(_ object: [String: Any]) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}

/// One call from Dify, read from its JSON body; anything else is a 400.
enum DifyCall {
    case ping
    case input(app: String, inputs: [String: Any], query: String?)
    case output(app: String, text: String)
    /// A key twice in one object of the body (anywhere): which value was meant is unknown (answered flagged).
    case ambiguous(String)

    init(_ body: [UInt8]) throws(ClientError) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else {
            throw ClientError(400, #"expected a JSON object {"point": "…", "params": {…}} (Dify's API-based extension)"#)
        }
        switch JSONFieldLocator.repeatedKey(in: body) {
        case .unique: break
        case .repeated(let key):
            self = .ambiguous("the call has the key \(jsonString(key)) more than once in one object")
            return
        case .malformed:
            self = .ambiguous("the call is JSON that replyguard cannot check for repeated keys")
            return
        }
        guard let point = object["point"] as? String else { throw ClientError(400, "'point' must be a string") }
        if point == "ping" {
            self = .ping
            return
        }
        guard let params = object["params"] as? [String: Any] else { throw ClientError(400, "'params' must be an object") }
        guard let app = params["app_id"] as? String else { throw ClientError(400, "'params.app_id' must be a string") }
        switch point {
        case "app.moderation.input":
            var inputs: [String: Any] = [:]
            if let given = params["inputs"], !(given is NSNull) {
                guard let dictionary = given as? [String: Any] else { throw ClientError(400, "'params.inputs' must be an object") }
                inputs = dictionary
            }
            var query: String?
            if let given = params["query"], !(given is NSNull) {
                guard let text = given as? String else { throw ClientError(400, "'params.query' must be a string or null") }
                query = text
            }
            self = .input(app: app, inputs: inputs, query: query)
        case "app.moderation.output":
            guard let text = params["text"] as? String else { throw ClientError(400, "'params.text' must be a string") }
            self = .output(app: app, text: text)
        default:
            throw ClientError(400, "unsupported point \(jsonString(point)): this endpoint answers ping, app.moderation.input and app.moderation.output")
        }
    }
}

/// The answer to an output call, as Dify reads it.
struct DifyAnswer: Sendable {
    var flagged: Bool
    var action: String
    var preset: String
    var text: String?

    var json: String {
        "{\"flagged\":\(flagged),\"action\":\"\(action)\",\"preset_response\":\(jsonString(preset)),\"text\":\(jsonString(text ?? ""))}"
    }
}

/// What the Dify endpoint recently answered per app, so the calls for one streamed answer are decided
/// consistently. Bounded: at most ``maxEntries`` texts and ``maxBytes`` bytes, each kept ``lifetime``
/// seconds; a message whose earlier calls were forgotten is decided on its own text alone (still
/// whole, when Dify sends the whole answer so far).
final class DifyStreams: @unchecked Sendable { // `entries` and `bytes` are only touched under `lock`
    struct Entry {
        let app: String
        let text: [UInt8]
        let answer: DifyAnswer
        let at: Date
    }

    static let maxEntries = 1024
    static let maxBytes = 16 << 20
    static let lifetime: TimeInterval = 600
    /// Dify's streamed segments are this long at least (its docs: 100 characters; its code: 300 by
    /// default, `MODERATION_BUFFER_SIZE`); only the last, shorter, ends an answer. A text that extends
    /// no remembered one is joined to the app's previous text only when that was this long.
    static let segmentCharacters = 100
    /// How much of the previous text a segment is joined to (whole UTF-8 characters, at most this many bytes).
    static let joinBytes = 1024

    private var entries: [Entry] = [] // oldest first
    private var bytes = 0
    private let lock = NSLock()

    /// The app's longest remembered (non-empty) text that `text` starts with (or equals), and its latest text.
    func recall(app: String, text: [UInt8], now: Date = Date()) -> (prefix: Entry?, latest: Entry?) {
        lock.lock()
        defer { lock.unlock() }
        while let first = entries.first, now.timeIntervalSince(first.at) > DifyStreams.lifetime { drop() }
        var prefix: Entry?
        var latest: Entry?
        for entry in entries where entry.app == app {
            latest = entry
            if !entry.text.isEmpty, entry.text.count <= text.count, entry.text.count > (prefix?.text.count ?? 0), text.starts(with: entry.text) { prefix = entry }
        }
        return (prefix, latest)
    }

    func remember(app: String, text: [UInt8], answer: DifyAnswer, now: Date = Date()) {
        lock.lock()
        defer { lock.unlock() }
        entries.append(Entry(app: app, text: text, answer: answer, at: now))
        bytes += text.count
        while entries.count > DifyStreams.maxEntries || (bytes > DifyStreams.maxBytes && entries.count > 1) { drop() }
    }

    private func drop() {
        bytes -= entries.removeFirst().text.count
    }

    /// The last whole UTF-8 characters of `text`, at most ``joinBytes`` bytes.
    static func tail(of text: [UInt8]) -> [UInt8] {
        var start = max(0, text.count - joinBytes)
        while start < text.count, text[start] & 0xC0 == 0x80 { start += 1 }
        return Array(text[start...])
    }

    /// `text` with the masked spans of `decision` (made on the previous tail of `shift` bytes joined to it) hidden.
    static func masked(_ text: [UInt8], from decision: Decision, shiftedBy shift: Int, with replacement: String) -> String {
        var result = String.UnicodeScalarView()
        var offset = 0
        for scalar in String(decoding: text, as: UTF8.self).unicodeScalars {
            let at = offset + shift
            let hidden = decision.hits.contains { $0.action == .mask && $0.byteStart <= at && at < $0.byteEnd }
            if hidden { result.append(contentsOf: replacement.unicodeScalars) } else { result.append(scalar) }
            offset += String(scalar).utf8.count
        }
        return String(result)
    }
}
