import Foundation
import NIOCore
import NIOPosix
import ReplyGuard
import ReplyGuardGate

/// Everything `replyguard serve` needs besides the socket.
public struct ServeConfiguration: Sendable {
    public var rules: RuleSource
    /// nil: no token; only allowed with --insecure-local on a loopback address (the CLI checks).
    public var token: String?
    public var maxBodyBytes: Int
    public var queuePath: String
    public var auditPath: String?
    public var holdAll: Bool
    /// Host names served besides IP addresses and `localhost` (the `--listen` host and each `--host-name`).
    public var hostNames: [String] = []
    /// Mark the session cookie `Secure` always (it is for a request with `X-Forwarded-Proto: https` anyway).
    public var secureCookie = false
    /// Peers whose `X-Forwarded-For` names the client that sign-in attempts are counted under.
    public var trustedProxies: [String] = []

    public init(rules: RuleSource, token: String?, maxBodyBytes: Int, queuePath: String, auditPath: String?, holdAll: Bool) {
        self.rules = rules
        self.token = token
        self.maxBodyBytes = maxBodyBytes
        self.queuePath = queuePath
        self.auditPath = auditPath
        self.holdAll = holdAll
    }
}

/// The routes: the JSON API, the reviewer's page, health and metrics. Thread-safe: requests from every
/// event loop call ``respond(_:)`` at once; the rules in force are swapped atomically by ``reload()``.
public final class ServerApp: @unchecked Sendable { // `current` is only touched under `stateLock`; reloads are serialized by `reloadLock`
    let configuration: ServeConfiguration
    let access: Access
    let metrics = Metrics()
    /// The Dify endpoint's memory of recent output calls (kept across reloads).
    let difyStreams = DifyStreams()
    /// The WeChat official account's callback and its outbound client, when one is configured (set once, before serving).
    var wechat: (WeChatEndpoint, WeChatOutbound)?
    /// The OpenAI-compatible chat proxy, when an upstream is configured (set once, before serving).
    var chatProxy: ChatProxy?
    private var current: ServingState
    private let stateLock = NSLock()
    private let reloadLock = NSLock()

    var maxBodyBytes: Int { configuration.maxBodyBytes }

    /// Called once by ``HTTPServer`` with its event loops and thread pool.
    func attach(eventLoops: EventLoopGroup, pool: NIOThreadPool) {
        attachWeChat(eventLoops: eventLoops)
        chatProxy?.client.withLockedValue { $0 = OutboundHTTPClient(group: eventLoops) }
    }

    /// Serves `POST /v1/chat/completions` in front of `configuration`'s upstream (docs/proxies.md).
    public func enableChatProxy(_ configuration: ChatProxyConfiguration) {
        chatProxy = ChatProxy(configuration: configuration)
    }

    /// How far behind a streamed reply the proxy keeps released text with the rules in force.
    public var chatProxyHold: String? {
        guard let chatProxy else { return nil }
        return ChatProxy.holdHeader(chatProxy.decider(state).bound, strict: chatProxy.configuration.strict)
    }

    /// The start-up line's account of how streamed replies are held: mode, bound and the rules that set them.
    public var chatProxyHoldDescription: String? {
        guard let chatProxy else { return nil }
        return ChatProxy.holdDescription(chatProxy.decider(state).bound, strict: chatProxy.configuration.strict)
    }

    /// Loads and checks the rules; throws why when they cannot be served.
    public init(configuration: ServeConfiguration) throws(GateRefused) {
        self.configuration = configuration
        access = Access(token: configuration.token, hostNames: configuration.hostNames, trustedProxies: configuration.trustedProxies)
        var gate = GateConfiguration(rules: configuration.rules, queuePath: configuration.queuePath, auditPath: configuration.auditPath)
        gate.holdAll = configuration.holdAll
        gate.channel = ServerApp.httpChannel
        gate.resumes = true
        current = ServingState(try GateRuntime.open(gate, diagnose: { FileHandle.standardError.write(Data("replyguard serve: \($0)\n".utf8)) }))
    }

    /// The store channel of replies held by the service's `/v1/filter` (released by its clients).
    static let httpChannel = "http"

    var state: ServingState {
        stateLock.lock()
        defer { stateLock.unlock() }
        return current
    }

    public var policyDigest: String { state.engine.ruleSet.digest }

    /// Loads the rules again; on any problem the running rules stay and the reasons are returned.
    @discardableResult
    public func reload() -> Result<String, GateRefused> {
        reloadLock.lock()
        defer { reloadLock.unlock() }
        do {
            let fresh = ServingState(try state.runtime.reloaded())
            stateLock.lock()
            current = fresh
            stateLock.unlock()
            metrics.record(reload: true)
            return .success(fresh.engine.ruleSet.digest)
        } catch {
            metrics.record(reload: false)
            return .failure(error)
        }
    }

