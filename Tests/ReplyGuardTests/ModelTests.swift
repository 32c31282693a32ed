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
        #expect(a.serialized().hasPrefix("replyguard-model 2\n"))
        #expect(a.serialized().split(separator: "\n").last?.hasPrefix("end ") == true)
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

    /// #21: `maxWeight` caps every weight's absolute value (one character, or whatever shares its
    /// bucket, cannot carry a score alone); without it the same data trains larger weights.
    @Test func maxWeightCapsEveryWeight() throws {
        let (free, _) = ModelTrainer.train(Self.generated(), category: "insult", options: Self.smallOptions())
        #expect((free.weights.map { abs($0) }.max() ?? 0) > 1.5)
        var options = Self.smallOptions()
        options.maxWeight = 0.75
        let (capped, _) = ModelTrainer.train(Self.generated(), category: "insult", options: options)
        #expect((capped.weights.map { abs($0) }.max() ?? 0) <= 0.75)
        #expect(capped.weights.contains { abs($0) == 0.75 })
    }

    /// #21: with `minCount`, an n-gram found in fewer training messages is not trained on: a
    /// character seen once (in a held-in positive) keeps its bucket at zero when nothing else hashes
    /// there, and `minCount` above the number of messages leaves every weight zero.
    @Test func minCountLeavesRareNGramsUntrained() throws {
        var examples = Self.generated()
        examples.append(TrainingExample(id: "rare-0", text: "鼋", positive: true))
        #expect(!ModelTrainer.isHeldOut("rare-0", share: 0.2))
        let kept = Normalizer().normalize("鼋").kept
        let mask = UInt32((1 << 12) - 1)
        let bucket = kept.withUnsafeBufferPointer { k in
            var b = -1
            NGramModel.forEachGram(k, mask: mask) { bucket, _, _ in b = bucket }
            return b
        }
        let (all, _) = ModelTrainer.train(examples, category: "insult", options: Self.smallOptions())
        #expect(all.weights[bucket] > 0)
        var options = Self.smallOptions()
        options.minCount = 2
        let (common, report) = ModelTrainer.train(examples, category: "insult", options: options)
        #expect(common.weights[bucket] == 0)
        #expect(try #require(report.chosen).recall > 0.9, "\(report.table)")
        options.minCount = examples.count + 1
        let (none, _) = ModelTrainer.train(examples, category: "insult", options: options)
        #expect(none.weights.allSatisfy { $0 == 0 })
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

    /// The prescreen sums every enabled model's n-gram weights while it reads a message and settles it as
    /// an allow only when no model can reach its threshold: with two models of different sizes, each
    /// escalating on its own phrases, every decision (the whole record) is the one the full path makes.
    @Test func theModelPrescreenDecidesLikeTheFullPathWithTwoModels() throws {
        let other = ["混账东西", "白痴一个", "狗东西", "去死吧", "垃圾玩意"]
        func swapped(_ text: String) -> String {
            var text = text
            for (i, phrase) in ["滚远点", "蠢货", "脑子进水", "真是废物", "闭上你的臭嘴"].enumerated() {
                text = text.replacingOccurrences(of: phrase, with: other[i])
            }
            return text
        }
        let (first, _) = ModelTrainer.train(Self.generated(), category: "insult", options: Self.smallOptions())
        var options = Self.smallOptions()
        options.buckets = 1 << 10
        let secondExamples = Self.generated(seed: 11).map { TrainingExample(id: $0.id, text: swapped($0.text), positive: $0.positive) }
        let (second, _) = ModelTrainer.train(secondExamples, category: "insult", options: options)
        var files = Self.modelPack(first.serialized())
        files["second.yaml"] = "pack: second\nversion: 1.0.0\ncategory: insult\ndescription: another learned score\nmodel: models/second.model\n"
        files["models/second.model"] = second.serialized()
        var off = EngineOptions()
        off.prefilter = false
        let fast = try engine(files), full = try engine(files, options: off)
        let texts = Self.generated(300, seed: 99).flatMap { [$0.text, swapped($0.text)] } + ["", "蠢", "狗东", "您好", "abc", "您好，狗东西"]
        var byModel: [String: Int] = [:]
        for text in texts {
            let decision = fast.decide(text)
            #expect(decision.jsonLine() == full.decide(text).jsonLine(), "\(text)")
            for hit in decision.hits where hit.rule.hasSuffix(".model") { byModel[hit.rule, default: 0] += 1 }
        }
        // Both models escalate some of these texts (so a prescreen that misread either one would show).
        #expect(byModel["learned.model", default: 0] > 10 && byModel["second.model", default: 0] > 10, "\(byModel)")
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
        let wrongCategory = Self.resealed(model.serialized().replacingOccurrences(of: "category insult", with: "category spam"))
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

    /// A model file edited on purpose, with its end line recomputed (as `learn` would write it).
    static func resealed(_ text: String) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        while let last = lines.last, last.isEmpty || last.hasPrefix("end ") { lines.removeLast() }
        let body = lines.joined(separator: "\n") + "\n"
        return body + NGramModel.endLine(weightLines: lines.filter { $0.hasPrefix("w ") }.count, before: Array(body.utf8))
    }

    /// R6 (#17): a model file cut at a line boundary, with no weight lines, with a line missing or a
    /// digit changed loaded silently as a weaker model. The end line (weight count and SHA-256 of the
    /// bytes before it) is verified: each is a problem at the model file's line, and nothing loads.
    @Test func aModelFileCutShortOrChangedDoesNotLoad() throws {
        let (model, _) = ModelTrainer.train(Self.generated(), category: "insult", options: Self.smallOptions())
        let text = model.serialized()
        #expect(loadProblems(Self.modelPack(text)).isEmpty)
        let lines = text.split(separator: "\n").map(String.init)
        let firstWeight = try #require(lines.firstIndex { $0.hasPrefix("w ") })
        let weightCount = lines.filter { $0.hasPrefix("w ") }.count
        #expect(weightCount > 100 && lines.last == "end \(weightCount) sha256:" + SHA256.hex(Array(text.utf8.dropLast(lines.last!.utf8.count + 1))))
        func file(_ kept: [String], newline: Bool = true) -> String { kept.joined(separator: "\n") + (newline ? "\n" : "") }
        func problems(_ modelText: String) -> [RuleProblem] {
            loadProblems(Self.modelPack(modelText)).filter { $0.file.hasSuffix("models/learned.model") }
        }
        func expectProblem(_ modelText: String, line: Int, _ phrase: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
            let found = problems(modelText)
            #expect(found.contains { $0.line == line && $0.message.contains(phrase) }, "\(found)", sourceLocation: sourceLocation)
        }
        // Cut at a line boundary: no weights, half of them, all but the end line.
        for keep in [firstWeight, firstWeight + weightCount / 2, lines.count - 1] {
            expectProblem(file(Array(lines.prefix(keep))), line: keep, "without its 'end COUNT sha256:HEX' line")
        }
        // Cut inside the end line, or just before its line break.
        expectProblem(file(Array(lines.dropLast()) + [String(lines.last!.dropLast(10))], newline: false), line: lines.count, "expected 'end COUNT sha256:HEX'")
        expectProblem(file(lines, newline: false), line: lines.count, "no line break")
        // One weight line gone: the count and the checksum disagree.
        var missing = lines
        missing.remove(at: firstWeight + 7)
        expectProblem(file(missing), line: lines.count - 1, "\(weightCount - 1) weight line(s), its end line says \(weightCount)")
        expectProblem(file(missing), line: lines.count - 1, "checksum mismatch")
        // One digit changed (a weight, the bias, the threshold): the checksum disagrees.
        for index in [firstWeight + 3, lines.firstIndex { $0.hasPrefix("bias ") }!, lines.firstIndex { $0.hasPrefix("threshold ") }!] {
            var changed = lines
            let digit = try #require(changed[index].lastIndex { $0.isNumber })
            changed[index].replaceSubrange(digit...digit, with: changed[index][digit] == "7" ? "8" : "7")
            expectProblem(file(changed), line: lines.count, "checksum mismatch")
        }
        // Anything after the end line.
        expectProblem(file(lines + ["w 9 0.5"]), line: lines.count + 1, "nothing may follow the 'end' line")
        // A line added before the end line, a comment included: the checksum disagrees.
        expectProblem(file(Array(lines.dropLast()) + ["# note", lines.last!]), line: lines.count + 1, "checksum mismatch")
    }

    /// Format-1 files (no end line) are refused with the way to convert them; `sealed` converts a
    /// complete one byte for byte (header and end line only), verifies a sealed one and refuses damage.
    @Test func version1FilesAreRefusedAndSealConvertsThem() throws {
        let (model, _) = ModelTrainer.train(Self.generated(), category: "insult", options: Self.smallOptions())
        let text = model.serialized()
        var lines = text.split(separator: "\n").map(String.init)
        lines.removeLast()
        lines[0] = "replyguard-model 1"
        let version1 = lines.joined(separator: "\n") + "\n"
        let refused = loadProblems(Self.modelPack(version1))
        #expect(refused.count == 1 && refused[0].line == 1 && refused[0].message.contains("replyguard rules seal"), "\(refused)")

        guard case .success(.converted(let sealed, let count)) = NGramModel.sealed(Array(version1.utf8), file: "m.model") else {
            Issue.record("not converted"); return
        }
        #expect(String(decoding: sealed, as: UTF8.self) == text)
        #expect(count == lines.filter { $0.hasPrefix("w ") }.count)
        #expect(try NGramModel.sealed(Array(text.utf8), file: "m.model").get() == .alreadySealed(weightLines: count))
        // Damage is refused, never sealed: a bad line, a last line without its line break, a damaged sealed file.
        func sealRefused(_ text: [UInt8]) -> Bool {
            if case .failure = NGramModel.sealed(text, file: "m.model") { return true }
            return false
        }
        #expect(sealRefused(Array(version1.replacingOccurrences(of: "bias ", with: "bias x").utf8)))
        #expect(sealRefused(Array(version1.utf8.dropLast())))
        #expect(sealRefused(Array(text.replacingOccurrences(of: "threshold escalate 0.", with: "threshold escalate 0.9").utf8)))
    }

    /// The shipped model files are format 2 and exactly what `learn`'s writer makes of their contents.
    @Test func theShippedModelFilesAreSealedAsLearnWritesThem() throws {
        let dir = Repo.root + "/rules/models"
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".model") }
        #expect(!names.isEmpty)
        for name in names {
            let bytes = [UInt8](FileManager.default.contents(atPath: dir + "/" + name)!)
            let (model, problems) = NGramModel.parse(bytes, file: name)
            #expect(problems.isEmpty, "\(problems)")
            #expect(model.map { Array($0.serialized().utf8) == bytes } == true, "\(name)")
        }
    }

    /// The SHA-256 behind the policy digest and the model end line: known answers, and the same digest
    /// however the bytes are fed.
    @Test func sha256KnownAnswersAndChunking() {
        #expect(SHA256.hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        let million = [UInt8](repeating: 0x61, count: 1_000_000)
        #expect(SHA256.hex(million) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        var random = SeededRandom(3)
        let bytes = (0..<5000).map { _ in UInt8(random.next(256)) }
        let whole = SHA256.hex(bytes)
        for chunk in [1, 3, 63, 64, 65, 1000] {
            var hasher = SHA256()
            var start = 0
            while start < bytes.count {
                hasher.update(bytes[start..<min(start + chunk, bytes.count)])
                start += chunk
            }
            #expect(hasher.finalizeHex() == whole, "chunk \(chunk)")
        }
        var lazy = SHA256()
        lazy.update(bytes.lazy.map { $0 })
        #expect(lazy.finalizeHex() == whole)
    }
}
