import Foundation
import Testing

@testable import ReplyGuard

/// The streaming stall measurement (bench/stream-stall.sh), not a test: runs only with
/// `REPLYGUARD_STALL_REPLIES` set to a file of `{"id", "text"}` lines (bench/stall-replies.py). Each reply
/// is streamed one character per piece through the shipped rules; printed: how many are still held by
/// more than the bound + 10 characters after their last character, the first release's position (p50,
/// p90; a reply never released before its end counts as its length), and what held them (the leaf's
/// rule, the bound, a pending match of a held regex — `partial <rule>`: the one that could begin a match
/// earliest at that append — or a prefix not allowed). `REPLYGUARD_STALL_MODELS=1`
/// keeps the policy's model packs (sentence-level hold); by default they are left out (bounded hold, as
/// `serve --rules-only`).
@Suite struct StreamStallBench {
    static let path = ProcessInfo.processInfo.environment["REPLYGUARD_STALL_REPLIES"]

    @Test(.enabled(if: path != nil)) func stall() throws {
        var options = EngineOptions()
        options.includeModels = ProcessInfo.processInfo.environment["REPLYGUARD_STALL_MODELS"] == "1"
        let engine = Engine(ruleSet: Repo.shipped, options: options)
        let decider = StreamingDecider(engine: engine)
        let lines = try String(contentsOfFile: StreamStallBench.path!, encoding: .utf8).split(separator: "\n")
        var firsts: [Int] = [], stalled: [String: Int] = [:], firstReasons: [String: Int] = [:]
        var held = 0, flagged = 0
        var detail = ""
        // The rule that set the frontier (a leaf's rule, or `partial <rule>`: the held regex that can begin a
        // match earliest), or the reason.
        func rule(_ reason: ReplyStream.HoldReason, _ stream: ReplyStream) -> String {
            if case .leaf(let leaf) = reason { return String(leaf.prefix { $0 != "#" }) }
            return stream.describe(reason)
        }
        for line in lines {
            let record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let text = record["text"] as! String, id = record["id"] as! String
            if engine.decide(text).verdict != .allow { flagged += 1 }
            let stream = decider.makeStream()
            var count = 0, first: Int?
            var reasonBeforeFirst = ReplyStream.HoldReason.none
            for scalar in text.unicodeScalars {
                count += 1
                let out = stream.append(Array(String(scalar).utf8))
                if first == nil {
                    if out.isEmpty { reasonBeforeFirst = stream.holdReason } else { first = count }
                }
            }
            firsts.append(first ?? count)
            // What kept the first release later than the bound allows.
            if (first ?? count) > decider.bound.units + 10 { firstReasons[rule(reasonBeforeFirst, stream), default: 0] += 1 }
            let left = count - stream.releasedCharacters
            if left > decider.bound.units + 10 {
                held += 1
                stalled[rule(stream.holdReason, stream), default: 0] += 1
                detail += "\(id)\t\(left)\t\(stream.describe(stream.holdReason))\n"
            }
        }
        firsts.sort()
        func pct(_ p: Int) -> Int { firsts[min(firsts.count - 1, p * firsts.count / 100)] }
        var report = "stall: \(lines.count) replies, \(flagged) decided other than allow whole; hold \(decider.bound.mode) \(decider.bound.units)\n"
        report += "stall: held > bound+10 at the end: \(held); first release p50 \(pct(50)), p90 \(pct(90))\n"
        for (reason, n) in stalled.sorted(by: { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }) {
            report += "stall: held at end by \(reason): \(n)\n"
        }
        for (reason, n) in firstReasons.sorted(by: { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }) {
            report += "stall: first release after bound+10, held by \(reason): \(n)\n"
        }
        print(report, terminator: "")
        if let out = ProcessInfo.processInfo.environment["REPLYGUARD_STALL_DETAIL"] {
            try detail.write(toFile: out, atomically: true, encoding: .utf8)
        }
    }
}
