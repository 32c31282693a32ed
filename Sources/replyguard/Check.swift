import ArgumentParser
import Foundation
import ReplyGuard

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load and compile every rule pack, and run every rule's examples (also mutated).",
        discussion: """
        With --corpus DIR, also decides every labelled record in DIR/*.jsonl with the policy as configured and \
        prints a table per category (recall, block recall, precision, flagged clean replies), every miss and \
        false alarm with the rules that hit, and checks DIR/floors.yaml. \
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

    func run() throws {
        let ruleSet = try ruleOptions.load()
        let colored = color.enabled(fd: 1)
        let ok = Style(enabled: colored, code: "32"), bad = Style(enabled: colored, code: "1;31"), dim = Style(enabled: colored, code: "2")
        let out = Terminal.standardOutput
        let results = ExampleChecker(ruleSet: ruleSet).checkAll()
        var byRule: [String: [ExampleChecker.Result]] = [:]
        for result in results { byRule[result.rule.id, default: []].append(result) }

        var failedRules = 0
        for pack in ruleSet.packs {
            let enabled = ruleSet.enabledPacks.contains { $0.id == pack.id }
            out.write("\(pack.file)  \(dim.paint("pack \(pack.id) \(pack.version), \(pack.rules.count) rules\(enabled ? "" : ", not enabled by the policy")"))\n")
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
                    let location = failure.example.location
                    let kind = failure.example.kind == .match ? "match example" : "no_match example"
                    let mutation = failure.mutation.map { " (\($0.rawValue))" } ?? ""
                    out.write("      \(location.file):\(location.line):\(location.column): \(kind)\(mutation): \(failure.failure!)\n")
                    if failure.mutation != nil { out.write(dim.paint("        text: \(failure.text)") + "\n") }
                }
            }
        }
        for policyWarning in warnings(ruleSet) { out.write("warning: \(policyWarning)\n") }
        let ruleCount = ruleSet.packs.reduce(0) { $0 + $1.rules.count }
        let exampleCount = ruleSet.packs.reduce(0) { $0 + $1.rules.reduce(0) { $0 + $1.examples.count } }
        let mutated = results.filter { $0.mutation != nil }.count
        let failed = results.filter { !$0.passed }.count
        let summary = "\(ruleSet.packs.count) packs, \(ruleCount) rules, \(exampleCount) examples, \(mutated) mutated runs: "
        out.write(summary + (failed == 0 ? ok.paint("all passed") : bad.paint("\(failed) failed in \(failedRules) rules")) + "\n")
        var floorsMet = true
        if let corpus {
            let loaded: ([CorpusRecord], CorpusFloors)
            do {
                loaded = try CorpusLoader.load(directory: corpus)
            } catch {
                out.flush()
                Terminal.standardError.write(Terminal.errorStyle.paint("error: ") + "corpus failed to load (\(error.problems.count) problem\(error.problems.count == 1 ? "" : "s"))\n")
                for problem in error.problems { Terminal.standardError.write(problem.description + "\n") }
                throw ExitCode(2)
            }
            let report = CorpusReport(records: loaded.0, floors: loaded.1, engine: Engine(ruleSet: ruleSet))
            CorpusTable(out: out, ok: ok, bad: bad, dim: dim).write(report, directory: corpus, records: loaded.0.count)
            floorsMet = report.failures.isEmpty
        }
        out.flush()
        if failed > 0 || !floorsMet { throw ExitCode(1) }
    }

    /// Things that load but probably are not what the author meant.
    private func warnings(_ ruleSet: RuleSet) -> [String] {
        var result: [String] = []
        let today = EngineOptions.utcToday()
        for exception in ruleSet.policy.exceptions {
            if let expires = exception.expires, expires < today {
                result.append("\(exception.location): exception for \(exception.rules.joined(separator: ", ")) expired on \(expires) and no longer applies")
            }
        }
        for rule in ruleSet.enabledPacks.flatMap(\.rules) where rule.action == nil {
            let thresholds = ruleSet.policy.thresholds[rule.category]
            if thresholds?.escalate == nil && thresholds?.block == nil {
                result.append("\(rule.location): \(rule.id) only has a score, but the policy sets no threshold for category '\(rule.category)', so it can never change a verdict")
            }
        }
        return result
    }
}

/// The `check --corpus` report: a table per category, then misses and false alarms, then the floors.
struct CorpusTable {
    let out: Terminal
    let ok: Style, bad: Style, dim: Style

    func write(_ report: CorpusReport, directory: String, records: Int) {
        func percent(_ x: Double) -> String { String(format: "%5.1f%%", x * 100) }
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        func left(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }
        out.write("\ncorpus \(directory): \(records) records\n")
        out.write(pad("category", 11) + left("records", 8) + left("flagged", 9) + left("caught", 10) + left("recall", 8)
                  + left("blocked", 10) + left("block rec", 10) + left("precision", 10) + "\n")
        for row in report.rows {
            switch row.category {
            case CorpusLoader.cleanCategory:
                let rate = row.records == 0 ? 0 : Double(row.flagged) / Double(row.records)
                out.write(pad(row.category, 11) + left("\(row.records)", 8) + left("\(row.flagged)", 9)
                          + "  false alarms on clean replies: \(row.flagged) (\(percent(rate).trimmingCharacters(in: .whitespaces)))\n")
            case CorpusLoader.newsCategory:
                out.write(pad(row.category, 11) + left("\(row.records)", 8) + left("\(row.flagged)", 9)
                          + "  quoted news: \(row.blockedAny) blocked, \(row.flagged - row.blockedAny) escalated\n")
            default:
                out.write(pad(row.category, 11) + left("\(row.records)", 8) + left("\(row.flagged)", 9)
                          + left("\(row.caught)/\(row.expectedFlagged)", 10) + left(percent(row.recall), 8)
                          + left("\(row.blocked)/\(row.expectedBlock)", 10) + left(row.expectedBlock == 0 ? "-" : percent(row.blockRecall), 10)
                          + left(percent(row.precision), 10) + "\n")
            }
        }
        let misses = report.mismatches.filter(\.isMiss), alarms = report.mismatches.filter { !$0.isMiss }
        for (title, list) in [("misses (verdict below label)", misses), ("false alarms (verdict above label)", alarms)] where !list.isEmpty {
            out.write("\n\(title): \(list.count)\n")
            for item in list {
                let rules = item.decision.hits.map { $0.rule + ($0.reported ? " (reported)" : "") } + item.decision.errors.map { "error: \($0.message)" }
                var text = Array(item.record.text.unicodeScalars.map { $0.value < 0x20 ? " " : Character($0) })
                if text.count > 50 { text = Array(text.prefix(49)) + ["…"] }
                out.write("  \(item.record.location.file):\(item.record.location.line)  \(item.record.id)  expect \(item.record.expect.rawValue), got \(item.decision.verdict.rawValue)"
                          + "  rules: \(rules.isEmpty ? "none" : rules.joined(separator: ", "))\n")
                out.write(dim.paint("      \(String(text))") + "\n")
            }
        }
        if report.failures.isEmpty {
            out.write("\nfloors: " + ok.paint("all met") + "\n")
        } else {
            out.write("\nfloors: " + bad.paint("\(report.failures.count) not met") + "\n")
            for failure in report.failures { out.write("  " + bad.paint("✗ ") + failure + "\n") }
        }
    }
}
