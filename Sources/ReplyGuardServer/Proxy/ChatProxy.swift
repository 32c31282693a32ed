import Foundation
import NIOConcurrencyHelpers
import NIOCore
import ReplyGuard
import ReplyGuardGate

/// `serve --upstream URL`: an OpenAI-compatible chat completions upstream (docs/proxies.md).
public struct ChatProxyConfiguration: Sendable {
    /// Base URL (`https://api.deepseek.com/v1`); requests go to its `/chat/completions`.
    public var upstream: OutboundURL
    /// Sent upstream as `Authorization: Bearer` (the client's own bearer token is replyguard's).
    public var apiKey: String?
    public var timeouts = OutboundTimeouts()
    /// Seconds between SSE comments sent while text is held.
    public var keepAlive: Double = 10
    /// Hold every streamed reply whole (strict mode).
    public var strict = false
    /// Sentence-level hold: more characters held at once than this is recorded in the audit record
    /// (`held_over_sentence_cap`); they stay held.
    public var sentenceCap = 1000
    /// End a blocked, escalated or broken stream with an OpenAI-style `error` event (the `openai` clients
    /// raise on it) instead of the delta with the fallback or holding reply.
    public var errorFrame = false

    public init(upstream: OutboundURL, apiKey: String?) {
        self.upstream = upstream
        self.apiKey = apiKey
    }

    /// The upstream's timeouts in seconds: to connect, of silence (before the answer and between reads), in all.
    public mutating func setTimeouts(connect: Double, idle: Double, total: Double) {
        func amount(_ seconds: Double) -> TimeAmount { .milliseconds(Int64(seconds * 1000)) }
        timeouts = OutboundTimeouts(connect: amount(connect), response: amount(idle), idle: amount(idle), total: amount(total))
    }
}

/// `POST /v1/chat/completions`: forwards the request upstream and decides what comes back before the
/// client sees it. A JSON answer is decided whole; a streamed one (`stream: true`) is passed on event by
/// event, byte for byte, only as far as each choice's ``ReplyStream`` has released its content; events
/// with tool calls or other text are held to the end. The complete reply is decided once (one audit
/// record): allow sends the held events as they came; mask, block and escalate send one delta per
/// choice (masked tail, fallback or holding reply, `finish_reason: "content_filter"` for the latter),
/// the usage chunk if one came, and `data: [DONE]`. A broken stream (malformed SSE, an `error` frame,
/// a dropped connection, no `[DONE]`) ends the same way with the fallback reply; its held tail never goes out.
final class ChatProxy: Sendable {
    let configuration: ChatProxyConfiguration
    let client: NIOLockedValueBox<OutboundHTTPClient?> = NIOLockedValueBox(nil)
    private let deciders: NIOLockedValueBox<(String, StreamingDecider)?> = NIOLockedValueBox(nil)

    init(configuration: ChatProxyConfiguration) { self.configuration = configuration }

    /// The streaming decider of the rules in force (built once per rule set).
    func decider(_ state: ServingState) -> StreamingDecider {
        let digest = state.engine.ruleSet.digest
        if let (known, decider) = deciders.withLockedValue({ $0 }), known == digest { return decider }
        let decider = StreamingDecider(engine: state.engine)
        deciders.withLockedValue { $0 = (digest, decider) }
        return decider
    }

    /// The response header (`X-ReplyGuard-Hold`) that says how a stream is held: its mode first
    /// (`bounded`, `sentence` or `whole`), then the bound.
    static func holdHeader(_ bound: HoldBound, strict: Bool) -> String {
        if strict { return "whole; strict" }
        switch bound.mode {
        case .bounded: return "bounded; \(bound.units) characters"
        case .sentence: return "sentence; \(bound.units) characters; \(bound.sentenceReason.map { $0.components(separatedBy: ":")[0] } ?? "")"
        case .whole: return "whole"
        }
    }

