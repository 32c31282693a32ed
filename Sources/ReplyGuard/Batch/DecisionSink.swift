import Foundation

/// Where decided messages go: one output format of `scan` (ripgrep's `Sink`, SwiftLint's `Reporter`).
/// Adding a format is one type conforming to this.
///
/// A sink works in two places. ``render(_:text:into:)`` runs on the worker thread that decided the
/// message (concurrently with other workers: it must not touch shared state) and appends the message's
/// streamed output, kept in input order. ``collect(_:file:line:format:)`` and ``finish(summary:)`` run on
/// the one writer thread, in input order, for formats that are a document about the whole run.
public protocol DecisionSink: Sendable {
    /// Appends the message's own output (a JSON line, a table row) to `out`; `text` gives the message
    /// text, computed only when asked for.
    func render(_ decision: Decision, text: () -> String, into out: inout [UInt8])
    /// ``render(_:text:into:)`` for one of a run of records (a batch of one input file, on one worker):
    /// `cache` lives as long as the run, for what the records share. By default, `render(_:text:into:)`.
    func render(_ decision: Decision, text: () -> String, into out: inout [UInt8], cache: inout DecisionRecordCache)
    /// Whether ``collect(_:file:line:format:)`` needs this decision (it then travels to the writer thread).
    func collects(_ decision: Decision) -> Bool
    /// Keeps what the closing document needs.
    mutating func collect(_ decision: Decision, file: String, line: Int, format: InputFormat)
    /// After the last message: the closing document (SARIF, the summary table), if any.
    mutating func finish(summary: ScanSummary) -> [UInt8]
}

extension DecisionSink {
    public func render(_ decision: Decision, text: () -> String, into out: inout [UInt8]) {}
    public func render(_ decision: Decision, text: () -> String, into out: inout [UInt8], cache: inout DecisionRecordCache) {
        render(decision, text: text, into: &out)
    }
    public func collects(_ decision: Decision) -> Bool { false }
    public mutating func collect(_ decision: Decision, file: String, line: Int, format: InputFormat) {}
    public mutating func finish(summary: ScanSummary) -> [UInt8] { [] }
}

/// `--format jsonl`: one decision record (``Decision/schema``) per line.
public struct JSONLinesSink: DecisionSink {
    public init() {}

    public func render(_ decision: Decision, text: () -> String, into out: inout [UInt8]) {
        decision.appendJSONLine(to: &out)
        out.append(0x0A)
    }

    public func render(_ decision: Decision, text: () -> String, into out: inout [UInt8], cache: inout DecisionRecordCache) {
        decision.appendJSONLine(to: &out, cache: &cache)
        out.append(0x0A)
    }
}

/// `--format summary`: only the counts per verdict and category and the top rules, at the end.
public struct SummarySink: DecisionSink {
    public init() {}

    public func finish(summary: ScanSummary) -> [UInt8] { Array(summary.table().utf8) }
}

/// `--format table`: a row per flagged message (id, verdict, rules, text), then the summary.
public struct TableSink: DecisionSink {
    public let colored: Bool

    public init(colored: Bool) { self.colored = colored }

    public func render(_ decision: Decision, text: () -> String, into out: inout [UInt8]) {
        guard decision.verdict != .allow else { return }
        out += Array(TableSink.row(decision, text: text(), colored: colored).utf8)
    }

    public func finish(summary: ScanSummary) -> [UInt8] { Array(summary.table().utf8) }

    public static func row(_ decision: Decision, text: String, colored: Bool) -> String {
        let style = Style(enabled: colored, code: decision.verdict.colorCode)
        var shown = Visible.scalars(text)
        if shown.count > 60 { shown = Array(shown.prefix(59)) + ["…"] }
        let rules = decision.hits.map(\.rule) + decision.errors.map { _ in "error" }
        let verdict = decision.verdict.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)
        return "\(decision.id)\t\(style.paint(verdict))\t\(rules.isEmpty ? "-" : rules.joined(separator: ","))\t\(String(String.UnicodeScalarView(shown)))\n"
    }
}

/// `--format sarif`: a SARIF 2.1.0 log of every hit and decision error, written at the end.
public struct SARIFSink: DecisionSink {
    private var writer: SARIFWriter
    private let version: String

    public init(rules: [Rule], version: String) {
        writer = SARIFWriter(rules: rules)
        self.version = version
    }

    public func collects(_ decision: Decision) -> Bool { !decision.hits.isEmpty || !decision.errors.isEmpty }

    public mutating func collect(_ decision: Decision, file: String, line: Int, format: InputFormat) {
        writer.add(decision, uri: file, line: line, columnsAreExact: format == .text)
    }

    public func finish(summary: ScanSummary) -> [UInt8] { Array(writer.document(version: version).utf8) }
}
