import ArgumentParser
import Foundation
import ReplyGuard
import ReplyGuardReview

/// The wrapped child, for the signal handlers (which cannot capture context).
nonisolated(unsafe) var wrappedChild: pid_t = 0

struct Wrap: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a chatbot and filter its standard output like `filter` does.",
        discussion: """
        Spawns CMD with our standard input as its input and filters its standard output; its standard error \
        passes through. SIGINT, SIGTERM and SIGHUP are forwarded to it. A partial reply (no line end) left when \
        it exits is never published. Exit status: the child's; 128+N when it was killed by signal N; 125 when \
        replyguard itself fails (rules, queue, replies that fail the policy); 126 when CMD cannot be executed; \
        127 when it is not found. Bots that block-buffer their output when it is a pipe need `stdbuf -oL` \
        (e.g. `replyguard wrap -- stdbuf -oL python3 bot.py`) or their own unbuffered mode (`python3 -u`).
        """)

    @OptionGroup var options: FilterOptions

    @Argument(parsing: .postTerminator, help: "The bot command and its arguments, after --.")
    var command: [String] = []

    func validate() throws {
        if command.isEmpty { throw ValidationError("give the bot command after --, e.g. replyguard wrap -- python3 bot.py") }
    }

    func run() throws {
        let filter = try options.makeFilter(failureCode: 125)
        Terminal.writeFailureStatus = 125
        var toChild: [Int32] = [0, 0], fromChild: [Int32] = [0, 0]
        guard pipe(&toChild) == 0, pipe(&fromChild) == 0 else { throw fail("cannot create pipes", code: 125) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toChild[0], 0)
        posix_spawn_file_actions_adddup2(&actions, fromChild[1], 1)
        for fd in toChild + fromChild { posix_spawn_file_actions_addclose(&actions, fd) }
        // The bot starts with no blocked signals and default handlers, whatever we inherited or set
        // (we ignore SIGPIPE ourselves; a bot must not).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t(), defaults = sigset_t()
        sigemptyset(&emptyMask)
        sigemptyset(&defaults)
        for sig in [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT] { sigaddset(&defaults, sig) }
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let argv = command.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let rc = posix_spawnp(&pid, command[0], &actions, &attributes, argv, environ)
        close(toChild[0])
        close(fromChild[1])
        if rc != 0 {
            Terminal.standardError.write("Error: cannot run \(command[0]): \(String(cString: strerror(rc)))\n")
            throw ExitCode(rc == ENOENT ? 127 : 126)
        }
        wrappedChild = pid
        var forwarded = sigset_t()
        sigemptyset(&forwarded)
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig) { received in if wrappedChild > 0 { kill(wrappedChild, received) } }
            sigaddset(&forwarded, sig)
        }
        // We may have been started with these blocked (some launchers do); forwarding needs them.
        pthread_sigmask(SIG_UNBLOCK, &forwarded, nil)
        // Our stdin → the bot's stdin, on its own thread so neither side can block the other.
        let childInput = toChild[1]
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

        var status: Int32 = 0
        var reaped = false
        pump(fd: fromChild[0], into: filter, pollInterval: options.pollInterval) {
            reaped = reaped || waitpid(pid, &status, WNOHANG) == pid
            return reaped
        }
        if let failure = filter.failure {
            // Fail closed: stop the bot and publish nothing more.
            Terminal.standardOutput.flush()
            kill(pid, SIGTERM)
            close(fromChild[0])
            if !reaped { while waitpid(pid, &status, 0) < 0 && errno == EINTR {} }
            wrappedChild = 0
            throw fail(failure, code: 125)
        }
        filter.finish(publishPartial: false)
        close(fromChild[0])
        if !reaped { while waitpid(pid, &status, 0) < 0 && errno == EINTR {} }
        wrappedChild = 0
        filter.poll()
        Terminal.standardOutput.flush()
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros; decode the wait status by hand.
        let signalNumber = status & 0x7F
        if signalNumber == 0 { throw ExitCode((status >> 8) & 0xFF) }
        throw ExitCode(128 + signalNumber)
    }

    private func fail(_ message: String, code: Int32) -> ExitCode {
        Terminal.standardError.write("Error: \(message)\n")
        return ExitCode(code)
    }
}
