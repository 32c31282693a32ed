import Foundation
import ReplyGuard
import ReplyGuardGate
import Testing

/// #17 R4, R1, orphans: an approved reply is marked released only after it was delivered (at-least-once),
/// a claim of a filter that died is taken over, a release is given again to a client that asks again,
/// only the channel that held a reply releases it, and a client re-sending a message gets its review back.
@Suite struct DeliveryTests {
    static let host = ProcessInfo.processInfo.hostName

    func queue() throws -> ReviewQueue {
        try ReviewQueue(path: FileManager.default.temporaryDirectory.appendingPathComponent("dl-\(UUID().uuidString).sqlite3").path)
    }

    func approved(_ queue: ReviewQueue, _ text: String, channel: String? = nil, id: String? = nil) throws -> Int64 {
        let review = try queue.enqueue(text: Array(text.utf8), record: nil, messageID: id, decision: "{}", expiresAt: nil, channel: channel)
        #expect(try queue.decide(review, approve: true, note: nil))
        return review
    }

    /// The pid of a process that has exited (and been reaped).
    func deadPID() throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/true")
        try process.run()
        process.waitUntilExit()
        return process.processIdentifier
    }

    @Test func aClaimStaysApprovedUntilMarkedAndIsTakenOverOnlyFromTheDeadOrAfterItsLease() throws {
        let queue = try queue()
        let a = try approved(queue, "网传明天停水")
        let b = try approved(queue, "网传后天停水")
        let now = Date()
        // This process (alive) claims a; the reply stays approved while it is being written.
        #expect(try queue.claimNext(by: "\(getpid())@\(DeliveryTests.host)", channel: nil, now: now)?.id == a)
        #expect(try queue.item(a)?.status == .approved)
        // Another filter gets the next one, not a; a third finds nothing free.
        #expect(try queue.claimNext(by: "7@elsewhere", channel: nil, now: now)?.id == b)
        #expect(try queue.claimNext(by: "third", channel: nil, now: now) == nil)
        // After the lease, a claim is taken over.
        #expect(try queue.claimNext(by: "third", channel: nil, now: now.addingTimeInterval(ReviewQueue.defaultLease + 1))?.id == a)
        #expect(try queue.markReleased(a, by: "third"))
        #expect(try queue.item(a)?.status == .released && queue.item(a)?.releasedBy == "third")
        #expect(try !queue.markReleased(a, by: "\(getpid())@\(DeliveryTests.host)"))

        // A filter on this host that died (kill -9 while writing) is taken over at once.
        let c = try approved(queue, "网传大后天停水")
        let dead = "\(try deadPID())@\(DeliveryTests.host)"
        #expect(try queue.claimNext(by: dead, channel: nil, now: now)?.id == c)
        #expect(try queue.claimNext(by: "successor", channel: nil, now: now)?.id == c)
        #expect(try queue.markReleased(c, by: "successor"))
    }

    @Test func aFilterMarksAReplyReleasedOnlyAfterItWasWritten() throws {
        let queue = try queue()
        let a = try approved(queue, "网传明天停水")
        let b = try approved(queue, "网传后天停水")
        var seen: [(Int64, ReviewStatus?)] = []
        let gate = ReplyGate(engine: LineTransportTests.engine, store: queue, audit: nil, diagnose: { _ in })
        gate.releaseApproved { item in seen.append((item.id, try? queue.item(item.id)?.status)) }
        // Each was still approved while being written (a crash here loses nothing), released after.
        #expect(seen.map(\.0) == [a, b])
        #expect(seen.allSatisfy { $0.1 == .approved })
        #expect(try queue.item(a)?.status == .released && queue.item(b)?.status == .released)
        // Published once: a second call has nothing.
        var again = 0
        gate.releaseApproved { _ in again += 1 }
        #expect(again == 0)
    }

    @Test func aReleaseIsGivenAgainWithinTheLeaseOnlyOnItsChannelAndUndoneWithItsTransaction() throws {
        let queue = try queue()
        let http = try approved(queue, "网传明天停水", channel: "http")
        let line = try approved(queue, "网传后天停水")
        let now = Date()
        // R1: the service cannot release what a line filter holds; the filter still can.
        #expect(try queue.release(line, by: "serve", channel: "http", now: now) == nil)
        #expect(try queue.item(line)?.status == .approved)
        #expect(try queue.claimNext(by: "filter", channel: nil, now: now)?.id == line)
        #expect(try queue.markReleased(line, by: "filter", now: now))
        // A release whose audit record fails is rolled back with it.
        struct AuditFailed: Error {}
        #expect(throws: AuditFailed.self) {
            try queue.transaction {
                _ = try queue.release(http, by: "serve", channel: "http", now: now)
                throw AuditFailed()
            }
        }
        #expect(try queue.item(http)?.status == .approved)
        // Released, then given again to a client that asks again within the lease; not after it.
        let first = try #require(try queue.release(http, by: "serve", channel: "http", now: now))
        #expect(first.first && first.item.status == .released && first.item.text == Array("网传明天停水".utf8))
        let second = try #require(try queue.release(http, by: "serve", channel: "http", now: now.addingTimeInterval(60)))
        #expect(!second.first && second.item.id == http && second.item.text == first.item.text)
        #expect(try queue.release(http, by: "serve", channel: "http", now: now.addingTimeInterval(ReviewQueue.defaultLease + 1)) == nil)
        // Nor does a line filter publish the service's reply.
        #expect(try queue.claimNext(by: "filter", channel: nil, now: now.addingTimeInterval(ReviewQueue.defaultLease + 1)) == nil)
    }

    @Test func aMessageHeldAgainOnAChannelGetsItsReviewBackAndAWithdrawnOneDoesNot() throws {
        let queue = try queue()
        func hold(_ text: String, id: String?, channel: String? = "http") throws -> Int64 {
            try queue.enqueue(text: Array(text.utf8), record: nil, messageID: id, decision: "{}", expiresAt: Date().addingTimeInterval(600), channel: channel)
        }
        let first = try hold("网传明天停水", id: "\"r1\"")
        #expect(try hold("网传明天停水", id: "\"r1\"") == first)           // the client's retry
        #expect(try hold("网传后天停水", id: "\"r1\"") != first)           // another text
        #expect(try hold("网传明天停水", id: "\"r2\"") != first)           // another message
        #expect(try hold("网传明天停水", id: nil) != first)                // no id: no key
        #expect(try hold("网传明天停水", id: "\"r1\"", channel: nil) != first) // the line filters: every line is its own
        let withdrawn = try queue.withdraw([first], note: "the request failed")
        #expect(withdrawn.map(\.id) == [first] && withdrawn.first?.status == .withdrawn && withdrawn.first?.note == "the request failed")
        #expect(try hold("网传明天停水", id: "\"r1\"") != first)
        #expect(try queue.counts()[.withdrawn] == 1)
    }
}

