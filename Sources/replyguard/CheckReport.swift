import ArgumentParser
import Foundation
import ReplyGuard

/// How `check` reports: text for people, or a format a CI system shows inline at the file and line.
enum CheckFormat: String, ExpressibleByArgument, CaseIterable {
    /// The text report (default).
    case text
    /// One JSON object (`replyguard.check/1`), as `--json`.
    case json
    /// SARIF 2.1.0 (GitHub code scanning and other SARIF viewers).
    case sarif
    /// JUnit XML (GitLab `artifacts:reports:junit`, Jenkins).
    case junit
    /// The text report, then GitHub Actions workflow commands (`::error file=…,line=…::…`).
    case github
}

/// One thing `check` found, where it is: a failing example at its line in the pack, a load error at its
/// file's line, a warning, a floor not met (at the floors file), a listed miss or false alarm (at the
/// corpus record).
struct CheckFinding {
    enum Level: String { case error, warning, note }
    /// A pack's rule id, or one of ``CheckFinding/kinds``.
    let rule: String
    let level: Level
    let file: String?
    let line: Int?
    let column: Int?
    let message: String

    static let load = "replyguard.load"
    static let corpusLoad = "replyguard.corpus-load"
    static let warning = "replyguard.warning"
    static let floor = "replyguard.floor"
    static let miss = "replyguard.miss"
    static let falseAlarm = "replyguard.false-alarm"
    /// The findings that are not a pack's rule: id, what it means, default level.
    static let kinds: [(id: String, description: String, level: String)] = [
        (load, "A rule pack, the policy, a word list or a model failed to load (nothing was checked)", "error"),
        (corpusLoad, "A labelled corpus file or the floors file failed to load", "error"),
        (warning, "Loads, but probably not what the author meant (an expired exception, a score no threshold uses, a missing notice)", "warning"),
        (floor, "The packs do not meet a floor on the labelled corpus", "error"),
        (miss, "A labelled corpus record got a lower verdict than its label", "note"),
        (falseAlarm, "A corpus record labelled allow was escalated or blocked", "note"),
    ]

    init(rule: String, level: Level, location: SourceLocation?, file: String? = nil, message: String) {
        self.rule = rule
        self.level = level
        self.file = location?.file ?? file
        self.line = location.map(\.line)
        self.column = location.map(\.column)
        self.message = message
    }

    init(problem: RuleProblem, rule: String) {
        self.rule = rule
        level = .error
        file = problem.file
        line = problem.line
        column = problem.column
        message = ([problem.message] + problem.detail).joined(separator: "\n")
    }

    init(rule: String, level: Level, file: String?, line: Int?, message: String) {
        self.rule = rule
        self.level = level
        self.file = file
        self.line = line
        self.column = nil
        self.message = message
    }
}

/// Writes `check`'s findings as SARIF, JUnit XML or GitHub workflow commands.
struct CheckReportWriter {
    let findings: [CheckFinding]
    /// The loaded rule set (nil when it failed to load): SARIF lists its rules, JUnit has a test case per rule.
    let ruleSet: RuleSet?
    /// Every example run (for JUnit's passing test cases).
    let results: [ExampleChecker.Result]
    /// Whether a corpus was scored (JUnit then has a floors suite).
    let scoredCorpus: Bool

    // MARK: SARIF

    func sarif() -> String {
        var writer = SARIFWriter(rules: ruleSet?.packs.flatMap(\.rules) ?? [], extraRules: CheckFinding.kinds)
        for finding in findings {
            writer.add(ruleID: finding.rule, level: finding.level.rawValue, message: finding.message,
                       uri: CheckReportWriter.uri(finding.file ?? "."), line: finding.line, column: finding.column)
        }
        return writer.document(version: ReplyGuardVersion.string)
    }

    /// A SARIF artifact URI: a relative path as it is (relative to the working directory, the repository
    /// root in CI), an absolute one as a `file://` URI; both percent-encoded.
    static func uri(_ path: String) -> String {
        let encoded = path.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? path
        return path.hasPrefix("/") ? "file://" + encoded : encoded
    }

    // MARK: GitHub workflow commands

    /// `::error file=F,line=L,col=C,title=T::message` per finding (notes as `::notice`).
    func github() -> String {
        var out = ""
        for finding in findings {
            let command: String
            switch finding.level {
            case .error: command = "error"
            case .warning: command = "warning"
            case .note: command = "notice"
            }
            var properties: [String] = []
            if let file = finding.file { properties.append("file=" + CheckReportWriter.githubProperty(file)) }
            if let line = finding.line { properties.append("line=\(line)") }
            if let column = finding.column { properties.append("col=\(column)") }
            properties.append("title=" + CheckReportWriter.githubProperty("replyguard check: \(finding.rule)"))
            out += "::\(command) \(properties.joined(separator: ","))::\(CheckReportWriter.githubData(finding.message))\n"
        }
        return out
    }

