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
    /// The name of the file the record comes from (the last component of `location.file`).
    public var file: String { (location.file as NSString).lastPathComponent }

    public init(id: String, text: String, expect: Verdict, category: String, source: String, location: SourceLocation) {
        self.id = id
        self.text = text
        self.expect = expect
        self.category = category
        self.source = source
        self.location = location
    }
}

/// Minimums the packs must meet on a corpus (`floors.yaml` in the corpus directory, or `check --floors`).
public struct CorpusFloors: Sendable {
    public struct Category: Sendable {
        /// Share of records expected to escalate or block that are at least escalated.
        public var recall: Double
        /// Share of records expected to block that are blocked.
        public var blockRecall: Double
    }
    /// A floor for one category of one file; nil fields are not checked.
    public struct FileCategory: Sendable, Equatable {
        public var recall: Double?
        public var blockRecall: Double?
        /// For records labelled `allow`: most that may be flagged (escalate or block), as a share.
        public var maxFlaggedRate: Double?
        /// Most records of the category that may be blocked.
        public var maxBlocked: Int?
        public init(recall: Double? = nil, blockRecall: Double? = nil, maxFlaggedRate: Double? = nil, maxBlocked: Int? = nil) {
            self.recall = recall
            self.blockRecall = blockRecall
            self.maxFlaggedRate = maxFlaggedRate
            self.maxBlocked = maxBlocked
        }
    }
    public var defaults = Category(recall: 0.95, blockRecall: 1.0)
    public var categories: [String: Category] = [:]
    /// Most clean records that may be flagged, as a share of all clean records.
    public var cleanMaxFlaggedRate = 0.01
    /// Most news documents (reported speech) that may be blocked.
    public var newsMaxBlocked = 0
    /// Floors for one file (by file name) and category, checked on that file's records alone.
    public var files: [String: [String: FileCategory]] = [:]

    public init() {}

    public func floor(for category: String) -> Category { categories[category] ?? defaults }
}

/// Reads corpus files and floors, failing closed with `file:line` problems.
public enum CorpusLoader {
    public static let cleanCategory = "clean"
    public static let newsCategory = "news"

