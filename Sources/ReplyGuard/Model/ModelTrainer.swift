import Foundation

/// One labelled message for ``ModelTrainer``.
public struct TrainingExample: Sendable {
    public let id: String
    public let text: String
    public let positive: Bool
    public init(id: String, text: String, positive: Bool) {
        self.id = id
        self.text = text
        self.positive = positive
    }
}

/// What training measured on the held-out split.
public struct TrainingReport: Sendable {
    public struct Row: Sendable, Equatable {
        /// The false-alarm rate asked for.
        public let target: Double
        public let threshold: Double
        /// Measured on the held-out split.
        public let falseAlarmRate: Double
        public let recall: Double
        public let precision: Double
    }
    public var trainPositives = 0, trainNegatives = 0, heldOutPositives = 0, heldOutNegatives = 0
    public var rows: [Row] = []
    /// The row for `maxFalseAlarm` (its threshold is the model's escalate threshold).
    public var chosen: Row?

    /// The precision/recall table as text lines.
    public var table: [String] {
        var lines = ["held out: \(heldOutPositives) positives, \(heldOutNegatives) negatives (trained on \(trainPositives) + \(trainNegatives))",
                     "max false alarm  threshold  false alarms  recall  precision"]
        for row in rows {
            lines.append(String(format: "%14.1f%%  %9.6f  %11.2f%%  %5.1f%%  %8.1f%%%@", locale: Locale(identifier: "en_US_POSIX"),
                                row.target * 100, row.threshold, row.falseAlarmRate * 100, row.recall * 100, row.precision * 100,
                                row == chosen ? "  <- escalate" : ""))
        }
        return lines
    }
}

/// Trains an ``NGramModel``: logistic regression with AdaGrad on class-balanced examples, a fixed
/// number of epochs in a fixed shuffled order (SplitMix64, seed 1), so the same examples give the same
/// bytes. Examples whose id hashes (FNV-1a) into the lowest fifth are held out: thresholds are chosen on
/// the held-out negatives, and the table measures on the held-out split only.
public enum ModelTrainer {
    public struct Options: Sendable {
        public var buckets = NGramModel.defaultBuckets
        public var epochs = 8
        public var learningRate = 0.2
        public var l2 = 1e-6
        /// Largest absolute weight a bucket may take (each update is clipped to ±maxWeight); 0 = no cap.
        public var maxWeight = 0.0
        /// An n-gram in fewer training messages than this is not trained on (its bucket learns only
        /// from the n-grams common enough to generalize); 1 = every n-gram.
        public var minCount = 1
        /// Share of examples held out (by id hash).
        public var heldOut = 0.2
        public var maxFalseAlarm = 0.01
        public var tableTargets = [0.005, 0.01, 0.02, 0.05]
        public init() {}
    }

    /// True when `id` belongs to the held-out split.
    public static func isHeldOut(_ id: String, share: Double) -> Bool {
        var h: UInt32 = NGramModel.fnvOffset
        for b in id.utf8 { h = (h ^ UInt32(b)) &* NGramModel.fnvPrime }
        return Double(h % 10_000) < share * 10_000
    }

    /// Calls `body(hash)` with the FNV-1a state (before bucketing) of every 1-, 2- and 3-gram of
    /// `kept`, in ``NGramModel/forEachGram(_:mask:_:)``'s order.
    static func forEachGramHash(_ kept: [UInt32], _ body: (UInt32) -> Void) {
        for i in kept.indices {
            var h = NGramModel.fnvOffset
            for n in 1...3 where i + n <= kept.count {
                h = (h ^ kept[i + n - 1]) &* NGramModel.fnvPrime
                body(h)
            }
        }
    }

    /// Sparse feature vector of a text's kept scalars, sorted by bucket. With `documentFrequency`, an
    /// n-gram in fewer than `minCount` training messages is left out (it still counts in √n-grams).
    static func features(_ kept: [UInt32], buckets: Int, documentFrequency: [UInt32: Int32]? = nil, minCount: Int = 1) -> [(UInt32, Float)] {
        let grams = NGramModel.gramCount(kept.count)
        guard grams > 0 else { return [] }
        let mask = UInt32(buckets - 1)
        var raw: [UInt32] = []
        raw.reserveCapacity(grams)
        forEachGramHash(kept) { h in
            if let documentFrequency, Int(documentFrequency[h] ?? 0) < minCount { return }
            raw.append(UInt32(NGramModel.bucket(h, mask)))
        }
        raw.sort()
        let scale = 1 / Float(Double(grams).squareRoot())
        var result: [(UInt32, Float)] = []
        var i = 0
        while i < raw.count {
            var j = i
            while j < raw.count && raw[j] == raw[i] { j += 1 }
            result.append((raw[i], Float(j - i) * scale))
            i = j
        }
        return result
    }

