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
    for (name, content) in files {
        let path = dir + "/" + name
        try! FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try! content.write(toFile: path, atomically: true, encoding: .utf8)
    }
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

/// A pack `p` with one blocking rule `p.r<i>` per (pattern, view) pair.
func regexPack(_ patterns: [(pattern: String, view: String)]) -> String {
    var yaml = "pack: p\nversion: 1.0.0\ncategory: p\ndescription: regex test\nrules:\n"
    for (i, (pattern, view)) in patterns.enumerated() {
        yaml += "  - id: p.r\(i)\n    title: t\n    description: d\n    action: block\n"
        yaml += "    match: {regex: '\(pattern.replacingOccurrences(of: "'", with: "''"))', on: \(view)}\n"
        yaml += "    examples: {match: [\"⟦x⟧\"], no_match: [\"y\"]}\n"
    }
    return yaml
}

/// A small deterministic generator (64-bit LCG) for generated test messages.
struct SeededRandom {
    private var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next(_ n: Int) -> Int {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Int(state >> 33) % n
    }
}

/// Decides `count` generated messages — noise from `palette`, a fragment with one character replaced (or,
/// with `insert`, inserted) one time in three, noise — with the prefilters on and off, expects the same
/// hits and verdicts, and returns the decisions made with them on.
func decideWithAndWithoutPrefilters(_ files: [String: String], fragments: [String], palette: [Character], maxNoise: Int,
                                    seed: UInt64, insert: Bool = false, count: Int = 6000) throws -> [Decision] {
    var off = EngineOptions()
    off.prefilter = false
    let with = try engine(files), without = try engine(files, options: off)
    var random = SeededRandom(seed)
    var decisions: [Decision] = []
    for _ in 0..<count {
        func noise() -> String { String((0..<random.next(maxNoise)).map { _ in palette[random.next(palette.count)] }) }
        var fragment = Array(fragments[random.next(fragments.count)])
        if random.next(3) == 0 {
            if insert {
                fragment.insert(palette[random.next(palette.count)], at: random.next(fragment.count + 1))
            } else if !fragment.isEmpty {
                fragment[random.next(fragment.count)] = palette[random.next(palette.count)]
            }
        }
        let text = noise() + String(fragment) + noise()
        let a = with.decide(text), b = without.decide(text)
        #expect(a.hits == b.hits && a.verdict == b.verdict, "\(text)")
        decisions.append(a)
    }
    return decisions
}
