import Foundation
import Yams

/// One labelled message of the evaluation corpus (`corpus/*.jsonl`).
public struct CorpusRecord: Sendable {
    public let id: String
    public let text: String
    public let expect: Verdict
    /// Mission category (`insult`, `rumour`, …), `clean` for ordinary replies, `news` for reported speech.
    public let category: String
    public let source: String
    public let location: SourceLocation

    public init(id: String, text: String, expect: Verdict, category: String, source: String, location: SourceLocation) {
        self.id = id
        self.text = text
        self.expect = expect
        self.category = category
        self.source = source
        self.location = location
    }
}

/// Minimums the shipped packs must meet on the corpus (`corpus/floors.yaml`).
public struct CorpusFloors: Sendable {
    public struct Category: Sendable {
        /// Share of records expected to escalate or block that are at least escalated.
        public var recall: Double
        /// Share of records expected to block that are blocked.
        public var blockRecall: Double
    }
    public var defaults = Category(recall: 0.95, blockRecall: 1.0)
    public var categories: [String: Category] = [:]
    /// Most clean records that may be flagged, as a share of all clean records.
    public var cleanMaxFlaggedRate = 0.01
    /// Most news documents (reported speech) that may be blocked.
    public var newsMaxBlocked = 0

    public init() {}

    public func floor(for category: String) -> Category { categories[category] ?? defaults }
}

/// Reads corpus files and floors, failing closed with `file:line` problems.
public enum CorpusLoader {
    public static let cleanCategory = "clean"
    public static let newsCategory = "news"

    /// Every record of every `*.jsonl` file in `directory` (sorted by name), and `floors.yaml` if present.
    public static func load(directory: String) throws(RuleLoadFailure) -> ([CorpusRecord], CorpusFloors) {
        var problems: [RuleProblem] = []
        var records: [CorpusRecord] = []
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".jsonl") }.sorted()
        if names.isEmpty { problems.append(RuleProblem(file: directory, message: "no corpus files (*.jsonl) in this directory")) }
        var seen: [String: SourceLocation] = [:]
        for name in names {
            let path = (directory as NSString).appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: path) else {
                problems.append(RuleProblem(file: path, message: "cannot read file"))
                continue
            }
            for (index, line) in data.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
                let location = SourceLocation(file: path, line: index + 1, column: 1)
                func problem(_ message: String) { problems.append(RuleProblem(file: path, line: index + 1, message: message)) }
                guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                    problem("not a JSON object"); continue
                }
                let unknown = Set(object.keys).subtracting(["id", "text", "expect", "category", "source", "note"])
                if !unknown.isEmpty { problem("unknown field(s) \(unknown.sorted().joined(separator: ", ")); allowed: id, text, expect, category, source, note") }
                guard let id = object["id"] as? String, !id.isEmpty else { problem("missing string field 'id'"); continue }
                guard let text = object["text"] as? String else { problem("missing string field 'text'"); continue }
                guard let expectText = object["expect"] as? String, let expect = Verdict(rawValue: expectText) else {
                    problem("'expect' must be allow, escalate or block"); continue
                }
                guard let category = object["category"] as? String, !category.isEmpty else { problem("missing string field 'category'"); continue }
                guard let source = object["source"] as? String, !source.isEmpty else { problem("missing string field 'source'"); continue }
                if let first = seen[id] { problem("duplicate id '\(id)' (first at \(first.file):\(first.line))"); continue }
                seen[id] = location
                records.append(CorpusRecord(id: id, text: text, expect: expect, category: category, source: source, location: location))
            }
        }
        var floors = CorpusFloors()
        let floorsPath = (directory as NSString).appendingPathComponent("floors.yaml")
        if FileManager.default.fileExists(atPath: floorsPath) {
            let reader = YAMLReader(file: floorsPath, normalizer: Normalizer())
            if let (root, _) = reader.compose(path: floorsPath) { floors = reader.floors(root) }
            problems += reader.problems
        }
        guard problems.isEmpty else { throw RuleLoadFailure(problems: problems) }
        return (records, floors)
    }
}

