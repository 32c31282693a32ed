import Foundation
import ReplyGuard
import Testing

/// The library's batch scanner, used the way the README shows an embedder using it: records come out in
/// input order whatever the thread count, and a new output format is one small `DecisionSink`.
@Suite struct BatchScannerTests {
    /// Collects what the writer thread is handed, for the test to read after `finish()`.
    final class Collected: @unchecked Sendable { // written by the writer thread only, read after finish()
        var bytes: [UInt8] = []
    }

    /// A format that is not shipped: one `id<TAB>verdict<TAB>categories` line per flagged message, then
    /// a count — to show that a sink is all a new format needs.
    struct FlaggedTSVSink: DecisionSink {
        func render(_ decision: Decision, text: () -> String, into out: inout [UInt8]) {
            guard decision.verdict >= .escalate else { return }
            out += Array("\(decision.id)\t\(decision.verdict.rawValue)\t\(decision.categories.joined(separator: ","))\t\(text())\n".utf8)
        }

        func finish(summary: ScanSummary) -> [UInt8] { Array("flagged \(summary.verdicts[Verdict.escalate.rank] + summary.verdicts[Verdict.block.rank])\n".utf8) }
    }

    func file(_ lines: [String]) throws -> String {
        let path = NSTemporaryDirectory() + "rg-batch-\(UUID().uuidString).jsonl"
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func run(_ path: String, jobs: Int, sink: DecisionSink) throws -> (String, ScanSummary) {
        var options = BatchOptions()
        options.jobs = jobs
        let collected = Collected()
        let batch = BatchScanner(engine: Engine(ruleSet: Repo.shipped), options: options, sink: sink, output: { collected.bytes += $0 })
        let source = try InputSource(path: path)
        try batch.scan(source, format: BatchScanner.format(of: source))
        let summary = batch.finish()
        return (String(decoding: collected.bytes, as: UTF8.self), summary)
    }

    @Test func recordsComeOutInInputOrderOnAnyNumberOfThreads() throws {
        let texts = ["您好，办事大厅九点开门", "你不说话没人把你当哑巴", "网传明天全市停水", "好的"]
        let path = try file((0..<20_000).map { "{\"id\":\($0),\"text\":\"\(texts[$0 % texts.count])\"}" })
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (one, summary) = try run(path, jobs: 1, sink: JSONLinesSink())
        let (four, _) = try run(path, jobs: 4, sink: JSONLinesSink())
        #expect(one == four)
        let decisions = try one.split(separator: "\n").map { try JSONDecoder().decode(Decision.self, from: Data($0.utf8)) }
        #expect(decisions.map(\.id) == (0..<20_000).map { .number(String($0)) })
        #expect(decisions[1].verdict == .block && decisions[0].verdict == .allow)
        #expect(summary.messages == 20_000 && summary.verdicts[Verdict.block.rank] == 5_000)
    }

    @Test func aNewFormatIsOneSink() throws {
        let path = try file(["{\"id\":\"a\",\"text\":\"您好\"}", "{\"id\":\"b\",\"text\":\"你不说话没人把你当哑巴\"}"])
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (output, _) = try run(path, jobs: 2, sink: FlaggedTSVSink())
        #expect(output == "b\tblock\tinsult\t你不说话没人把你当哑巴\nflagged 1\n")
    }

    @Test func badCSVQuotingIsAnInputErrorAfterTheRecordsBeforeIt() throws {
        let path = NSTemporaryDirectory() + "rg-batch-\(UUID().uuidString).csv"
        try "id,text\n1,您好\n2,\"x\n3,你不说话没人把你当哑巴\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let batch = BatchScanner(engine: Engine(ruleSet: Repo.shipped), options: BatchOptions(), sink: JSONLinesSink(), output: { _ in })
        #expect(throws: BatchInputError.self) { try batch.scan(try InputSource(path: path), format: .csv) }
        #expect(batch.finish().messages == 1)
    }
}
