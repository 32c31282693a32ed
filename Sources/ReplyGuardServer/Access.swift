import Foundation

/// Who may do what: the bearer token for the API, and reviewer sessions for the page.
///
/// The page signs in with a form (reviewer name + the token) that sets an `HttpOnly; SameSite=Strict`
/// session cookie, chosen over HTTP Basic because a browser then never holds the token itself, and the
/// reviewer's name is asked for once, plainly. Basic credentials (`name:token`) are accepted too, for
/// scripts and for a browser that is handed a URL with credentials. Forms that change anything carry a
/// per-session CSRF token (compared in constant time), and a request whose `Origin` or
/// `Sec-Fetch-Site` says it came from another site is refused — either check alone would stop a forged
/// form; a SameSite=Strict cookie is not even sent with one.
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

    /// nil: no token (only with --insecure-local on loopback): everything is open.
    let token: [UInt8]?
    private let lock = NSLock()
    private var sessions: [String: (name: String, csrf: String, expires: Date)] = [:]
    private var basicCSRF: [String: String] = [:]

    init(token: String?) { self.token = token.map { Array($0.utf8) } }

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

    /// True when the request carries the bearer token (or no token is configured).
    func apiAllowed(_ request: HTTPRequest) -> Bool {
        if open { return true }
        guard let header = request.header("authorization") else { return false }
        if header.lowercased().hasPrefix("bearer ") { return tokenMatches(String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)) }
        if let credentials = basic(header) { return tokenMatches(credentials.password) }
        return false
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
        if let header = request.header("authorization"), let credentials = basic(header), tokenMatches(credentials.password) {
            let reviewer = Access.cleanName(credentials.name)
            guard !reviewer.isEmpty else { return nil }
            lock.lock()
            defer { lock.unlock() }
            let csrf = basicCSRF[reviewer] ?? Access.randomToken()
            basicCSRF[reviewer] = csrf
            return Reviewer(name: reviewer, csrf: csrf, session: nil)
        }
        return nil
    }

    /// Starts a session for `name` when `token` is right; returns the session id.
    func signIn(name: String, token candidate: String) -> String? {
        let name = Access.cleanName(name)
        guard !name.isEmpty, tokenMatches(candidate) else { return nil }
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

    static func notCrossSite(_ request: HTTPRequest) -> Bool {
        if let site = request.header("sec-fetch-site"), site != "same-origin", site != "none" { return false }
        if let origin = request.header("origin"), let host = request.header("host") {
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