    /// Expires held replies past their time, and resumes a gate stopped on its audit log once the log can
    /// be written again (called periodically).
    public func expireReviews() {
        state.gate.resumeIfStopped()
        try? state.desk.expire()
    }

    func tooLarge(declared: Int?) -> HTTPResponse {
        .error(413, "request body \(declared.map { "of \($0) bytes " } ?? "")is larger than the limit of \(maxBodyBytes) bytes (--max-body-size)")
    }

    /// How to answer one request (``Answer``), with the endpoint name for metrics: `/v1/check` (matching
    /// only, no store, log or gate lock) on the event loop, the WeChat callback as an answer that
    /// completes later (it waits on the bot), `/v1/chat/completions` streamed by the proxy, everything else — the gate, the review queue, the audit log, the page, reloads — on the
    /// server's thread pool.
    func route(_ request: HTTPRequest) -> (String, Answer) {
        if let (endpoint, _) = wechat, request.path == endpoint.configuration.path {
            guard access.hostAllowed(request) else {
                return ("refused", .now(.error(421, "this server does not serve the host \(request.header("host") ?? "") (serve --host-name NAME adds a name)")))
            }
            return ("wechat", wechatAnswer(endpoint, request))
        }
        if request.path == "/v1/chat/completions", let chatProxy {
            guard request.method == "POST" else { return ("chat", .now(.error(405, "method \(request.method) not allowed on \(request.path)"))) }
            if let refusal = apiRefusal(request) { return ("chat", .now(refusal)) }
            return ("chat", chatProxy.answer(request, app: self))
        }
        if request.path == "/v1/check" {
            let (endpoint, response) = respond(request)
            return (endpoint, .now(response))
        }
        return ("other", .offLoop { [self] in
            let (endpoint, response) = respond(request)
            return (endpoint, response)
        })
    }

    /// Why an API request is refused before any work (host, cross-site, content type, bearer token); nil
    /// when it may go on.
    func apiRefusal(_ request: HTTPRequest) -> HTTPResponse? {
        guard access.hostAllowed(request) else {
            return .error(421, "this server does not serve the host \(request.header("host") ?? "") (serve --host-name NAME adds a name)")
        }
        guard Access.notCrossSite(request) else { return .error(403, "refused: the API takes no requests from other sites (Origin or Sec-Fetch-Site)") }
        guard Access.declaresJSON(request) else { return .error(415, "the request body must be sent as Content-Type: application/json") }
        var allowed = false
        let refusal = api(request) {
            allowed = true
            return .json(200, "")
        }
        return allowed ? nil : refusal
    }

    /// Answers one request; returns the endpoint name for metrics too.
    func respond(_ request: HTTPRequest) -> (String, HTTPResponse) {
        let path = request.path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        let method = request.method
        func notAllowed() -> HTTPResponse { .error(405, "method \(method) not allowed on \(request.path)") }
        guard access.hostAllowed(request) else {
            return ("refused", .error(421, "this server does not serve the host \(request.header("host") ?? "") (serve --host-name NAME adds a name)"))
        }
        if path.first == "v1" {
            guard Access.notCrossSite(request) else {
                return ("refused", .error(403, "refused: the API takes no requests from other sites (Origin or Sec-Fetch-Site)"))
            }
            guard Access.declaresJSON(request) else {
                return ("refused", .error(415, "the request body must be sent as Content-Type: application/json"))
            }
        }
        if path == ["healthz"] {
            guard method == "GET" || method == "HEAD" else { return ("other", notAllowed()) }
            if !state.gate.resumeIfStopped(), let failure = state.gate.failure {
                return ("healthz", .json(503, "{\"status\":\"stopped\",\"error\":\(jsonString(failure))}"))
            }
            return ("healthz", .json(200, "{\"status\":\"ok\",\"policy\":\(jsonString(policyDigest))}"))
        }
        if path == ["metrics"] {
            guard method == "GET" else { return ("other", notAllowed()) }
            return ("metrics", metricsResponse())
        }
        if path.count == 2, path[0] == "v1" {
            switch (method, path[1]) {
            case ("POST", "check"): return ("check", api(request) { check(request.body) })
            case ("POST", "filter"): return ("filter", api(request) { filter(request.body) })
            case ("POST", "reload"): return ("reload", api(request) { reloadResponse() })
            default: return ("other", notAllowed())
            }
        }
        if path == ["v1", "dify", "moderation"] {
            guard method == "POST" else { return ("other", notAllowed()) }
            return ("dify", api(request) { difyModeration(request.body) })
        }
        if path.count == 3, path[0] == "v1", path[1] == "reviews" {
            guard method == "GET" else { return ("other", notAllowed()) }
            return ("reviews", api(request) { review(path[2]) })
        }
        if path.count == 4, path[0] == "v1", path[1] == "reviews", path[3] == "release" {
            guard method == "POST" else { return ("other", notAllowed()) }
            return ("release", api(request) { release(path[2]) })
        }
        if path.isEmpty, method == "GET" { return ("page", .redirect("/review")) }
        if path == ["review"] || path == ["login"] || path == ["logout"] || (path.count == 3 && path[0] == "review" && path[2] == "decide") {
            return ("page", page(request, path))
        }
        return ("other", .error(404, "no such endpoint: \(method) \(request.path)"))
    }

