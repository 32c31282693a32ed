import Foundation
import Testing
@testable import ReplyGuard

/// Model packs (#10): a tiny model trained on generated data — determinism, thresholds, the file format
/// (fail closed), scoring in the engine, exceptions and the policy's block threshold.
@Suite struct ModelTests {
    /// Generated replies: ordinary service phrases (negatives); the same with one of a few abusive
    /// phrases mixed in (positives). Ids are distinct so the held-out split takes about a fifth.
    static func generated(_ count: Int = 600, seed: UInt64 = 7) -> [TrainingExample] {
        let plain = ["您好", "请携带身份证", "办事大厅", "九点开门", "感谢您的留言", "已转交相关部门", "请耐心等待", "祝您生活愉快", "可拨打热线咨询"]
        let bad = ["滚远点", "蠢货", "脑子进水", "真是废物", "闭上你的臭嘴"]
        var random = SeededRandom(seed)
        return (0..<count).map { i in
            var parts = (0..<(2 + random.next(3))).map { _ in plain[random.next(plain.count)] }
            let positive = i % 2 == 0
            if positive { parts.insert(bad[random.next(bad.count)], at: random.next(parts.count + 1)) }
            return TrainingExample(id: "gen-\(i)", text: parts.joined(separator: "，"), positive: positive)
        }
    }

    static func smallOptions() -> ModelTrainer.Options {
        var options = ModelTrainer.Options()
        options.buckets = 1 << 12
        options.maxFalseAlarm = 0.02
        return options
    }

    @Test func trainingIsDeterministicAndTheFileRoundTrips() throws {
        let (a, _) = ModelTrainer.train(Self.generated(), category: "insult", options: Self.smallOptions())
        let (b, _) = ModelTrainer.train(Self.generated(), category: "insult", options: Self.smallOptions())
        #expect(a.serialized() == b.serialized())
        let (parsed, problems) = NGramModel.parse(Array(a.serialized().utf8), file: "m.model")
        #expect(problems.isEmpty)
        #expect(parsed == a)
        #expect(parsed?.serialized() == a.serialized())
        #expect(a.serialized().hasPrefix("replyguard-model 1\n"))
    }

    @Test func thresholdKeepsHeldOutFalseAlarmsWithinTheRate() throws {
        let (model, report) = ModelTrainer.train(Self.generated(), category: "insult", options: Self.smallOptions())
        let chosen = try #require(report.chosen)
        #expect(chosen.target == 0.02)
        #expect(chosen.falseAlarmRate <= 0.02)
        #expect(model.escalate == chosen.threshold)
        #expect(chosen.recall > 0.9, "\(report.table)")
        #expect(report.heldOutPositives + report.heldOutNegatives > 60 && report.heldOutPositives + report.heldOutNegatives < 200)
        // Lower rates never get lower thresholds.
        let thresholds = report.rows.map(\.threshold)
        #expect(thresholds == thresholds.sorted(by: >))
        // The held-out negatives the threshold was set on: at most 2 % score at or above it.
        let normalizer = Normalizer()
        let negatives = Self.generated().filter { !$0.positive && ModelTrainer.isHeldOut($0.id, share: 0.2) }
        let flagged = negatives.filter { model.probability(of: normalizer.normalize($0.text).kept) >= model.escalate }
        #expect(Double(flagged.count) <= 0.02 * Double(negatives.count))
    }

    static func modelPack(_ modelText: String, policy: String? = nil) -> [String: String] {
        var files = [
            "learned.yaml": """
            pack: learned
            version: 1.0.0
            category: insult
            description: a learned score
            model: models/learned.model
            """,
            "models/learned.model": modelText,
        ]
        if let policy { files["policy.yaml"] = policy }
        return files
    }

