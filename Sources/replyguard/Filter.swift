import ArgumentParser
import Foundation
import ReplyGuard
import ReplyGuardGate

/// Options `filter` and `wrap` share.
struct FilterOptions: ParsableArguments {
    @OptionGroup var ruleOptions: RuleOptions

    @Flag(name: .long, help: "Replies are JSON Lines (other fields pass through untouched).")
    var jsonl = false

    @Option(name: .customLong("text-field"), help: "JSON field holding the reply text (with --jsonl).")
    var textField = "text"

    @Option(name: .customLong("id-field"), help: "JSON field holding the reply id (with --jsonl).")
    var idField = "id"

    @Option(name: .long, help: ArgumentHelp("Review queue file (default: $REPLYGUARD_QUEUE or ~/.local/share/replyguard/review-queue.sqlite3).", valueName: "path"))
    var queue: String?

    @Flag(name: .customLong("hold-all"), help: "Send every reply that is not blocked to human review.")
    var holdAll = false

    @Option(name: .long, help: ArgumentHelp("Append every decision to this JSON Lines file.", valueName: "file"))
    var audit: String?

    @Option(name: .customLong("poll-interval"), help: "Seconds between checks of the review queue for approved replies.")
    var pollInterval: Double = 1

    @Option(name: .customLong("max-message-size"), help: ArgumentHelp("A longer reply (bytes; K, M, G suffixes) is held for review unchecked.", valueName: "size"))
    var maxMessageSize = ByteSize(bytes: defaultMaxMessageBytes)

    func validate() throws {
        if pollInterval <= 0 || pollInterval > 3600 { throw ValidationError("--poll-interval must be between 0 and 3600 seconds") }
        if !jsonl && (textField != "text" || idField != "id") { throw ValidationError("--text-field and --id-field need --jsonl") }
    }

    /// Opens the gate (``GateRuntime``: rules and their examples checked, the policy's own replies,
    /// a writable queue, the audit log) and a line transport on it, or reports why not and exits with
    /// `failureCode`.
    func makeFilter(failureCode: Int32) throws -> LineTransport {
        let source: RuleSource
        do { source = try ruleOptions.source() } catch { throw ExitCode(failureCode) }
        var configuration = GateConfiguration(rules: source, queuePath: queue ?? ReviewQueue.defaultPath, auditPath: audit)
        configuration.holdAll = holdAll
        let runtime: GateRuntime
        do {
            runtime = try GateRuntime.open(configuration, diagnose: { Terminal.standardError.write("replyguard: \($0)\n") })
        } catch {
            refused(error)
            throw ExitCode(failureCode)
        }
        var options = LineTransportOptions()
        options.format = jsonl ? .jsonl : .text
        options.textField = textField
        options.idField = idField
        options.maxMessageBytes = maxMessageSize.bytes
        let out = Terminal.standardOutput
        return LineTransport(gate: runtime.gate, options: options,
                             publish: { bytes in out.write(bytes); out.flush() },
                             diagnose: { Terminal.standardError.write("replyguard: \($0)\n") })
    }
}

/// Prints why a gate did not start: a file error as `replyguard: PATH: what: reason`, anything else as
/// `error: summary; <consequence>` with every problem on a line of its own.
func refused(_ error: GateRefused, consequence: String = "not started") {
    if let file = error.file {
        let what = error.check == .audit ? "cannot open the audit log" : "cannot open the review queue"
        Terminal.standardError.write(FileErrors.line(file.path, file.error, what: what))
        return
    }
    Terminal.standardError.write(Terminal.errorStyle.paint("error: ") + error.summary + "; \(consequence)\n")
    for problem in error.problems { Terminal.standardError.write(problem + "\n") }
}

/// Reads `fd` until end of input, feeding the filter and polling the review queue between reads.
/// Returns when the input ends (or fails), or — when `finished` is given — once it reports true and
/// what was already written to `fd` has been read (a bot's orphaned children may keep the pipe open).
func pump(fd: Int32, into filter: LineTransport, pollInterval: Double, finished: (() -> Bool)? = nil) {
    let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 1 << 16)
    defer { buffer.deallocate() }
    var lastPoll = Date()
    filter.poll()
    var draining = false
    while true {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, draining ? 20 : 100)
        if ready < 0 && errno != EINTR { return }
        if ready == 0 {
            if draining { return }
            if let finished, finished() { draining = true }
        }
        if ready > 0 {
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n < 0 { if errno == EINTR || errno == EAGAIN { continue }; return }
            if n == 0 { return }
            filter.feed(UnsafeBufferPointer(rebasing: buffer[0..<n]))
            if filter.failure != nil { return }
        }
        if Date().timeIntervalSince(lastPoll) >= pollInterval {
            filter.poll()
            lastPoll = Date()
            if filter.failure != nil { return }
        }
    }
}

struct Filter: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "filter",
        abstract: "Filter replies from standard input to standard output: publish, replace with the fallback, or hold for review.",
        discussion: """
        One reply per line (or one JSON object per line with --jsonl). Each reply is decided and its output \
        line written and flushed at once, in order: allowed replies as written, blocked ones replaced by the \
        policy's fallback reply, escalated ones stored in the review queue and replaced by the holding reply. \
        Replies approved with `replyguard review approve` are published by a running filter (in --jsonl mode \
        as the original record, carrying its id). Standard output carries only published replies. \
        Exit 0 at end of input, 2 when rules, queue or audit log cannot be used (or written), a rule's example \
        fails (as in `replyguard check`), standard output cannot be written, or a fallback/holding reply fails the policy.
        """)

    @OptionGroup var options: FilterOptions

    func run() throws {
        let filter = try options.makeFilter(failureCode: 2)
        pump(fd: 0, into: filter, pollInterval: options.pollInterval)
        filter.finish(publishPartial: true)
        filter.poll()
        Terminal.standardOutput.flush()
        if let failure = filter.failure { throw fail(failure) }
    }
}