    /// The start-up line's account of the hold: the mode, the bound and what sets them.
    static func holdDescription(_ bound: HoldBound, strict: Bool) -> String {
        strict ? "whole, every reply (--upstream-strict)" : "\(bound.mode.rawValue), \(bound)"
    }

    func answer(_ request: HTTPRequest, app: ServerApp) -> Answer {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(request.body))) as? [String: Any] else {
            return .now(.error(400, "the request body is not a JSON object"))
        }
        guard let client = client.withLockedValue({ $0 }) else { return .now(.error(503, "the upstream client is not ready")) }
        let stream = object["stream"] as? Bool ?? false
        var headers = [("Content-Type", "application/json"), ("Accept", stream ? "text/event-stream" : "application/json")]
        if let key = configuration.apiKey { headers.append(("Authorization", "Bearer \(key)")) }
        let upstream = OutboundRequest(url: configuration.upstream.appending(path: "/chat/completions"), headers: headers, body: request.body,
                                       timeouts: configuration.timeouts)
        let model = object["model"] as? String ?? ""
        if stream {
            return .streamed { writer in
                ProxyCompletion(proxy: self, app: app, writer: writer, model: model).start(client, upstream)
            }
        }
        return .later { loop in
            let promise = loop.makePromise(of: HTTPResponse.self)
            client.fetch(upstream, limit: 32 << 20).whenComplete { result in
                DispatchQueue.global().async { promise.succeed(self.whole(result, app: app, model: model)) }
            }
            return promise.futureResult
        }
    }

    /// A JSON completion, decided whole.
    private func whole(_ result: Result<OutboundHTTPClient.Response, Error>, app: ServerApp, model: String) -> HTTPResponse {
        let state = app.state
        let bound = decider(state).bound
        let hold = ("X-ReplyGuard-Hold", "whole; not streamed")
        guard case .success(let response) = result else {
            if case .failure(let error) = result { return ChatProxy.upstreamError(502, "the upstream did not answer: \(error)") }
            return ChatProxy.upstreamError(502, "the upstream did not answer")
        }
        guard (200..<300).contains(response.status) else {
            return ChatProxy.upstreamError(502, "the upstream answered HTTP \(response.status)")
        }
        // A key twice in one object: Foundation reads one value, the client's parser may read the other.
        if let why = ChatProxy.ambiguity(response.body, "the upstream's completion") { return ChatProxy.upstreamError(502, why) }
        guard var object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any],
              var choices = object["choices"] as? [[String: Any]] else {
            return ChatProxy.upstreamError(502, "the upstream answered something that is not a chat completion")
        }
        // Each choice's content string first (what a mask can rewrite), then every other string of the
        // choices: tool calls, `refusal`, `reasoning_content`, content in parts, logprobs, unknown fields.
        var parts: [String] = []
        var hasTools = false
        for choice in choices {
            let message = choice["message"] as? [String: Any] ?? [:]
            parts.append(message["content"] as? String ?? "")
        }
        for choice in choices {
            guard let message = choice["message"] as? [String: Any] else {
                if let value = choice["message"] { parts += ChatProxy.strings(value) }
                continue
            }
            if let calls = message["tool_calls"], !(calls is NSNull) {
                hasTools = true
                for call in calls as? [Any] ?? [calls] {
                    guard let call = call as? [String: Any], let function = call["function"] as? [String: Any] else {
                        parts += ChatProxy.strings(call)
                        continue
                    }
                    let arguments = function["arguments"] as? String ?? ""
                    if let why = ChatProxy.argumentsAmbiguity(arguments) { return ChatProxy.upstreamError(502, why) }
                    parts += ChatProxy.toolParts(name: function["name"] as? String ?? "", arguments: arguments)
                    for (key, value) in call.sorted(by: { $0.key < $1.key }) where key != "function" { parts += ChatProxy.strings(value) }
                    // A name or arguments that are not strings (a client's tool reads them anyway) are decided as text too.
                    for (key, value) in function.sorted(by: { $0.key < $1.key }) where !((key == "name" || key == "arguments") && value is String) {
                        parts += ChatProxy.strings(value)
                    }
                }
            }
            for (key, value) in message.sorted(by: { $0.key < $1.key }) where key != "role" && key != "tool_calls" && !(key == "content" && value is String) {
                parts += ChatProxy.strings(value)
            }
            for (key, value) in choice.sorted(by: { $0.key < $1.key }) where !["index", "message", "finish_reason"].contains(key) { parts += ChatProxy.strings(value) }
        }
        let id = object["id"] as? String ?? "chatcmpl-\(UUID().uuidString)"
        let fields: [AuditField] = [.string("proxy", "chat.completions"), .string("completion", id), .string("model", object["model"] as? String ?? model),
                                    .int("choices", choices.count), AuditField("stream", json: "false"), .string("hold_mode", HoldBound.Mode.whole.rawValue),
                                    .string("hold_bound", bound.description)]
        let (verdict, _) = ProxyGate(app: app).decide(id: id, parts: parts, fields: fields)
        switch verdict {
        case .publish:
            return HTTPResponse(status: 200, contentType: "application/json", body: response.body, headers: [hold])
        case .masked(let masked) where !hasTools && masked[choices.count...] == parts[choices.count...]:
            // Only content strings were masked: each is rewritten, its logprobs (the unmasked tokens) dropped.
            for k in choices.indices {
                var message = choices[k]["message"] as? [String: Any] ?? [:]
                if message["content"] is String { message["content"] = masked[k] }
                choices[k]["message"] = message
                if choices[k]["logprobs"] != nil { choices[k]["logprobs"] = NSNull() }
            }
        case .masked:
            return replaceAll(&object, &choices, state.engine.ruleSet.publishing.fallbackReply, hold)
        case .replaced(let reply, _), .stopped(let reply):
            return replaceAll(&object, &choices, reply, hold)
        }
        object["choices"] = choices
        let body = (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
        return HTTPResponse(status: 200, contentType: "application/json", body: Array(body), headers: [hold])
    }

    private func replaceAll(_ object: inout [String: Any], _ choices: inout [[String: Any]], _ reply: String, _ hold: (String, String)) -> HTTPResponse {
        for k in choices.indices {
            choices[k] = ["index": choices[k]["index"] ?? k, "message": ["role": "assistant", "content": reply], "finish_reason": "content_filter"]
        }
        object["choices"] = choices
        let body = (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
        return HTTPResponse(status: 200, contentType: "application/json", body: Array(body), headers: [hold])
    }

    static func upstreamError(_ status: Int, _ message: String) -> HTTPResponse {
        .json(status, "{\"error\":{\"message\":\(jsonString(message)),\"type\":\"upstream_error\"}}")
    }

    /// Why upstream JSON (`what`: a completion, an event) that Foundation could read cannot be decided: a
    /// key occurs twice in one of its objects, at any depth (Foundation reads one value, the client's parser
    /// may read the other), or the byte walk cannot follow it. Nil when it is well-formed with unique keys.
    static func ambiguity(_ json: [UInt8], _ what: String) -> String? {
        switch JSONFieldLocator.repeatedKey(in: json) {
        case .unique: return nil
        case .repeated(let key): return "\(what) has the key \(jsonString(key)) more than once in one object"
        case .malformed: return "\(what) is JSON that replyguard cannot check for repeated keys"
        }
    }

    /// Why a tool call's `arguments` cannot be decided: JSON with a key twice in one object (the tool reads
    /// one value, the proxy would decide the other). Arguments that are not JSON are decided raw.
    static func argumentsAmbiguity(_ arguments: String) -> String? {
        let bytes = Array(arguments.utf8)
        if JSONFieldLocator.repeatedKey(in: bytes) == .malformed,
           (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) == nil { return nil }
        return ambiguity(bytes, "a tool call's arguments")
    }

    /// A tool call's parts: its name, its raw arguments and every string value decoded from them.
    static func toolParts(name: String, arguments: String) -> [String] {
        var parts = [name, arguments]
        if let decoded = try? JSONSerialization.jsonObject(with: Data(arguments.utf8), options: [.fragmentsAllowed]) { parts += strings(decoded) }
        return parts
    }

    /// Every string inside a JSON value.
    static func strings(_ value: Any) -> [String] {
        if let text = value as? String { return [text] }
        if let array = value as? [Any] { return array.flatMap(strings) }
        if let object = value as? [String: Any] { return object.keys.sorted().flatMap { strings(object[$0]!) } }
        return []
    }
}

