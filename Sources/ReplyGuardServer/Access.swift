import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Who may do what: the bearer token for the API, and reviewer sessions for the page.
///
/// The page signs in with a form (reviewer name + the token) that sets an `HttpOnly; SameSite=Strict`
/// session cookie, chosen over HTTP Basic because a browser then never holds the token itself, and the
/// reviewer's name is asked for once, plainly. Basic credentials (`name:token`) are accepted too, for
/// scripts and for a browser that is handed a URL with credentials. Forms that change anything carry a
/// per-session CSRF token (compared in constant time), and a request whose `Origin` or
/// `Sec-Fetch-Site` says it came from another site is refused — either check alone would stop a forged
/// form; a SameSite=Strict cookie is not even sent with one.
///
/// The JSON API refuses what a page on another site can send: a request whose `Origin` or
/// `Sec-Fetch-Site` names another site, and a body not declared `application/json` (a form's
/// `text/plain` or urlencoded body needs no CORS preflight). Only requests for this server's own host
/// names are answered (``hostAllowed(_:)``), so a page on a name rebound to this address (DNS
/// rebinding) is not. Wrong credentials are counted per client address (``SignInThrottle``).
final class Access: @unchecked Sendable { // `sessions` and `basicCSRF` are only touched under `lock`
    struct Reviewer {
        let name: String
        /// The CSRF token the page's forms must carry.
        let csrf: String
        /// The session id, when signed in through the form.
        let session: String?
    }

    static let cookieName = "rg_session"
    static let sessionLifetime: TimeInterval = 12 * 3600

    /// What a credential check says.
    enum Verdict: Equatable {
        case allowed
        /// Missing or wrong credentials.
        case refused
        /// Too many wrong guesses from this client: try again after this many seconds.
        case throttled(Int)
    }

    /// nil: no token (only with --insecure-local on loopback): everything is open.
    let token: [UInt8]?
    /// Host names served besides IP addresses and `localhost` (lowercased, without a trailing dot).
    let hostNames: Set<String>
    /// Peers (canonical addresses) whose last `X-Forwarded-For` entry names the client.
    let trustedProxies: Set<String>
    let throttle = SignInThrottle()
    private let lock = NSLock()
    private var sessions: [String: (name: String, csrf: String, expires: Date)] = [:]
    private var basicCSRF: [String: String] = [:]

    init(token: String?, hostNames: [String] = [], trustedProxies: [String] = []) {
        self.token = token.map { Array($0.utf8) }
        self.hostNames = Set(hostNames.compactMap(Access.hostName))
        self.trustedProxies = Set(trustedProxies.compactMap(Access.canonicalAddress))
    }

    var open: Bool { token == nil }

