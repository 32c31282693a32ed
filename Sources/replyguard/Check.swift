import ArgumentParser
import Foundation
import ReplyGuard

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Load and compile every rule pack, and run every rule's examples (also mutated).",
        discussion: """
        With --corpus DIR, also decides every labelled record in DIR/*.jsonl with the policy as configured and \
        reports, per file and category, records, flagged, blocked, recall and false alarms (records labelled \
        allow that were escalated or blocked) with the rules behind them; then the first --list misses and false \
        alarms, a random --sample of misses per category, and the floors (DIR/floors.yaml, or --floors FILE). \
        --json prints the same as one JSON object. \
        --format sarif|junit|github reports for CI, each finding at its file and line: a failing example at the \
        example's line in the pack, a load error where it is, a floor not met at the floors file, the listed \
        misses and false alarms at their corpus records (SARIF for code scanning, JUnit XML for GitLab and \
        Jenkins, GitHub workflow annotations after the text report); --output FILE writes the SARIF or JUnit \
        report there and the text report to standard output. \
        Exit 0 when everything passes, 1 when an example fails or a floor is not met, 2 when a pack, the policy \
        or the corpus fails to load.
        """)

    @OptionGroup var ruleOptions: RuleOptions

    @Option(name: .long, help: "Colour: auto (on a terminal), always, never.")
    var color: ColorChoice = .auto

    @Flag(name: .shortAndLong, help: "List every rule, not only failures.")
    var verbose = false

    @Option(name: .long, help: ArgumentHelp("Also score the packs on the labelled corpus in this directory.", valueName: "dir"))
    var corpus: String?

    @Option(name: .long, help: ArgumentHelp("Floors for the corpus (default: <dir>/floors.yaml if present).", valueName: "file"))
    var floors: String?

    @Option(name: .long, help: ArgumentHelp("List at most this many misses and this many false alarms.", valueName: "n"))
    var list = 20

    @Option(name: .long, help: ArgumentHelp("Also show this many randomly chosen misses per category (to read).", valueName: "n"))
    var sample = 0

    @Option(name: .long, help: ArgumentHelp("Seed of the --sample choice (same seed, same sample).", valueName: "n"))
    var seed: UInt64 = 1

    @Flag(name: .long, help: "Print the results as one JSON object instead of text (as --format json).")
    var json = false

    @Option(name: .long, help: ArgumentHelp("Output: text, json, sarif (code scanning), junit (GitLab, Jenkins), github (text and workflow annotations).", valueName: "format"))
    var format: CheckFormat?

    @Option(name: .long, help: ArgumentHelp("Write the sarif or junit report to this file and the text report to standard output.", valueName: "file"))
    var output: String?

    func validate() throws {
        if list < 0 || sample < 0 { throw ValidationError("--list and --sample take a number of records, 0 or more") }
        if floors != nil && corpus == nil { throw ValidationError("--floors needs --corpus") }
        if json, let format, format != .json { throw ValidationError("--json and --format \(format.rawValue) both choose the output; give one") }
        if output != nil && !(format == .sarif || format == .junit) { throw ValidationError("--output is for --format sarif or junit") }
    }

    /// The report chosen by --format or --json.
    var chosen: CheckFormat { json ? .json : format ?? .text }

    func run() throws {
        let ruleSet = try ruleOptions.load(verifyEmbedded: true) { failure in
            try? report(CheckReportWriter(findings: failure.problems.map { CheckFinding(problem: $0, rule: CheckFinding.load) }, ruleSet: nil, results: [], scoredCorpus: false))
        }
        let results = ExampleChecker(ruleSet: ruleSet).checkAll()
        var corpusResult: (report: CorpusReport, records: Int)?
        if let corpus {
            let loaded: ([CorpusRecord], CorpusFloors)
            do {
                loaded = try CorpusLoader.load(directory: corpus, floorsFile: floors)
            } catch {
                Terminal.standardError.write(Terminal.errorStyle.paint("error: ") + "corpus failed to load (\(error.problems.count) problem\(error.problems.count == 1 ? "" : "s"))\n")
                for problem in error.problems { Terminal.standardError.write(problem.description + "\n") }
                try? report(CheckReportWriter(findings: error.problems.map { CheckFinding(problem: $0, rule: CheckFinding.corpusLoad) }, ruleSet: ruleSet, results: results, scoredCorpus: false))
                throw ExitCode(2)
            }
            corpusResult = (CorpusReport(records: loaded.0, floors: loaded.1, engine: Engine(ruleSet: ruleSet)), loaded.0.count)
        }
        let failed = results.filter { !$0.passed }.count
        let samples = corpusResult.map { CorpusSample.misses(of: $0.report, perCategory: sample, seed: seed) } ?? []
        let ciReport = { CheckReportWriter(findings: findings(ruleSet, results, corpusResult?.report), ruleSet: ruleSet, results: results, scoredCorpus: corpusResult != nil) }
        if chosen == .sarif || chosen == .junit {
            try report(ciReport())
        }
        if (chosen == .sarif || chosen == .junit) && output == nil {
            // The report was the output.
        } else if chosen == .json {
            var document = CheckDocument(ruleSet: ruleSet, results: results, warnings: warnings(ruleSet).map(\.text), corpus: corpus,
                                         report: corpusResult?.report, records: corpusResult?.records ?? 0, list: list, samples: samples)
            let location = ruleOptions.location
            document.rules = CheckDocument.Rules(source: location.label, embedded: location.isEmbedded, policy: ruleSet.digest)
            Terminal.standardOutput.write(document.encoded() + "\n")
        } else {
            // Which rule set was checked: the one built into the binary, or a directory (and its policy digest).
            Terminal.standardOutput.write("rules: \(ruleOptions.location.label)  policy \(ruleSet.digest)\n")
            writeExamples(ruleSet, results)
            if let corpusResult, let corpus {
                let colored = color.enabled(fd: 1)
                CorpusTable(out: .standardOutput, ok: Style(enabled: colored, code: "32"), bad: Style(enabled: colored, code: "1;31"),
                            dim: Style(enabled: colored, code: "2"))
                    .write(corpusResult.report, directory: corpus, records: corpusResult.records, list: list, samples: samples)
            }
            if chosen == .github { try report(ciReport()) }
        }
        Terminal.standardOutput.flush()
        if failed > 0 || !(corpusResult?.report.failures.isEmpty ?? true) { throw ExitCode(1) }
    }

    private func writeExamples(_ ruleSet: RuleSet, _ results: [ExampleChecker.Result]) {
        let colored = color.enabled(fd: 1)
        let ok = Style(enabled: colored, code: "32"), bad = Style(enabled: colored, code: "1;31"), dim = Style(enabled: colored, code: "2")
        let out = Terminal.standardOutput
        var byRule: [String: [ExampleChecker.Result]] = [:]
        for result in results { byRule[result.rule.id, default: []].append(result) }
        var failedRules = 0
        for pack in ruleSet.packs {
            let enabled = ruleSet.enabledPacks.contains { $0.id == pack.id }
            let model = pack.model.map { ", model \((($0.path as NSString).lastPathComponent)) (escalate ≥ \(NGramModel.format($0.model.escalate, 6)))" } ?? ""
            out.write("\(pack.file)  \(dim.paint("pack \(pack.id) \(pack.version), \(pack.rules.count) rules\(model)\(enabled ? "" : ", not enabled by the policy")"))\n")
            for rule in pack.rules {
                let ruleResults = byRule[rule.id] ?? []
                let failures = ruleResults.filter { !$0.passed }
                if failures.isEmpty {
                    if verbose {
                        let mutated = ruleResults.filter { $0.mutation != nil }.count
                        out.write("  " + ok.paint("✓") + " \(rule.id)  " + dim.paint("\(rule.examples.count) examples, \(mutated) mutated runs") + "\n")
                    }
                    continue
                }
                failedRules += 1
                out.write("  " + bad.paint("✗") + " \(rule.id)\n")
                for failure in failures {
                    out.write("      \(failure.where): \(failure.failure!)\n")
                    if failure.mutation != nil { out.write(dim.paint("        text: \(failure.text)") + "\n") }
                }
            }
        }
        for policyWarning in warnings(ruleSet) { out.write("warning: \(policyWarning.text)\n") }
        let ruleCount = ruleSet.packs.reduce(0) { $0 + $1.rules.count }
        let exampleCount = ruleSet.packs.reduce(0) { $0 + $1.rules.reduce(0) { $0 + $1.examples.count } }
        let mutated = results.filter { $0.mutation != nil }.count
        let failed = results.filter { !$0.passed }.count
        let summary = "\(ruleSet.packs.count) packs, \(ruleCount) rules, \(exampleCount) examples, \(mutated) mutated runs: "
        out.write(summary + (failed == 0 ? ok.paint("all passed") : bad.paint("\(failed) failed in \(failedRules) rules")) + "\n")
    }

    /// Something that loads but probably is not what the author meant, where it is.
    struct Warning {
        let location: SourceLocation?
        let message: String
        var text: String { (location.map { "\($0): " } ?? "") + message }
    }

    /// Things that load but probably are not what the author meant.
    private func warnings(_ ruleSet: RuleSet) -> [Warning] {
        var result: [Warning] = []
        let today = EngineOptions.utcToday()
        for exception in ruleSet.policy.exceptions {
            if let expires = exception.expires, expires < today {
                result.append(Warning(location: exception.location, message: "exception for \(exception.rules.joined(separator: ", ")) expired on \(expires) and no longer applies"))
            }
        }
        for rule in ruleSet.enabledPacks.flatMap(\.rules) where rule.action == nil {
            let thresholds = ruleSet.policy.thresholds[rule.category]
            if thresholds?.escalate == nil && thresholds?.block == nil {
                result.append(Warning(location: rule.location, message: "\(rule.id) only has a score, but the policy sets no threshold for category '\(rule.category)', so it can never change a verdict"))
            }
        }
        return result + noticeWarnings(ruleSet)
    }

    /// A model pack the policy enables should name the attributions its training data requires
    /// (`notice:`), and a NOTICE file in the rules directory (the shipped set has one; `rules export`
    /// writes it) should carry every line the enabled packs name.
    private func noticeWarnings(_ ruleSet: RuleSet) -> [Warning] {
        var result: [Warning] = []
        let location = ruleOptions.location
        let noticeBytes: [UInt8]?
        if let embedded = location.files.embedded {
            noticeBytes = embedded.contents(of: "NOTICE")
        } else {
            noticeBytes = FileManager.default.contents(atPath: (location.directory as NSString).appendingPathComponent("NOTICE")).map { Array($0) }
        }
        // Compared with runs of white space as one space, so a reflowed NOTICE still counts.
        func squeezed(_ text: String) -> String { text.split(whereSeparator: \.isWhitespace).joined(separator: " ") }
        let notice = noticeBytes.map { squeezed(String(decoding: $0, as: UTF8.self)) }
        let noticePath = location.isEmbedded ? "\(EmbeddedRuleSet.root)/NOTICE" : (location.directory as NSString).appendingPathComponent("NOTICE")
        for pack in ruleSet.enabledPacks {
            let place = SourceLocation(file: pack.file, line: 1, column: 1)
            if let model = pack.model, pack.notice.isEmpty {
                result.append(Warning(location: model.location, message: "model pack \(pack.id) names no notice: list under `notice:` the attribution lines its training data's licences require (and put them in NOTICE)"))
            }
            guard let notice else { continue }
            for line in pack.notice where !notice.contains(squeezed(line)) {
                result.append(Warning(location: place, message: "\(noticePath) lacks a line pack \(pack.id) names under notice: \"\(line)\""))
            }
        }
        return result
    }

    /// Everything to report at a file and line: failed example runs, warnings, floors not met, and the
    /// first --list misses and false alarms.
    private func findings(_ ruleSet: RuleSet, _ results: [ExampleChecker.Result], _ report: CorpusReport?) -> [CheckFinding] {
        var findings: [CheckFinding] = []
        // One finding per failing example (CI systems cap annotations per step): its first failed run,
        // then the mutations that failed too.
        var failedRuns: [(result: ExampleChecker.Result, mutations: [String])] = []
        for result in results where !result.passed {
            if let last = failedRuns.last, last.result.rule.id == result.rule.id, last.result.example.location == result.example.location {
                failedRuns[failedRuns.count - 1].mutations.append(result.mutation?.rawValue ?? "as written")
            } else {
                failedRuns.append((result, []))
            }
        }
        for (result, mutations) in failedRuns {
            let kind = result.example.kind == .match ? "match example" : "no_match example"
            var message = "\(result.rule.id): \(kind)\(result.mutation.map { " (\($0.rawValue))" } ?? ""): \(result.failure!)"
            if result.mutation != nil { message += "\ntext: \(result.text)" }
            if !mutations.isEmpty { message += "\nfails also: \(mutations.joined(separator: ", "))" }
            findings.append(CheckFinding(rule: result.rule.id, level: .error, location: result.example.location, message: message))
        }
        for warning in warnings(ruleSet) {
            findings.append(CheckFinding(rule: CheckFinding.warning, level: .warning, location: warning.location, message: warning.message))
        }
        if let report, let corpus {
            let floorsPath = floors ?? (corpus as NSString).appendingPathComponent("floors.yaml")
            let floorsText = FileManager.default.contents(atPath: floorsPath).map { String(decoding: $0, as: UTF8.self) }
            let categories = Set(report.rows.map(\.category))
            for failure in report.failures {
                let line = floorsText.flatMap { FloorLines.line(of: failure, in: $0, categories: categories) }
                findings.append(CheckFinding(rule: CheckFinding.floor, level: .error, file: floorsText == nil ? corpus : floorsPath, line: line,
                                             message: "floor not met: \(failure)"))
            }
            for miss in report.mismatches.filter(\.isMiss).prefix(list) {
                findings.append(CheckFinding(rule: CheckFinding.miss, level: .note, location: miss.record.location,
                                             message: "\(miss.record.id) [\(miss.record.category)]: expect \(miss.record.expect.rawValue), got \(miss.decision.verdict.rawValue)"))
            }
            for alarm in report.mismatches.filter(\.isFalseAlarm).prefix(list) {
                let rules = alarm.decision.hits.map(\.rule)
                let verdict = alarm.decision.verdict.rawValue
                findings.append(CheckFinding(rule: CheckFinding.falseAlarm, level: .note, location: alarm.record.location,
                                             message: "\(alarm.record.id) [\(alarm.record.category)]: labelled allow, got \(verdict) "
                                                 + "(rules: \(rules.isEmpty ? "none" : rules.joined(separator: ", ")))"))
            }
        }
        return findings
    }

    /// Writes the CI report (SARIF, JUnit, GitHub commands) to standard output, or the SARIF or JUnit
    /// report to --output (a file that cannot be written: exit 2); text and JSON write their own.
    private func report(_ writer: CheckReportWriter) throws {
        let document: String
        switch chosen {
        case .sarif: document = writer.sarif()
        case .junit: document = writer.junit()
        case .github: document = writer.github()
        case .text, .json: return
        }
        if let output {
            do {
                try Data(document.utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
            } catch {
                throw fileFailure(output, error)
            }
            return
        }
        Terminal.standardOutput.write(document)
        Terminal.standardOutput.flush()
    }
}

