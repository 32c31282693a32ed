import Foundation

/// A learned scorer for one category: logistic regression over hashed character 1–3-grams of the
/// normalized kept text (the same scalars the automaton reads: folded, Simplified, fillers dropped).
///
/// Features: every n-gram (n = 1, 2, 3) starting at each kept scalar is hashed (FNV-1a over the scalar
/// values, continued from the 1-gram to the 2-gram to the 3-gram, so one pass yields all three) into
/// `buckets` (a power of two) slots; a message's feature vector is its n-gram counts divided by
/// √(number of n-grams), so long and short messages score on one scale without a vocabulary or a set per
/// message. Hashing keeps the file small and the scorer free of string lookups; the collisions of
/// 2^17 buckets (512 KB of weights) cost little at these data sizes. The score is `sigmoid(bias + w·x)`, a probability.
///
/// File format (``serialized()``, UTF-8 text, deterministic, one item per line; `#` lines are comments):
///
///     replyguard-model 2
///     category insult
///     features char-ngrams 1-3 fnv1a buckets 262144
///     bias -1.234567
///     threshold escalate 0.912345
///     w 17 0.1234
///     w 301 -0.0456
///     …
///     end 130877 sha256:5d41402a…   (64 hex digits)
///
/// `w` lines give nonzero weights in increasing bucket order (4 decimals); a bucket not listed weighs 0.
/// The last line, `end COUNT sha256:HEX`, gives the number of `w` lines and the SHA-256 of every byte
/// before it (from the first line's first byte through the line break ending the line before `end`),
/// so a file cut short at any point, with lines missing or with one digit changed does not load.
/// Version 1 (the same without the `end` line) is refused; ``sealed(_:file:)`` converts it.
public struct NGramModel: Sendable, Equatable {
    public static let formatVersion = 2
    public static let defaultBuckets = 1 << 17
    public var category: String
    public var buckets: Int
    public var bias: Double
    /// Dense weights, `buckets` entries.
    public var weights: [Float]
    /// Probability at or above which a message is escalated.
    public var escalate: Double
    /// Comment lines (without `# `) written at the top: training data, licence, the held-out table.
    public var comments: [String]

    public init(category: String, buckets: Int = NGramModel.defaultBuckets, bias: Double = 0, weights: [Float]? = nil,
                escalate: Double = 0.5, comments: [String] = []) {
        self.category = category
        self.buckets = buckets
        self.bias = bias
        self.weights = weights ?? [Float](repeating: 0, count: buckets)
        self.escalate = escalate
        self.comments = comments
    }

    // MARK: Features

    static let fnvOffset: UInt32 = 2_166_136_261
    static let fnvPrime: UInt32 = 16_777_619

    /// The bucket of an n-gram's FNV-1a state (high bits mixed into the low ones).
    @inline(__always)
    static func bucket(_ h: UInt32, _ mask: UInt32) -> Int { Int((h ^ (h >> 15)) & mask) }

    /// Calls `body(bucket, gramStart, gramLength)` for every 1-, 2- and 3-gram of `kept`.
    @inline(__always)
    static func forEachGram(_ kept: UnsafeBufferPointer<UInt32>, mask: UInt32, _ body: (Int, Int, Int) -> Void) {
        let count = kept.count
        var i = 0
        while i < count {
            var h = fnvOffset
            var n = 0
            while n < 3 && i + n < count {
                h = (h ^ kept[i + n]) &* fnvPrime
                n += 1
                body(bucket(h, mask), i, n)
            }
            i += 1
        }
    }

    /// Number of n-grams (1–3) of a text of `count` kept scalars.
    @inline(__always)
    static func gramCount(_ count: Int) -> Int {
        count == 0 ? 0 : count + max(0, count - 1) + max(0, count - 2)
    }

    /// The logit `bias + w·x` for these kept scalars.
    package func logit(_ kept: UnsafeBufferPointer<UInt32>) -> Double {
        let grams = NGramModel.gramCount(kept.count)
        guard grams > 0 else { return bias }
        var sum: Float = 0
        weights.withUnsafeBufferPointer { w in
            NGramModel.forEachGram(kept, mask: UInt32(buckets - 1)) { bucket, _, _ in sum += w[bucket] }
        }
        return bias + Double(sum) / Double(grams).squareRoot()
    }

    package func probability(_ kept: UnsafeBufferPointer<UInt32>) -> Double { NGramModel.sigmoid(logit(kept)) }

