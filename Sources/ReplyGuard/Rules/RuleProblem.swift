/// One problem found while loading rule packs or a policy, with where it is and how to fix it.
public struct RuleProblem: Error, Sendable, CustomStringConvertible {
    public let file: String
    /// 1-based line and column, when the problem has a position.
    public let line: Int?
    public let column: Int?
    public let message: String
    /// Extra lines shown under the message (e.g. a pattern with a caret under the error offset).
    public let detail: [String]

    public init(file: String, line: Int? = nil, column: Int? = nil, message: String, detail: [String] = []) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
        self.detail = detail
    }

    /// `file:line:column: message`, then the detail lines indented.
    public var description: String {
        var head = file
        if let line { head += ":\(line)" }
        if let column { head += ":\(column)" }
        return ([head + ": " + message] + detail.map { "    " + $0 }).joined(separator: "\n")
    }
}

/// Loading failed: every problem found, in file order. Nothing from a failed load is ever used.
public struct RuleLoadFailure: Error, Sendable, CustomStringConvertible {
    public let problems: [RuleProblem]
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}