    private func api(_ request: HTTPRequest, _ body: () -> HTTPResponse) -> HTTPResponse {
        switch access.api(request) {
        case .allowed:
            return body()
        case .refused:
            return .error(401, "missing or wrong bearer token (send Authorization: Bearer TOKEN)", headers: [("WWW-Authenticate", "Bearer realm=\"replyguard\"")])
        case .throttled(let seconds):
            return .error(429, "too many wrong tokens from this address; try again in \(seconds) s", headers: [("Retry-After", String(seconds))])
        }
    }

    // MARK: JSON API

    /// `POST /v1/check`: a decision record per message, with `flagged` and `categories` added.
    private func check(_ body: [UInt8]) -> HTTPResponse {
        let messages: [InputMessage]
        do { messages = try RequestBody.messages(body) } catch { return ServerApp.refused(error) }
        let state = self.state
        var out: [UInt8] = Array("{\"policy\":".utf8)
        JSONWriter.appendString(state.engine.ruleSet.digest, to: &out)
        out += Array(",\"results\":[".utf8)
        state.scanners.with { scanner in
            for (i, message) in messages.enumerated() {
                let decision = scanner.decide(message)
                metrics.record(decision)
                if i > 0 { out.append(0x2C) }
                let categories = ServerApp.categories(of: decision).map(jsonString).joined(separator: ",")
                decision.appendJSONLine(to: &out, extra: [("flagged", decision.verdict >= .escalate ? "true" : "false"), ("categories", "[\(categories)]")])
            }
        }
        out += Array("]}".utf8)
        return HTTPResponse(status: 200, contentType: "application/json; charset=utf-8", body: out + [0x0A])
    }

    static func refused(_ error: Error) -> HTTPResponse {
        if let error = error as? ClientError { return .error(error.status, error.message) }
        return .error(400, "the request could not be read: \(error)")
    }

    /// The categories a decision is about: those of its hits (not suppressed) and of its non-zero scores.
    static func categories(of decision: Decision) -> [String] {
        var seen = Set<String>()
        for hit in decision.hits { seen.insert(hit.category) }
        for (category, score) in decision.scores where score > 0 { seen.insert(category) }
        return seen.sorted()
    }

    /// `POST /v1/filter`: what to publish for each message — through the gate, with `filter`'s queue
    /// semantics. Only a 200 answer's `reply` may be published.
    private func filter(_ body: [UInt8]) -> HTTPResponse {
        let messages: [InputMessage]
        do { messages = try RequestBody.messages(body) } catch { return ServerApp.refused(error) }
        let state = self.state
        var results: [String] = []
        var stopped: String?
        var held: [Int64] = []
        state.scanners.with { scanner in
            for message in messages where stopped == nil {
                let result = state.gate.handle(message, scanner: scanner, order: .recordThenPublish) { result in
                    guard let action = ServerApp.actionName(result.outcome) else { return }
                    metrics.record(outcome: action)
                    let reply = result.outcome.replacement ?? String(decoding: message.text, as: UTF8.self)
                    var object = "{\"id\":\(message.idJSON ?? jsonString(message.id.description)),\"action\":\"\(action)\",\"reply\":\(jsonString(reply))"
                    if case .hold(let review, _) = result.outcome { object += ",\"review\":\(review)" }
                    object += ",\"verdict\":\"\(result.decision.verdict.rawValue)\",\"decision\":\(result.record)}"
                    results.append(object)
                }
                if case .hold(let review, _) = result.outcome { held.append(review) }
                metrics.record(result.decision)
                if !result.publishable { stopped = result.failure ?? "the gate has stopped" }
            }
        }
        if let failure = stopped {
            // Fail closed: the audit log failed, so nothing may be published — not even the replies
            // decided before in this request. The client never learns the review ids of the replies this
            // request held: withdraw them, so none waits for a release that cannot come.
            if !held.isEmpty {
                try? state.desk.withdraw(held, because: "the request that held it failed (HTTP 503: \(failure)); the client was told to publish nothing")
            }
            return .error(503, "stopped: \(failure); publish nothing")
        }
        return .json(200, "{\"policy\":\(jsonString(state.engine.ruleSet.digest)),\"results\":[\(results.joined(separator: ","))]}")
    }