    package func probability(of kept: [UInt32]) -> Double { kept.withUnsafeBufferPointer { probability($0) } }

    public static func sigmoid(_ z: Double) -> Double { 1 / (1 + exp(-z)) }

    /// One n-gram's contribution to a message's logit.
    public struct Contribution: Sendable, Equatable {
        /// Kept-scalar range of the n-gram.
        public let kept: Range<Int>
        public let gram: String
        public let weight: Double
        /// The weight as it counts in this message: weight / √(n-grams of the message).
        public let contribution: Double
    }

    /// Every n-gram occurrence with its weight, largest contribution first (ties: earlier, shorter first).
    public func contributions(_ kept: [UInt32]) -> [Contribution] {
        let grams = NGramModel.gramCount(kept.count)
        guard grams > 0 else { return [] }
        let scale = 1 / Double(grams).squareRoot()
        var result: [Contribution] = []
        kept.withUnsafeBufferPointer { k in
            NGramModel.forEachGram(k, mask: UInt32(buckets - 1)) { bucket, start, n in
                let w = Double(weights[bucket])
                guard w != 0 else { return }
                var s = String.UnicodeScalarView()
                for v in kept[start..<start + n] { if let u = Unicode.Scalar(v) { s.append(u) } }
                result.append(Contribution(kept: start..<start + n, gram: String(s), weight: w, contribution: w * scale))
            }
        }
        return result.sorted {
            $0.contribution != $1.contribution ? $0.contribution > $1.contribution
                : $0.kept.lowerBound != $1.kept.lowerBound ? $0.kept.lowerBound < $1.kept.lowerBound : $0.kept.count < $1.kept.count
        }
    }

    /// One distinct n-gram of a message: its weight, how often it occurs, where first, and what its
    /// occurrences add to the logit together.
    public struct Feature: Sendable, Equatable {
        public let gram: String
        public let weight: Double
        public let count: Int
        public let first: Range<Int>
        public let contribution: Double
    }

    /// The message's distinct n-grams with a nonzero weight, largest total contribution first.
    public func features(_ kept: [UInt32]) -> [Feature] {
        var order: [String] = []
        var byGram: [String: (weight: Double, count: Int, first: Range<Int>, total: Double)] = [:]
        for c in contributions(kept).sorted(by: { $0.kept.lowerBound != $1.kept.lowerBound ? $0.kept.lowerBound < $1.kept.lowerBound : $0.kept.count < $1.kept.count }) {
            if var entry = byGram[c.gram] {
                entry.count += 1
                entry.total += c.contribution
                byGram[c.gram] = entry
            } else {
                byGram[c.gram] = (c.weight, 1, c.kept, c.contribution)
                order.append(c.gram)
            }
        }
        return order.map { g in let e = byGram[g]!; return Feature(gram: g, weight: e.weight, count: e.count, first: e.first, contribution: e.total) }
            .enumerated().sorted { $0.element.contribution != $1.element.contribution ? $0.element.contribution > $1.element.contribution : $0.offset < $1.offset }
            .map(\.element)
    }

    // MARK: File

    /// The model file's bytes: same model, same bytes.
    public func serialized() -> String {
        var out = ""
        out.reserveCapacity(32 + 24 * weights.count)
        out += "replyguard-model \(NGramModel.formatVersion)\n"
        for line in comments { out += line.isEmpty ? "#\n" : "# \(line)\n" }
        out += "category \(category)\n"
        out += "features char-ngrams 1-3 fnv1a buckets \(buckets)\n"
        out += "bias \(NGramModel.format(bias, 6))\n"
        out += "threshold escalate \(NGramModel.format(escalate, 6))\n"
        var weightLines = 0
        for (bucket, w) in weights.enumerated() where w != 0 {
            let text = NGramModel.format(Double(w), 4)
            if text == "0.0000" { continue }
            out += "w \(bucket) \(text)\n"
            weightLines += 1
        }
        out += NGramModel.endLine(weightLines: weightLines, before: Array(out.utf8))
        return out
    }

    /// `end COUNT sha256:HEX\n` for a file whose bytes before this line are `body`.
    static func endLine(weightLines: Int, before body: [UInt8]) -> String {
        "end \(weightLines) sha256:\(SHA256.hex(body))\n"
    }

