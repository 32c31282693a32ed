import Foundation

/// The platform's signed timestamp must be recent and its (timestamp, nonce) pair new: a captured push
/// cannot be sent again later, nor — in plain mode, whose signature does not cover the body — with
/// another body. The same pair with the same body is the platform (or a network) repeating itself and
/// is let through: it joins its message's flight (``WeChatFlights``) and gets the same answer.
final class WeChatReplayGuard: @unchecked Sendable { // `seen` is only touched under `lock`
    let window: TimeInterval
    let capacity: Int
    private var seen: [String: (body: String, until: TimeInterval)] = [:]
    private let lock = NSLock()

    /// - Parameters:
    ///   - window: seconds a timestamp may be off the server's clock either way.
    ///   - capacity: pairs remembered at most; past it new pushes are refused (fail closed) until old ones age out.
    init(window: TimeInterval, capacity: Int = 200_000) {
        self.window = window
        self.capacity = capacity
    }

    /// Admits a push whose signature has been checked. Throws when its timestamp is outside the window or
    /// its nonce was used with another body.
    func admit(timestamp: String, nonce: String, body: [UInt8], now: TimeInterval = Date().timeIntervalSince1970) throws(WeChatRefusal) {
        guard let stamp = TimeInterval(timestamp), stamp.isFinite else { throw .malformed("timestamp \(jsonString(timestamp)) is not a number") }
        guard abs(now - stamp) <= window else {
            throw WeChatRefusal(code: -40008, description: "timestamp \(timestamp) is \(Int(now - stamp)) s from this server's clock (more than \(Int(window)) s: stale, replayed, or a clock is wrong)")
        }
        let digest = WeChatCrypto.signature([String(decoding: body, as: UTF8.self)])
        let key = timestamp + "\u{0}" + nonce
        lock.lock()
        defer { lock.unlock() }
        if let entry = seen[key] {
            guard entry.body == digest else { throw WeChatRefusal(code: -40009, description: "nonce \(jsonString(nonce)) was already used with another message (replay)") }
            return
        }
        if seen.count >= capacity { seen = seen.filter { $0.value.until >= now } }
        guard seen.count < capacity else { throw WeChatRefusal(code: -40010, description: "too many recent pushes to remember their nonces; refused until older ones age out") }
        seen[key] = (digest, stamp + window + 1)
    }
}

/// What the service answers for one message, decided once: the passive reply (when it may go as one)
/// and the same reply as customer-service messages (for when the passive chance is gone).
struct WeChatAnswer: Sendable, Equatable {
    /// The plain reply XML for the platform; nil when none may go passively (nothing to say, or a reply
    /// too long for one message).
    var xml: String?
    /// The reply as customer-service text messages, in order (empty: nothing to send).
    var texts: [String]

    static let nothing = WeChatAnswer(xml: nil, texts: [])
}

/// How one attempt of the platform is answered.
enum WeChatPassive: Sendable, Equatable {
    /// The reply XML (encrypted by the caller in safe mode).
    case reply(String)
    /// `success`: the platform shows nothing and does not retry.
    case success
}

/// Single flight per message, and the delivery channel chosen once for it.
///
/// The platform pushes a message and, with no answer in 5 s, pushes it again (three times in all). The
/// first attempt starts the one bot call; every attempt waits for its decision at most `budget`. An
/// attempt answered in time gets the passive reply (the same one for every attempt: a lost answer is
/// repeated, never re-decided). An attempt whose budget runs out first commits the message to the
/// customer-service API: it and every later attempt get `success`, and the reply goes out through
/// ``deliverLate`` once decided. So a message gets a passive reply or customer-service messages, never both.
final class WeChatFlights: @unchecked Sendable { // `flights` and each flight's fields are only touched under `lock`
    enum Delivery: Sendable { case passive, customerService }

    final class Flight {
        let key: String
        let user: String
        let started: TimeInterval
        var answer: WeChatAnswer?
        var delivery: Delivery?
        var waiters: [Int: @Sendable (WeChatPassive) -> Void] = [:]
        var nextWaiter = 0
        init(key: String, user: String, started: TimeInterval) {
            self.key = key
            self.user = user
            self.started = started
        }
    }

    /// Seconds a message's flight is remembered after it started (the platform retries for 15 s; a
    /// repeated push inside the replay window must still find it).
    let lifetime: TimeInterval
    let capacity: Int
    /// Sends a reply through the customer-service API (called once per message at most, off the lock).
    let deliverLate: @Sendable (_ key: String, _ user: String, _ texts: [String]) -> Void
    private var flights: [String: Flight] = [:]
    private let lock = NSLock()
    private let timers = DispatchQueue(label: "replyguard.wechat.budget")
    /// Bot calls started (for tests and metrics).
    private(set) var started = 0

