import Foundation
import ReplyGuardPCRE2

/// Options that change how an ``Engine`` is built; the defaults are what `scan`/`explain` use.
public struct EngineOptions: Sendable {
    /// Compile every pack in the rule set, not only those the policy enables (`check` tests them all).
    public var includeDisabledPacks = false
    /// Apply the policy's exceptions (off when testing rules' own examples).
    public var applyExceptions = true
    /// Skip work that cannot change a decision: a regex whose required bytes or characters are absent
    /// from the message, and the full normalization of a message the one-pass prescreen settles as a
    /// plain allow. Never changes results; tests compare.
    public var prefilter = true
    /// Today's date (`YYYY-MM-DD`, UTC) for exception expiry.
    public var today: String = EngineOptions.utcToday()

    public init() {}

    public static func utcToday() -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd"
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.locale = Locale(identifier: "en_US_POSIX")
        return formatter.string(from: Date())
    }
}

/// What matching needs of a regex, as plain values: the compiled pattern (owned by ``Engine/regexes``,
/// referenced without retain counting), its view and validator, and its prefilter data: a byte every
/// match contains (PCRE2's), and clauses the folded view must meet.
struct RegexGate: @unchecked Sendable {
    let pattern: Unmanaged<PCRE2Pattern>
    let folded: Bool
    let validator: Validator?
    let requiredByte: UInt8?
    /// Clauses (a range of ``Engine/gateClauses``) the folded view must all satisfy for a match.
    var clauses: Range<Int> = 0..<0
    /// Every match holds this many decimal digits in a row and in all (0: unknown); see ``RegexRequirement``.
    var digitRun: Int32 = 0
    var digitCount: Int32 = 0

    init(_ spec: RegexSpec) {
        pattern = .passUnretained(spec.pattern)
        folded = spec.view == .folded
        validator = spec.validator
        requiredByte = spec.pattern.requiredByte
    }
}

/// One prefilter clause: satisfied when the folded view holds one of these ASCII bytes or one of these
/// Chinese characters (a range of ``Engine/gateClauseHan``).
struct GateClause: Sendable {
    let ascii: (UInt64, UInt64)
    let han: Range<Int>
}

/// Reporting cues normalized like words.
struct CompiledReportedSpeech: Sendable {
    let cues: [[UInt32]]
    let window: Int
}

/// A rule set compiled for matching: one literal automaton for every word of every rule, PCRE2 regexes,
/// and the expression trees. Immutable and shareable between threads; each thread makes its own
/// ``MessageScanner`` with ``makeScanner()``.
public final class Engine: Sendable {
    public let ruleSet: RuleSet
    public let options: EngineOptions
    public let normalizer: Normalizer
    /// The rules compiled, in pack order.
    public let rules: [Rule]
    let exceptions: [PolicyException]
    let nodes: [Node]
    /// Root node per slot: rules first, then exceptions that have a `match`.
    let slotRoots: [Int]
    /// Slots whose expression can match without any literal hit (they contain an ungated regex).
    let alwaysEvaluated: [Int]
    /// For each of those slots, its regex when the whole expression is that one regex (-1 otherwise):
    /// a message whose prefilters rule the regex out need not evaluate the slot at all.
    let alwaysEvaluatedSoleRegex: [Int]
    /// The regexes in those slots (indexes into `regexes`), and those of them that can match a message
    /// whose folded view has no ASCII at all (the others have a clause of ASCII bytes only).
    let alwaysEvaluatedRegexes: [Int]
    let alwaysEvaluatedWithoutASCII: [Int]
    let automaton: LiteralAutomaton
    let plainSymbols: PlainSymbolTable
    /// For each automaton pattern, the literal nodes that contain it (CSR).
    let patternNodeStart: [Int32]
    let patternNodes: [Int32]
    /// Prefilter clauses of folded-view regexes (``RegexGate/clauses`` ranges), the Chinese characters
    /// they name (as ids), how many such characters there are, and each automaton pattern's id (-1: none).
    let gateClauses: [GateClause]
    let gateClauseHan: [Int32]
    let gateHanCount: Int
    let patternGateHan: [Int32]
    /// Per automaton pattern: some rule can match because of it (a word of a rule, not under `not`).
    /// A message where no such pattern ends, and no always-evaluated regex can match, matches no rule.
    let patternCanMatchRule: [Bool]
    let patternLeftBoundary: [Bool]
    let patternRightBoundary: [Bool]
    /// Patterns with a Latin letter or digit: they never match inside a web address, e-mail address,
    /// @handle or hash (see ``LinkToken``).
    let patternHasASCIIAlphanumeric: [Bool]
    let reportedSpeech: CompiledReportedSpeech?

    /// The compiled regexes, indexed by `Node.regex`.
    let regexes: [RegexSpec]
    /// Each regex as the hot path uses it (same indexes as `regexes`, which keeps the patterns alive).
    let regexGates: [RegexGate]
    /// Child node ids of `any` and `all` nodes, indexed by their ranges (positive children of `all`
    /// ordered literal-only first, so a regex gated by a word runs only when the word is present).
    let children: [Int]