    /// Fixed-point decimal without locale or exponent (half away from zero; `-0.0000` prints as `0.0000`).
    public static func format(_ value: Double, _ decimals: Int) -> String {
        var scale: Double = 1
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (abs(value) * scale).rounded(.toNearestOrAwayFromZero)
        guard scaled.isFinite, scaled < 9e17 else { return value.isNaN ? "nan" : (value < 0 ? "-" : "") + "inf" }
        let units = Int64(scaled), factor = Int64(scale)
        var fraction = String(units % factor)
        if fraction.count < decimals { fraction = String(repeating: "0", count: decimals - fraction.count) + fraction }
        let sign = value < 0 && units != 0 ? "-" : ""
        return decimals == 0 ? sign + String(units) : sign + String(units / factor) + "." + fraction
    }

    /// Weights rounded as the file stores them (so a trained model scores exactly like its file).
    public mutating func roundToFilePrecision() {
        for i in weights.indices { weights[i] = Float(NGramModel.format(Double(weights[i]), 4))! }
        if let b = Double(NGramModel.format(bias, 6)) { bias = b }
    }

    /// `w BUCKET WEIGHT` read straight from the bytes: a decimal bucket and a weight of at most nine
    /// significant digits written `-?D+(.D+)?` (as ``serialized()`` writes them), computed as
    /// `Float(Double(digits) / 10^decimals)` — the value `Float(String)` reads (the tests check every
    /// weight of the shipped models). Nil for any other line (the general reading then reports it).
    static func weightLine(_ line: ArraySlice<UInt8>) -> (Int, Float)? {
        line.withUnsafeBufferPointer { weightLine($0) }
    }

    /// ``weightLine(_:)`` on raw memory: the 131,000 weight lines of the shipped model are read without
    /// bounds checks (half the 94 M instructions reading it took at start-up).
    @inline(__always)
    static func weightLine(_ line: UnsafeBufferPointer<UInt8>) -> (Int, Float)? {
        guard line.count >= 5, line[line.startIndex] == 0x77, line[line.startIndex + 1] == 0x20 else { return nil }
        var i = line.startIndex + 2
        var bucket = 0, digits = 0
        while i < line.endIndex, line[i] >= 0x30, line[i] <= 0x39, digits < 10 {
            bucket = bucket * 10 + Int(line[i] - 0x30)
            digits += 1
            i += 1
        }
        guard digits > 0, i < line.endIndex, line[i] == 0x20 else { return nil }
        i += 1
        var negative = false
        if i < line.endIndex, line[i] == 0x2D { negative = true; i += 1 }
        var mantissa = 0, significant = 0, decimals = 0, seenDigit = false, seenPoint = false
        while i < line.endIndex {
            let c = line[i]
            if c == 0x2E, !seenPoint { seenPoint = true; i += 1; continue }
            guard c >= 0x30, c <= 0x39, significant < 9 else { return nil }
            mantissa = mantissa * 10 + Int(c - 0x30)
            if mantissa > 0 { significant += 1 }
            if seenPoint { decimals += 1 }
            seenDigit = true
            i += 1
        }
        guard seenDigit, decimals < powersOfTen.count else { return nil }
        let value = Float(Double(mantissa) / powersOfTen[decimals])
        return (bucket, negative ? -value : value)
    }

