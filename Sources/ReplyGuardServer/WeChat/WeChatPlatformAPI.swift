import Foundation

/// An HTTP response from an outbound request.
struct OutboundReply: Sendable {
    let status: Int
    let body: [UInt8]
}

/// The outbound HTTP the WeChat front end needs: the bot, and the platform's API. One request, the whole
/// body back (or an error), `completion` called once from any thread.
protocol WeChatHTTP: Sendable {
    func send(method: String, url: String, headers: [(String, String)], body: [UInt8], timeout: TimeInterval,
              completion: @escaping @Sendable (Result<OutboundReply, Error>) -> Void)
}

/// How a customer-service message ended.
enum WeChatSendResult: Sendable, Equatable {
    case sent
    /// 45015: the user has not written within the window the platform allows (48 h), or unsubscribed.
    /// Recorded; never tried again.
    case outOfWindow(String)
    /// Surely not shown, after the retries: the request never reached the platform (no connection, no
    /// access token) or the platform answered with an error code (it did not send). May be tried later.
    case failed(String)
    /// Perhaps shown: the request reached the platform and no answer said how it ended (a timeout or a
    /// closed connection after the request was written, an HTTP error without an `errcode`, a body that
    /// does not read). `custom/send` has no idempotency key, so it is never sent again.
    case uncertain(String)
}

/// Told around each try of a customer-service send, so a sender can keep a durable note of a request
/// that may be at the platform: ``willSend`` just before the request goes out (false: it does not, and
/// the send ends `failed`), ``notSent`` after a try that surely did not show the message (`retryIn`:
/// seconds until the next try, nil when none follows).
struct WeChatSendJournal: Sendable {
    var willSend: @Sendable () -> Bool
    var notSent: @Sendable (_ why: String, _ retryIn: TimeInterval?) -> Void

    static let none = WeChatSendJournal(willSend: { true }, notSent: { _, _ in })
}

/// The platform's API: an access token from the AppID and secret (cached until shortly before it
/// expires; fetched again when the platform says it is invalid), and customer-service text messages.
final class WeChatPlatformAPI: @unchecked Sendable { // `token`, `expires` and `waiting` are only touched under `lock`
    let base: String
    let appID: String
    private let secret: String
    private let http: WeChatHTTP
    let timeout: TimeInterval
    /// Delays before the second and later tries of a send that failed for a reason other than 45015.
    let retryDelays: [TimeInterval]
    private var token: String?
    private var expires: TimeInterval = 0
    private var waiting: [@Sendable (Result<String, WeChatAPIError>) -> Void]?
    private let lock = NSLock()
    /// Access tokens fetched (tests).
    private(set) var tokensFetched = 0

    init(base: String, appID: String, secret: String, http: WeChatHTTP, timeout: TimeInterval = 10, retryDelays: [TimeInterval] = [1, 4]) {
        self.base = base.hasSuffix("/") ? String(base.dropLast()) : base
        self.appID = appID
        self.secret = secret
        self.http = http
        self.timeout = timeout
        self.retryDelays = retryDelays
    }

    struct WeChatAPIError: Error, CustomStringConvertible {
        let code: Int?
        let description: String
    }

    /// The cached token, or a new one (concurrent callers share one fetch).
    func accessToken(_ completion: @escaping @Sendable (Result<String, WeChatAPIError>) -> Void) {
        let now = Date().timeIntervalSince1970
        let cached: String? = lock.withLock {
            if let token, now < expires { return token }
            return nil
        }
        if let cached { return completion(.success(cached)) }
        let first: Bool = lock.withLock {
            if waiting != nil { waiting!.append(completion); return false }
            waiting = [completion]
            return true
        }
        guard first else { return }
        let url = "\(base)/cgi-bin/token?grant_type=client_credential&appid=\(WeChatPlatformAPI.escape(appID))&secret=\(WeChatPlatformAPI.escape(secret))"
        http.send(method: "GET", url: url, headers: [], body: [], timeout: timeout) { [self] result in
            let outcome: Result<String, WeChatAPIError>
            var lifetime: TimeInterval = 0
            switch result {
            case .failure(let error):
                outcome = .failure(WeChatAPIError(code: nil, description: "cannot reach \(base) for an access token: \(error)"))
            case .success(let reply):
                let object = (try? JSONSerialization.jsonObject(with: Data(reply.body))) as? [String: Any]
                if let token = object?["access_token"] as? String, !token.isEmpty {
                    lifetime = (object?["expires_in"] as? Double) ?? 7200
                    outcome = .success(token)
                } else {
                    let code = object?["errcode"] as? Int
                    let message = object?["errmsg"] as? String ?? String(decoding: reply.body.prefix(200), as: UTF8.self)
                    outcome = .failure(WeChatAPIError(code: code, description: "no access token (HTTP \(reply.status), errcode \(code.map(String.init) ?? "none"): \(message))"))
                }
            }
            let callbacks: [@Sendable (Result<String, WeChatAPIError>) -> Void] = lock.withLock {
                tokensFetched += 1
                if case .success(let token) = outcome {
                    self.token = token
                    // Renewed five minutes (or a tenth of its life) before the platform's expiry.
                    expires = Date().timeIntervalSince1970 + max(0, lifetime - min(300, lifetime / 10))
                }
                defer { waiting = nil }
                return waiting ?? []
            }
            for callback in callbacks { callback(outcome) }
        }
    }

