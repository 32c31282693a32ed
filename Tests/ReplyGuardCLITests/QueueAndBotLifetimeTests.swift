import Foundation
import ReplyGuardGate
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

    /// A queue named by a one-character relative path (`--queue q`) opens in the working directory
    /// (Foundation's deletingLastPathComponent trapped on it: the filter died with SIGILL).
    @Test func aOneCharacterQueuePathOpensInTheWorkingDirectory() throws {
        let dir = CLI.temporaryDirectory()
        let result = try CLI.run(["filter", "--queue", "q"], stdin: Array("网传明天全市停水，赶紧转发\n您好\n".utf8), cwd: dir)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir + "/q"))
        #expect(try CLI.run(["review", "list", "--queue", "q"], cwd: dir).stdout.contains("网传明天全市停水"))
    }

    /// This process holds the queue's write lock for the whole run: the filter publishes the allowed
    /// replies, in order, and ends — all while the queue is still locked — without waiting for the lock
    /// (a filter that waited would report the busy queue on standard error after its busy timeout).
    @Test func aLockedQueueDoesNotDelayAllowedReplies() throws {
        let q = CLI.temporaryDirectory() + "/q.sqlite3"
        #expect(try CLI.run(["filter", "--queue", q], stdin: Array("您好\n".utf8)).status == 0)
        let queue = try ReviewQueue(path: q)
        let (result, timedOut) = try queue.transaction {
            try CLI.runBounded(["filter", "--queue", q, "--poll-interval", "0.05"], stdin: Array("您好\n好的\n".utf8), timeout: 300)
        }
        #expect(!timedOut)
        #expect(result.status == 0)
        #expect(result.lines == ["您好", "好的"])
        #expect(result.stderr.isEmpty, "\(result.stderr)")
    }

    /// Runs wrap on the stubborn bot in a bash script: `$W` is wrap's pid, `$B` the bot's (its second
    /// output line) once the first two lines are out; a watchdog kills both after 15 s whatever happens,
    /// having first made the file that `fired` tests for.
    func wrapScript(_ wrapArguments: String, then body: String) throws -> [String] {
        let dir = CLI.temporaryDirectory()
        let script = """
            '\(CLI.binary)' wrap --queue '\(dir)/q.sqlite3' \(wrapArguments) -- '\(WrapAndFilterTests.bot)' stubborn > '\(dir)/out' < /dev/null &
            W=$!
            for i in $(seq 100); do [ "$(wc -l < '\(dir)/out')" -ge 2 ] && break; sleep 0.1; done
            B=$(sed -n 2p '\(dir)/out')
            ( sleep 15; : > '\(dir)/watchdog'; kill -9 $W $B ) 2>/dev/null & WD=$!
            fired() { [ -e '\(dir)/watchdog' ]; }
            gone() { ! kill -0 $B 2>/dev/null || [ "$(awk '{print $3}' /proc/$B/stat 2>/dev/null)" = Z ]; }
            \(body)
            kill $WD 2>/dev/null; kill -9 $B 2>/dev/null; true
            """
        return try CLI.run(["-c", script], executable: "/bin/bash").lines
    }

    /// Order, not time: wrap ends (with the bot's SIGKILL status) before the watchdog fires, which it
    /// would not with a grace period it never acts on.
    @Test func wrapKillsABotThatIgnoresSIGTERMAfterTheGracePeriod() throws {
        let lines = try wrapScript("--grace 1", then: """
            kill -TERM $W; wait $W; echo "status=$?"
            fired && echo watchdog=fired || echo watchdog=idle
            for i in $(seq 20); do gone && break; sleep 0.1; done
            gone && echo bot=gone || echo bot=alive
            """)
        #expect(lines.contains("status=137"), "\(lines)")
        #expect(lines.contains("watchdog=idle"), "wrap was still running when the watchdog fired: \(lines)")
        #expect(lines.contains("bot=gone"), "\(lines)")
    }

    @Test func theBotDoesNotOutliveAKilledWrap() throws {
        let lines = try wrapScript("", then: """
            kill -9 $W; wait $W
            for i in $(seq 30); do gone && break; sleep 0.1; done
            gone && echo bot=gone || echo bot=alive
            """)
        #expect(lines.contains("bot=gone"), "\(lines)")
    }
}