extension ExampleChecker.Result {
    /// `file:line:column: kind (mutation)` of the example.
    var `where`: String {
        let location = example.location
        let kind = example.kind == .match ? "match example" : "no_match example"
        return "\(location.file):\(location.line):\(location.column): \(kind)" + (mutation.map { " (\($0.rawValue))" } ?? "")
    }
}

/// Misses chosen at random per category, reproducibly (SplitMix64 from a seed), for reading.
enum CorpusSample {
    static func misses(of report: CorpusReport, perCategory count: Int, seed: UInt64) -> [CorpusReport.Mismatch] {
        guard count > 0 else { return [] }
        var state = seed
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        var byCategory: [String: [CorpusReport.Mismatch]] = [:]
        for miss in report.mismatches where miss.isMiss { byCategory[miss.record.category, default: []].append(miss) }
        var chosen: [CorpusReport.Mismatch] = []
        for category in byCategory.keys.sorted() {
            var pool = byCategory[category]!
            for i in 0..<min(count, pool.count) {  // partial Fisher–Yates
                let j = i + Int(next() % UInt64(pool.count - i))
                pool.swapAt(i, j)
                chosen.append(pool[i])
            }
        }
        return chosen
    }
}

/// The `check --corpus` report as text: a table per file and category, category totals, the first
/// misses and false alarms, the sample, then the floors.
struct CorpusTable {
    let out: Terminal
    let ok: Style, bad: Style, dim: Style