    /// An expression node. Payloads are plain values, so evaluating a node retains nothing.
    enum Node: Sendable {
        case literal(slot: Int)
        case regex(Int)
        case any(Range<Int>)
        case all(positive: Range<Int>, negative: Range<Int>, within: Int32?)
    }

    public init(ruleSet: RuleSet, options: EngineOptions = EngineOptions()) {
        self.ruleSet = ruleSet
        self.options = options
        normalizer = Normalizer(maxFiller: ruleSet.policy.maxFiller)
        rules = (options.includeDisabledPacks ? ruleSet.packs : ruleSet.enabledPacks).flatMap(\.rules)
        exceptions = options.applyExceptions
            ? ruleSet.policy.exceptions.filter { $0.expires.map { $0 >= options.today } ?? true } : []

        var nodes: [Node] = []
        var regexes: [RegexSpec] = []
        var children: [Int] = []
        func isCheap(_ id: Int) -> Bool {
            switch nodes[id] {
            case .literal: return true
            case .regex: return false
            case .any(let range): return children[range].allSatisfy(isCheap)
            case .all(let positive, let negative, _): return children[positive].allSatisfy(isCheap) && children[negative].allSatisfy(isCheap)
            }
        }
        func append(_ ids: [Int]) -> Range<Int> {
            children += ids
            return children.count - ids.count..<children.count
        }
        var patternIndex: [[UInt32]: Int] = [:]
        var patterns: [[UInt32]] = []
        var patternNodeLists: [[Int32]] = []
        var canMatchRule: [Bool] = [] // per pattern: one of its words stands where it can make a rule match
        let ruleCount = rules.count
        /// `positive`: not under a `not` (a word there can only stop a match).
        func compile(_ expression: MatchExpression, slot: Int, positive: Bool = true) -> Int {
            switch expression {
            case .words(let words):
                let node = nodes.count
                nodes.append(.literal(slot: slot))
                for word in words {
                    let id = patternIndex[word.normalized] ?? {
                        patterns.append(word.normalized)
                        patternNodeLists.append([])
                        canMatchRule.append(false)
                        patternIndex[word.normalized] = patterns.count - 1
                        return patterns.count - 1
                    }()
                    if patternNodeLists[id].last != Int32(node) { patternNodeLists[id].append(Int32(node)) }
                    if positive && slot < ruleCount { canMatchRule[id] = true }
                }
                return node
            case .regex(let spec):
                regexes.append(spec)
                nodes.append(.regex(regexes.count - 1))
                return nodes.count - 1
            case .any(let expressions):
                let ids = expressions.map { compile($0, slot: slot, positive: positive) }
                nodes.append(.any(append(ids)))
                return nodes.count - 1
            case .all(let expressions, let within):
                let isPositive = positive
                var positive: [Int] = [], negative: [Int] = []
                for child in expressions {
                    if case .not(let inner) = child {
                        negative.append(compile(inner, slot: slot, positive: false))
                    } else {
                        positive.append(compile(child, slot: slot, positive: isPositive))
                    }
                }
                let cheapFirst = positive.filter(isCheap) + positive.filter { !isCheap($0) }
                nodes.append(.all(positive: append(cheapFirst), negative: append(negative), within: within.map(Int32.init)))
                return nodes.count - 1
            case .not(let inner): // the loader only allows `not` inside `all`
                return compile(inner, slot: slot, positive: false)
            }
        }
        var roots = rules.enumerated().map { compile($1.match, slot: $0) }
        for exception in exceptions {
            roots.append(exception.match.map { compile($0, slot: roots.count) } ?? -1)
        }
        func ungated(_ id: Int) -> Bool {
            switch nodes[id] {
            case .literal: return false
            case .regex: return true
            case .any(let range): return children[range].contains(where: ungated)
            case .all(let positive, _, _): return children[positive].allSatisfy(ungated)
            }
        }
        self.nodes = nodes
        self.regexes = regexes
        self.children = children
        slotRoots = roots
        alwaysEvaluated = roots.indices.filter { roots[$0] >= 0 && ungated(roots[$0]) }
        alwaysEvaluatedSoleRegex = alwaysEvaluated.map { slot in
            if case .regex(let index) = nodes[roots[slot]] { return index }
            return -1
        }
        func regexesIn(_ id: Int) -> [Int] {
            switch nodes[id] {
            case .literal: return []
            case .regex(let index): return [index]
            case .any(let range): return children[range].flatMap(regexesIn)
            case .all(let positive, let negative, _): return children[positive].flatMap(regexesIn) + children[negative].flatMap(regexesIn)
            }
        }
        alwaysEvaluatedRegexes = Array(Set(alwaysEvaluated.flatMap { regexesIn(roots[$0]) })).sorted()
        // Prefilter clauses for folded-view regexes (see ``RegexRequirement``). Each Chinese character in
        // a clause becomes a one-character automaton pattern that marks it seen in the message.
        var gates = regexes.map(RegexGate.init)
        var clauses: [GateClause] = []
        var clauseHan: [Int32] = []
        var hanIDs: [UInt32: Int32] = [:]
        var patternHan = [Int32](repeating: -1, count: patterns.count)
        let tables = normalizer.tables
        for (index, spec) in regexes.enumerated() where options.prefilter {
            let requirement = RegexRequirement.of(spec.pattern.pattern)
            // Digits are counted so that the counts hold for either view (see ``NormalizationTables/digits``).
            gates[index].digitRun = Int32(requirement?.digitRun ?? 0)
            gates[index].digitCount = Int32(requirement?.digitCount ?? 0)
            guard spec.view == .folded else { continue }
            // PCRE2's own facts become ASCII-only clauses too: a required ASCII byte, the ASCII bytes every
            // match starts with.
            var pcre2Clauses: [RegexRequirement.Clause] = []
            if let required = spec.pattern.requiredByte, required < 0x80 {
                var clause = RegexRequirement.Clause()
                clause.insert(ascii: UInt32(required))
                pcre2Clauses.append(clause)
            }
            if let first = spec.pattern.asciiFirstBytes { pcre2Clauses.append(RegexRequirement.Clause(ascii: first)) }
            let clauseRequirement = requirement?.clauses ?? []
            let start = clauses.count
            // ASCII-only clauses cost a bit test; each clause naming Chinese characters adds automaton
            // patterns that report wherever they occur, so one of those is kept (the first).
            let asciiOnly = pcre2Clauses + clauseRequirement.filter { $0.han.isEmpty }.prefix(4)
            // A character that folding changes never stands in the folded view: such clauses are unusable.
            let withHan = clauseRequirement.first { !$0.han.isEmpty && $0.han.count <= 16 && $0.han.allSatisfy { tables.entry($0) == $0 } }
            for clause in asciiOnly + (withHan.map { [$0] } ?? []) {
                let hanStart = clauseHan.count
                for c in clause.han {
                    let id = hanIDs[c] ?? {
                        let id = Int32(hanIDs.count)
                        hanIDs[c] = id
                        let pattern = patternIndex[[c]] ?? {
                            patterns.append([c])
                            patternNodeLists.append([])
                            canMatchRule.append(false)
                            patternHan.append(-1)
                            patternIndex[[c]] = patterns.count - 1
                            return patterns.count - 1
                        }()
                        patternHan[pattern] = id
                        return id
                    }()
                    clauseHan.append(id)
                }
                clauses.append(GateClause(ascii: clause.ascii, han: hanStart..<clauseHan.count))
            }
            gates[index].clauses = start..<clauses.count
        }
        regexGates = gates
        alwaysEvaluatedWithoutASCII = alwaysEvaluatedRegexes.filter { index in
            !clauses[gates[index].clauses].contains { $0.han.isEmpty && ($0.ascii.0 | $0.ascii.1) != 0 }
        }
        gateClauses = clauses
        gateClauseHan = clauseHan
        gateHanCount = hanIDs.count
        patternGateHan = patternHan
        automaton = LiteralAutomaton(patterns: patterns)
        plainSymbols = PlainSymbolTable(automaton: automaton, tables: normalizer.tables)
        var start: [Int32] = [0], flat: [Int32] = []
        for list in patternNodeLists { flat += list; start.append(Int32(flat.count)) }
        patternNodeStart = start
        patternNodes = flat
        let cueNormalizer = Normalizer(maxFiller: ruleSet.policy.maxFiller)
        reportedSpeech = ruleSet.policy.reportedSpeech.map { speech in
            CompiledReportedSpeech(cues: speech.cues.map { cueNormalizer.normalize($0).kept }.filter { !$0.isEmpty }, window: speech.window)
        }
        patternCanMatchRule = canMatchRule
        patternLeftBoundary = patterns.map { Engine.isASCIIAlphanumeric($0.first!) }
        patternRightBoundary = patterns.map { Engine.isASCIIAlphanumeric($0.last!) }
        patternHasASCIIAlphanumeric = patterns.map { $0.contains(where: Engine.isASCIIAlphanumeric) }
    }

    /// Convenience: load a rules directory and policy and compile them.
    public convenience init(rulesDirectory: String, policyFile: String? = nil,
                            options: EngineOptions = EngineOptions()) throws(RuleLoadFailure) {
        self.init(ruleSet: try RuleLoader.load(rulesDirectory: rulesDirectory, policyFile: policyFile), options: options)
    }

    @inline(__always)
    static func isASCIIAlphanumeric(_ v: UInt32) -> Bool {
        (v >= 0x30 && v <= 0x39) || (v >= 0x61 && v <= 0x7A) || (v >= 0x41 && v <= 0x5A)
    }

    /// Matching state for one thread. Cheap to make; reuse it for many messages.
    public func makeScanner() -> MessageScanner { MessageScanner(engine: self) }

    /// Decides one message with a throwaway scanner (tests and one-off calls).
    public func decide(_ text: String, id: MessageID = .string("-")) -> Decision {
        makeScanner().decide(text, id: id)
    }
}
