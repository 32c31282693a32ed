import Foundation
import ReplyGuard
import ReplyGuardGate

/// Where the rules come from, for the first load and every reload.
public struct RuleSource: Sendable {
    public var rulesDirectory: String
    public var policyFile: String?
    /// The disk, or the rule set built into the binary (``EmbeddedRuleSet``).
    public var files: RuleFiles

    public init(rulesDirectory: String, policyFile: String?, files: RuleFiles = .disk) {
        self.rulesDirectory = rulesDirectory
        self.policyFile = policyFile
        self.files = files
    }
}

/// Scanners for one engine. A `MessageScanner` is single-threaded; a request takes one for the time of
/// its decisions and gives it back, so there are never more than the concurrent requests (in practice
/// the event-loop threads).
final class ScannerPool: @unchecked Sendable { // `free` is only touched under `lock`
    let engine: Engine
    private var free: [MessageScanner] = []
    private let lock = NSLock()

    init(engine: Engine) { self.engine = engine }

    func with<T>(_ body: (MessageScanner) throws -> T) rethrows -> T {
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

/// One loaded rule set with everything that serves it. Replaced whole on reload: a request holds the
/// state it started with, so it is decided entirely by the old rules or entirely by the new ones.
final class ServingState: Sendable {
    let engine: Engine
    let gate: GateCalls
    let scanners: ScannerPool
    let loadedAt: Date
    let ruleCount: Int

    private init(engine: Engine, gate: GateCalls) {
        self.engine = engine
        self.gate = gate
        scanners = ScannerPool(engine: engine)
        loadedAt = Date()
        ruleCount = engine.rules.count
    }

    /// Loads, compiles and checks the rules as `replyguard check` does (every example, mutated too), and
    /// checks that the fallback and holding replies would themselves be allowed. Throws with every reason
    /// when anything fails: such rules are never served.
    static func load(_ source: RuleSource, queuePath: String, auditPath: String?, holdAll: Bool) throws(RulesRefused) -> ServingState {
        let ruleSet: RuleSet
        do {
            ruleSet = try RuleLoader.load(rulesDirectory: source.rulesDirectory, policyFile: source.policyFile, files: source.files)
        } catch {
            throw RulesRefused(summary: "rule packs failed to load (\(error.problems.count) problem\(error.problems.count == 1 ? "" : "s"))",
                               problems: error.problems.map(\.description))
        }
        let failures = ExampleChecker(ruleSet: ruleSet).checkAll().filter { !$0.passed }
        if !failures.isEmpty {
            throw RulesRefused(summary: "\(failures.count) rule example\(failures.count == 1 ? "" : "s") failed (replyguard check)",
                               problems: failures.prefix(50).map { "\($0.rule.id): \($0.failure ?? "failed")\($0.mutation.map { " (mutation: \($0.rawValue))" } ?? "")" })
        }
        let engine = Engine(ruleSet: ruleSet)
        let unsafe = ReplyGate.unsafeReplies(engine: engine)
        if !unsafe.isEmpty { throw RulesRefused(summary: "the policy's own replies fail the rules", problems: unsafe) }
        do {
            return ServingState(engine: engine, gate: try GateCalls(engine: engine, queuePath: queuePath, auditPath: auditPath, holdAll: holdAll))
        } catch {
            throw RulesRefused(summary: "cannot open the review queue \(queuePath) or the audit log", problems: ["\(error)"])
        }
    }
}

/// Why a rule set was not loaded (the running one, if any, stays).
public struct RulesRefused: Error, CustomStringConvertible {
    public let summary: String
    public let problems: [String]
    public var description: String { ([summary] + problems).joined(separator: "\n") }
}
