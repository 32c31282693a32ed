import Foundation
import ReplyGuard

/// Where the rules come from, for the first load and every reload.
public struct RuleSource: Sendable {
    public var rulesDirectory: String
    public var policyFile: String?
    /// The disk, or the rule set built into the binary (`EmbeddedRuleSet`).
    public var files: RuleFiles

    public init(rulesDirectory: String, policyFile: String?, files: RuleFiles = .disk) {
        self.rulesDirectory = rulesDirectory
        self.policyFile = policyFile
        self.files = files
    }
}

/// Why a gate did not start, or a reload was refused (the running rules, if any, stay).
public struct GateRefused: Error, CustomStringConvertible {
    /// Which check refused.
    public enum Check: Sendable {
        /// The rule packs or the policy did not load.
        case rules
        /// A rule's examples failed (`replyguard check`).
        case examples
        /// A fallback or holding reply fails the policy itself, or spans lines.
        case replies
        /// The review queue cannot be opened, or only read.
        case queue
        /// The audit log cannot be opened.
        case audit
    }

    public let check: Check
    public let summary: String
    public let problems: [String]
    /// The file that could not be opened and why (``Check/queue``, ``Check/audit``), for a caller that
    /// words file errors itself.
    public let file: (path: String, error: Error)?

    public init(_ check: Check, _ summary: String, problems: [String] = [], file: (path: String, error: Error)? = nil) {
        self.check = check
        self.summary = summary
        self.problems = problems
        self.file = file
    }

    public var description: String {
        ([summary + (file.map { ": \(RuleFiles.plainReason($0.error))" } ?? "")] + problems).joined(separator: "\n")
    }
}

/// The older name of ``GateRefused``.
public typealias RulesRefused = GateRefused

/// What a ``GateRuntime`` opens.
public struct GateConfiguration: Sendable {
    public var rules: RuleSource
    /// The review queue (a SQLite file; created if missing, refused if this user may only read it).
    public var queuePath: String
    /// The audit log (JSON Lines, appended), if any.
    public var auditPath: String?
    /// Escalate every reply that is not blocked.
    public var holdAll = false
    /// The store channel of replies held here (nil: the line filters; `http`: the service).
    public var channel: String?
    /// Check every rule's examples (as `replyguard check`) before serving them. On for every command;
    /// off only for tests and embedders that checked the rules themselves.
    public var checkExamples = true
    /// The gate tries its audit log again after a failure instead of stopping for good (request/response
    /// front ends: nothing they answer goes out unrecorded).
    public var resumes = false
    /// Names this process in the queue when it releases replies (`pid@host`).
    public var owner = "\(getpid())@\(ProcessInfo.processInfo.hostName)"

    public init(rules: RuleSource, queuePath: String, auditPath: String?) {
        self.rules = rules
        self.queuePath = queuePath
        self.auditPath = auditPath
    }
}

/// Everything stateful about gating in one process, started once: the checked rules (``engine``), the
/// reply gate (``gate``) and the reviewer's side (``desk``), over one review-queue connection and one
/// audit log (so `(pid, seq)` is unique in the log). `filter`, `wrap`, `serve` and every front end in
/// front of a chatbot are drivers of a runtime: none opens a queue or an audit log of its own.
///
/// A front end
/// - decides text without holding it on a scanner from ``scanners`` (`with { scanner in … }`, on any
///   thread; a scanner is used by one thread at a time) — a streaming proxy checking prefixes;
/// - puts a complete reply through ``gate`` (`handle(_:scanner:…:heldOn:order:fields:publish:)`) — held
///   on its channel when escalated, with ``PublishOrder/recordThenPublish`` when it answers a request,
///   its own ``AuditField``s (completion id, model, hold bound, characters released…) added to the one
///   audit record of that reply;
/// - learns of approved replies of its channel from ``desk`` (``ReviewDesk/claimApproved(channel:by:)``,
///   then ``ReviewDesk/delivered(_:by:reason:)`` once delivered), or lets ``ReplyGate/releaseApproved(publish:)``
///   claim them (the line filters).
///
/// Immutable and `Sendable`: any thread may use it; ``gate`` and ``desk`` say what they lock. A reload
/// (``reloaded()``) makes a new runtime with new rules on the same queue connection and audit log, and
/// the old one stays valid for the requests that started on it.
public final class GateRuntime: Sendable {
    public let configuration: GateConfiguration
    public let engine: Engine
    public let gate: ReplyGate
    public let desk: ReviewDesk
    /// Scanners for ``engine``, for deciding text without the gate (a proxy checking a stream's prefixes,
    /// `/v1/check`) and for the gate's `handle`.
    public let scanners: ScannerPool
    /// When these rules were loaded.
    public let loadedAt: Date
    private let diagnose: @Sendable (String) -> Void