    private static let powersOfTen: [Double] = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9]

    /// Parses a model file (format version 2); every problem is reported with its line, and nothing is
    /// returned when there is any (fail closed). A version-1 file (no `end` line) is an error that says
    /// how to convert it.
    ///
    /// - Parameter verifyChecksum: false skips only the SHA-256 of the `end` line (its form and the
    ///   weight count are still checked), for a file of the build-verified embedded set, whose checksum
    ///   the tests verify on the same bytes.
    public static func parse(_ bytes: [UInt8], file: String, verifyChecksum: Bool = true) -> (NGramModel?, [RuleProblem]) {
        let reading = read(bytes, file: file, acceptVersion1: false, verifyChecksum: verifyChecksum)
        return (reading.model, reading.problems)
    }

    /// What ``sealed(_:file:)`` did.
    public enum Sealing: Sendable, Equatable {
        /// A version-1 file, converted: these are the new file's bytes.
        case converted([UInt8], weightLines: Int)
        /// Already a version-2 file whose `end` line checks out: nothing to do.
        case alreadySealed(weightLines: Int)
    }

    /// Converts a complete version-1 model file to version 2: the first line becomes
    /// `replyguard-model 2`, every other byte stays, and the `end` line is added. The file must read
    /// without a problem and end with a line break; a version-2 file is only verified. Sealing vouches
    /// that the file is whole, which the file cannot show by itself: seal only a file `learn` wrote
    /// completely (compare its size with the original's).
    public static func sealed(_ bytes: [UInt8], file: String) -> Result<Sealing, RuleLoadFailure> {
        let reading = read(bytes, file: file, acceptVersion1: true)
        guard reading.problems.isEmpty, reading.model != nil else { return .failure(RuleLoadFailure(problems: reading.problems)) }
        if reading.version == formatVersion { return .success(.alreadySealed(weightLines: reading.weightLines)) }
        let firstBreak = bytes.firstIndex(of: 0x0A)!
        let body = Array("replyguard-model \(formatVersion)".utf8) + bytes[firstBreak...]
        return .success(.converted(body + Array(endLine(weightLines: reading.weightLines, before: body).utf8), weightLines: reading.weightLines))
    }

    private struct Reading {
        var model: NGramModel?
        var problems: [RuleProblem]
        var version = 0
        var weightLines = 0
    }

    /// Where each line of `bytes` lies, without its line break; a last empty line (after a final line
    /// break) is not one. The same lines as splitting the bytes at every line break, as plain ranges: 131,000
    /// array slices of the shipped model took 4 MB and their reference counting at every start.
    static func lineRanges(_ bytes: [UInt8]) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        bytes.withUnsafeBufferPointer { buffer in
            var start = 0
            for i in 0..<buffer.count where buffer[i] == 0x0A {
                ranges.append(start..<i)
                start = i + 1
            }
            ranges.append(start..<buffer.count)
        }
        if ranges.last?.isEmpty == true { ranges.removeLast() }
        return ranges
    }

    /// Reads a model file. Version 2 must end with its `end` line (count and checksum verified);
    /// version 1 is read (for sealing) only when `acceptVersion1`.
    private static func read(_ bytes: [UInt8], file: String, acceptVersion1: Bool, verifyChecksum: Bool = true) -> Reading {
        var problems: [RuleProblem] = []
        func bad(_ line: Int, _ message: String) { problems.append(RuleProblem(file: file, line: line, message: message)) }
        guard String(validating: bytes, as: UTF8.self) != nil else {
            return Reading(model: nil, problems: [RuleProblem(file: file, message: "model file is not valid UTF-8")])
        }
        let lines = NGramModel.lineRanges(bytes)
        var category: String?, buckets: Int?, bias: Double?, escalate: Double?
        var sparse: [(Int, Float, Int)] = []
        sparse.reserveCapacity(lines.count)
        var comments: [String] = []
        var version = 0
        var weightLines = 0
        /// The `end` line: its number, where it starts in `bytes`, and its words.
        var end: (line: Int, offset: Int, parts: [String])?
        let cutShort = "the file is damaged or cut short (an interrupted copy, a full disk?); restore it from where it came from or retrain it with `replyguard learn`"
        for (index, range) in lines.enumerated() {
            let raw = bytes[range]
            let n = index + 1
            if let end {
                bad(n, "nothing may follow the 'end' line (line \(end.line))")
                break
            }
            // Weight lines are nearly all of the file: read them from the bytes (a String per line would
            // cost most of start-up); anything unusual falls through to the general reading below.
            if version > 0, let (b, v) = NGramModel.weightLine(raw) {
                weightLines += 1
                if let last = sparse.last, last.0 >= b { bad(n, "weights must be in increasing bucket order (\(b) after \(last.0))"); continue }
                sparse.append((b, v, n))
                continue
            }
            let line = String(decoding: raw, as: UTF8.self)
            if line.hasPrefix("#") {
                comments.append(line.hasPrefix("# ") ? String(line.dropFirst(2)) : String(line.dropFirst()))
                continue
            }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            if version == 0 {
                guard parts.count == 2, parts[0] == "replyguard-model" else {
                    bad(n, "not a replyguard model file (the first line must be 'replyguard-model \(formatVersion)')")
                    return Reading(model: nil, problems: problems)
                }
                if parts[1] == "1" && !acceptVersion1 {
                    bad(n, "model format version 1 has no 'end' line (weight count and checksum), so a file cut short cannot be "
                        + "told from a whole one; if this file is complete as `replyguard learn` wrote it, add the end line with "
                        + "`replyguard rules seal \(file)`, or retrain it with `replyguard learn`")
                    return Reading(model: nil, problems: problems)
                }
                guard parts[1] == "\(formatVersion)" || parts[1] == "1" else {
                    bad(n, "model format version '\(parts[1])' is not supported: this replyguard reads version \(formatVersion)")
                    return Reading(model: nil, problems: problems)
                }
                version = Int(parts[1])!
                continue
            }
            switch parts.first ?? "" {
            case "category":
                if parts.count == 2, !parts[1].isEmpty { category = parts[1] } else { bad(n, "expected 'category NAME'") }
            case "features":
                if parts.count == 6, parts[1] == "char-ngrams", parts[2] == "1-3", parts[3] == "fnv1a", parts[4] == "buckets",
                   let b = Int(parts[5]), b >= 2, b <= 1 << 24, b & (b - 1) == 0 {
                    buckets = b
                } else {
                    bad(n, "expected 'features char-ngrams 1-3 fnv1a buckets N' (N a power of two up to 2^24)")
                }
            case "bias":
                if parts.count == 2, let v = Double(parts[1]), v.isFinite { bias = v } else { bad(n, "expected 'bias NUMBER'") }
            case "threshold":
                if parts.count == 3, parts[1] == "escalate", let v = Double(parts[2]), v > 0, v <= 1 { escalate = v } else {
                    bad(n, "expected 'threshold escalate P' with 0 < P ≤ 1")
                }
            case "w":
                weightLines += 1
                guard parts.count == 3, let b = Int(parts[1]), b >= 0, let v = Float(parts[2]), v.isFinite else {
                    bad(n, "expected 'w BUCKET WEIGHT'"); continue
                }
                if let last = sparse.last, last.0 >= b { bad(n, "weights must be in increasing bucket order (\(b) after \(last.0))"); continue }
                sparse.append((b, v, n))
            case "end" where version >= 2:
                end = (n, raw.startIndex, parts)
            default:
                bad(n, "unknown line '\(line.prefix(40))' (expected category, features, bias, threshold\(version >= 2 ? ", w or end" : " or w"))")
            }
        }
        if version == 0 { bad(1, "empty model file") }
        if version > 0 {
            if category == nil { bad(1, "missing 'category' line") }
            if buckets == nil { bad(1, "missing 'features' line") }
            if bias == nil { bad(1, "missing 'bias' line") }
            if escalate == nil { bad(1, "missing 'threshold escalate' line") }
            if bytes.last != 0x0A { bad(lines.count, "the last line has no line break: \(cutShort)") }
        }
        if version >= 2 {
            if let end {
                let parts = end.parts
                let hex = parts.count == 3 && parts[2].hasPrefix("sha256:") ? String(parts[2].dropFirst(7)) : ""
                if parts.count != 3 || Int(parts[1]) == nil || hex.utf8.count != 64 || !hex.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) {
                    bad(end.line, "expected 'end COUNT sha256:HEX' (the number of weight lines and the SHA-256 of the bytes before this line, 64 lowercase hex digits): \(cutShort)")
                } else {
                    if Int(parts[1]) != weightLines {
                        bad(end.line, "the file has \(weightLines) weight line(s), its end line says \(parts[1]): \(cutShort)")
                    }
                    var hasher = SHA256()
                    if verifyChecksum { hasher.update(bytes[..<end.offset]) }
                    let actual = verifyChecksum ? hasher.finalizeHex() : hex
                    if actual != hex {
                        bad(end.line, "checksum mismatch: the lines before this one hash to sha256:\(actual), the end line says sha256:\(hex): \(cutShort)")
                    }
                }
            } else {
                bad(max(1, lines.count), "the file ends at this line without its 'end COUNT sha256:HEX' line: \(cutShort)")
            }
        }
        var weights: [Float] = []
        if let buckets {
            weights = [Float](repeating: 0, count: buckets)
            for (b, v, n) in sparse {
                if b >= buckets { bad(n, "bucket \(b) is outside 0..<\(buckets)") } else { weights[b] = v }
            }
        }
        guard problems.isEmpty, let category, let buckets, let bias, let escalate else {
            return Reading(model: nil, problems: problems, version: version, weightLines: weightLines)
        }
        return Reading(model: NGramModel(category: category, buckets: buckets, bias: bias, weights: weights, escalate: escalate, comments: comments),
                       problems: [], version: version, weightLines: weightLines)
    }
}