/// One streamed completion in flight (``ChatProxy``). Its state is touched under its lock only.
final class ProxyCompletion: @unchecked Sendable {
    private struct Pending {
        var raw: [UInt8]
        /// Content bytes of each choice that must have been released before this event may go out.
        var needs: [Int: Int]
        /// Tool calls or other text: held until the whole reply is decided.
        var heldToEnd: Bool
    }

    private struct ToolCall {
        var name = ""
        var arguments = ""
    }

    private let proxy: ChatProxy
    private let app: ServerApp
    private let writer: ResponseWriter
    private let state: ServingState
    private let decider: StreamingDecider
    private let lock = NIOLock()
    private var parser = SSEParser()
    private var streams: [Int: ReplyStream] = [:]
    private var content: [Int: [UInt8]] = [:]
    private var tools: [Int: [Int: ToolCall]] = [:]
    private var others: [String] = []
    private var finishReasons: [Int: String] = [:]
    private var pending: [Pending] = []
    private var usage: Any?
    private var id = ""
    private var model: String
    private var created: Any = Int(Date().timeIntervalSince1970)
    private var sawDone = false
    private var sawHead = false
    private var finished = false
    private var call: OutboundCall?
    private var keepAlive: RepeatedTask?
    private let started = DispatchTime.now().uptimeNanoseconds
    private var upstreamFirst: UInt64?
    private var ourFirst: UInt64?