    func write(_ report: CorpusReport, directory: String, records: Int, list: Int, samples: [CorpusReport.Mismatch]) {
        func percent(_ x: Double) -> String { String(format: "%.1f%%", x * 100) }
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        func left(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }
        let files = Set(report.fileRows.compactMap(\.file)).count
        out.write("\ncorpus \(directory): \(records) records in \(files) file\(files == 1 ? "" : "s")\n")
        out.write(dim.paint("flagged = escalated or blocked; recall = labelled escalate/block and flagged; false alarms = labelled allow and flagged") + "\n")
        out.write(pad("file / category", 30) + left("records", 8) + left("flagged", 9) + left("blocked", 9) + left("recall", 9)
                  + left("block rec", 10) + left("false al.", 10) + "  rules behind false alarms\n")
        func row(_ row: CorpusReport.Row, indent: String) {
            let positives = row.expectedFlagged > 0
            var line = pad(indent + row.category, 30) + left("\(row.records)", 8) + left("\(row.flagged)", 9) + left("\(row.blockedAny)", 9)
            line += left(positives ? percent(row.recall) : "-", 9) + left(row.expectedBlock > 0 ? percent(row.blockRecall) : "-", 10)
            line += left(row.expectedAllow > 0 ? percent(row.falseAlarmRate) : "-", 10)
            let top = row.topFalseAlarmRules(4).map { "\($0.rule) \($0.records)" }.joined(separator: ", ")
            out.write(line + (top.isEmpty ? "" : "  " + dim.paint(top)) + "\n")
        }
        var lastFile: String?
        for fileRow in report.fileRows {
            if fileRow.file != lastFile { out.write(fileRow.file! + "\n"); lastFile = fileRow.file }
            row(fileRow, indent: "  ")
        }
        if files > 1 {
            out.write("all files\n")
            for total in report.rows { row(total, indent: "  ") }
        }
        let misses = report.mismatches.filter(\.isMiss), alarms = report.mismatches.filter(\.isFalseAlarm)
        let above = report.mismatches.count - misses.count - alarms.count
        for (title, all) in [("misses (verdict below label)", misses), ("false alarms (labelled allow, flagged)", alarms)] where !all.isEmpty {
            out.write("\n\(title): \(all.count)\(all.count > list ? ", first \(list) (--list N for more)" : "")\n")
            for item in all.prefix(list) { writeItem(item) }
        }
        if above > 0 { out.write(dim.paint("\n\(above) record(s) labelled escalate were blocked (not listed)") + "\n") }
        if !samples.isEmpty {
            out.write("\nsample of misses (random, per category; --seed N for another):\n")
            for item in samples { writeItem(item) }
        }
        if report.failures.isEmpty {
            out.write("\nfloors: " + ok.paint("all met") + "\n")
        } else {
            out.write("\nfloors: " + bad.paint("\(report.failures.count) not met") + "\n")
            for failure in report.failures { out.write("  " + bad.paint("✗ ") + failure + "\n") }
        }
    }

