import Foundation
import Testing

/// `wrap` and what the bot starts (#17): a child the bot forked outlived `wrap` (until its next write
/// failed). The bot runs in a process group (and session) of its own; forwarded signals reach the whole
/// group, what is left when the bot exits is terminated, and a guard kills the group when `wrap` is
/// killed with SIGKILL.
@Suite struct WrapProcessGroupTests {
    /// Runs wrap on the fake bot in `mode` in a bash script: `$W` is wrap's pid, `$S` the pid of the
    /// sleeper the bot started (its second output line) once both lines are out; a watchdog kills all
    /// three after 20 s whatever happens. `gone` is true when the sleeper no longer runs (a zombie
    /// waiting for a reaper counts as gone); `await_gone` waits for that up to 5 s.
    func wrapScript(_ mode: String, then body: String) throws -> [String] {
        let dir = CLI.temporaryDirectory()
        let script = """
            '\(CLI.binary)' wrap --queue '\(dir)/q.sqlite3' --grace 2 -- '\(WrapAndFilterTests.bot)' \(mode) > '\(dir)/out' < /dev/null &
            W=$!
            for i in $(seq 200); do [ "$(wc -l < '\(dir)/out')" -ge 2 ] && break; sleep 0.1; done
            S=$(sed -n 2p '\(dir)/out')
            echo "first=$(sed -n 1p '\(dir)/out')"
            ( sleep 20; kill -9 $W $S ) 2>/dev/null & WD=$!
            gone() { ! kill -0 $S 2>/dev/null || [ "$(awk '{print $3}' /proc/$S/stat 2>/dev/null)" = Z ]; }
            await_gone() { for i in $(seq 50); do gone && return 0; sleep 0.1; done; return 1; }
            \(body)
            kill $WD 2>/dev/null; kill -9 $S 2>/dev/null; true
            """
        return try CLI.run(["-c", script], executable: "/bin/bash").lines
    }

    @Test func whatTheBotLeftRunningEndsWithWrap() throws {
        let lines = try wrapScript("forks", then: """
            wait $W; echo "status=$?"
            gone && echo sleeper=gone || echo sleeper=alive
            """)
        #expect(lines.contains("first=您好。") && lines.contains("status=0"), "\(lines)")
        // Already ended when wrap has exited (wrap waits for it), not at its next write.
        #expect(lines.contains("sleeper=gone"), "\(lines)")
    }

    @Test func aForwardedSignalReachesWhatTheBotStarted() throws {
        let lines = try wrapScript("forkstay", then: """
            kill -TERM $W; wait $W; echo "status=$?"
            gone && echo sleeper=gone || echo sleeper=alive
            """)
        #expect(lines.contains("status=143"), "\(lines)")
        #expect(lines.contains("sleeper=gone"), "\(lines)")
    }

    @Test func whatTheBotStartedDiesWithAKilledWrap() throws {
        let lines = try wrapScript("forkstay", then: """
            kill -9 $W; wait $W
            await_gone && echo sleeper=gone || echo sleeper=alive
            """)
        #expect(lines.contains("sleeper=gone"), "\(lines)")
    }
}
