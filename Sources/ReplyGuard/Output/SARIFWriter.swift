import Foundation

/// Builds a SARIF 2.1.0 log: one run, the rules in `tool.driver.rules`, one result per hit (and one per
/// decision error). Results are added as they come; the document is written once at the end.
public struct SARIFWriter: Sendable {
    private let ruleIndex: [String: Int]
    private let rulesJSON: String
    private var results: [String] = []

    /// The synthetic rule that decision errors (regex limit, invalid UTF-8, unreadable line) report under.
    public static let errorRuleID = "replyguard.error"

    /// - Parameter extraRules: rules that are not in a pack (`check`'s load errors, floors), as id, short
    ///   description and default level (`error`, `warning`, `note`).
    public init(rules: [Rule], extraRules: [(id: String, description: String, level: String)] = []) {
        var index: [String: Int] = [:]
        var items: [String] = []
        for extra in extraRules {
            index[extra.id] = items.count
            items.append("{\"id\":\(JSONWriter.string(extra.id)),\"name\":\(JSONWriter.string(extra.id)),"
                + "\"shortDescription\":{\"text\":\(JSONWriter.string(extra.description))},\"defaultConfiguration\":{\"level\":\(JSONWriter.string(extra.level))}}")
        }
        for rule in rules {
            index[rule.id] = items.count
            items.append("{\"id\":\(JSONWriter.string(rule.id)),\"name\":\(JSONWriter.string(rule.id)),"
                + "\"shortDescription\":{\"text\":\(JSONWriter.string(rule.title))},"
                + "\"fullDescription\":{\"text\":\(JSONWriter.string(rule.description.trimmingCharacters(in: .whitespacesAndNewlines)))},"
                + "\"defaultConfiguration\":{\"level\":\"\(SARIFWriter.level(rule.action))\"},"
                + "\"properties\":{\"pack\":\(JSONWriter.string(rule.packID)),\"category\":\(JSONWriter.string(rule.category))"
                + (rule.score.map { ",\"score\":\($0)" } ?? "") + ",\"references\":[" + rule.references.map(JSONWriter.string).joined(separator: ",") + "]}}")
        }
        index[SARIFWriter.errorRuleID] = items.count
        items.append("{\"id\":\"\(SARIFWriter.errorRuleID)\",\"name\":\"\(SARIFWriter.errorRuleID)\",\"shortDescription\":{\"text\":\"A message could not be decided normally and was escalated\"},\"defaultConfiguration\":{\"level\":\"warning\"}}")
        ruleIndex = index
        rulesJSON = items.joined(separator: ",")
    }

    static func level(_ action: Verdict?) -> String {
        switch action { case .block: return "error"; case .escalate: return "warning"; default: return "note" }
    }

    /// Adds a result for every hit and error of `decision`, located in `uri` at `line`. When
    /// `columnsAreExact` (plain-text input: the message is the whole line) the region has columns in
    /// Unicode code points; otherwise only the line.
    public mutating func add(_ decision: Decision, uri: String, line: Int, columnsAreExact: Bool) {
        let location = "\"artifactLocation\":{\"uri\":\(JSONWriter.string(uri))}"
        for hit in decision.hits {
            var region = "\"startLine\":\(line)"
            if columnsAreExact { region += ",\"startColumn\":\(hit.start + 1),\"endColumn\":\(hit.end + 1)" }
            region += ",\"snippet\":{\"text\":\(JSONWriter.string(hit.match))}"
            let level = hit.reported ? "warning" : SARIFWriter.level(hit.action)
            results.append("{\"ruleId\":\(JSONWriter.string(hit.rule)),\"ruleIndex\":\(ruleIndex[hit.rule] ?? 0),\"level\":\"\(level)\","
                + "\"message\":{\"text\":\(JSONWriter.string("\(hit.rule): “\(hit.match)” (message \(decision.id), verdict \(decision.verdict.rawValue))"))},"
                + "\"locations\":[{\"physicalLocation\":{\(location),\"region\":{\(region)}}}]}")
        }
        for error in decision.errors {
            results.append("{\"ruleId\":\"\(SARIFWriter.errorRuleID)\",\"ruleIndex\":\(ruleIndex[SARIFWriter.errorRuleID]!),\"level\":\"warning\","
                + "\"message\":{\"text\":\(JSONWriter.string((error.rule.map { "\($0): " } ?? "") + error.message))},"
                + "\"locations\":[{\"physicalLocation\":{\(location),\"region\":{\"startLine\":\(line)}}}]}")
        }
    }

    /// Adds one result of rule `ruleID` (a pack's rule or one of the `extraRules`) with `level` (`error`,
    /// `warning`, `note`) at `uri`, at `line` and `column` when known (1-based). `check` reports a failing
    /// example at its line in the pack, a load error at the file's line, a floor at the floors file.
    public mutating func add(ruleID: String, level: String, message: String, uri: String, line: Int?, column: Int?) {
        var region = ""
        if let line {
            region = ",\"region\":{\"startLine\":\(line)" + (column.map { ",\"startColumn\":\($0)" } ?? "") + "}"
        }
        results.append("{\"ruleId\":\(JSONWriter.string(ruleID)),\"ruleIndex\":\(ruleIndex[ruleID] ?? 0),\"level\":\(JSONWriter.string(level)),"
            + "\"message\":{\"text\":\(JSONWriter.string(message))},"
            + "\"locations\":[{\"physicalLocation\":{\"artifactLocation\":{\"uri\":\(JSONWriter.string(uri))}\(region)}}]}")
    }

    /// The whole SARIF document.
    public func document(version: String) -> String {
        "{\"version\":\"2.1.0\",\"$schema\":\"https://json.schemastore.org/sarif-2.1.0.json\",\"runs\":[{"
            + "\"tool\":{\"driver\":{\"name\":\"replyguard\",\"version\":\(JSONWriter.string(version)),\"rules\":[\(rulesJSON)]}},"
            + "\"columnKind\":\"unicodeCodePoints\",\"results\":[" + results.joined(separator: ",") + "]}]}\n"
    }
}