    private func writeItem(_ item: CorpusReport.Mismatch) {
        let rules = item.decision.hits.map { $0.rule + ($0.reported ? " (reported)" : "") } + item.decision.errors.map { "error: \($0.message)" }
        var text = Array(item.record.text.unicodeScalars.map { $0.value < 0x20 ? " " : Character($0) })
        if text.count > 60 { text = Array(text.prefix(59)) + ["…"] }
        out.write("  \(item.record.location.file):\(item.record.location.line)  \(item.record.id) [\(item.record.category)]  expect \(item.record.expect.rawValue), got \(item.decision.verdict.rawValue)"
                  + "  rules: \(rules.isEmpty ? "none" : rules.joined(separator: ", "))\n")
        out.write(dim.paint("      \(String(text))") + "\n")
    }
}

/// `check --json`: the examples' results and the corpus report as one object (schema `replyguard.check/1`).
struct CheckDocument: Encodable {
    struct ExampleFailure: Encodable { let rule: String, location: String, failure: String, text: String }
    struct Examples: Encodable {
        let packs: Int, rules: Int, examples: Int, runs: Int, failed: Int
        let failures: [ExampleFailure]
    }
    struct RuleCount: Encodable { let rule: String, records: Int }
    struct Row: Encodable {
        let file: String?, category: String
        let records: Int, flagged: Int, blocked: Int
        let positives: Int, caught: Int, recall: Double?
        let expectedBlock: Int, blockedExpected: Int, blockRecall: Double?
        let negatives: Int, falseAlarms: Int, falseAlarmRate: Double?
        let falseAlarmRules: [RuleCount]
        init(_ row: CorpusReport.Row) {
            file = row.file; category = row.category; records = row.records; flagged = row.flagged; blocked = row.blockedAny
            positives = row.expectedFlagged; caught = row.caught; recall = row.expectedFlagged > 0 ? row.recall : nil
            expectedBlock = row.expectedBlock; blockedExpected = row.blocked; blockRecall = row.expectedBlock > 0 ? row.blockRecall : nil
            negatives = row.expectedAllow; falseAlarms = row.falseAlarms; falseAlarmRate = row.expectedAllow > 0 ? row.falseAlarmRate : nil
            falseAlarmRules = row.topFalseAlarmRules(10).map { RuleCount(rule: $0.rule, records: $0.records) }
        }
    }
    struct Item: Encodable {
        let file: String, line: Int, id: String, category: String, expect: String, verdict: String, rules: [String], text: String
        init(_ m: CorpusReport.Mismatch) {
            file = m.record.file; line = m.record.location.line; id = m.record.id; category = m.record.category
            expect = m.record.expect.rawValue; verdict = m.decision.verdict.rawValue
            rules = m.decision.hits.map(\.rule) + m.decision.errors.map { "error: \($0.message)" }; text = m.record.text
        }
    }
    struct Corpus: Encodable {
        let directory: String, records: Int
        let files: [Row], totals: [Row]
        let misses: Int, falseAlarms: Int
        let listedMisses: [Item], listedFalseAlarms: [Item], sample: [Item]
        let floorsMet: Bool, floorFailures: [String]
    }
    /// Which rule set was checked: `source` is `embedded (replyguard …)` or the directory; `policy` the digest.
    struct Rules: Encodable { let source: String, embedded: Bool, policy: String }
    let schema = "replyguard.check/1"
    var rules: Rules?
    let examples: Examples
    let warnings: [String]
    let corpus: Corpus?