/// #17 test strength: the gate publishes the policy's `mask_with` and dates a held reply's expiry by the
/// policy's minutes.
@Suite struct GatePolicyTests {
    func gate(_ policy: PublishingPolicy) throws -> (ReplyGate, ReviewQueue) {
        let queue = try ReviewQueue(path: FileManager.default.temporaryDirectory.appendingPathComponent("gp-\(UUID().uuidString).sqlite3").path)
        return (ReplyGate(engine: LineTransportTests.engine, publishing: policy, store: queue, audit: nil, diagnose: { _ in }), queue)
    }

    func policy(maskWith: String = "＊", minutes: Int? = 24 * 60) -> PublishingPolicy {
        var policy = LineTransportTests.engine.ruleSet.publishing
        policy.maskWith = maskWith
        policy.reviewExpiryMinutes = minutes
        return policy
    }

    @Test func aMaskedReplyIsStarredWithThePolicysMaskWith() throws {
        let scanner = LineTransportTests.engine.makeScanner()
        let message = InputMessage(id: .number("1"), text: Array("这他妈的也太难了".utf8), error: nil)
        #expect(try gate(policy(maskWith: "■")).0.handle(message, scanner: scanner).outcome == .masked("这■■■也太难了"))
        #expect(try gate(policy(maskWith: "*")).0.handle(message, scanner: scanner).outcome == .masked("这***也太难了"))
    }

    @Test func aHeldReplyExpiresThePolicysMinutesAfterItWasHeld() throws {
        let scanner = LineTransportTests.engine.makeScanner()
        let message = InputMessage(id: .number("1"), text: Array("网传明天停水".utf8), error: nil)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        for minutes in [90, 24 * 60] {
            let (gate, queue) = try gate(policy(minutes: minutes))
            let before = Date()
            let outcome = gate.handle(message, scanner: scanner).outcome
            let after = Date()
            guard case .hold(let review, _) = outcome else {
                Issue.record("not held: \(outcome)")
                continue
            }
            let expiresAt = try #require(try queue.item(review)?.expiresAt)
            let expires = try #require(formatter.date(from: expiresAt))
            // The expiry is `minutes` after the moment the gate held it (stamps are to the millisecond).
            let earliest = before.addingTimeInterval(Double(minutes) * 60 - 0.001)
            let latest = after.addingTimeInterval(Double(minutes) * 60 + 0.001)
            #expect(expires >= earliest && expires <= latest, "\(minutes) minutes: expires \(expiresAt), held between \(before) and \(after)")
        }
        let (gate, queue) = try gate(policy(minutes: nil))
        guard case .hold(let review, _) = gate.handle(message, scanner: scanner).outcome else { Issue.record("not held"); return }
        #expect(try queue.item(review)?.expiresAt == nil)
    }
}
