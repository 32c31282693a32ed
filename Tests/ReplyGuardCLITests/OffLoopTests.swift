import Foundation
import Testing

/// DESIGN-runtime item 6: blocking gate work (the review queue, the audit log) runs on the server's
/// thread pool, never on an event loop, so a queue another process holds locked stalls only the requests
/// that need it. (`/healthz` still waits for the gate's lock, which a decision holds while it writes the
/// queue: it runs on the pool so that it stalls only itself.)
@Suite struct OffLoopTests {
    @Test func aLockedQueueDoesNotStallCheckOnAnyEventLoop() throws {
        let server = try ServeProcess()
        defer { server.stop() }
        // Create the queue's tables first (an escalated reply), then lock the file from another process.
        let first = try server.post("/v1/filter", json: #"{"text": "\#(ServeTests.rumour)"}"#)
        #expect(first.status == 200, "\(first.text)")
        let locker = Process()
        locker.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        locker.arguments = ["python3", "-c", """
            import sqlite3, sys
            c = sqlite3.connect(sys.argv[1], isolation_level=None)
            c.execute("BEGIN EXCLUSIVE")
            print("locked", flush=True)
            sys.stdin.readline()  # held until the test says so (or its end of the pipe closes)
            c.execute("COMMIT")
            """, server.queuePath]
        let out = Pipe(), release = Pipe()
        locker.standardOutput = out
        locker.standardInput = release
        try locker.run()
        var released = false
        defer {
            if !released { try? release.fileHandleForWriting.write(contentsOf: Array("go\n".utf8)) }
            try? release.fileHandleForWriting.close()
            locker.waitUntilExit()
        }
        _ = out.fileHandleForReading.availableData // "locked"
        let finished = OrderLog()
        let group = DispatchGroup()
        let port = server.port, headers = server.authorization + [("Content-Type", "application/json")]
        DispatchQueue.global().async(group: group) {
            let reply = try? HTTPClient.send(port: port, method: "POST", path: "/v1/filter", headers: headers,
                                             body: Array(#"{"text": "\#(ServeTests.rumour)"}"#.utf8))
            finished.append("filter \(reply?.status ?? 0)")
        }
        usleep(300_000) // the filter request is waiting on the lock
        // Several connections: the server's loops take them in turn, so one shares the filter's loop.
        for _ in 0..<6 {
            let check = try server.post("/v1/check", json: #"{"text": "\#(ServeTests.clean)"}"#)
            finished.append("check \(check.status)")
        }
        // The lock goes only now (a line, not the end of the pipe: another test's child may hold a copy of it).
        try release.fileHandleForWriting.write(contentsOf: Array("go\n".utf8))
        released = true
        group.wait()
        let entries = finished.entries
        #expect(entries.prefix(6).allSatisfy { $0 == "check 200" }, "\(entries)")
        #expect(entries.last == "filter 200", "\(entries)")
    }
}

/// What finished, in order, from several threads.
final class OrderLog: @unchecked Sendable { // `items` is only touched under `lock`
    private let lock = NSLock()
    private var items: [String] = []
    func append(_ item: String) { lock.lock(); items.append(item); lock.unlock() }
    var entries: [String] { lock.lock(); defer { lock.unlock() }; return items }
}