    /// Every record of every `*.jsonl` file in `directory` (sorted by name), and the floors: `floorsFile`
    /// when given (it must exist), else `directory/floors.yaml` if present, else the built-in defaults.
    public static func load(directory: String, floorsFile: String? = nil) throws(RuleLoadFailure) -> ([CorpusRecord], CorpusFloors) {
        var problems: [RuleProblem] = []
        var records: [CorpusRecord] = []
        let names = RuleFiles.disk.names(in: directory).filter { $0.hasSuffix(".jsonl") }.sorted()
        switch RuleFiles.disk.kind(directory) {
        case .missing(let reason): problems.append(RuleProblem(file: directory, message: reason))
        case .directory: if names.isEmpty { problems.append(RuleProblem(file: directory, message: "no corpus files (*.jsonl) in this directory")) }
        default: problems.append(RuleProblem(file: directory, message: "not a directory (--corpus takes a directory of *.jsonl files)"))
        }
        var seen: [String: SourceLocation] = [:]
        for name in names {
            let path = (directory as NSString).appendingPathComponent(name)
            let data: [UInt8]
            switch RuleFiles.disk.bytes(at: path) {
            case .success(let bytes): data = bytes
            case .failure(let failure): problems.append(RuleProblem(file: path, message: "cannot read file: \(failure.reason)")); continue
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
        let floorsPath = floorsFile ?? (directory as NSString).appendingPathComponent("floors.yaml")
        if floorsFile != nil || FileManager.default.fileExists(atPath: floorsPath) {
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
        guard let keys = mapping(root, "floors", allowed: ["default", "categories", "clean", "news", "files"], required: []) else { return floors }
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
        func named(_ node: Node, _ what: String, _ body: (String, Node) -> Void) {
            guard case .mapping(let mapping) = node else { problem(node, "\(what) must be a mapping"); return }
            for (key, value) in mapping {
                guard let name = key.scalar?.string else { problem(key, "keys in \(what) must be plain strings"); continue }
                body(name, value)
            }
        }
        if let node = keys["default"] { floors.defaults = category(node, "default", base: floors.defaults) }
        if let node = keys["categories"] {
            named(node, "categories (category: {recall, block_recall})") { name, value in
                floors.categories[name] = category(value, "categories.\(name)", base: floors.defaults)
            }
        }
        if let node = keys["clean"], let entries = mapping(node, "clean", allowed: ["max_flagged_rate"], required: []) {
            floors.cleanMaxFlaggedRate = share(entries["max_flagged_rate"], "max_flagged_rate") ?? floors.cleanMaxFlaggedRate
        }
        if let node = keys["news"], let entries = mapping(node, "news", allowed: ["max_blocked"], required: []) {
            floors.newsMaxBlocked = int(entries["max_blocked"], "max_blocked") ?? floors.newsMaxBlocked
        }
        if let node = keys["files"] {
            named(node, "files (file name: {category: floors})") { file, value in
                named(value, "files.\(file)") { name, entry in
                    let what = "files.\(file).\(name)"
                    guard let e = mapping(entry, what, allowed: ["recall", "block_recall", "max_flagged_rate", "max_blocked"], required: []) else { return }
                    floors.files[file, default: [:]][name] = CorpusFloors.FileCategory(
                        recall: share(e["recall"], "\(what).recall"), blockRecall: share(e["block_recall"], "\(what).block_recall"),
                        maxFlaggedRate: share(e["max_flagged_rate"], "\(what).max_flagged_rate"), maxBlocked: int(e["max_blocked"], "\(what).max_blocked"))
                }
            }
        }
        return floors
    }
}

/// The packs' performance on a corpus: a row per category (all files) and per file and category, the
/// records whose verdict differs from their label, and the floors not met.
public struct CorpusReport: Sendable {
    public struct Row: Sendable {
        /// The file name (not the path) for a per-file row; nil for a category's total over all files.
        public let file: String?
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
        /// Records labelled `allow`, and how many of them were flagged (false alarms).
        public var expectedAllow = 0
        public var falseAlarms = 0
        /// Rules behind the false alarms: how many falsely flagged records each hit.
        public var falseAlarmRules: [String: Int] = [:]
        public var recall: Double { expectedFlagged == 0 ? 1 : Double(caught) / Double(expectedFlagged) }
        public var blockRecall: Double { expectedBlock == 0 ? 1 : Double(blocked) / Double(expectedBlock) }
        public var precision: Double { flagged == 0 ? 1 : Double(flaggedCorrectly) / Double(flagged) }
        public var falseAlarmRate: Double { expectedAllow == 0 ? 0 : Double(falseAlarms) / Double(expectedAllow) }
        /// The rules behind most false alarms, most first (ties by id).
        public func topFalseAlarmRules(_ count: Int) -> [(rule: String, records: Int)] {
            falseAlarmRules.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(count).map { ($0.key, $0.value) }
        }

        mutating func add(_ record: CorpusRecord, _ decision: Decision) {
            records += 1
            let flaggedNow = decision.verdict >= .escalate
            if record.expect >= .escalate {
                expectedFlagged += 1
                if flaggedNow { caught += 1 }
            }
            if record.expect == .block {
                expectedBlock += 1
                if decision.verdict == .block { blocked += 1 }
            }
            if decision.verdict == .block { blockedAny += 1 }
            if flaggedNow {
                flagged += 1
                if record.expect >= .escalate { flaggedCorrectly += 1 }
            }
            if record.expect == .allow {
                expectedAllow += 1
                if flaggedNow {
                    falseAlarms += 1
                    for rule in Set(decision.hits.map(\.rule)) { falseAlarmRules[rule, default: 0] += 1 }
                }
            }
        }
    }

    /// A record whose verdict differs from its label.
    public struct Mismatch: Sendable {
        public let record: CorpusRecord
        public let decision: Decision
        /// True when the verdict is below the label (a miss); false when above (a false alarm, or a
        /// block where escalate was expected).
        public var isMiss: Bool { decision.verdict < record.expect }
        /// True when a record labelled `allow` was escalated or blocked.
        public var isFalseAlarm: Bool { record.expect == .allow && decision.verdict >= .escalate }
    }

    /// Totals per category over all files, sorted by category.
    public var rows: [Row]
    /// One row per file and category, sorted by file, then category.
    public var fileRows: [Row]
    public var mismatches: [Mismatch]
    /// Floors that were not met, as sentences.
    public var failures: [String]

    /// Decides every record with `engine` (policy exceptions and reported-speech handling as configured)
    /// and compares against labels and floors.
    public init(records: [CorpusRecord], floors: CorpusFloors, engine: Engine) {
        let scanner = engine.makeScanner()
        var rows: [String: Row] = [:]
        var fileRows: [String: Row] = [:]
        var mismatches: [Mismatch] = []
        for record in records {
            let decision = scanner.decide(record.text, id: .string(record.id))
            rows[record.category, default: Row(file: nil, category: record.category)].add(record, decision)
            let key = record.file + "\u{0}" + record.category
            fileRows[key, default: Row(file: record.file, category: record.category)].add(record, decision)
            if decision.verdict != record.expect { mismatches.append(Mismatch(record: record, decision: decision)) }
        }
        self.rows = rows.values.sorted { $0.category < $1.category }
        self.fileRows = fileRows.values.sorted { ($0.file!, $0.category) < ($1.file!, $1.category) }
        self.mismatches = mismatches
        self.failures = CorpusReport.failures(rows: self.rows, fileRows: self.fileRows, floors: floors)
    }

    private static func failures(rows: [Row], fileRows: [Row], floors: CorpusFloors) -> [String] {
        var failures: [String] = []
        func percent(_ x: Double) -> String { String(format: "%.1f%%", x * 100) }
        for row in rows {
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
        let present = Set(fileRows.map { $0.file! + "\u{0}" + $0.category })
        for (file, categories) in floors.files.sorted(by: { $0.key < $1.key }) {
            for category in categories.keys.sorted() where !present.contains(file + "\u{0}" + category) {
                failures.append("\(file) \(category): floors name this file and category, but the corpus has no such records")
            }
        }
        for row in fileRows {
            guard let floor = floors.files[row.file!]?[row.category] else { continue }
            let name = "\(row.file!) \(row.category)"
            if let min = floor.recall, row.recall < min {
                failures.append("\(name): recall \(percent(row.recall)) (\(row.caught)/\(row.expectedFlagged)) below floor \(percent(min))")
            }
            if let min = floor.blockRecall, row.blockRecall < min {
                failures.append("\(name): block recall \(percent(row.blockRecall)) (\(row.blocked)/\(row.expectedBlock)) below floor \(percent(min))")
            }
            if let max = floor.maxFlaggedRate, row.falseAlarmRate > max {
                failures.append("\(name): \(row.falseAlarms) of \(row.expectedAllow) flagged (\(percent(row.falseAlarmRate))), floor allows \(percent(max))")
            }
            if let max = floor.maxBlocked, row.blockedAny > max {
                failures.append("\(name): \(row.blockedAny) blocked, floor allows \(max)")
            }
        }
        return failures
    }
}
