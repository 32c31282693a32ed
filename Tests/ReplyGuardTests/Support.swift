import Foundation
import ReplyGuard
import Testing

enum Repo {
    /// The repository root (tests run the shipped packs in `rules/`).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let rules = root + "/rules"
    static let shipped: RuleSet = try! RuleLoader.load(rulesDirectory: rules)
}

/// Writes pack files into a fresh temporary rules directory.
func makeRulesDirectory(_ files: [String: String]) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rg-\(UUID().uuidString)").path
    try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    for (name, content) in files { try! content.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8) }
    return dir
}

/// A minimal valid pack around one rule's `match` (YAML, indented for a rule body).
func pack(_ id: String = "t", action: String = "block", match: String, extra: String = "") -> String {
    """
    pack: \(id)
    version: 1.0.0
    category: \(id)
    description: test pack
    rules:
      - id: \(id).rule
        title: test
        description: test
        action: \(action)
    \(extra)    match:
    \(match.split(separator: "\n").map { "      " + $0 }.joined(separator: "\n"))
        examples:
          match: ["⟦x⟧"]
          no_match: ["y"]

    """
}

func loadProblems(_ files: [String: String]) -> [RuleProblem] {
    do {
        _ = try RuleLoader.load(rulesDirectory: makeRulesDirectory(files))
        return []
    } catch {
        return error.problems
    }
}

func engine(_ files: [String: String], options: EngineOptions = EngineOptions()) throws -> Engine {
    try Engine(rulesDirectory: makeRulesDirectory(files), options: options)
}
