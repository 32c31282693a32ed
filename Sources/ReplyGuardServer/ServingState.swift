import Foundation
import ReplyGuard
import ReplyGuardGate

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
        scanners = runtime.scanners
    }
}