    @Test func theEngineScoresTheKeptTextAndReportsTopNGrams() throws {
        let (model, _) = ModelTrainer.train(Self.generated(), category: "insult", options: Self.smallOptions())
        let engine = try engine(Self.modelPack(model.serialized()))
        let hit = engine.decide("您好，你这个蠢货，请耐心等待")
        #expect(hit.verdict == .escalate)
        let hits = hit.hits.filter { $0.rule == "learned.model" }
        #expect(!hits.isEmpty)
        #expect(hits.allSatisfy { $0.category == "insult" && $0.action == .escalate && ($0.modelScore ?? 0) >= model.escalate })
        #expect(hits.contains { "蠢货".contains($0.match) }, "\(hits.map(\.match))")
        #expect(hit.jsonLine().contains("\"rule\":\"learned.model\""))
        // Full-width and Traditional forms score the same: the model reads the normalized text.
        #expect(engine.decide("您好，你這個蠢貨，請耐心等待").verdict == .escalate)
        #expect(engine.decide("您好，请携带身份证到办事大厅").verdict == .allow)
        #expect(engine.decide("").verdict == .allow)
        // A block threshold only from the policy.
        let blocking = try ReplyGuardTests.engine(Self.modelPack(model.serialized(), policy: "version: 1\nmodels: {learned: {block: \(model.escalate)}}\n"))
        #expect(blocking.decide("您好，你这个蠢货，请耐心等待").verdict == .block)
        // An exception covers the model's hits like a rule's.
        let excepted = try ReplyGuardTests.engine(Self.modelPack(model.serialized(), policy: "version: 1\nexceptions: [{rules: [learned.model], reason: test}]\n"))
        let decision = excepted.decide("您好，你这个蠢货，请耐心等待")
        #expect(decision.verdict == .allow && decision.suppressed.map(\.rule) == ["learned.model"])
    }

    @Test func explainFeaturesListTheWeightsThatPushedTheScore() throws {
        let (model, _) = ModelTrainer.train(Self.generated(), category: "insult", options: Self.smallOptions())
        let kept = Normalizer().normalize("你这个蠢货").kept
        let features = model.features(kept)
        let top = try #require(features.first)
        #expect(top.contribution > 0 && "你这个蠢货".contains(top.gram))
        let logit = model.bias + features.map(\.contribution).reduce(0, +)
        #expect(abs(NGramModel.sigmoid(logit) - model.probability(of: kept)) < 1e-3)
    }

    @Test func aBadModelFileFailsClosedWithItsLine() throws {
        let (model, _) = ModelTrainer.train(Self.generated(), category: "insult", options: Self.smallOptions())
        var lines = model.serialized().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let index = try #require(lines.firstIndex { $0.hasPrefix("w ") })
        lines[index] = "w 12 notanumber"
        let problems = loadProblems(Self.modelPack(lines.joined(separator: "\n")))
        #expect(problems.contains { $0.file.hasSuffix("learned.model") && $0.line == index + 1 }, "\(problems)")
        #expect(!loadProblems(Self.modelPack("replyguard-model 2\n")).isEmpty)
        let wrongCategory = model.serialized().replacingOccurrences(of: "category insult", with: "category spam")
        #expect(loadProblems(Self.modelPack(wrongCategory)).contains { $0.message.contains("category") })
        var files = Self.modelPack(model.serialized())
        files["models/learned.model"] = nil
        #expect(loadProblems(files).contains { $0.message.contains("not found") && $0.file.hasSuffix("learned.yaml") })
        // The policy may only name model packs under `models`, with probabilities.
        #expect(!loadProblems(Self.modelPack(model.serialized(), policy: "version: 1\nmodels: {learned: {block: 2}}\n")).isEmpty)
    }

    @Test func theModelBytesArePartOfThePolicyDigest() throws {
        let (model, _) = ModelTrainer.train(Self.generated(), category: "insult", options: Self.smallOptions())
        let a = try RuleLoader.load(rulesDirectory: makeRulesDirectory(Self.modelPack(model.serialized())))
        var other = model
        other.bias += 0.5
        let b = try RuleLoader.load(rulesDirectory: makeRulesDirectory(Self.modelPack(other.serialized())))
        #expect(a.digest != b.digest)
    }

    /// Weight lines are read from the bytes without `Float(String)`: the value must be the same for
    /// every weight of the shipped models.
    @Test func weightLinesReadFromBytesEqualFloatFromString() throws {
        let dir = Repo.root + "/rules/models"
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) where name.hasSuffix(".model") {
            let bytes = [UInt8](FileManager.default.contents(atPath: dir + "/" + name)!)
            var checked = 0
            for line in bytes.split(separator: 0x0A) where line.first == 0x77 {
                let parts = String(decoding: line, as: UTF8.self).split(separator: " ")
                let fast = NGramModel.weightLine(line)
                #expect(fast?.0 == Int(parts[1]) && fast?.1 == Float(String(parts[2])), "\(name): \(String(decoding: line, as: UTF8.self))")
                checked += 1
            }
            #expect(checked > 1000, "\(name)")
        }
        for odd in ["w 12 0.5e3", "w 12 1.2.3", "w x 1", "w 12", "w 12 -", "w 12 1234567890.5"] {
            #expect(NGramModel.weightLine(ArraySlice(Array(odd.utf8))) == nil, "\(odd)")
        }
    }
}