    init(ruleSet: RuleSet, results: [ExampleChecker.Result], warnings: [String], corpus directory: String?,
         report: CorpusReport?, records: Int, list: Int, samples: [CorpusReport.Mismatch]) {
        let failures = results.filter { !$0.passed }
        examples = Examples(packs: ruleSet.packs.count, rules: ruleSet.packs.reduce(0) { $0 + $1.rules.count },
                            examples: ruleSet.packs.reduce(0) { $0 + $1.rules.reduce(0) { $0 + $1.examples.count } },
                            runs: results.count, failed: failures.count,
                            failures: failures.map { ExampleFailure(rule: $0.rule.id, location: $0.where, failure: $0.failure!, text: $0.text) })
        self.warnings = warnings
        if let report, let directory {
            let misses = report.mismatches.filter(\.isMiss), alarms = report.mismatches.filter(\.isFalseAlarm)
            corpus = Corpus(directory: directory, records: records, files: report.fileRows.map(Row.init), totals: report.rows.map(Row.init),
                            misses: misses.count, falseAlarms: alarms.count,
                            listedMisses: misses.prefix(list).map(Item.init), listedFalseAlarms: alarms.prefix(list).map(Item.init),
                            sample: samples.map(Item.init), floorsMet: report.failures.isEmpty, floorFailures: report.failures)
        } else {
            corpus = nil
        }
    }

    func encoded() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }
}
