import Foundation
import NIOCore

/// How the account's messages are protected (its 消息加解密方式 setting).
public enum WeChatMode: String, Sendable, CaseIterable {
    /// 安全模式: every push encrypted; replies encrypted.
    case safe
    /// 兼容模式: pushes carry both forms; the encrypted one is checked and read, replies encrypted.
    case compatible
    /// 明文模式: the signature does not cover the body. Served only when the operator opts in.
    case plain
}

/// `replyguard serve`'s WeChat official-account settings.
public struct WeChatConfiguration: Sendable {
    /// The callback path the account's server URL points at.
    public var path = "/wechat"
    public var token: String
    public var encodingAESKey: String?
    public var appID: String
    /// The AppSecret, for the access token of the customer-service API (nil: no late replies).
    public var appSecret: String?
    public var mode: WeChatMode
    public var upstream: String
    public var upstreamProtocol: WeChatUpstreamProtocol
    public var upstreamKey: String?
    public var upstreamModel = "deepseek-chat"
    public var systemPrompt: String?
    /// Seconds the bot may take (past the answer budget its reply goes through the customer-service API).
    public var upstreamTimeout: TimeInterval = 60
    /// Seconds to answer the platform within (it gives up after 5).
    public var budget: TimeInterval = 4.5
    public var apiBase = "https://api.weixin.qq.com"
    /// Seconds a push's timestamp may be off this server's clock.
    public var maxSkew: TimeInterval = 300
    /// UTF-8 bytes a text message may have; a longer reply goes in parts through the customer-service API.
    public var maxReplyBytes = 2048
    /// Seconds between looks for approved replies to deliver.
    public var reviewPoll: TimeInterval = 5

    public init(token: String, encodingAESKey: String?, appID: String, appSecret: String?, mode: WeChatMode,
                upstream: String, upstreamProtocol: WeChatUpstreamProtocol, upstreamKey: String?) {
        self.token = token
        self.encodingAESKey = encodingAESKey
        self.appID = appID
        self.appSecret = appSecret
        self.mode = mode
        self.upstream = upstream
        self.upstreamProtocol = upstreamProtocol
        self.upstreamKey = upstreamKey
    }
}

/// The callback of a WeChat official account: URL verification, pushes checked (signature, timestamp
/// window, nonce, in safe mode `msg_signature` then the AppID), the bot asked once per message
/// (``WeChatFlights``), its reply decided by the gate (``WeChatGate``) and answered within the budget —
/// or, past it, `success` and the reply through the customer-service API; approved held replies
/// delivered through that API as reviewers approve them.
final class WeChatEndpoint: @unchecked Sendable { // immutable after init but for the delivery bookkeeping, under `lock`
    let configuration: WeChatConfiguration
    let crypto: WeChatCrypto
    let replay: WeChatReplayGuard
    let upstream: WeChatUpstream
    let api: WeChatPlatformAPI?
    let gate: WeChatGate
    private(set) var flights: WeChatFlights!
    private let work = DispatchQueue(label: "replyguard.wechat.decide", attributes: .concurrent)
    private let deliveries = DispatchQueue(label: "replyguard.wechat.deliver")
    private var failures: [Int64: Int] = [:]
    private let lock = NSLock()
    private var poller: DispatchSourceTimer?
    let owner = "serve \(getpid())@\(ProcessInfo.processInfo.hostName)"