    init(lifetime: TimeInterval = 900, capacity: Int = 100_000, deliverLate: @escaping @Sendable (_ key: String, _ user: String, _ texts: [String]) -> Void) {
        self.lifetime = lifetime
        self.capacity = capacity
        self.deliverLate = deliverLate
    }

    /// One attempt of the platform for message `key` from `user`. Starts `decide` (the bot call and the
    /// gate) when this is the message's first attempt; `respond` is called exactly once, within about
    /// `budget` seconds. Returns false (and calls nothing) when too many messages are in flight.
    @discardableResult
    func attempt(key: String, user: String, budget: TimeInterval,
                 decide: @escaping @Sendable (_ done: @escaping @Sendable (WeChatAnswer) -> Void) -> Void,
                 respond: @escaping @Sendable (WeChatPassive) -> Void) -> Bool {
        let now = Date().timeIntervalSince1970
        enum Step {
            case answer(WeChatPassive)
            case start(Int)
            case wait(Int)
            case full
        }
        let step: Step = lock.withLock {
            if flights.count >= capacity { flights = flights.filter { now - $0.value.started < lifetime || $0.value.answer == nil } }
            if let flight = flights[key], now - flight.started < lifetime {
                if flight.delivery == .customerService { return .answer(.success) }
                if let answer = flight.answer { return .answer(WeChatFlights.passive(flight, answer)) }
                let id = flight.nextWaiter
                flight.nextWaiter += 1
                flight.waiters[id] = respond
                return .wait(id)
            }
            guard flights.count < capacity else { return .full }
            let flight = Flight(key: key, user: user, started: now)
            flight.waiters[0] = respond
            flight.nextWaiter = 1
            flights[key] = flight
            started += 1
            return .start(0)
        }
        switch step {
        case .full:
            return false
        case .answer(let passive):
            respond(passive)
            return true
        case .start(let id):
            schedule(key: key, waiter: id, after: budget)
            decide { [weak self] answer in self?.decided(key: key, answer) }
            return true
        case .wait(let id):
            schedule(key: key, waiter: id, after: budget)
            return true
        }
    }

    /// The passive answer for a decided flight, committing it to the passive channel (under `lock`):
    /// `success` when the reply may not go passively (then it goes late, once).
    private static func passive(_ flight: Flight, _ answer: WeChatAnswer) -> WeChatPassive {
        if let xml = answer.xml {
            flight.delivery = .passive
            return .reply(xml)
        }
        return .success
    }

    private func schedule(key: String, waiter: Int, after budget: TimeInterval) {
        timers.asyncAfter(deadline: .now() + max(0, budget)) { [weak self] in self?.budgetOver(key: key, waiter: waiter) }
    }

    /// An attempt's budget ran out: `success` now, and the message goes through the customer-service
    /// API — unless it was decided (and answered) in the meantime.
    private func budgetOver(key: String, waiter: Int) {
        let respond: (@Sendable (WeChatPassive) -> Void)? = lock.withLock {
            guard let flight = flights[key], let respond = flight.waiters.removeValue(forKey: waiter) else { return nil }
            if flight.delivery == nil { flight.delivery = .customerService }
            return respond
        }
        respond?(.success)
    }

    private func decided(key: String, _ answer: WeChatAnswer) {
        let (waiting, late): ([@Sendable (WeChatPassive) -> Void], (String, [String])?) = lock.withLock {
            guard let flight = flights[key], flight.answer == nil else { return ([], nil) }
            flight.answer = answer
            let waiting = Array(flight.waiters.sorted { $0.key < $1.key }.map(\.value))
            flight.waiters = [:]
            if flight.delivery == .customerService { return (waiting, (flight.user, answer.texts)) }
            if waiting.isEmpty { return ([], nil) }
            if answer.xml == nil {
                // Decided in time, but it cannot go passively (too long): `success`, and the parts go late.
                flight.delivery = .customerService
                return (waiting, (flight.user, answer.texts))
            }
            flight.delivery = .passive
            return (waiting, nil)
        }
        let passive: WeChatPassive = late == nil ? answer.xml.map { .reply($0) } ?? .success : .success
        for respond in waiting { respond(passive) }
        if let (user, texts) = late, !texts.isEmpty { deliverLate(key, user, texts) }
    }

    /// The delivery channel chosen for `key`, if any (tests and the audit).
    func delivery(of key: String) -> Delivery? { lock.withLock { flights[key]?.delivery } }
}
