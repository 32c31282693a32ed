import ArgumentParser
import Foundation
import ReplyGuard

struct Scan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decide every message in files, directories or standard input; one JSON record per message.",
        discussion: """
        Plain text is one message per line (blank lines are skipped); JSON Lines input (*.jsonl, *.ndjson or \
        --input jsonl) takes the text and id from fields. Directories are walked recursively for *.txt, \
        *.text, *.log, *.jsonl and *.ndjson files. Records come out in input order; a summary goes to \
        standard error. Exit 0 when no message is at or above --fail-on, 1 when one is, 2 on error.
        """)

    enum OutputFormat: String, ExpressibleByArgument, CaseIterable { case jsonl, table }
    enum InputChoice: String, ExpressibleByArgument, CaseIterable { case auto, text, jsonl }

    @OptionGroup var ruleOptions: RuleOptions

    @Option(name: .long, help: "Output: jsonl (one record per message) or table (flagged messages).")
    var format: OutputFormat = .jsonl

    @Option(name: .long, help: "Input format: auto (by file extension; stdin is text), text, jsonl.")
    var input: InputChoice = .auto

    @Option(name: .customLong("text-field"), help: "JSON field holding the message text.")
    var textField = "text"

    @Option(name: .customLong("id-field"), help: "JSON field holding the message id (default: path:line).")
    var idField = "id"

    @Option(name: .customLong("fail-on"), help: "Lowest verdict that makes the exit status 1.")
    var failOn: Verdict = .escalate

    @Flag(name: .customLong("only-flagged"), help: "Write records only for escalated and blocked messages.")
    var onlyFlagged = false

    @Option(name: .long, help: "Colour for --format table: auto, always, never.")
    var color: ColorChoice = .auto

    @Argument(help: "Files or directories to scan, or - for standard input.")
    var paths: [String] = []

    func validate() throws {
        if paths.isEmpty { throw ValidationError("give at least one PATH, or - for standard input") }
    }

    func run() throws {
        let ruleSet = try ruleOptions.load()
        let engine = Engine(ruleSet: ruleSet)
        let scanner = engine.makeScanner()
        let out = Terminal.standardOutput
        var summary = ScanSummary()
        var hadError = false
        let started = Date()
        let table = TableWriter(out: out, colored: color.enabled(fd: 1))

        for file in try expand(paths) {
            let format: InputFormat
            switch input {
            case .text: format = .text
            case .jsonl: format = .jsonl
            case .auto: format = file.hasSuffix(".jsonl") || file.hasSuffix(".ndjson") ? .jsonl : .text
            }
            let reader = MessageReader(format: format, textField: textField, idField: idField)
            let fd = file == "-" ? 0 : open(file, O_RDONLY)
            if fd < 0 {
                Terminal.standardError.write("Error: cannot open \(file): \(String(cString: strerror(errno)))\n")
                hadError = true
                continue
            }
            defer { if fd != 0 { close(fd) } }
            let name = file == "-" ? "<stdin>" : file
            do {
                try LineReader.forEachLine(fd: fd) { line, number in
                    summary.bytes += line.count + 1
                    if format == .text && line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return }
                    let message = reader.message(from: line, fallbackID: .string("\(name):\(number)"))
                    var decision = message.text.withUnsafeBufferPointer { scanner.decide($0, id: message.id) }
                    if let error = message.error {
                        decision.errors.insert(DecisionError(rule: nil, message: error), at: 0)
                        decision.verdict = max(decision.verdict, .escalate)
                    }
                    summary.add(decision)
                    if onlyFlagged && decision.verdict == .allow { return }
                    switch self.format {
                    case .jsonl: out.write(decision.jsonLine() + "\n")
                    case .table: table.row(decision, text: String(decoding: message.text, as: UTF8.self))
                    }
                }
            } catch {
                Terminal.standardError.write("Error: reading \(name): \(error)\n")
                hadError = true
            }
        }
        out.flush()
        Terminal.standardError.write(summary.text(seconds: Date().timeIntervalSince(started)))
        if hadError { throw ExitCode(2) }
        if summary.maxVerdict >= failOn && summary.messages > 0 { throw ExitCode(1) }
    }

    /// Extensions of the files picked up when walking a directory (files named explicitly are always read).
    static let scannedExtensions = ["txt", "text", "log", "jsonl", "ndjson"]

    /// Files in argument order; directories walked recursively in sorted order, hidden entries skipped,
    /// only files with a ``scannedExtensions`` extension.
    private func expand(_ paths: [String]) throws -> [String] {
        var files: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            if path != "-", FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                let found = (FileManager.default.enumerator(atPath: path)?.allObjects as? [String] ?? [])
                    .filter { !$0.split(separator: "/").contains { $0.hasPrefix(".") } }
                    .filter { Scan.scannedExtensions.contains(($0 as NSString).pathExtension.lowercased()) }
                    .map { (path as NSString).appendingPathComponent($0) }
                    .filter { var d: ObjCBool = false; return FileManager.default.fileExists(atPath: $0, isDirectory: &d) && !d.boolValue }
                files += found.sorted()
            } else {
                files.append(path)
            }
        }
        return files
    }
}

/// Counts for the end-of-scan summary.
struct ScanSummary {
    var messages = 0
    var bytes = 0
    var verdicts: [Verdict: Int] = [:]
    var categories: [String: Int] = [:]
    var rules: [String: Int] = [:]
    var errors = 0
    var maxVerdict = Verdict.allow

    mutating func add(_ decision: Decision) {
        messages += 1
        verdicts[decision.verdict, default: 0] += 1
        maxVerdict = max(maxVerdict, decision.verdict)
        if !decision.errors.isEmpty { errors += 1 }
        for category in Set(decision.hits.map(\.category)) { categories[category, default: 0] += 1 }
        for rule in Set(decision.hits.map(\.rule)) { rules[rule, default: 0] += 1 }
    }

    func text(seconds: Double) -> String {
        let mb = Double(bytes) / 1_000_000
        var lines = [String(format: "scanned %d messages (%.1f MB) in %.2f s (%.1f MB/s): %d allow, %d escalate, %d block; %d with errors",
                            messages, mb, seconds, seconds > 0 ? mb / seconds : 0,
                            verdicts[.allow] ?? 0, verdicts[.escalate] ?? 0, verdicts[.block] ?? 0, errors)]
        if !categories.isEmpty {
            lines.append("by category: " + categories.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            lines.append("top rules: " + rules.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(5).map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// `--format table`: one row per message, flagged ones highlighted.
struct TableWriter {
    let out: Terminal
    let colored: Bool

    func row(_ decision: Decision, text: String) {
        let style = Style(enabled: colored, code: decision.verdict.colorCode)
        var shown = Visible.scalars(text)
        if shown.count > 60 { shown = Array(shown.prefix(59)) + ["…"] }
        let rules = decision.hits.map(\.rule) + decision.errors.map { _ in "error" }
        let verdict = decision.verdict.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)
        out.write("\(decision.id)\t\(style.paint(verdict))\t\(rules.isEmpty ? "-" : rules.joined(separator: ","))\t\(String(String.UnicodeScalarView(shown)))\n")
    }
}