    /// The API's name for what to do with a reply (`publish`, `masked`, `fallback`, `hold`); nil once the
    /// gate has stopped.
    static func actionName(_ outcome: Outcome) -> String? {
        switch outcome {
        case .publish: return "publish"
        case .masked: return "masked"
        case .fallback: return "fallback"
        case .hold: return "hold"
        case .stopped: return nil
        }
    }

    /// `POST /v1/reviews/{id}/release`: an approved reply held over HTTP, to publish now — and the same
    /// reply again to a client that asks again within the lease (its first answer may have been lost; it
    /// dedups by the review id); 409 when it is not approved (pending, rejected, expired, withdrawn, or
    /// released longer ago) or was held by a line filter; 503, the reply unchanged, when the queue or the
    /// audit log cannot be written.
    private func release(_ id: String) -> HTTPResponse {
        guard let number = Int64(id), number > 0 else { return .error(400, "a review id is a positive integer") }
        do {
            if let item = try state.desk.release(number, channel: ServerApp.httpChannel, by: "serve \(getpid())@\(ProcessInfo.processInfo.hostName)") {
                return .json(200, ServerApp.reviewJSON(item, reply: true))
            }
            guard let item = try state.desk.item(number) else { return .error(404, "no review \(number)") }
            if item.channel == ServerApp.difyChannel {
                return .error(409, "review \(number) was held for Dify, which cannot take a reply back: read an approved one on the review page or with replyguard review list")
            }
            if item.channel != ServerApp.httpChannel {
                return .error(409, "review \(number) was held by a line filter, not over HTTP: a filter on the queue publishes it, this service does not")
            }
            return .error(409, "review \(number) is \(item.status.rawValue), not approved: nothing to publish")
        } catch let error as AuditWriteError {
            return .error(503, "\(error); the reply was not released, ask again later")
        } catch {
            return .error(503, "the review queue cannot be used: \(error)")
        }
    }

    /// `GET /v1/reviews/{id}`: where a held reply stands (`POST …/release` gives an approved one's reply).
    private func review(_ id: String) -> HTTPResponse {
        guard let number = Int64(id), number > 0 else { return .error(400, "a review id is a positive integer") }
        do {
            guard let item = try state.desk.item(number) else { return .error(404, "no review \(number)") }
            return .json(200, ServerApp.reviewJSON(item))
        } catch {
            return .error(503, "the review queue cannot be read: \(error)")
        }
    }

    static func reviewJSON(_ item: ReviewItem, reply: Bool = false) -> String {
        func optional(_ value: String?) -> String { value.map(jsonString) ?? "null" }
        var object = "{\"review\":\(item.id),\"status\":\"\(item.status.rawValue)\",\"id\":\(item.messageID ?? "null")"
        object += ",\"created\":\(jsonString(item.createdAt)),\"expires\":\(optional(item.expiresAt)),\"decided\":\(optional(item.decidedAt))"
        object += ",\"reviewer\":\(optional(item.decidedBy)),\"note\":\(optional(item.note))"
        if reply {
            object += ",\"reply\":\(jsonString(String(decoding: item.text, as: UTF8.self)))"
        }
        return object + "}"
    }

    private func reloadResponse() -> HTTPResponse {
        switch reload() {
        case .success(let digest):
            return .json(200, "{\"status\":\"reloaded\",\"policy\":\(jsonString(digest)),\"rules\":\(state.ruleCount)}")
        case .failure(let refused):
            return .json(422, "{\"error\":\(jsonString("rules refused, the running rules stay: " + refused.summary)),\"problems\":[\(refused.problems.map(jsonString).joined(separator: ","))],\"policy\":\(jsonString(policyDigest))}")
        }
    }

    private func metricsResponse() -> HTTPResponse {
        let state = self.state
        let depth = (try? state.desk.counts()).map { Dictionary(uniqueKeysWithValues: $0.map { ($0.key.rawValue, $0.value) }) }
        return HTTPResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8",
                            body: Array(metrics.render(queueDepth: depth, rulesLoaded: state.loadedAt, rules: state.ruleCount).utf8))
    }
}
