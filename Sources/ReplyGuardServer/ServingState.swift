import Foundation
import ReplyGuard
import ReplyGuardGate

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

/// One loaded rule set with everything that serves it: the process's ``GateRuntime`` for these rules
/// and scanners for its engine. Replaced whole on reload: a request holds the state it started with, so
/// it is decided entirely by the old rules or entirely by the new ones (both on the one queue connection
/// and audit log of the process).
final class ServingState: Sendable {
    let runtime: GateRuntime
    let scanners: ScannerPool

    var engine: Engine { runtime.engine }
    var gate: ReplyGate { runtime.gate }
    var desk: ReviewDesk { runtime.desk }
    var loadedAt: Date { runtime.loadedAt }
    var ruleCount: Int { runtime.engine.rules.count }

    init(_ runtime: GateRuntime) {
        self.runtime = runtime
        scanners = ScannerPool(engine: runtime.engine)
    }
}