    init(proxy: ChatProxy, app: ServerApp, writer: ResponseWriter, model: String) {
        self.proxy = proxy
        self.app = app
        self.writer = writer
        self.model = model
        state = app.state
        decider = proxy.decider(state)
    }

    private var holdHeader: String { ChatProxy.holdHeader(decider.bound, strict: proxy.configuration.strict) }

    func start(_ client: OutboundHTTPClient, _ request: OutboundRequest) {
        let call = client.execute(request, events: OutboundEvents(
            head: { status, _ in self.head(status) },
            body: { bytes in self.body(bytes) },
            end: { result in self.end(result) }))
        lock.withLock { self.call = call }
        writer.whenCancelled { [self] in
            call.cancel()
            finish(failure: "the client went away", notify: false)
        }
        let interval = TimeAmount.milliseconds(Int64(proxy.configuration.keepAlive * 1000))
        let task = writer.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [self] _ in
            let holding = lock.withLock { !finished }
            if holding { writer.write(Array(": keep-alive\n\n".utf8)) }
        }
        lock.withLock { keepAlive = task }
    }

    private func head(_ status: Int) {
        guard (200..<300).contains(status) else {
            lock.withLock { finished = true; keepAlive?.cancel() }
            let response = ChatProxy.upstreamError(502, "the upstream answered HTTP \(status)")
            writer.start(status: 502, headers: response.headers)
            writer.write(response.body)
            writer.end()
            lock.withLock { call }?.cancel()
            return
        }
        lock.withLock { sawHead = true }
        writer.start(status: 200, headers: [("Content-Type", "text/event-stream; charset=utf-8"), ("Cache-Control", "no-cache"),
                                            ("X-ReplyGuard-Hold", holdHeader)])
    }

    private func body(_ bytes: [UInt8]) {
        var out: [UInt8] = []
        var failure: String?
        lock.withLock {
            guard !finished else { return }
            if upstreamFirst == nil { upstreamFirst = DispatchTime.now().uptimeNanoseconds }
            do {
                for event in try parser.feed(bytes) {
                    if sawDone { failure = "the upstream sent more after [DONE]"; return }
                    if let why = take(event) { failure = why; return }
                }
            } catch {
                failure = "malformed stream: \(error)"
                return
            }
            out = drain()
        }
        if !out.isEmpty { send(out) }
        if let failure {
            lock.withLock { call }?.cancel()
            finish(failure: failure)
        }
    }

    private func send(_ bytes: [UInt8]) {
        lock.withLock { if ourFirst == nil { ourFirst = DispatchTime.now().uptimeNanoseconds } }
        writer.write(bytes)
    }

    /// Takes one event in (under the lock); returns why the stream is broken, if it is.
    private func take(_ event: SSEEvent) -> String? {
        guard event.hasData else { return nil }
        if event.data == Array("[DONE]".utf8) {
            sawDone = true
            pending.append(Pending(raw: event.raw, needs: [:], heldToEnd: true))
            return nil
        }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(event.data))) as? [String: Any] else {
            return "an event's data is not a JSON object"
        }
        if let why = ChatProxy.ambiguity(event.data, "an event's data") { return why }
        if object["error"] != nil { return "the upstream sent an error frame" }
        if id.isEmpty, let value = object["id"] as? String { id = value }
        if let value = object["model"] as? String { model = value }
        if let value = object["created"] { created = value }
        if let value = object["usage"], !(value is NSNull) { usage = value }
        var item = Pending(raw: event.raw, needs: [:], heldToEnd: false)
        var list: [[String: Any]] = []
        if let given = object["choices"], !(given is NSNull) {
            guard let given = given as? [[String: Any]] else { return "an event's choices are not a list of objects" }
            list = given
        }
        for (position, choice) in list.enumerated() {
            // A choice without an index is the one at its position; any other index than an integer breaks
            // the stream (two choices' texts in one decided stream could split a word the client joins).
            var index = position
            if let given = choice["index"] {
                guard let number = given as? Int else { return "a choice's index is not an integer" }
                index = number
            }
            if streams[index] == nil {
                streams[index] = decider.makeStream(strict: proxy.configuration.strict, sentenceCap: proxy.configuration.sentenceCap)
                content[index] = []
            }
            if let reason = choice["finish_reason"] as? String { finishReasons[index] = reason }
            if let logprobs = choice["logprobs"], !(logprobs is NSNull) {
                item.heldToEnd = true
                others += ChatProxy.strings(logprobs)
            }
            for (key, value) in choice.sorted(by: { $0.key < $1.key }) where !["index", "delta", "finish_reason", "logprobs", "content_filter_results"].contains(key) {
                let texts = ChatProxy.strings(value)
                if !texts.isEmpty {
                    item.heldToEnd = true
                    others += texts
                }
            }
            var delta: [String: Any] = [:]
            if let given = choice["delta"], !(given is NSNull) {
                guard let given = given as? [String: Any] else { return "a choice's delta is not an object" }
                delta = given
            }
            for (key, value) in delta {
                switch key {
                case "role": continue
                case "content" where value is String || value is NSNull:
                    guard let text = value as? String else { continue }
                    let bytes = Array(text.utf8)
                    content[index, default: []] += bytes
                    _ = streams[index]!.append(bytes)
                    item.needs[index] = content[index]!.count
                case "tool_calls":
                    item.heldToEnd = true
                    guard let calls = value as? [[String: Any]] else {
                        others += ChatProxy.strings(value)
                        continue
                    }
                    for (k, call) in calls.enumerated() {
                        for (key, value) in call.sorted(by: { $0.key < $1.key }) where !(key == "function" && value is [String: Any]) {
                            others += ChatProxy.strings(value)
                        }
                        let slot = call["index"] as? Int ?? k
                        let function = call["function"] as? [String: Any] ?? [:]
                        for (key, value) in function.sorted(by: { $0.key < $1.key }) where !((key == "name" || key == "arguments") && value is String) {
                            others += ChatProxy.strings(value)
                        }
                        var known = tools[index, default: [:]][slot] ?? ToolCall()
                        if let name = function["name"] as? String { known.name += name }
                        if let arguments = function["arguments"] as? String { known.arguments += arguments }
                        tools[index, default: [:]][slot] = known
                    }
                default:
                    let texts = ChatProxy.strings(value)
                    if !texts.isEmpty {
                        item.heldToEnd = true
                        others += texts
                    }
                }
            }
        }
        pending.append(item)
        return nil
    }

    /// The events at the front that may go out now (under the lock).
    private func drain() -> [UInt8] {
        var out: [UInt8] = []
        while let first = pending.first, !first.heldToEnd {
            if first.needs.contains(where: { streams[$0.key]!.released < $0.value }) { break }
            out += first.raw
            pending.removeFirst()
        }
        return out
    }

    private func parts() -> [String] {
        var parts: [String] = []
        for index in content.keys.sorted() { parts.append(String(decoding: content[index]!, as: UTF8.self)) }
        for index in tools.keys.sorted() {
            for slot in tools[index]!.keys.sorted() {
                let call = tools[index]![slot]!
                parts += ChatProxy.toolParts(name: call.name, arguments: call.arguments)
            }
        }
        return parts + others
    }

    private func end(_ result: Result<Void, OutboundError>) {
        switch result {
        case .success:
            let (done, partial) = lock.withLock { (sawDone, parser.hasPartialEvent) }
            if !done || partial {
                finish(failure: "the upstream's stream ended without [DONE]")
            } else {
                finish(failure: nil)
            }
        case .failure(let error):
            finish(failure: "the upstream stream broke: \(error)")
        }
    }

    /// Why the tool calls put together cannot be decided (``ChatProxy/argumentsAmbiguity(_:)``), under the lock.
    private func toolsAmbiguity() -> String? {
        for index in tools.keys.sorted() {
            for slot in tools[index]!.keys.sorted() {
                if let why = ChatProxy.argumentsAmbiguity(tools[index]![slot]!.arguments) { return why }
            }
        }
        return nil
    }

    /// Decides the whole reply and ends the response (once). `failure`: the stream broke, nothing held goes out.
    private func finish(failure: String?, notify: Bool = true) {
        let go: Bool = lock.withLock {
            guard !finished else { return false }
            finished = true
            keepAlive?.cancel()
            return true
        }
        guard go else { return }
        DispatchQueue.global().async { [self] in
            let (parts, id, ambiguity) = lock.withLock { (self.parts(), self.id.isEmpty ? "chatcmpl-replyguard-\(UUID().uuidString)" : self.id, toolsAmbiguity()) }
            let failure = failure ?? ambiguity
            let gate = ProxyGate(app: app)
            if let failure {
                gate.discard(id: id, parts: parts, reason: failure)
                guard notify else { return }
                if !lock.withLock({ sawHead }) {
                    // No answer at all (cannot connect, timed out before the head): an error, not a reply.
                    let response = ChatProxy.upstreamError(502, "the upstream did not answer: \(failure)")
                    writer.start(status: 502, headers: response.headers)
                    writer.write(response.body)
                    writer.end()
                    return
                }
                replace(with: state.engine.ruleSet.publishing.fallbackReply, id: id, code: "upstream_broken")
                return
            }
            let fields = lock.withLock { () -> [AuditField] in
                let released = streams.values.reduce(0) { $0 + $1.releasedCharacters }
                let longest = streams.values.map(\.longestHold).max() ?? 0
                let mode = proxy.configuration.strict ? HoldBound.Mode.whole : decider.bound.mode
                var fields: [AuditField] = [.string("proxy", "chat.completions"), .string("completion", id), .string("model", model),
                                            .int("choices", streams.count), AuditField("stream", json: "true"), .string("hold_mode", mode.rawValue),
                                            .string("hold_bound", holdHeader), .int("longest_hold", longest), .int("released_characters", released)]
                if mode == .sentence {
                    fields.append(.int("sentence_cap", proxy.configuration.sentenceCap))
                    fields.append(AuditField("held_over_sentence_cap", json: streams.values.contains(where: \.heldOverCap) ? "true" : "false"))
                }
                if let first = upstreamFirst { fields.append(.int("upstream_first_byte_ms", Int((first - started) / 1_000_000))) }
                if let first = ourFirst { fields.append(.int("first_write_ms", Int((first - started) / 1_000_000))) }
                return fields
            }
            let (verdict, _) = gate.decide(id: id, parts: parts, fields: fields)
            switch verdict {
            case .publish:
                let rest = lock.withLock { () -> [UInt8] in
                    defer { pending = [] }
                    return pending.flatMap(\.raw)
                }
                send(rest)
                writer.end()
            case .masked(let masked):
                let hasTools = lock.withLock { !tools.isEmpty }
                if hasTools { return replace(with: state.engine.ruleSet.publishing.fallbackReply, id: id, code: "blocked") }
                let tails = lock.withLock { () -> [(Int, String, String)] in
                    content.keys.sorted().enumerated().map { position, index in
                        let bytes = Array(masked[position].utf8)
                        let skip = min(streams[index]!.released, bytes.count)
                        return (index, String(decoding: bytes[skip...], as: UTF8.self), finishReasons[index] ?? "stop")
                    }
                }
                closing(tails, id: id)
            case .replaced(let reply, let review):
                replace(with: reply, id: id, code: review == nil ? "blocked" : "held_for_review")
            case .stopped(let reply):
                replace(with: reply, id: id, code: "blocked")
            }
        }
    }

    /// Ends with one delta per choice saying `reply`, `finish_reason: "content_filter"`.
    /// With ``ChatProxyConfiguration/errorFrame``: one `error` event instead, `{"error": {"message": reply,
    /// "type": "content_filter", "code": code}}`, then `data: [DONE]`.
    private func replace(with reply: String, id: String, code: String) {
        if proxy.configuration.errorFrame {
            let error: [String: Any] = ["error": ["message": reply, "type": "content_filter", "code": code, "param": NSNull()]]
            var out: [UInt8] = []
            if let data = try? JSONSerialization.data(withJSONObject: error) { out += Array("data: ".utf8) + Array(data) + Array("\n\n".utf8) }
            out += Array("data: [DONE]\n\n".utf8)
            lock.withLock { pending = [] }
            writer.start(status: 200, headers: [("Content-Type", "text/event-stream; charset=utf-8"), ("X-ReplyGuard-Hold", holdHeader)])
            send(out)
            writer.end()
            return
        }
        let indices = lock.withLock { streams.keys.sorted() }
        closing((indices.isEmpty ? [0] : indices).map { ($0, reply, "content_filter") }, id: id)
    }

    /// The closing chunks: one per choice, the usage chunk if the upstream sent one, `[DONE]`.
    private func closing(_ tails: [(index: Int, text: String, reason: String)], id: String) {
        let (model, created, usage) = lock.withLock { (self.model, self.created, self.usage) }
        var out: [UInt8] = []
        func chunk(_ choices: [[String: Any]], usage: Any? = nil) {
            var object: [String: Any] = ["id": id, "object": "chat.completion.chunk", "created": created, "model": model, "choices": choices]
            if let usage { object["usage"] = usage }
            if let data = try? JSONSerialization.data(withJSONObject: object) { out += Array("data: ".utf8) + Array(data) + Array("\n\n".utf8) }
        }
        for tail in tails {
            chunk([["index": tail.index, "delta": ["content": tail.text], "finish_reason": tail.reason]])
        }
        if let usage { chunk([], usage: usage) }
        out += Array("data: [DONE]\n\n".utf8)
        lock.withLock { pending = [] }
        writer.start(status: 200, headers: [("Content-Type", "text/event-stream; charset=utf-8"), ("X-ReplyGuard-Hold", holdHeader)])
        send(out)
        writer.end()
    }
}
