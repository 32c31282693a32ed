import ArgumentParser
import Foundation
import ReplyGuard

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load and compile every rule pack, and run every rule's examples (also mutated).",
        discussion: "Exit 0 when everything passes, 1 when an example fails, 2 when a pack or the policy fails to load.")

    @OptionGroup var ruleOptions: RuleOptions

    @Option(name: .long, help: "Colour: auto (on a terminal), always, never.")
    var color: ColorChoice = .auto

    @Flag(name: .shortAndLong, help: "List every rule, not only failures.")
    var verbose = false

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
        out.flush()
        if failed > 0 { throw ExitCode(1) }
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