    init(configuration: WeChatConfiguration, app: ServerApp, http: WeChatHTTP) throws {
        self.configuration = configuration
        do { crypto = try WeChatCrypto(token: configuration.token, encodingAESKey: configuration.encodingAESKey, appID: configuration.appID) } catch {
            throw WeChatError(error.description)
        }
        if configuration.mode != .plain, !crypto.hasKey { throw WeChatError("WeChat \(configuration.mode.rawValue) mode needs the account's EncodingAESKey (--wechat-aes-key-file)") }
        replay = WeChatReplayGuard(window: configuration.maxSkew)
        upstream = WeChatUpstream(url: configuration.upstream, kind: configuration.upstreamProtocol, apiKey: configuration.upstreamKey,
                                  model: configuration.upstreamModel, systemPrompt: configuration.systemPrompt,
                                  timeout: configuration.upstreamTimeout, http: http)
        api = configuration.appSecret.map { WeChatPlatformAPI(base: configuration.apiBase, appID: configuration.appID, secret: $0, http: http) }
        gate = WeChatGate(app: app)
        flights = WeChatFlights { [weak self] key, user, texts in self?.deliverLate(key: key, user: user, texts: texts) }
    }

    /// Starts looking for approved replies to deliver (when the customer-service API is configured).
    func start() {
        guard api != nil else { return }
        let timer = DispatchSource.makeTimerSource(queue: deliveries)
        timer.schedule(deadline: .now() + configuration.reviewPoll, repeating: configuration.reviewPoll)
        timer.setEventHandler { [weak self] in self?.deliverApproved() }
        timer.resume()
        poller = timer
    }

    static func text(_ status: Int, _ body: String) -> HTTPResponse {
        HTTPResponse(status: status, contentType: "text/plain; charset=utf-8", body: Array(body.utf8))
    }

    static func refused(_ refusal: WeChatRefusal) -> HTTPResponse {
        text(403, "refused (\(refusal.code)): \(refusal.description)\n")
    }

    /// Answers one request on the callback path; `respond` is called once (at once, or within the budget).
    func handle(_ request: HTTPRequest, respond: @escaping @Sendable (HTTPResponse) -> Void) {
        let query = request.query
        guard let signature = query["signature"], let timestamp = query["timestamp"], let nonce = query["nonce"] else {
            return respond(WeChatEndpoint.text(400, "a WeChat callback carries signature, timestamp and nonce in its query\n"))
        }
        do {
            try crypto.checkSignature(signature, timestamp: timestamp, nonce: nonce)
            if request.method == "GET" {
                // URL verification: echo echostr (also only inside the window, and once per nonce).
                guard let echo = query["echostr"] else { return respond(WeChatEndpoint.text(400, "URL verification needs echostr\n")) }
                try replay.admit(timestamp: timestamp, nonce: nonce, body: Array(echo.utf8))
                return respond(WeChatEndpoint.text(200, echo))
            }
            guard request.method == "POST" else { return respond(WeChatEndpoint.text(405, "GET (URL verification) or POST (messages)\n")) }
            let encrypted = query["encrypt_type"] == "aes"
            let plain: [UInt8]
            if encrypted {
                guard configuration.mode != .plain || crypto.hasKey else { throw WeChatRefusal.decrypt("no EncodingAESKey is configured") }
                guard let msgSignature = query["msg_signature"] else { throw WeChatRefusal.signature("msg_signature (missing)") }
                guard let outer = WeChatXML.parse(request.body), let cipher = outer["Encrypt"] else { throw WeChatRefusal.malformed("no <Encrypt> in the body") }
                plain = try crypto.decrypt(cipher, msgSignature: msgSignature, timestamp: timestamp, nonce: nonce)
            } else {
                guard configuration.mode == .plain else {
                    throw WeChatRefusal(code: -40001, description: "an unencrypted push, but this account is served in \(configuration.mode.rawValue) mode (plain mode needs --wechat-mode plain --wechat-allow-plain)")
                }
                plain = request.body
            }
            try replay.admit(timestamp: timestamp, nonce: nonce, body: request.body)
            guard let message = WeChatXML.parse(plain), let user = message["FromUserName"], !user.isEmpty, let account = message["ToUserName"] else {
                throw WeChatRefusal.malformed("the message is not a WeChat push XML with FromUserName and ToUserName")
            }
            // Retries of one message share a key: MsgId, or for events FromUserName + CreateTime.
            let messageKey: String
            if let id = message["MsgId"], !id.isEmpty { messageKey = "msg-\(id)" } else { messageKey = "event-\(message["CreateTime"] ?? "")" }
            let flightKey = "\(account):\(user):\(messageKey)"
            let accepted = flights.attempt(key: flightKey, user: user, budget: configuration.budget, decide: { [self] done in
                upstream.ask(message, plain: plain, query: query) { [self] reply in
                    work.async { done(self.answer(for: reply, to: message, user: user, account: account, key: messageKey)) }
                }
            }, respond: { [self] passive in
                respond(self.response(passive, encrypted: encrypted, nonce: nonce))
            })
            if !accepted { respond(WeChatEndpoint.text(503, "too many messages in flight\n")) }
        } catch let refusal as WeChatRefusal {
            respond(WeChatEndpoint.refused(refusal))
        } catch {
            respond(WeChatEndpoint.text(500, "\(error)\n"))
        }
    }