    /// Compares in time that depends only on the lengths, never on where the first difference is.
    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(a.count == b.count ? 0 : 1)
        let n = max(a.count, b.count)
        for i in 0..<n {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            difference |= x ^ y
        }
        return difference == 0
    }

    func tokenMatches(_ candidate: String) -> Bool {
        guard let token else { return true }
        return Access.constantTimeEquals(Array(candidate.utf8), token)
    }

    /// Whether the request may use the API: it carries the bearer token (or Basic `NAME:TOKEN`), or no
    /// token is configured. A wrong token counts against the client.
    func api(_ request: HTTPRequest) -> Verdict {
        if open { return .allowed }
        guard let header = request.header("authorization") else { return .refused }
        if header.lowercased().hasPrefix("bearer ") {
            return check(String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces), client: client(request))
        }
        if let credentials = basic(header) { return check(credentials.password, client: client(request)) }
        return .refused
    }

    /// Compares a presented token, unless the client is blocked; counts a wrong one.
    private func check(_ candidate: String, client: String) -> Verdict {
        if open { return .allowed }
        if let wait = throttle.retryAfter(client) { return .throttled(wait) }
        if tokenMatches(candidate) {
            throttle.succeeded(client)
            return .allowed
        }
        if let wait = throttle.failed(client) { return .throttled(wait) }
        return .refused
    }

    /// Seconds a page request must wait because its client is blocked: only a request that presents
    /// credentials (Basic, or the sign-in form) and has no valid session is held back.
    func blocked(_ request: HTTPRequest, signingIn: Bool) -> Int? {
        guard !open, signingIn || request.header("authorization") != nil else { return nil }
        if let id = request.cookie(Access.cookieName) {
            lock.lock()
            let valid = sessions[id].map { $0.expires > Date() } ?? false
            lock.unlock()
            if valid { return nil }
        }
        return throttle.retryAfter(client(request))
    }

    /// The address a request is counted under: its peer, or — when the peer is a trusted proxy — the
    /// last `X-Forwarded-For` entry (the one that proxy added).
    func client(_ request: HTTPRequest) -> String {
        let peer = request.peer.flatMap(Access.canonicalAddress) ?? request.peer ?? "?"
        guard trustedProxies.contains(peer), let forwarded = request.headers.last(where: { $0.0.lowercased() == "x-forwarded-for" })?.1,
              let last = forwarded.split(separator: ",").last?.trimmingCharacters(in: .whitespaces), !last.isEmpty else { return peer }
        return String(last.prefix(64))
    }

    /// Whether the request is for this server: its `Host` (at most one) is an IP address, `localhost`, or
    /// one of ``hostNames`` (the port is not compared). Any other name may be an attacker's that resolves
    /// to this address (DNS rebinding), whose pages would then be same-origin with the API. A request
    /// without `Host` (HTTP/1.0) is not from a browser and is served.
    func hostAllowed(_ request: HTTPRequest) -> Bool {
        let hosts = request.headers.filter { $0.0.lowercased() == "host" }
        guard hosts.count <= 1 else { return false }
        guard let value = hosts.first?.1 else { return true }
        guard let name = Access.hostName(value) else { return false }
        return name == "localhost" || hostNames.contains(name) || Access.canonicalAddress(name) != nil
    }

    /// The name in a `Host` value (or a `--host-name`): lowercased, port and one trailing dot removed,
    /// brackets of an IPv6 address removed; nil when it is not a host name at all.
    static func hostName(_ value: String) -> String? {
        var text = Substring(value.trimmingCharacters(in: .whitespaces).lowercased())
        func isPort(_ port: Substring) -> Bool { !port.isEmpty && port.count <= 5 && port.allSatisfy { ("0"..."9").contains($0) } }
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            let rest = text[text.index(after: close)...]
            guard rest.isEmpty || (rest.hasPrefix(":") && isPort(rest.dropFirst())) else { return nil }
            let address = text[text.index(after: text.startIndex)..<close]
            return address.isEmpty ? nil : String(address)
        }
        if let colon = text.firstIndex(of: ":") {
            guard isPort(text[text.index(after: colon)...]) else { return nil }
            text = text[..<colon]
        }
        if text.hasSuffix(".") { text = text.dropLast() }
        guard !text.isEmpty, text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "." || $0 == "_") }) else { return nil }
        return String(text)
    }

    /// An IPv4 or IPv6 address in its canonical text form; nil when `text` is not one.
    static func canonicalAddress(_ text: String) -> String? {
        var v4 = in_addr()
        var v6 = in6_addr()
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        func decoded(_ buffer: [CChar]) -> String { String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        if inet_pton(AF_INET, text, &v4) == 1, inet_ntop(AF_INET, &v4, &buffer, socklen_t(buffer.count)) != nil {
            return decoded(buffer)
        }
        if inet_pton(AF_INET6, text, &v6) == 1, inet_ntop(AF_INET6, &v6, &buffer, socklen_t(buffer.count)) != nil {
            return decoded(buffer)
        }
        return nil
    }

    /// Whether a `/v1` request's body is declared JSON: one that has a body or a `Content-Type` must say
    /// `application/json`. A form (`text/plain`, urlencoded, multipart) is what a page on another site
    /// can send without a CORS preflight.
    static func declaresJSON(_ request: HTTPRequest) -> Bool {
        let type = request.header("content-type")
        guard !request.body.isEmpty || type != nil else { return true }
        guard let type else { return false }
        let mediaType = type.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false)[0]
        return mediaType.trimmingCharacters(in: .whitespaces).lowercased() == "application/json"
    }

    /// The reviewer behind a page request: a session cookie, or Basic `name:token`; with no token
    /// configured, a session still names the reviewer.
    func reviewer(_ request: HTTPRequest) -> Reviewer? {
        if let id = request.cookie(Access.cookieName) {
            lock.lock()
            defer { lock.unlock() }
            if let session = sessions[id], session.expires > Date() {
                return Reviewer(name: session.name, csrf: session.csrf, session: id)
            }
            sessions[id] = nil
        }
        if let header = request.header("authorization"), let credentials = basic(header) {
            let reviewer = Access.cleanName(credentials.name)
            guard !reviewer.isEmpty, check(credentials.password, client: client(request)) == .allowed else { return nil }
            lock.lock()
            defer { lock.unlock() }
            let csrf = basicCSRF[reviewer] ?? Access.randomToken()
            basicCSRF[reviewer] = csrf
            return Reviewer(name: reviewer, csrf: csrf, session: nil)
        }
        return nil
    }

    /// Starts a session for `name` when `token` is right; returns the session id. A wrong token counts
    /// against `client`.
    func signIn(name: String, token candidate: String, client: String) -> String? {
        let name = Access.cleanName(name)
        guard !name.isEmpty, check(candidate, client: client) == .allowed else { return nil }
        let id = Access.randomToken()
        lock.lock()
        defer { lock.unlock() }
        let now = Date()
        sessions = sessions.filter { $0.value.expires > now }
        sessions[id] = (name, Access.randomToken(), now.addingTimeInterval(Access.sessionLifetime))
        return id
    }

    func signOut(_ session: String) {
        lock.lock()
        sessions[session] = nil
        lock.unlock()
    }

    /// A state-changing page request is allowed when its form carries the reviewer's CSRF token and
    /// nothing says it came from another site.
    static func sameOriginForm(_ request: HTTPRequest, fields: [String: String], reviewer: Reviewer) -> Bool {
        guard Access.constantTimeEquals(Array((fields["csrf"] ?? "").utf8), Array(reviewer.csrf.utf8)) else { return false }
        return notCrossSite(request)
    }

    /// False when `Sec-Fetch-Site` says another site (anything but `same-origin` or `none`), or when an
    /// `Origin` is not exactly this server's origin (`http://` or `https://` and the `Host`, which
    /// ``hostAllowed(_:)`` has checked).
    static func notCrossSite(_ request: HTTPRequest) -> Bool {
        if let site = request.header("sec-fetch-site"), site != "same-origin", site != "none" { return false }
        if let origin = request.header("origin") {
            guard let host = request.header("host") else { return false }
            return origin == "http://\(host)" || origin == "https://\(host)"
        }
        return true
    }

    /// A reviewer name as stored: trimmed, control characters dropped, at most 64 characters.
    static func cleanName(_ name: String) -> String {
        String(String.UnicodeScalarView(name.trimmingCharacters(in: .whitespacesAndNewlines).unicodeScalars
            .filter { !CharacterSet.controlCharacters.contains($0) }.prefix(64)))
    }

    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<4).map { _ in String(generator.next() as UInt64, radix: 16).leftPadded(16) }.joined()
    }

    private func basic(_ header: String) -> (name: String, password: String)? {
        guard header.lowercased().hasPrefix("basic "),
              let data = Data(base64Encoded: String(header.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
              let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":") else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
