import Foundation
import ReplyGuardGate
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// An audit log on a named pipe that this test reads: writes fail (EPIPE) while nobody reads it, and
/// succeed again once the test reads it again — a log that fails and recovers, without root.
final class PipeAuditLog {
    let path: String
    private var reader: Int32 = -1

    init(directory: String) throws {
        path = directory + "/audit.fifo"
        guard mkfifo(path, 0o600) == 0 else { throw ServeTestError("mkfifo: errno \(errno)") }
        startReading()
    }

    deinit { if reader >= 0 { close(reader) } }

    func startReading() {
        if reader < 0 { reader = open(path, O_RDONLY | O_NONBLOCK) }
    }

    /// Everything written so far (and not yet read).
    @discardableResult
    func drain() -> String {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while reader >= 0 {
            let n = read(reader, &buffer, buffer.count)
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Nobody reads any more: every write fails until ``startReading()``.
    func stopReading() {
        drain()
        if reader >= 0 { close(reader) }
        reader = -1
    }
}

/// #17 R4, R1, R5 and the orphans: approved replies are delivered at least once (a filter killed while
/// writing loses none; a client that lost the answer to a release asks again), only by the channel that
/// held them; a decision or release that cannot be audited is not stored, and the page says so; a
/// request that held replies and then failed withdraws them; the service resumes once its audit log can
/// be written again.
@Suite(.serialized) struct ReleaseDeliveryTests {
    @Test func aFilterKilledWhileWritingApprovedRepliesLosesNone() throws {
        let q = CLI.temporaryDirectory() + "/q.sqlite3"
        // Three held replies, each larger than a pipe's buffer.
        let texts = (1...3).map { "网传明天停水 \($0) " + String(repeating: "详情", count: 40_000) }
        #expect(try CLI.run(["filter", "--queue", q], stdin: Array((texts.joined(separator: "\n") + "\n").utf8)).status == 0)
        let queue = try ReviewQueue(path: q)
        let ids = try queue.list(status: .pending).map(\.id)
        #expect(ids.count == 3)
        for id in ids { #expect(try queue.decide(id, approve: true, note: nil)) }

        // A filter publishes them to a reader that reads nothing: it blocks writing the first. Killed there.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.binary)
        process.arguments = ["filter", "--queue", q, "--poll-interval", "0.05"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        try? output.fileHandleForWriting.close()
        var ready = pollfd(fd: output.fileHandleForReading.fileDescriptor, events: Int16(POLLIN), revents: 0)
        #expect(poll(&ready, 1, 120_000) == 1, "the filter wrote nothing")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try? input.fileHandleForWriting.close()
        let cut = output.fileHandleForReading.readDataToEndOfFile()
        #expect(cut.count < Array(texts[0].utf8).count, "the first reply went out whole: \(cut.count) bytes")

        // Nothing was lost: a filter started afterwards publishes all three, whole, in order.
        let restarted = try CLI.run(["filter", "--queue", q, "--poll-interval", "0.05"])
        #expect(restarted.status == 0)
        #expect(restarted.lines.count == 3)
        #expect(restarted.lines == texts)
        #expect(try queue.list(status: .released).count == 3)
    }

    @Test func theServiceReleasesOnlyItsOwnRepliesAndAgainToAClientThatLostTheAnswer() throws {
        let server = try ServeProcess()
        defer { server.stop() }
        // A line filter holds a reply on the service's queue (review 1), the service another.
        #expect(try CLI.run(["filter", "--queue", server.queuePath], stdin: Array("网传明天停电\n".utf8)).status == 0)
        let held = try server.post("/v1/filter", json: #"{"id":"r1","text":"网传明天停水"}"#)
        let review = try #require(try held.results().first?["review"] as? Int, "\(held.text)")
        #expect(review == 2)
        // The client lost that answer and sends the message again: it gets the same review.
        let resent = try server.post("/v1/filter", json: #"{"id":"r1","text":"网传明天停水"}"#)
        #expect(try resent.results().first?["review"] as? Int == review, "\(resent.text)")
        for id in [1, review] {
            #expect(try CLI.run(["review", "approve", String(id), "--queue", server.queuePath]).status == 0)
        }

        // R1: the service does not hand out the line filter's reply; the filter publishes it.
        let refused = try server.request("POST", "/v1/reviews/1/release")
        #expect(refused.status == 409 && refused.text.contains("line filter"), "\(refused.text)")
        #expect(try server.request("GET", "/v1/reviews/1").json()["status"] as? String == "approved")
        let filter = try CLI.run(["filter", "--queue", server.queuePath, "--poll-interval", "0.05"])
        #expect(filter.lines == ["网传明天停电"], "\(filter.stdout)")

        // R4: a client sends the release and goes away before reading the answer...
        let request = "POST /v1/reviews/\(review)/release HTTP/1.1\r\nHost: 127.0.0.1:\(server.port)\r\n"
            + "Authorization: Bearer \(server.token!)\r\nContent-Length: 0\r\n\r\n"
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(server.port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        #expect(connected == 0)
        _ = Array(request.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        close(fd)
        var status = ""
        for _ in 0..<600 where status != "released" {
            status = try server.request("GET", "/v1/reviews/\(review)").json()["status"] as? String ?? ""
            if status != "released" { usleep(50_000) }
        }
        #expect(status == "released")
        // ...and asks again: the same reply, under the same review id.
        let again = try server.request("POST", "/v1/reviews/\(review)/release")
        #expect(again.status == 200, "\(again.text)")
        #expect(try again.json()["reply"] as? String == "网传明天停水")
        #expect(try again.json()["review"] as? Int == review)
        let audit = try String(contentsOfFile: server.auditPath, encoding: .utf8).split(separator: "\n")
            .map { try JSONDecoder().decode(AuditRecord.self, from: Data($0.utf8)) }
        #expect(audit.filter { $0.action == .released }.map(\.reason) == [nil, "repeated"])
    }

    @Test func whatCannotBeAuditedIsNotStoredThePageSaysSoAndTheServiceResumes() throws {
        let audit = try PipeAuditLog(directory: CLI.temporaryDirectory())
        let server = try ServeProcess(arguments: ["--audit", audit.path])
        defer { server.stop() }
        let first = try #require(try server.post("/v1/filter", json: #"{"id":"r1","text":"网传明天停水"}"#).results().first?["review"] as? Int)
        let second = try #require(try server.post("/v1/filter", json: #"{"id":"r2","text":"网传今晚停水"}"#).results().first?["review"] as? Int)
        // A reviewer signs in and opens the page.
        let form = "application/x-www-form-urlencoded"
        let token = server.token!.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let login = try server.request("POST", "/login", body: Array("name=li&token=\(token)".utf8), headers: [], contentType: form)
        let session = String(try #require(login.header("Set-Cookie")).split(separator: ";")[0])
        let page = try server.request("GET", "/review", headers: [("Cookie", session)])
        #expect(page.status == 200)
        let csrf = try #require(page.text.range(of: #"name="csrf" value="[0-9a-f]+""#, options: .regularExpression)
            .map { String(page.text[$0].dropFirst(19).dropLast()) })
        func decide(_ review: Int) throws -> String {
            let reply = try server.request("POST", "/review/\(review)/decide", body: Array("csrf=\(csrf)&decision=approve".utf8),
                                           headers: [("Cookie", session)], contentType: form)
            #expect(reply.status == 303)
            return (reply.header("Location") ?? "").removingPercentEncoding ?? ""
        }
        func status(_ review: Int) throws -> String? { try server.request("GET", "/v1/reviews/\(review)").json()["status"] as? String }
        #expect(audit.drain().contains(#""action":"held""#))

        audit.stopReading()
        // R5: Approve on the page is not stored when its record cannot be written, and the page says so.
        let notice = try decide(first)
        #expect(notice.contains("could not be recorded") && notice.contains("still pending"), "\(notice)")
        #expect(try status(first) == "pending")
        // R4: a release that cannot be recorded leaves the reply approved (503), to be asked for again.
        #expect(try CLI.run(["review", "approve", String(first), "--queue", server.queuePath]).status == 0)
        let release = try server.request("POST", "/v1/reviews/\(first)/release")
        #expect(release.status == 503 && !release.text.contains("网传"), "\(release.text)")
        #expect(try status(first) == "approved")
        // A request that holds a reply and cannot record it: 503, and the reply is withdrawn, not orphaned.
        let failed = try server.post("/v1/filter", json: #"{"id":"r3","text":"网传明天起全市停水"}"#)
        #expect(failed.status == 503, "\(failed.text)")
        let orphan = try #require(try ReviewQueue(path: server.queuePath).list(status: nil).last)
        #expect(orphan.messageID == #""r3""# && orphan.status == .withdrawn, "\(orphan.status)")
        #expect(try server.request("GET", "/healthz").status == 503)

        // The log can be written again: the service resumes by itself, no reload.
        audit.startReading()
        #expect(try server.request("GET", "/healthz").status == 200)
        let released = try server.request("POST", "/v1/reviews/\(first)/release")
        #expect(released.status == 200, "\(released.text)")
        #expect(try released.json()["reply"] as? String == "网传明天停水")
        let approved = try decide(second)
        #expect(approved.contains("approved by li"), "\(approved)")
        #expect(try status(second) == "approved")
        let retried = try server.post("/v1/filter", json: #"{"id":"r3","text":"网传明天起全市停水"}"#)
        let again = try #require(try retried.results().first?["review"] as? Int, "\(retried.text)")
        #expect(Int64(again) != orphan.id)
        let records = audit.drain().split(separator: "\n").compactMap { try? JSONDecoder().decode(AuditRecord.self, from: Data($0.utf8)) }
        #expect(records.map(\.action) == [.released, .approved, .held], "\(records.map(\.action))")
    }
}