    private func response(_ passive: WeChatPassive, encrypted: Bool, nonce: String) -> HTTPResponse {
        switch passive {
        case .success:
            return WeChatEndpoint.text(200, "success")
        case .reply(let xml):
            guard encrypted else { return HTTPResponse(status: 200, contentType: "application/xml; charset=utf-8", body: Array(xml.utf8)) }
            do {
                let cipher = try crypto.encrypt(Array(xml.utf8))
                let stamp = String(Int(Date().timeIntervalSince1970))
                let signature = WeChatCrypto.signature([crypto.token, stamp, nonce, cipher])
                let outer = WeChatXML([("Encrypt", cipher), ("MsgSignature", signature), ("TimeStamp", stamp), ("Nonce", nonce)])
                return HTTPResponse(status: 200, contentType: "application/xml; charset=utf-8", body: Array(outer.serialized().utf8))
            } catch {
                // Fail closed: nothing rather than an unencrypted reply.
                return WeChatEndpoint.text(200, "success")
            }
        }
    }

    /// Decides the bot's reply and writes the answer (runs off the event loops: the gate blocks).
    private func answer(for reply: WeChatBotReply, to message: WeChatXML, user: String, account: String, key: String) -> WeChatAnswer {
        func text(_ content: String) -> WeChatAnswer {
            let parts = WeChatEndpoint.split(content, maxBytes: configuration.maxReplyBytes)
            guard parts.count == 1 else { return WeChatAnswer(xml: nil, texts: parts) }
            let xml = WeChatXML([("ToUserName", user), ("FromUserName", account), ("CreateTime", String(Int(Date().timeIntervalSince1970))),
                                 ("MsgType", "text"), ("Content", content)])
            return WeChatAnswer(xml: xml.serialized(), texts: parts)
        }
        switch reply {
        case .nothing:
            return .nothing
        case .failed(let why):
            FileHandle.standardError.write(Data("replyguard serve: wechat \(WeChatGate.messageID(user: user, key: key)): \(why); the user gets the fallback reply\n".utf8))
            return text(gate.fallbackReply)
        case .text(let content):
            switch gate.decide(Array(content.utf8), user: user, key: key) {
            case .publish: return text(content)
            case .replace(let replacement), .hold(_, let replacement): return text(replacement)
            case .stopped: return .nothing
            }
        case .other(let xml, let words):
            switch gate.decide(Array(words.utf8), user: user, key: key) {
            case .publish:
                let nested = Set(xml.fields.filter { $0.value.hasPrefix("<") }.map(\.name))
                return WeChatAnswer(xml: xml.serialized(nested: nested), texts: [])
            case .replace(let replacement), .hold(_, let replacement): return text(replacement)
            case .stopped: return .nothing
            }
        }
    }