    private func forget(_ stale: String) {
        lock.withLock { if token == stale { token = nil } }
    }

    /// Sends `text` to `user` as a customer-service text message: on 45015 at once `outOfWindow`; an
    /// invalid token is fetched again once; a try that surely did not reach the platform, or that it
    /// answered with another error code, is tried again after ``retryDelays``; a try that may have shown
    /// the message ends `uncertain` at once, never tried again. The journal is told around each try.
    func sendText(to user: String, _ text: String, journal: WeChatSendJournal = .none, completion: @escaping @Sendable (WeChatSendResult) -> Void) {
        attempt(user: user, text: text, try: 0, tokenRenewed: false, journal: journal, completion: completion)
    }

    /// True when `error` (from ``WeChatHTTP/send``) means the request surely did not reach the platform.
    static func surelyNotSent(_ error: Error) -> Bool {
        if let error = error as? OutboundError { return error.requestNotSent }
        return error is WeChatError // the server not started, or not an http(s) URL: nothing was sent
    }

    private func attempt(user: String, text: String, try number: Int, tokenRenewed: Bool, journal: WeChatSendJournal,
                         completion: @escaping @Sendable (WeChatSendResult) -> Void) {
        @Sendable func again(_ why: String, sendTried: Bool) {
            let delay = number < retryDelays.count ? retryDelays[number] : nil
            if sendTried { journal.notSent(why, delay) }
            guard let delay else { return completion(.failed(why)) }
            DispatchQueue.global().asyncAfter(deadline: .now() + delay) { [self] in
                attempt(user: user, text: text, try: number + 1, tokenRenewed: tokenRenewed, journal: journal, completion: completion)
            }
        }
        accessToken { [self] token in
            guard case .success(let token) = token else {
                if case .failure(let error) = token { again(error.description, sendTried: false) }
                return
            }
            // Off the event loop: the journal may write to disk.
            DispatchQueue.global().async { [self] in
                guard journal.willSend() else { return completion(.failed("the send could not be recorded before it went out; not sent")) }
                let body = "{\"touser\":\(jsonString(user)),\"msgtype\":\"text\",\"text\":{\"content\":\(jsonString(text))}}"
                http.send(method: "POST", url: "\(base)/cgi-bin/message/custom/send?access_token=\(WeChatPlatformAPI.escape(token))",
                          headers: [("Content-Type", "application/json; charset=utf-8")], body: Array(body.utf8), timeout: timeout) { [self] result in
                    DispatchQueue.global().async { [self] in
                        switch result {
                        case .failure(let error):
                            if WeChatPlatformAPI.surelyNotSent(error) {
                                again("cannot reach \(base): \(error)", sendTried: true)
                            } else {
                                completion(.uncertain("\(base) may have shown it: \(error)"))
                            }
                        case .success(let reply):
                            let object = (try? JSONSerialization.jsonObject(with: Data(reply.body))) as? [String: Any]
                            let message = object?["errmsg"] as? String ?? String(decoding: reply.body.prefix(200), as: UTF8.self)
                            guard let code = object?["errcode"] as? Int else {
                                // No errcode: nothing says whether the platform sent it.
                                return completion(.uncertain("HTTP \(reply.status) without an errcode: \(message)"))
                            }
                            switch code {
                            case 0 where reply.status == 200:
                                completion(.sent)
                            case 0:
                                completion(.uncertain("HTTP \(reply.status) with errcode 0: \(message)"))
                            case 45015:
                                journal.notSent("45015 \(message)", nil)
                                completion(.outOfWindow("45015 \(message)"))
                            case let code where [40001, 40014, 42001].contains(code) && !tokenRenewed:
                                journal.notSent("errcode \(code): \(message); the access token is fetched again", 0)
                                forget(token)
                                attempt(user: user, text: text, try: number, tokenRenewed: true, journal: journal, completion: completion)
                            default:
                                // An error code: the platform did not send it (-1 busy, 45009 rate limit, …).
                                again("HTTP \(reply.status), errcode \(code): \(message)", sendTried: true)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Sends the parts in order, stopping at the first that does not go out: the result of the last tried
    /// and how many parts went out (all of them when `sent`).
    func sendTexts(to user: String, _ texts: [String], completion: @escaping @Sendable (WeChatSendResult, Int) -> Void) {
        @Sendable func from(_ index: Int) {
            guard index < texts.count else { return completion(.sent, texts.count) }
            sendText(to: user, texts[index]) { result in
                guard result == .sent else { return completion(result, index) }
                from(index + 1)
            }
        }
        from(0)
    }

    static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
    }
}
