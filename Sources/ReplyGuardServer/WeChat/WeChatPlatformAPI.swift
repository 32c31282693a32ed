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
    /// Any other failure, after the retries (recorded; the caller decides whether to try later).
    case failed(String)
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
    /// invalid token is fetched again once; other failures are tried again after ``retryDelays``.
    func sendText(to user: String, _ text: String, completion: @escaping @Sendable (WeChatSendResult) -> Void) {
        attempt(user: user, text: text, try: 0, tokenRenewed: false, completion: completion)
    }

    private func attempt(user: String, text: String, try number: Int, tokenRenewed: Bool, completion: @escaping @Sendable (WeChatSendResult) -> Void) {
        @Sendable func again(_ why: String) {
            guard number < retryDelays.count else { return completion(.failed(why)) }
            DispatchQueue.global().asyncAfter(deadline: .now() + retryDelays[number]) { [self] in
                attempt(user: user, text: text, try: number + 1, tokenRenewed: tokenRenewed, completion: completion)
            }
        }
        accessToken { [self] token in
            guard case .success(let token) = token else {
                if case .failure(let error) = token { again(error.description) }
                return
            }
            let body = "{\"touser\":\(jsonString(user)),\"msgtype\":\"text\",\"text\":{\"content\":\(jsonString(text))}}"
            http.send(method: "POST", url: "\(base)/cgi-bin/message/custom/send?access_token=\(WeChatPlatformAPI.escape(token))",
                      headers: [("Content-Type", "application/json; charset=utf-8")], body: Array(body.utf8), timeout: timeout) { [self] result in
                switch result {
                case .failure(let error):
                    again("cannot reach \(base): \(error)")
                case .success(let reply):
                    let object = (try? JSONSerialization.jsonObject(with: Data(reply.body))) as? [String: Any]
                    let code = object?["errcode"] as? Int
                    let message = object?["errmsg"] as? String ?? String(decoding: reply.body.prefix(200), as: UTF8.self)
                    switch code {
                    case 0 where reply.status == 200:
                        completion(.sent)
                    case 45015:
                        completion(.outOfWindow("45015 \(message)"))
                    case let code? where [40001, 40014, 42001].contains(code) && !tokenRenewed:
                        forget(token)
                        attempt(user: user, text: text, try: number, tokenRenewed: true, completion: completion)
                    default:
                        again("HTTP \(reply.status), errcode \(code.map(String.init) ?? "none"): \(message)")
                    }
                }
            }
        }
    }

    /// Sends the parts in order, stopping at the first that does not go out; the result of the last tried.
    func sendTexts(to user: String, _ texts: [String], completion: @escaping @Sendable (WeChatSendResult) -> Void) {
        guard let first = texts.first else { return completion(.sent) }
        sendText(to: user, first) { [self] result in
            guard result == .sent, texts.count > 1 else { return completion(result) }
            sendTexts(to: user, Array(texts.dropFirst()), completion: completion)
        }
    }

    static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
    }
}
