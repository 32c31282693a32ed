import ArgumentParser
import CSpawn
import Foundation
import ReplyGuard
import ReplyGuardGate

/// Forwards SIGINT, SIGTERM and SIGHUP to the wrapped bot's process group — the bot and whatever it
/// started — and remembers when the first one arrived (the state is CSpawn's, shared with its handler).
final class SignalForwarder: Sendable {
    /// Forwards `signals` to the bot's process group from a C signal handler, installed before this
    /// returns. (A dispatch signal source needed SIG_IGN first and was registered asynchronously on
    /// Linux: a signal in between, such as a SIGTERM right after the bot's first reply, was dropped and
    /// wrap waited for the bot to end by itself.)
    init(child: pid_t, signals: [Int32]) {
        signals.withUnsafeBufferPointer { rg_forward_signals(child, $0.baseAddress, Int32($0.count)) }
    }

    /// When (CLOCK_MONOTONIC seconds) a terminating signal was first forwarded; 0: never.
    var forwardedAt: Double { rg_forwarded_at() }

    /// The bot has been reaped: its pid may be reused, so nothing more is sent to it.
    func childGone() { rg_forward_signals_stop() }
}

func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

struct Wrap: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wrap",
        abstract: "Run a chatbot and filter its standard output like `filter` does.",
        discussion: """
        Spawns CMD with our standard input as its input and filters its standard output; its standard error \
        passes through. CMD runs in a session (and process group) of its own: SIGINT, SIGTERM and SIGHUP are \
        forwarded to that group; a bot still running --grace seconds later is killed (SIGKILL). When the bot \
        has exited, whatever it started and left running is sent SIGTERM, and SIGKILL --grace seconds later; \
        the group is killed when replyguard dies, even by SIGKILL. A partial reply (no line end) left when \
        it exits is never published. Exit status: the child's; 128+N when it was killed by signal N; 125 when \
        replyguard itself fails (rules, queue, replies that fail the policy); 126 when CMD cannot be executed; \
        127 when it is not found. Bots that block-buffer their output when it is a pipe need `stdbuf -oL` \
        (e.g. `replyguard wrap -- stdbuf -oL python3 bot.py`) or their own unbuffered mode (`python3 -u`).
        """)

    @OptionGroup var options: FilterOptions

    @Option(name: .long, help: ArgumentHelp("Seconds a bot may take to exit after a forwarded SIGTERM/SIGINT/SIGHUP before it is sent SIGKILL.", valueName: "seconds"))
    var grace: Double = 5

    @Argument(parsing: .postTerminator, help: "The bot command and its arguments, after --.")
    var command: [String] = []

    func validate() throws {
        if command.isEmpty { throw ValidationError("give the bot command after --, e.g. replyguard wrap -- python3 bot.py") }
        if !(grace >= 0 && grace <= 3600) { throw ValidationError("--grace must be between 0 and 3600 seconds") }
    }

    func run() throws {
        let filter = try options.makeFilter(failureCode: 125)
        Terminal.standardOutput.onWriteFailure(exitStatus: 125, beforeExit: {})
        // The bot's children that outlive it become ours, so they can be waited for (reaped) at the end.
        _ = rg_become_subreaper()
        let bot = try spawnBot()
        let signals = SignalForwarder(child: bot.pid, signals: [SIGINT, SIGTERM, SIGHUP])
        // Standard output gone or failing: stop the bot's group with us (the guard sends SIGKILL to what
        // is left when we exit).
        Terminal.standardOutput.onWriteFailure(exitStatus: 125, beforeExit: { kill(-bot.pid, SIGTERM) })
        Wrap.forwardStandardInput(to: bot.input)
        let pumped = Wrap.pumpOutput(of: bot, into: filter, signals: signals, grace: grace, pollInterval: options.pollInterval)
        if let failure = filter.failure {
            // Fail closed: stop the bot and publish nothing more.
            Terminal.standardOutput.flush()
            close(bot.output)
            if !pumped.reaped { Wrap.stop(bot.pid, grace: grace) }
            signals.childGone()
            Wrap.endGroup(of: bot, grace: grace)
            throw fail(failure, code: 125)
        }
        filter.finish(publishPartial: false)
        close(bot.output)
        let status = pumped.reaped ? pumped.status : Wrap.waitForExit(bot.pid, signals: signals, grace: grace)
        signals.childGone()
        Wrap.endGroup(of: bot, grace: grace)
        filter.poll()
        Terminal.standardOutput.flush()
        throw Wrap.exitCode(waitStatus: status)
    }

    /// A running bot: its pid (also its session and process group id), the write end of its standard
    /// input, the read end of its standard output, and the guard of its process group (see
    /// ``endGroup(of:grace:)``).
    private struct Bot {
        let pid: pid_t
        let input: Int32
        let output: Int32
        let guardPid: pid_t
        let guardDisarm: Int32
    }

    /// Starts the bot on two pipes, in a session and process group of its own. It starts with no blocked
    /// signals and default handlers, whatever we inherited or set (we ignore SIGPIPE ourselves; a bot
    /// must not), and is sent SIGKILL if we die (PR_SET_PDEATHSIG); a guard process sends SIGKILL to its
    /// whole group then (PDEATHSIG reaches only the bot itself). Throws 125 when the pipes or the guard
    /// cannot be made, 127 when the command is not found, 126 when it cannot be executed.
    private func spawnBot() throws -> Bot {
        var toChild: [Int32] = [0, 0], fromChild: [Int32] = [0, 0]
        guard pipe(&toChild) == 0, pipe(&fromChild) == 0 else { throw fail("cannot create pipes", code: 125) }
        let argv = command.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let pipes = toChild + fromChild
        var spawnError: Int32 = 0
        let pid = rg_spawn(command[0], argv, toChild[0], fromChild[1], pipes, Int32(pipes.count), &spawnError)
        close(toChild[0])
        close(fromChild[1])
        if pid < 0 {
            Terminal.standardError.write("Error: cannot run \(command[0]): \(String(cString: strerror(spawnError)))\n")
            throw ExitCode(spawnError == ENOENT ? 127 : 126)
        }
        var disarm: Int32 = -1
        let guardPid = rg_guard_group(pid, &disarm)
        if guardPid < 0 {
            let reason = String(cString: strerror(errno))
            kill(-pid, SIGKILL)
            while waitpid(pid, nil, 0) < 0 && errno == EINTR {}
            throw fail("cannot start the guard of the bot's process group: \(reason)", code: 125)
        }
        return Bot(pid: pid, input: toChild[1], output: fromChild[0], guardPid: guardPid, guardDisarm: disarm)
    }

    /// Our stdin → the bot's stdin, on its own thread so neither side can block the other; closes
    /// `childInput` at our end of input or when the bot stops reading.
    private static func forwardStandardInput(to childInput: Int32) {
        let forwarder = Thread {
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                var offset = 0
                while offset < n {
                    let written = buffer[offset..<n].withUnsafeBytes { write(childInput, $0.baseAddress, $0.count) }
                    if written < 0 { if errno == EINTR { continue }; close(childInput); return }
                    offset += written
                }
            }
            close(childInput)
        }
        forwarder.start()
    }

    /// Filters the bot's output until it closes it (or the filter fails), reaping the bot if it exits
    /// meanwhile and killing it once a forwarded signal's grace period is over. Returns whether it was
    /// reaped, and its wait status if so.
    private static func pumpOutput(of bot: Bot, into filter: LineTransport, signals: SignalForwarder, grace: Double,
                                   pollInterval: Double) -> (reaped: Bool, status: Int32) {
        var status: Int32 = 0
        var reaped = false
        pump(fd: bot.output, into: filter, pollInterval: pollInterval) {
            if !reaped && waitpid(bot.pid, &status, WNOHANG) == bot.pid {
                reaped = true
                // What the bot started and left running must not outlive it (it may hold the output pipe
                // open and keep writing): SIGTERM now; endGroup(of:grace:) waits and kills.
                kill(-bot.pid, SIGTERM)
            }
            // A bot that ignores a forwarded signal is killed after the grace period.
            let forwardedAt = signals.forwardedAt
            if !reaped && forwardedAt > 0 && monotonicSeconds() - forwardedAt >= grace { kill(-bot.pid, SIGKILL) }
            return reaped
        }
        return (reaped, status)
    }

    /// The bot closed its output but may still run: waits for it (killing it once a forwarded signal's
    /// grace period is over) and returns its wait status.
    private static func waitForExit(_ pid: pid_t, signals: SignalForwarder, grace: Double) -> Int32 {
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid || (r < 0 && errno != EINTR) { break }
            let forwardedAt = signals.forwardedAt
            if forwardedAt > 0 && monotonicSeconds() - forwardedAt >= grace { kill(-pid, SIGKILL) }
            usleep(20_000)
        }
        return status
    }

    /// Our exit status for the bot's wait status: its own, or 128+N when signal N killed it.
    private static func exitCode(waitStatus status: Int32) -> ExitCode {
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros; decode the wait status by hand.
        let signalNumber = status & 0x7F
        if signalNumber == 0 { return ExitCode((status >> 8) & 0xFF) }
        return ExitCode(128 + signalNumber)
    }

    /// Sends SIGTERM to the bot's group, then SIGKILL if the bot is still running `grace` seconds later,
    /// and reaps it.
    static func stop(_ pid: pid_t, grace: Double) {
        kill(-pid, SIGTERM)
        var status: Int32 = 0
        let deadline = monotonicSeconds() + grace
        while waitpid(pid, &status, WNOHANG) == 0 {
            if monotonicSeconds() >= deadline {
                kill(-pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                return
            }
            usleep(20_000)
        }
    }

    /// The bot has been reaped; what it started and left running in its process group must not outlive
    /// us: SIGTERM, SIGKILL `grace` seconds later, each reaped as it ends (we are their subreaper). Once
    /// the group is empty the guard is stood down; if it never empties (a zombie someone else must
    /// reap), the guard's SIGKILL when we exit is harmless. A process that left the group (its own
    /// setsid or setpgid, as daemons do) is not followed.
    private static func endGroup(of bot: Bot, grace: Double) {
        func reapGroup() { while waitpid(-bot.pid, nil, WNOHANG) > 0 {} }
        func empty() -> Bool { reapGroup(); return kill(-bot.pid, 0) != 0 && errno == ESRCH }
        if !empty() {
            kill(-bot.pid, SIGTERM)
            let deadline = monotonicSeconds() + grace
            var killedAt: Double?
            while !empty() {
                let now = monotonicSeconds()
                if killedAt == nil && now >= deadline { kill(-bot.pid, SIGKILL); killedAt = now }
                if let killedAt, now - killedAt >= 1 { return } // leave it to the guard
                usleep(10_000)
            }
        }
        // The group is empty: its id may be reused from now on, so the guard must not fire.
        var byte: UInt8 = 0
        _ = write(bot.guardDisarm, &byte, 1)
        close(bot.guardDisarm)
        while waitpid(bot.guardPid, nil, 0) < 0 && errno == EINTR {}
    }

    private func fail(_ message: String, code: Int32) -> ExitCode {
        Terminal.standardError.write("Error: \(message)\n")
        return ExitCode(code)
    }
}