extension YAMLReader {
    func floors(_ root: Node) -> CorpusFloors {
        var floors = CorpusFloors()
        guard let keys = mapping(root, "floors", allowed: ["default", "categories", "clean", "news"], required: []) else { return floors }
        func share(_ node: Node?, _ what: String) -> Double? {
            guard let node else { return nil }
            guard let value = node.scalar.flatMap({ Double($0.string) }), (0...1).contains(value) else {
                problem(node, "\(what) must be a number from 0 to 1"); return nil
            }
            return value
        }
        func category(_ node: Node, _ what: String, base: CorpusFloors.Category) -> CorpusFloors.Category {
            guard let entries = mapping(node, what, allowed: ["recall", "block_recall"], required: []) else { return base }
            return CorpusFloors.Category(recall: share(entries["recall"], "recall") ?? base.recall,
                                         blockRecall: share(entries["block_recall"], "block_recall") ?? base.blockRecall)
        }
        if let node = keys["default"] { floors.defaults = category(node, "default", base: floors.defaults) }
        if let node = keys["categories"], case let .mapping(mapping) = node {
            for (key, value) in mapping {
                guard let name = key.scalar?.string else { continue }
                floors.categories[name] = category(value, "categories.\(name)", base: floors.defaults)
            }
        } else if let node = keys["categories"] {
            problem(node, "categories must be a mapping of category: {recall, block_recall}")
        }
        if let node = keys["clean"], let entries = mapping(node, "clean", allowed: ["max_flagged_rate"], required: []) {
            floors.cleanMaxFlaggedRate = share(entries["max_flagged_rate"], "max_flagged_rate") ?? floors.cleanMaxFlaggedRate
        }
        if let node = keys["news"], let entries = mapping(node, "news", allowed: ["max_blocked"], required: []) {
            floors.newsMaxBlocked = int(entries["max_blocked"], "max_blocked") ?? floors.newsMaxBlocked
        }
        return floors
    }
}

/// The packs' performance on a corpus: a confusion summary per category, misses, false alarms, floors.
public struct CorpusReport: Sendable {
    public struct Row: Sendable {
        public let category: String
        public var records = 0
        /// Records expected to escalate or block, and how many of them were at least escalated.
        public var expectedFlagged = 0
        public var caught = 0
        /// Records expected to block, and how many were blocked.
        public var expectedBlock = 0
        public var blocked = 0
        /// Records flagged (escalate or block), and how many of those were expected to be.
        public var flagged = 0
        public var flaggedCorrectly = 0
        /// Records blocked, whatever their label.
        public var blockedAny = 0
        public var recall: Double { expectedFlagged == 0 ? 1 : Double(caught) / Double(expectedFlagged) }
        public var blockRecall: Double { expectedBlock == 0 ? 1 : Double(blocked) / Double(expectedBlock) }
        public var precision: Double { flagged == 0 ? 1 : Double(flaggedCorrectly) / Double(flagged) }
    }

    /// A record whose verdict differs from its label.
    public struct Mismatch: Sendable {
        public let record: CorpusRecord
        public let decision: Decision
        /// True when the verdict is below the label (a miss); false when above (a false alarm).
        public var isMiss: Bool { decision.verdict < record.expect }
    }

    public var rows: [Row]
    public var mismatches: [Mismatch]
    /// Floors that were not met, as sentences.
    public var failures: [String]

    /// Decides every record with `engine` (policy exceptions and reported-speech handling as configured)
    /// and compares against labels and floors.
    public init(records: [CorpusRecord], floors: CorpusFloors, engine: Engine) {
        let scanner = engine.makeScanner()
        var rows: [String: Row] = [:]
        var mismatches: [Mismatch] = []
        for record in records {
            let decision = scanner.decide(record.text, id: .string(record.id))
            var row = rows[record.category] ?? Row(category: record.category)
            row.records += 1
            let flagged = decision.verdict >= .escalate
            if record.expect >= .escalate {
                row.expectedFlagged += 1
                if flagged { row.caught += 1 }
            }
            if record.expect == .block {
                row.expectedBlock += 1
                if decision.verdict == .block { row.blocked += 1 }
            }
            if decision.verdict == .block { row.blockedAny += 1 }
            if flagged {
                row.flagged += 1
                if record.expect >= .escalate { row.flaggedCorrectly += 1 }
            }
            rows[record.category] = row
            if decision.verdict != record.expect { mismatches.append(Mismatch(record: record, decision: decision)) }
        }
        self.rows = rows.values.sorted { $0.category < $1.category }
        self.mismatches = mismatches
        var failures: [String] = []
        func percent(_ x: Double) -> String { String(format: "%.1f%%", x * 100) }
        for row in self.rows {
            switch row.category {
            case CorpusLoader.cleanCategory:
                let rate = row.records == 0 ? 0 : Double(row.flagged) / Double(row.records)
                if rate > floors.cleanMaxFlaggedRate {
                    failures.append("clean: \(row.flagged) of \(row.records) flagged (\(percent(rate))), floor allows \(percent(floors.cleanMaxFlaggedRate))")
                }
            case CorpusLoader.newsCategory:
                if row.blockedAny > floors.newsMaxBlocked {
                    failures.append("news: \(row.blockedAny) quoted-news document(s) blocked, floor allows \(floors.newsMaxBlocked)")
                }
            default:
                let floor = floors.floor(for: row.category)
                if row.recall < floor.recall {
                    failures.append("\(row.category): recall \(percent(row.recall)) (\(row.caught)/\(row.expectedFlagged)) below floor \(percent(floor.recall))")
                }
                if row.blockRecall < floor.blockRecall {
                    failures.append("\(row.category): block recall \(percent(row.blockRecall)) (\(row.blocked)/\(row.expectedBlock)) below floor \(percent(floor.blockRecall))")
                }
            }
        }
        self.failures = failures
    }
}