    /// `text` in parts of at most `maxBytes` UTF-8 bytes, cut between characters (after the decision:
    /// the whole reply was decided as one).
    static func split(_ text: String, maxBytes: Int) -> [String] {
        guard text.utf8.count > maxBytes else { return [text] }
        var parts: [String] = []
        var current = ""
        var size = 0
        for character in text {
            let length = String(character).utf8.count
            if size + length > maxBytes, !current.isEmpty {
                parts.append(current)
                current = ""
                size = 0
            }
            current.append(character)
            size += length
        }
        if !current.isEmpty { parts.append(current) }
        return parts
    }

    /// A reply decided after its budget: through the customer-service API, at most once (a part that may
    /// have been shown is not sent again, and the parts after it are not sent).
    private func deliverLate(key: String, user: String, texts: [String]) {
        guard let api else {
            FileHandle.standardError.write(Data("replyguard serve: wechat \(key): the reply was decided after the answer budget and there is no AppSecret (--wechat-secret-file) for the customer-service API: it is not delivered\n".utf8))
            return
        }
        // The flight's key is ACCOUNT:OPENID:MESSAGE-KEY; the record names the message as the audit log does.
        let messageKey = String(key.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).last ?? Substring(key))
        api.sendTexts(to: user, texts) { [gate] result, sent in gate.recordLate(user: user, key: messageKey, result: result, sent: sent, parts: texts.count) }
    }

    /// How many of `parts` the first `bytes` bytes are (nil when they do not end between two parts).
    static func partsSent(_ parts: [String], bytes: Int) -> Int? {
        var total = 0
        for (index, part) in parts.enumerated() {
            if total == bytes { return index }
            total += part.utf8.count
        }
        return total == bytes ? parts.count : nil
    }

    /// Delivers every approved held reply of the `wechat` channel (on the delivery queue, one at a time).
    private func deliverApproved() {
        guard let api else { return }
        while true {
            let approved: WeChatGate.Approved?
            do { approved = try gate.claimApproved(by: owner) } catch {
                FileHandle.standardError.write(Data("replyguard serve: wechat: cannot read approved replies: \(error)\n".utf8))
                return
            }
            guard let approved else { return }
            do {
                guard try deliver(approved, api: api) else { return } // the claim's lease runs out; tried again then
            } catch {
                FileHandle.standardError.write(Data("replyguard serve: wechat: review \(approved.review): \(error)\n".utf8))
                return
            }
        }
    }

    /// Delivers one claimed approved reply at most once: part by part, each part's send noted in the
    /// queue before it goes out and its success after, so a delivery taken over (after the lease, or a
    /// restart) resumes after the parts that surely went out — and withdraws the reply when a part may or
    /// may not have been shown. False when this round stops short (a part surely not sent: tried again
    /// when the claim lapses).
    private func deliver(_ approved: WeChatGate.Approved, api: WeChatPlatformAPI) throws -> Bool {
        let review = approved.review
        guard let user = approved.user else {
            try gate.undeliverable(review, because: "no WeChat user in its message id")
            return true
        }
        let parts = WeChatEndpoint.split(approved.text, maxBytes: configuration.maxReplyBytes)
        func stop(_ reason: String, sent: Int) throws {
            FileHandle.standardError.write(Data("replyguard serve: wechat: review \(review) withdrawn: \(reason)\n".utf8))
            try gate.undeliverable(review, because: reason, parts: parts.count, sent: sent)
        }
        guard let resumed = WeChatEndpoint.partsSent(parts, bytes: approved.sentBytes) else {
            try stop("its delivery record (\(approved.sentBytes) bytes sent) does not end between two of its \(parts.count) parts; "
                     + "nothing more is sent, so nothing appears twice", sent: 0)
            return true
        }
        if approved.sending {
            try stop("an earlier delivery stopped while sending part \(resumed + 1) of \(parts.count) (its server stopped, or its claim lapsed): "
                     + "that part may or may not have been shown; \(WeChatGate.progress(resumed, of: parts.count)); "
                     + "it and the rest are not sent, so nothing appears twice", sent: resumed)
            return true
        }
        var sent = resumed
        var sentBytes = approved.sentBytes
        while sent < parts.count {
            let (number, before) = (sent + 1, sentBytes)
            let journal = WeChatSendJournal(willSend: { [gate, owner] in
                (try? gate.recordDelivery(review, by: owner, sentBytes: before, sending: true)) == true
            }, notSent: { [gate, owner] why, retryIn in
                _ = try? gate.recordDelivery(review, by: owner, sentBytes: before, sending: false)
                let next = retryIn.map { "; trying again in \($0 < 1 ? String(format: "%.1f", $0) : String(Int($0))) s" } ?? ""
                FileHandle.standardError.write(Data("replyguard serve: wechat: review \(review) part \(number) of \(parts.count) not sent (\(why))\(next)\n".utf8))
            })
            let done = DispatchSemaphore(value: 0)
            let box = ResultBox()
            api.sendText(to: user, parts[sent], journal: journal) { result in
                box.result = result
                done.signal()
            }
            done.wait()
            switch box.result ?? .failed("no result") {
            case .sent:
                sent += 1
                sentBytes += parts[sent - 1].utf8.count
                // (Throws, leaving the send noted as under way, when the queue cannot be written: a delivery
                // taken over then withdraws the reply rather than send this part again.)
                guard try gate.recordDelivery(review, by: owner, sentBytes: sentBytes, sending: false) else {
                    FileHandle.standardError.write(Data("replyguard serve: wechat: review \(review) is no longer this server's to deliver; stopped after part \(sent)\n".utf8))
                    return true
                }
            case .outOfWindow(let why):
                try stop("the customer-service API refused it for good: \(why)" + (sent > 0 ? "; \(WeChatGate.progress(sent, of: parts.count))" : ""), sent: sent)
                return true
            case .uncertain(let why):
                try stop("part \(number) of \(parts.count) may or may not have been shown (\(why)); \(WeChatGate.progress(sent, of: parts.count)); "
                         + "it is not sent again and the rest is not sent, so nothing appears twice", sent: sent)
                return true
            case .failed(let why):
                let count: Int = lock.withLock {
                    failures[review, default: 0] += 1
                    return failures[review]!
                }
                FileHandle.standardError.write(Data("replyguard serve: wechat: review \(review) not delivered (try \(count)): \(WeChatGate.progress(sent, of: parts.count)); part \(number): \(why)\n".utf8))
                if count >= 5 {
                    try stop("the customer-service API failed 5 times: \(why); \(WeChatGate.progress(sent, of: parts.count)), the rest was not shown", sent: sent)
                    return true
                }
                return false
            }
        }
        try gate.delivered(review, by: owner, parts: parts.count, resumed: resumed)
        return true
    }
}

private final class ResultBox: @unchecked Sendable { // written before the semaphore is signalled, read after
    var result: WeChatSendResult?
}

extension ServerApp {
    /// Serves a WeChat official account's callback at `configuration.path` (call before the server
    /// starts; it calls the bot and the platform's API once the server has attached its event loops).
    public func enableWeChat(_ configuration: WeChatConfiguration) throws {
        let outbound = WeChatOutbound()
        wechat = (try WeChatEndpoint(configuration: configuration, app: self, http: outbound), outbound)
    }

    /// The server's event loops are up: the WeChat endpoint gets its outbound client and starts
    /// delivering approved replies.
    func attachWeChat(eventLoops: EventLoopGroup) {
        guard let (endpoint, outbound) = wechat else { return }
        outbound.attach(OutboundHTTPClient(group: eventLoops))
        endpoint.start()
    }

    /// The callback's answer: completes within the answer budget (or at once when refused).
    func wechatAnswer(_ endpoint: WeChatEndpoint, _ request: HTTPRequest) -> Answer {
        .later { loop in
            let promise = loop.makePromise(of: HTTPResponse.self)
            endpoint.handle(request) { promise.succeed($0) }
            return promise.futureResult
        }
    }
}