    private init(configuration: GateConfiguration, engine: Engine, ledger: GateLedger, queue: ReviewQueue, diagnose: @escaping @Sendable (String) -> Void) {
        self.configuration = configuration
        self.engine = engine
        self.diagnose = diagnose
        gate = ReplyGate(engine: engine, ledger: ledger, holdAll: configuration.holdAll, owner: configuration.owner, channel: configuration.channel,
                         resumes: configuration.resumes, diagnose: diagnose)
        desk = ReviewDesk(ledger: ledger, queue: queue)
        scanners = ScannerPool(engine: engine)
        loadedAt = Date()
    }

    /// Loads the rules, checks them (their examples too unless ``GateConfiguration/checkExamples`` is
    /// off), refuses a policy whose own fallback or holding replies fail it, opens the review queue
    /// (refusing one this user may only read: nothing could be held) and the audit log. Throws with
    /// every reason when anything fails: such a gate never starts.
    /// - Parameter diagnose: reports a problem to the operator (stderr); called with the ledger's lock
    ///   held, so never concurrently.
    public static func open(_ configuration: GateConfiguration, diagnose: @escaping @Sendable (String) -> Void) throws(GateRefused) -> GateRuntime {
        let engine = try checkedEngine(configuration)
        let path = configuration.queuePath
        let queue: ReviewQueue
        do { queue = try ReviewQueue(path: path) } catch {
            throw GateRefused(.queue, "cannot open the review queue \(path)", file: (path, error))
        }
        if queue.isReadOnly {
            throw GateRefused(.queue, "the review queue \(path) is read-only for this user: escalated replies could not be held; make it writable or use --queue")
        }
        let audit: AuditLog?
        do { audit = try configuration.auditPath.map { try AuditLog(path: $0) } } catch {
            throw GateRefused(.audit, "cannot open the audit log \(configuration.auditPath!)", file: (configuration.auditPath!, error))
        }
        return GateRuntime(configuration: configuration, engine: engine, ledger: GateLedger(store: queue, audit: audit), queue: queue, diagnose: diagnose)
    }

    /// The rules loaded and checked again, on this runtime's queue connection and audit log (the audit
    /// sequence goes on). Throws why when they cannot be served; this runtime stays usable.
    public func reloaded() throws(GateRefused) -> GateRuntime {
        let engine = try GateRuntime.checkedEngine(configuration)
        return GateRuntime(configuration: configuration, engine: engine, ledger: desk.ledger, queue: desk.queue, diagnose: diagnose)
    }

    /// Loads and checks the rules of `configuration`.
    private static func checkedEngine(_ configuration: GateConfiguration) throws(GateRefused) -> Engine {
        let source = configuration.rules
        let ruleSet: RuleSet
        do {
            ruleSet = try RuleLoader.load(rulesDirectory: source.rulesDirectory, policyFile: source.policyFile, files: source.files)
        } catch {
            throw GateRefused(.rules, "rule packs failed to load (\(error.problems.count) problem\(error.problems.count == 1 ? "" : "s"))",
                              problems: error.problems.map(\.description))
        }
        if configuration.checkExamples {
            let failures = ExampleChecker(ruleSet: ruleSet).checkAll().filter { !$0.passed }
            if !failures.isEmpty {
                throw GateRefused(.examples, "\(failures.count) rule example\(failures.count == 1 ? "" : "s") failed (replyguard check)",
                                  problems: failures.prefix(50).map { "\($0.rule.id): \($0.failure ?? "failed")\($0.mutation.map { " (mutation: \($0.rawValue))" } ?? "")" })
            }
        }
        let engine = Engine(ruleSet: ruleSet)
        let unsafe = ReplyGate.unsafeReplies(engine: engine)
        if !unsafe.isEmpty { throw GateRefused(.replies, "the policy's own replies fail the rules", problems: unsafe) }
        return engine
    }
}

/// Scanners for one engine. A `MessageScanner` is single-threaded; a caller takes one for the time of
/// its decisions and gives it back, so there are never more than the concurrent callers (in practice
/// the service's event-loop or pool threads). Thread-safe: any thread may call ``with(_:)``.
public final class ScannerPool: @unchecked Sendable { // `free` is only touched under `lock`
    public let engine: Engine
    private var free: [MessageScanner] = []
    private let lock = NSLock()

    public init(engine: Engine) { self.engine = engine }

    /// Runs `body` on a scanner no other thread uses meanwhile. Do not keep the scanner beyond `body`.
    public func with<T>(_ body: (MessageScanner) throws -> T) rethrows -> T {
        lock.lock()
        let scanner = free.popLast() ?? engine.makeScanner()
        lock.unlock()
        defer {
            lock.lock()
            free.append(scanner)
            lock.unlock()
        }
        return try body(scanner)
    }
}