    /// A workflow command's message: `%`, CR and LF escaped.
    static func githubData(_ text: String) -> String {
        text.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "\r", with: "%0D").replacingOccurrences(of: "\n", with: "%0A")
    }

    /// A workflow command's property value: as ``githubData(_:)``, and `:` and `,` escaped.
    static func githubProperty(_ text: String) -> String {
        githubData(text).replacingOccurrences(of: ":", with: "%3A").replacingOccurrences(of: ",", with: "%2C")
    }

    // MARK: JUnit XML

    /// Suites: `load` (a failing case per load problem), `examples` (a case per rule with examples; its
    /// failures are the rule's failed runs), `floors` (with a corpus: a case per floor not met, or one
    /// passing case), and the warnings as the examples suite's `system-out`.
    func junit() -> String {
        struct Case {
            let name: String, classname: String, file: String?, line: Int?
            var failures: [String]
        }
        var suites: [(name: String, cases: [Case], out: [String])] = []
        let loadProblems = findings.filter { $0.rule == CheckFinding.load || $0.rule == CheckFinding.corpusLoad }
        if !loadProblems.isEmpty {
            suites.append(("load", loadProblems.map { finding in
                Case(name: CheckReportWriter.place(finding), classname: finding.rule, file: finding.file, line: finding.line, failures: [finding.message])
            }, []))
        }
        if let ruleSet {
            var byRule: [String: [CheckFinding]] = [:]
            for finding in findings where finding.level == .error { byRule[finding.rule, default: []].append(finding) }
            var cases: [Case] = []
            for pack in ruleSet.packs {
                for rule in pack.rules where !rule.examples.isEmpty {
                    let failures = (byRule[rule.id] ?? []).map { "\(CheckReportWriter.place($0)): \($0.message)" }
                    cases.append(Case(name: rule.id, classname: "\(pack.id) (\(pack.file))", file: rule.location.file, line: rule.location.line, failures: failures))
                }
            }
            let warnings = findings.filter { $0.rule == CheckFinding.warning }.map { "warning: \(CheckReportWriter.place($0)): \($0.message)" }
            suites.append(("examples", cases, warnings))
        }
        if scoredCorpus {
            let floors = findings.filter { $0.rule == CheckFinding.floor }
            let cases = floors.isEmpty
                ? [Case(name: "floors", classname: "corpus", file: nil, line: nil, failures: [])]
                : floors.map { Case(name: $0.message, classname: "corpus", file: $0.file, line: $0.line, failures: [$0.message]) }
            let listed = findings.filter { $0.rule == CheckFinding.miss || $0.rule == CheckFinding.falseAlarm }.map { "\(CheckReportWriter.place($0)): \($0.message)" }
            suites.append(("floors", cases, listed))
        }
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        let tests = suites.reduce(0) { $0 + $1.cases.count }
        let failures = suites.reduce(0) { $0 + $1.cases.filter { !$0.failures.isEmpty }.count }
        xml += "<testsuites name=\"replyguard check\" tests=\"\(tests)\" failures=\"\(failures)\">\n"
        for suite in suites {
            let failed = suite.cases.filter { !$0.failures.isEmpty }.count
            xml += "  <testsuite name=\"\(CheckReportWriter.xml(suite.name))\" tests=\"\(suite.cases.count)\" failures=\"\(failed)\" errors=\"0\" skipped=\"0\">\n"
            for item in suite.cases {
                var attributes = "classname=\"\(CheckReportWriter.xml(item.classname))\" name=\"\(CheckReportWriter.xml(item.name))\""
                if let file = item.file { attributes += " file=\"\(CheckReportWriter.xml(file))\"" }
                if let line = item.line { attributes += " line=\"\(line)\"" }
                if item.failures.isEmpty {
                    xml += "    <testcase \(attributes)/>\n"
                } else {
                    let first = item.failures[0].split(separator: "\n").first.map(String.init) ?? ""
                    xml += "    <testcase \(attributes)>\n      <failure message=\"\(CheckReportWriter.xml(first))\">"
                        + CheckReportWriter.xml(item.failures.joined(separator: "\n")) + "</failure>\n    </testcase>\n"
                }
            }
            if !suite.out.isEmpty { xml += "    <system-out>\(CheckReportWriter.xml(suite.out.joined(separator: "\n")))</system-out>\n" }
            xml += "  </testsuite>\n"
        }
        return xml + "</testsuites>\n"
    }

    /// `file:line:column` of a finding, as far as known.
    static func place(_ finding: CheckFinding) -> String {
        var text = finding.file ?? "-"
        if let line = finding.line { text += ":\(line)" }
        if let column = finding.column { text += ":\(column)" }
        return text
    }

    /// Text for XML 1.0 content or attributes: markup characters escaped, characters XML cannot carry
    /// (C0 controls other than tab, LF, CR; U+FFFE, U+FFFF) as U+FFFD.
    static func xml(_ text: String) -> String {
        var out = ""
        out.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            default:
                if scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF {
                    out.unicodeScalars.append("\u{FFFD}")
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}

/// The line in a floors file that sets the floor a failure names (`clean:`, `news:`, a category under
/// `categories:`, `default:` for a category without its own, a file under `files:` and its category), or
/// nil when it cannot be told: a failure is about the corpus as a whole and the floors file has no
/// positions of its own.
enum FloorLines {
    static func line(of failure: String, in text: String, categories: Set<String>) -> Int? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        func find(_ key: String, from start: Int = 0) -> Int? {
            guard start < lines.count else { return nil }
            for index in start..<lines.count {
                let trimmed = lines[index].trimmingCharacters(in: .whitespaces)
                if trimmed.hasPrefix(key + ":") || trimmed.hasPrefix("\"\(key)\":") || trimmed.hasPrefix("'\(key)':") { return index }
            }
            return nil
        }
        guard let colon = failure.firstIndex(of: ":") else { return nil }
        let head = String(failure[..<colon])
        let words = head.split(separator: " ").map(String.init)
        if words.count == 2 {  // "<file> <category>: …"
            guard let file = find(words[0]) else { return nil }
            return (find(words[1], from: file + 1) ?? file) + 1
        }
        switch head {
        case CorpusLoader.cleanCategory, CorpusLoader.newsCategory: return find(head).map { $0 + 1 }
        default:
            if categories.contains(head), let section = find("categories"), let line = find(head, from: section + 1) { return line + 1 }
            return find("default").map { $0 + 1 }
        }
    }
}