    public static func train(_ examples: [TrainingExample], category: String, options: Options = Options(),
                             comments: [String] = [], maxFiller: Int = 4) -> (NGramModel, TrainingReport) {
        let normalizer = Normalizer(maxFiller: maxFiller)
        var report = TrainingReport()
        var trainKept: [(kept: [UInt32], positive: Bool)] = []
        var heldOut: [(kept: [UInt32], positive: Bool)] = []
        for example in examples {
            if isHeldOut(example.id, share: options.heldOut) {
                heldOut.append((normalizer.normalize(example.text).kept, example.positive))
                if example.positive { report.heldOutPositives += 1 } else { report.heldOutNegatives += 1 }
            } else {
                trainKept.append((normalizer.normalize(example.text).kept, example.positive))
                if example.positive { report.trainPositives += 1 } else { report.trainNegatives += 1 }
            }
        }
        var documentFrequency: [UInt32: Int32]?
        if options.minCount > 1 {
            var df: [UInt32: Int32] = [:]
            for (kept, _) in trainKept {
                var seen = Set<UInt32>()
                forEachGramHash(kept) { seen.insert($0) }
                for h in seen { df[h, default: 0] += 1 }
            }
            documentFrequency = df
        }
        let train = trainKept.map {
            (features: features($0.kept, buckets: options.buckets, documentFrequency: documentFrequency, minCount: options.minCount), positive: $0.positive)
        }
        // Class-balanced: each class carries half the total weight.
        let total = Double(train.count)
        let positiveWeight = report.trainPositives > 0 ? total / (2 * Double(report.trainPositives)) : 1
        let negativeWeight = report.trainNegatives > 0 ? total / (2 * Double(report.trainNegatives)) : 1

        var w = [Double](repeating: 0, count: options.buckets)
        var g2 = [Double](repeating: 0, count: options.buckets)
        var bias = 0.0, biasG2 = 0.0
        var order = Array(train.indices)
        var rng = SplitMix64(seed: 1)
        let eps = 1e-8
        let cap = options.maxWeight
        for _ in 0..<options.epochs {
            for i in stride(from: order.count - 1, to: 0, by: -1) {
                let j = Int(rng.next() % UInt64(i + 1))
                order.swapAt(i, j)
            }
            for index in order {
                let (x, positive) = train[index]
                var z = bias
                for (b, v) in x { z += w[Int(b)] * Double(v) }
                let p = NGramModel.sigmoid(z)
                let err = (p - (positive ? 1 : 0)) * (positive ? positiveWeight : negativeWeight)
                for (b, v) in x {
                    let k = Int(b)
                    let g = err * Double(v) + options.l2 * w[k]
                    g2[k] += g * g
                    w[k] -= options.learningRate * g / (g2[k].squareRoot() + eps)
                    if cap > 0 { w[k] = min(cap, max(-cap, w[k])) }
                }
                biasG2 += err * err
                bias -= options.learningRate * err / (biasG2.squareRoot() + eps)
            }
        }
        var model = NGramModel(category: category, buckets: options.buckets, bias: bias, weights: w.map { Float($0) },
                               escalate: 0.5, comments: comments)
        model.roundToFilePrecision()

        // Thresholds on the held-out negatives, scored by the model as its file stores it.
        // (the same function the engine calls, so a threshold means the same in both)
        let negatives = heldOut.filter { !$0.positive }.map { model.probability(of: $0.kept) }.sorted(by: >)
        let positives = heldOut.filter { $0.positive }.map { model.probability(of: $0.kept) }
        func row(_ target: Double) -> TrainingReport.Row {
            var threshold = 0.5
            if !negatives.isEmpty {
                let k = Int((target * Double(negatives.count)).rounded(.down))
                threshold = k < negatives.count ? negatives[k].nextUp : 0.000001
                threshold = min(1, (threshold * 1e6).rounded(.up) / 1e6)
                threshold = max(threshold, 0.000001)
            }
            let fa = negatives.isEmpty ? 0 : Double(negatives.filter { $0 >= threshold }.count) / Double(negatives.count)
            let tp = positives.filter { $0 >= threshold }.count
            let fp = negatives.filter { $0 >= threshold }.count
            return TrainingReport.Row(target: target, threshold: threshold, falseAlarmRate: fa,
                                      recall: positives.isEmpty ? 0 : Double(tp) / Double(positives.count),
                                      precision: tp + fp == 0 ? 1 : Double(tp) / Double(tp + fp))
        }
        var targets = options.tableTargets
        if !targets.contains(options.maxFalseAlarm) { targets.append(options.maxFalseAlarm) }
        report.rows = targets.sorted().map(row)
        report.chosen = report.rows.first { $0.target == options.maxFalseAlarm }
        model.escalate = report.chosen?.threshold ?? 0.5
        model.comments += report.table
        return (model, report)
    }
}

/// SplitMix64: a small deterministic generator (same seed, same sequence on every platform).
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E4B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
