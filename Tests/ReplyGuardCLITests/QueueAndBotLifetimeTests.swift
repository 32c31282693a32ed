import Foundation
import Testing

/// #12, smaller ones: a read-only queue stops `filter` at start-up; a locked queue does not delay
/// allowed replies; `wrap` kills a bot that ignores SIGTERM after a grace period, and never leaves the
/// bot running when it is itself killed.
@Suite struct QueueAndBotLifetimeTests {
    static let canDropPrivileges = getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")

    /// As root a read-only file is still writable: run the filter as nobody on a root-owned 0444 queue in
    /// a world-writable directory (SQLite then opens it read-only and every insert fails).
    @Test(.enabled(if: canDropPrivileges)) func readOnlyQueueStopsTheFilterAtStartUp() throws {
        let dir = CLI.temporaryDirectory()
        #expect(chmod(dir, 0o1777) == 0)
        let q = dir + "/q.sqlite3"
        #expect(try CLI.run(["filter", "--queue", q], stdin: Array("您好\n".utf8)).status == 0)
        #expect(chmod(q, 0o444) == 0)
        let result = try CLI.run(["-c", "printf '网传明天停水\\n您好\\n' | setpriv --reuid=65534 --regid=65534 --clear-groups '\(CLI.binary)' filter --queue '\(q)'"],
                                 executable: "/bin/bash")
        #expect(result.status == 2)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("read-only"), "\(result.stderr)")
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3")))
    func aLockedQueueDoesNotDelayAllowedReplies() throws {
        let q = CLI.temporaryDirectory() + "/q.sqlite3"
        #expect(try CLI.run(["filter", "--queue", q], stdin: Array("您好\n".utf8)).status == 0)
        // Another process holds the write lock for 6 s.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/bin/bash")
        holder.arguments = ["-c", "(echo 'BEGIN IMMEDIATE;'; sleep 6; echo 'COMMIT;') | sqlite3 '\(q)'"]
        try holder.run()
        defer { holder.waitUntilExit() }
        usleep(1_000_000)
        let started = Date()
        let result = try CLI.run(["filter", "--queue", q], stdin: Array("您好\n好的\n".utf8))
        let elapsed = Date().timeIntervalSince(started)
        #expect(result.lines == ["您好", "好的"])
        #expect(elapsed < 3, "allowed replies took \(elapsed) s")
    }
}
