import Foundation

/// Slows down guessing of the token: wrong credentials (a wrong bearer token, Basic password or sign-in
/// form token) are counted per client address. The first ``freeFailures`` cost nothing; each later one
/// blocks the address for twice as long as the one before (``firstBlock`` seconds, then double, at most
/// ``longestBlock``). While blocked, every request from the address that presents credentials is
/// answered 429 without being checked — the right token too, or the block would be an oracle. A
/// request with a valid session cookie is never blocked; right credentials forget the address's count.
final class SignInThrottle: @unchecked Sendable { // `clients` is only touched under `lock`
    static let freeFailures = 10
    static let firstBlock: TimeInterval = 15
    static let longestBlock: TimeInterval = 900
    /// Addresses remembered at most; past it, the ones whose block ended longest ago are forgotten first.
    static let capacity = 10_000

    private struct Client {
        var failures = 0
        var blockedUntil = Date.distantPast
        var lastFailure = Date.distantPast
    }

    private let lock = NSLock()
    private var clients: [String: Client] = [:]

    /// Whole seconds until `client` may try again; nil when it is not blocked.
    func retryAfter(_ client: String, now: Date = Date()) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard let entry = clients[client], entry.blockedUntil > now else { return nil }
        return max(1, Int(entry.blockedUntil.timeIntervalSince(now).rounded(.up)))
    }

    /// Counts a wrong guess; returns the seconds `client` is now blocked for, if it is.
    @discardableResult
    func failed(_ client: String, now: Date = Date()) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        var entry = clients[client] ?? Client()
        // A count that has been quiet for a day starts again.
        if now.timeIntervalSince(entry.lastFailure) > 86_400 { entry = Client() }
        entry.failures += 1
        entry.lastFailure = now
        var blocked: Int?
        if entry.failures > SignInThrottle.freeFailures {
            let doublings = min(entry.failures - SignInThrottle.freeFailures - 1, 16)
            let seconds = min(SignInThrottle.firstBlock * Double(1 << doublings), SignInThrottle.longestBlock)
            entry.blockedUntil = now.addingTimeInterval(seconds)
            blocked = Int(seconds)
        }
        if clients[client] == nil, clients.count >= SignInThrottle.capacity { forgetOne(now: now) }
        clients[client] = entry
        return blocked
    }

    /// Right credentials: the address starts again from nothing.
    func succeeded(_ client: String) {
        lock.lock()
        clients[client] = nil
        lock.unlock()
    }

    private func forgetOne(now: Date) {
        clients = clients.filter { $0.value.blockedUntil > now || now.timeIntervalSince($0.value.lastFailure) < 3600 }
        if clients.count >= SignInThrottle.capacity, let oldest = clients.min(by: { $0.value.blockedUntil < $1.value.blockedUntil }) {
            clients[oldest.key] = nil
        }
    }
}
