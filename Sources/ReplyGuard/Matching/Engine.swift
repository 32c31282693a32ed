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
    /// plain allow. Never changes results; tests compare. `REPLYGUARD_PREFILTER=off` in the environment
    /// turns it off, to check that on real data (`scan` output must be byte-identical, only slower).
    public var prefilter = ProcessInfo.processInfo.environment["REPLYGUARD_PREFILTER"] != "off"
    /// Score the enabled model packs (off when testing rules' own examples).
    public var includeModels = true
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
///
/// `@unchecked Sendable`: holds an unmanaged reference to a ``PCRE2Pattern`` (itself Sendable and
/// immutable), kept alive by the engine that owns both.
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

/// One prefilter clause: satisfied when the regex's view holds one of these ASCII bytes, one of these
/// Chinese characters or runs of them (`han`: their prefilter ids, while the engine is built; a message
/// marks the clause when one occurs, see ``Engine/gateHanClauses``), or one of the clause's other
/// characters — `other`, bits of ``OtherCharacterMarks`` for original scalars: the characters themselves
/// for an original-view regex, everything that folds into them for a folded-view one.
struct GateClause: Sendable {
    let ascii: (UInt64, UInt64)
    let han: Range<Int>
    var other: UInt64 = 0
}

/// Up to 64 scalars below U+20000 that no fast path keeps as itself (punctuation such as 【, symbols,
/// emoji), each with a bit: normalization and the prescreen mark the ones a message holds, so a regex
/// clause naming them costs one AND.
/// `@unchecked Sendable`: immutable after `init` (a raw bitmap the compiler cannot see is read-only).
final class OtherCharacterMarks: @unchecked Sendable {
    static let limit: UInt32 = 0x20000
    private let bitmap: [UInt64]
    private let index: [UInt32: UInt64]
    /// The scalars, in bit order (what the compiled-set cache writes).
    let scalars: [UInt32]

    init(_ scalars: [UInt32]) {
        self.scalars = scalars
        var bitmap = [UInt64](repeating: 0, count: Int(OtherCharacterMarks.limit) / 64)
        var index: [UInt32: UInt64] = [:]
        for (i, v) in scalars.enumerated() {
            bitmap[Int(v >> 6)] |= 1 << UInt64(v & 63)
            index[v] = 1 << UInt64(i)
        }
        self.bitmap = bitmap
        self.index = index
    }

    /// The bit of `value`, or 0.
    @inline(__always)
    func bit(_ value: UInt32) -> UInt64 {
        guard value < OtherCharacterMarks.limit, bitmap[Int(value >> 6)] >> UInt64(value & 63) & 1 != 0 else { return 0 }
        return index[value]!
    }
}

/// A model pack as the engine scores it: probability ≥ `escalate` escalates, ≥ `block` (only when the
/// policy sets it) blocks.
public struct CompiledModel: Sendable {
    public let packID: String
    public let ruleID: String
    public let category: String
    public let model: NGramModel
    public let escalate: Double
    public let block: Double?
}

/// Reporting cues normalized like words.
struct CompiledReportedSpeech: Sendable {
    let cues: [[UInt32]]
    let window: Int
    /// Third persons whose words a colon introduces (该工作人员回复：…), normalized like words.
    let speakers: [[UInt32]]

    /// Who, named before a cue and a colon, makes the words after it reported speech: a third person
    /// (an official, an account, 他), never 我 or 你.
    static let speakerWords = [
        "那名", "这名", "那位", "这位", "一名", "一位", "工作人员", "客服", "民警", "警察", "官方", "账号", "官微", "小编",
        "接线员", "机器人", "负责人", "局长", "书记", "主任", "村干部", "干部", "官员", "领导", "他", "她", "对方", "记者",
    ]
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
    /// The enabled model packs with the thresholds the policy gives them.
    public let models: [CompiledModel]
    let exceptions: [PolicyException]
    let nodes: [Node]
    /// Root node per slot: rules first, then exceptions that have a `match`.
    let slotRoots: [Int]
    /// Slots whose expression can match without any literal hit (they contain an ungated regex).
    let alwaysEvaluated: [Int]
    /// For each of those slots, the regexes through which it can match without a literal hit: a message
    /// with no literal hit in the slot whose prefilters rule them all out need not evaluate it at all.
    let alwaysEvaluatedUngatedRegexes: [[Int]]
    /// Of all those regexes, for the prescreen: the ones without a clause of Chinese characters alone
    /// (and those of them that can match a message with no ASCII at all: the others have a clause of
    /// ASCII bytes only), and per clause the regexes whose first clause of Chinese characters alone it is.
    let prescreenUnanchored: [Int]
    let prescreenUnanchoredWithoutASCII: [Int]
    let prescreenAnchored: [[Int32]]
    let automaton: LiteralAutomaton
    let plainSymbols: PlainSymbolTable
    /// For each automaton pattern, the literal nodes that contain it (CSR).
    let patternNodeStart: [Int32]
    let patternNodes: [Int32]
    /// Prefilter clauses of folded-view regexes (``RegexGate/clauses`` ranges), the Chinese characters
    /// they name (as ids), how many such characters there are, and each automaton pattern's id (-1: none).
    let gateClauses: [GateClause]
    /// The other characters regex clauses name (nil: none).
    let otherMarks: OtherCharacterMarks?
    /// For each prefilter item (Chinese character or run), the clauses naming it: `gateHanClauses`
    /// from `gateHanClauseStart[h]` to `gateHanClauseStart[h + 1]`.
    let gateHanClauses: [Int32]
    let gateHanClauseStart: [Int32]
    let patternGateHan: [Int32]
    /// Per automaton pattern: some rule can match because of it (a word of a rule, not under `not`).
    /// A message where no such pattern ends, and no always-evaluated regex can match, matches no rule.
    let patternCanMatchRule: [Bool]
    /// Per automaton pattern, what the prescreen does when it ends in a message (``PrescreenRole``):
    /// derived from the tables above, never written to the cache.
    let patternPrescreenRole: [UInt8]
    /// Per node: for a literal, whether its hit can lead to a match of its slot. A positive child of
    /// `all` other than the one ``triggerChild(_:)`` picks cannot: the trigger is needed too, and its
    /// hit touches the slot. With prefilters off, every positive literal triggers.
    let literalTriggers: [Bool]
    /// Per node: the slot of a literal node (-1 for other nodes).
    let literalSlot: [Int32]
    /// Per slot: whether it is in ``alwaysEvaluated``.
    let slotAlwaysEvaluated: [Bool]
    /// Per pattern: for a word of the `stretched-letters` evasion, the minimum run length of each of its
    /// collapsed scalars (see ``Word/stretchRuns``); such patterns only match the collapsed view.
    let patternStretchRuns: [[UInt8]?]
    let hasStretchedWords: Bool
    /// Per pattern (CSR): the `homophones` words (their shadowed pattern ids) of which it is a half, and
    /// where in the word the half starts (see ``Word/homophone``).
    let patternPieceStart: [Int32]
    let patternPieces: [(word: Int32, offset: Int32)]
    let hasHomophoneWords: Bool
    /// Per pattern: for a `homophones` word, its scalars without the shadow offset (else empty).
    let homophoneWordScalars: [[UInt32]]
    /// Per pattern: a word of the `emoji` evasion (it holds emoji stand-ins; see ``Word/emoji``).
    let patternIsEmoji: [Bool]
    let hasEmojiWords: Bool
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
        /// A positive child of `all` asked for `count` different hits (``MatchExpression/distinct(_:count:)``).
        case distinct(child: Int, count: Int32)
    }

    public init(ruleSet: RuleSet, options: EngineOptions = EngineOptions()) {
        self.ruleSet = ruleSet
        self.options = options
        normalizer = Normalizer(maxFiller: ruleSet.policy.maxFiller)
        rules = (options.includeDisabledPacks ? ruleSet.packs : ruleSet.enabledPacks).flatMap { $0.rules }
        models = Engine.compiledModels(ruleSet, options: options)
        exceptions = Engine.activeExceptions(ruleSet, options: options)

        var build = EngineBuilder(prefilter: options.prefilter, ruleCount: rules.count, tables: normalizer.tables)
        let roots = build.compileSlots(rules: rules, exceptions: exceptions)
        nodes = build.nodes
        regexes = build.regexes
        children = build.children
        slotRoots = roots
        let reach = build.alwaysEvaluated(roots: roots)
        alwaysEvaluated = reach.slots
        alwaysEvaluatedUngatedRegexes = reach.ungatedRegexes
        let gates = build.compileRegexGates()
        regexGates = gates
        let alwaysEvaluatedRegexes = Array(Set(reach.ungatedRegexes.joined())).sorted()
        (prescreenUnanchored, prescreenUnanchoredWithoutASCII, prescreenAnchored) =
            EngineBuilder.prescreenLists(alwaysEvaluatedRegexes, gates: gates, clauses: build.clauses)
        gateClauses = build.clauses
        otherMarks = build.others.scalars.isEmpty ? nil : OtherCharacterMarks(build.others.scalars)
        (gateHanClauseStart, gateHanClauses) = build.clausesOfHan()
        (patternPieceStart, patternPieces) = build.addHomophonePieces()
        homophoneWordScalars = build.homophoneWordScalars()
        hasHomophoneWords = !build.homophonePatterns.isEmpty
        patternGateHan = build.patternHan
        let patterns = build.patterns
        automaton = LiteralAutomaton(patterns: patterns)
        plainSymbols = PlainSymbolTable(automaton: automaton, tables: normalizer.tables)
        (patternNodeStart, patternNodes) = EngineBuilder.flatten(build.patternNodeLists)
        reportedSpeech = Engine.compiledReportedSpeech(ruleSet.policy)
        patternCanMatchRule = build.canMatchRule
        literalTriggers = build.triggers
        literalSlot = build.nodes.map { if case .literal(let slot) = $0 { return Int32(slot) } else { return -1 } }
        var always = [Bool](repeating: false, count: roots.count)
        for slot in reach.slots { always[slot] = true }
        slotAlwaysEvaluated = always
        patternLeftBoundary = patterns.map { Engine.isASCIIAlphanumeric(Engine.unshadow($0.first!)) }
        patternRightBoundary = patterns.map { Engine.isASCIIAlphanumeric(Engine.unshadow($0.last!)) }
        patternHasASCIIAlphanumeric = patterns.map { $0.contains { Engine.isASCIIAlphanumeric(Engine.unshadow($0)) } }
        patternStretchRuns = patterns.indices.map { build.stretchRuns[$0] }
        hasStretchedWords = !build.stretchRuns.isEmpty
        patternIsEmoji = patterns.indices.map { build.emojiPatterns.contains($0) }
        hasEmojiWords = !build.emojiPatterns.isEmpty
        patternPrescreenRole = Engine.prescreenRoles(
            nodes: nodes, children: children, slotRoots: slotRoots, ruleCount: rules.count, patternNodeStart: patternNodeStart,
            patternNodes: patternNodes, literalTriggers: literalTriggers, canMatchRule: patternCanMatchRule,
            patternPieceStart: patternPieceStart)
    }

    /// An engine the compiled-set cache wrote (``write(to:patterns:)``) for this `ruleSet` and these
    /// `options`, read back; `patterns` are the set's regexes by ``PatternTable`` index. What depends only
    /// on the rule set and options (rules, models, reporting cues, the plain-symbol table) is derived as
    /// `init(ruleSet:options:)` derives it; the rest is read. Throws when the bytes do not fit (a damaged
    /// file) or an exception expired since the engine was written.
    init(ruleSet: RuleSet, options: EngineOptions, reading reader: inout CacheReader, patterns: [PCRE2Pattern]) throws(CacheFormatError) {
        self.ruleSet = ruleSet
        self.options = options
        normalizer = Normalizer(maxFiller: ruleSet.policy.maxFiller)
        rules = (options.includeDisabledPacks ? ruleSet.packs : ruleSet.enabledPacks).flatMap { $0.rules }
        models = Engine.compiledModels(ruleSet, options: options)
        exceptions = Engine.activeExceptions(ruleSet, options: options)
        let written: [Int] = try reader.raw()
        guard written == Engine.activeExceptionIndexes(ruleSet, options: options) else { throw CacheFormatError("exceptions expired since") }
        var nodes: [Node] = []
        for _ in 0..<(try reader.count(minimumBytesEach: 9)) {
            switch try reader.byte() {
            case 0: nodes.append(.literal(slot: try reader.int()))
            case 1: nodes.append(.regex(try reader.int()))
            case 2: nodes.append(.any(try reader.range()))
            case 3: nodes.append(.all(positive: try reader.range(), negative: try reader.range(),
                                      within: try reader.optional { r throws(CacheFormatError) in try r.int32() }))
            case 4: nodes.append(.distinct(child: try reader.int(), count: try reader.int32()))
            default: throw CacheFormatError("bad node")
            }
        }
        self.nodes = nodes
        slotRoots = try reader.raw()
        alwaysEvaluated = try reader.raw()
        alwaysEvaluatedUngatedRegexes = try reader.list { r throws(CacheFormatError) in try r.raw(Int.self) }
        prescreenUnanchored = try reader.raw()
        prescreenUnanchoredWithoutASCII = try reader.raw()
        prescreenAnchored = try reader.list { r throws(CacheFormatError) in try r.raw(Int32.self) }
        automaton = try LiteralAutomaton(reading: &reader)
        plainSymbols = PlainSymbolTable(automaton: automaton, tables: normalizer.tables)
        patternNodeStart = try reader.raw()
        patternNodes = try reader.raw()
        gateClauses = try reader.list { r throws(CacheFormatError) in
            GateClause(ascii: (try r.uint64(), try r.uint64()), han: try r.range(), other: try r.uint64())
        }
        let others: [UInt32] = try reader.raw()
        guard others.count <= 64, others.allSatisfy({ $0 < OtherCharacterMarks.limit }) else { throw CacheFormatError("bad character marks") }
        otherMarks = others.isEmpty ? nil : OtherCharacterMarks(others)
        gateHanClauses = try reader.raw()
        gateHanClauseStart = try reader.raw()
        patternGateHan = try reader.raw()
        patternCanMatchRule = try reader.bools()
        literalTriggers = try reader.bools()
        literalSlot = nodes.map { if case .literal(let slot) = $0 { return Int32(truncatingIfNeeded: slot) } else { return -1 } }
        slotAlwaysEvaluated = try reader.bools()
        patternStretchRuns = try reader.list { r throws(CacheFormatError) in try r.optional { r2 throws(CacheFormatError) in try r2.raw(UInt8.self) } }
        hasStretchedWords = try reader.bool()
        patternPieceStart = try reader.raw()
        let pieces: [Int32] = try reader.raw()
        guard pieces.count % 2 == 0 else { throw CacheFormatError("bad pieces") }
        patternPieces = stride(from: 0, to: pieces.count, by: 2).map { (word: pieces[$0], offset: pieces[$0 + 1]) }
        hasHomophoneWords = try reader.bool()
        homophoneWordScalars = try reader.list { r throws(CacheFormatError) in try r.raw(UInt32.self) }
        patternIsEmoji = try reader.bools()
        hasEmojiWords = try reader.bool()
        patternLeftBoundary = try reader.bools()
        patternRightBoundary = try reader.bools()
        patternHasASCIIAlphanumeric = try reader.bools()
        reportedSpeech = Engine.compiledReportedSpeech(ruleSet.policy)
        let regexes = try reader.list { r throws(CacheFormatError) in try r.regex(patterns) }
        self.regexes = regexes
        var gates: [RegexGate] = []
        gates.reserveCapacity(regexes.count)
        for spec in regexes {
            var gate = RegexGate(spec)
            gate.clauses = try reader.range()
            gate.digitRun = try reader.int32()
            gate.digitCount = try reader.int32()
            gates.append(gate)
        }
        regexGates = gates
        children = try reader.raw()
        // Every per-pattern and per-node table has one entry per pattern or node: a file whose tables
        // disagree is damaged.
        let patternCount = automaton.patternCount
        guard [patternCanMatchRule.count, patternStretchRuns.count, homophoneWordScalars.count, patternIsEmoji.count,
               patternLeftBoundary.count, patternRightBoundary.count, patternHasASCIIAlphanumeric.count,
               patternGateHan.count].allSatisfy({ $0 == patternCount }),
              patternNodeStart.count == patternCount + 1, patternPieceStart.count == patternCount + 1,
              literalTriggers.count == nodes.count, slotAlwaysEvaluated.count == slotRoots.count,
              alwaysEvaluatedUngatedRegexes.count == alwaysEvaluated.count
        else { throw CacheFormatError("tables of different lengths") }
        patternPrescreenRole = Engine.prescreenRoles(
            nodes: nodes, children: children, slotRoots: slotRoots, ruleCount: rules.count, patternNodeStart: patternNodeStart,
            patternNodes: patternNodes, literalTriggers: literalTriggers, canMatchRule: patternCanMatchRule,
            patternPieceStart: patternPieceStart)
    }

    /// Writes what ``init(ruleSet:options:reading:patterns:)`` reads.
    func write(to writer: inout CacheWriter, patterns: inout PatternTable) {
        writer.raw(Engine.activeExceptionIndexes(ruleSet, options: options))
        writer.int(nodes.count)
        for node in nodes {
            switch node {
            case .literal(let slot): writer.byte(0); writer.int(slot)
            case .regex(let index): writer.byte(1); writer.int(index)
            case .any(let range): writer.byte(2); writer.range(range)
            case .all(let positive, let negative, let within):
                writer.byte(3)
                writer.range(positive)
                writer.range(negative)
                writer.optional(within) { $0.int32($1) }
            case .distinct(let child, let count): writer.byte(4); writer.int(child); writer.int32(count)
            }
        }
        writer.raw(slotRoots)
        writer.raw(alwaysEvaluated)
        writer.list(alwaysEvaluatedUngatedRegexes) { $0.raw($1) }
        writer.raw(prescreenUnanchored)
        writer.raw(prescreenUnanchoredWithoutASCII)
        writer.list(prescreenAnchored) { $0.raw($1) }
        automaton.write(to: &writer)
        writer.raw(patternNodeStart)
        writer.raw(patternNodes)
        writer.list(gateClauses) { w, clause in
            w.uint64(clause.ascii.0)
            w.uint64(clause.ascii.1)
            w.range(clause.han)
            w.uint64(clause.other)
        }
        writer.raw(otherMarks?.scalars ?? [])
        writer.raw(gateHanClauses)
        writer.raw(gateHanClauseStart)
        writer.raw(patternGateHan)
        writer.bools(patternCanMatchRule)
        writer.bools(literalTriggers)
        writer.bools(slotAlwaysEvaluated)
        writer.list(patternStretchRuns) { w, runs in w.optional(runs) { $0.raw($1) } }
        writer.bool(hasStretchedWords)
        writer.raw(patternPieceStart)
        writer.raw(patternPieces.flatMap { [$0.word, $0.offset] })
        writer.bool(hasHomophoneWords)
        writer.list(homophoneWordScalars) { $0.raw($1) }
        writer.bools(patternIsEmoji)
        writer.bool(hasEmojiWords)
        writer.bools(patternLeftBoundary)
        writer.bools(patternRightBoundary)
        writer.bools(patternHasASCIIAlphanumeric)
        writer.list(regexes) { $0.regex($1, &patterns) }
        for gate in regexGates {
            writer.range(gate.clauses)
            writer.int32(gate.digitRun)
            writer.int32(gate.digitCount)
        }
        writer.raw(children)
    }

    /// What the prescreen does when an automaton pattern ends in a message (bits of ``patternPrescreenRole``).
    enum PrescreenRole {
        /// A word of a rule that matches whenever the word does (its root reaches it through `any`, or an
        /// `all` of it alone): the message needs the full path at once.
        static let decisive: UInt8 = 1
        /// Any other word that can make a rule match (``patternCanMatchRule``): the prescreen reads on and,
        /// at the end, checks each rule it triggers against what it has seen.
        static let deferred: UInt8 = 2
        /// A word of a rule (its own or, for a half of a `homophones` word, the word's): the prescreen keeps
        /// the pattern for that check.
        static let noted: UInt8 = 4
    }

    /// Each pattern's ``PrescreenRole`` bits, from the expression trees and the pattern tables.
    static func prescreenRoles(nodes: [Node], children: [Int], slotRoots: [Int], ruleCount: Int, patternNodeStart: [Int32],
                               patternNodes: [Int32], literalTriggers: [Bool], canMatchRule: [Bool],
                               patternPieceStart: [Int32]) -> [UInt8] {
        // Literal nodes a rule's root reaches through `any` (or `all` of one child, without `not`) alone: a
        // hit there is a hit of the rule (`within` may still rule it out; reading on would not pay).
        var certain = [Bool](repeating: false, count: nodes.count)
        func mark(_ node: Int) {
            switch nodes[node] {
            case .literal: certain[node] = true
            case .any(let range): for child in range { mark(children[child]) }
            case .all(let positive, let negative, _) where positive.count == 1 && negative.isEmpty: mark(children[positive.lowerBound])
            default: break
            }
        }
        for slot in 0..<min(ruleCount, slotRoots.count) where slotRoots[slot] >= 0 { mark(slotRoots[slot]) }
        var inRule = [Bool](repeating: false, count: nodes.count)
        for (node, n) in nodes.enumerated() { if case .literal(let slot) = n, slot < ruleCount { inRule[node] = true } }
        var roles = [UInt8](repeating: 0, count: canMatchRule.count)
        for pattern in roles.indices {
            let own = Int(patternNodeStart[pattern])..<Int(patternNodeStart[pattern + 1])
            var role: UInt8 = 0
            if own.contains(where: { inRule[Int(patternNodes[$0])] }) || patternPieceStart[pattern] != patternPieceStart[pattern + 1] {
                role |= PrescreenRole.noted
            }
            if canMatchRule[pattern] {
                let node = own.lazy.map { Int(patternNodes[$0]) }
                role |= node.contains { certain[$0] && literalTriggers[$0] } ? PrescreenRole.decisive : PrescreenRole.deferred
            }
            roles[pattern] = role
        }
        return roles
    }

    /// Indexes (in the policy) of the exceptions ``activeExceptions(_:options:)`` keeps.
    private static func activeExceptionIndexes(_ ruleSet: RuleSet, options: EngineOptions) -> [Int] {
        options.applyExceptions ? ruleSet.policy.exceptions.indices.filter { i in ruleSet.policy.exceptions[i].expires.map { $0 >= options.today } ?? true } : []
    }

    /// The enabled model packs, with the thresholds the policy gives them (none when models are off).
    private static func compiledModels(_ ruleSet: RuleSet, options: EngineOptions) -> [CompiledModel] {
        guard options.includeModels else { return [] }
        return ruleSet.enabledPacks.compactMap { pack in
            pack.model.map { declared in
                let overrides = ruleSet.policy.modelThresholds[pack.id]
                return CompiledModel(packID: pack.id, ruleID: pack.id + ".model", category: pack.category, model: declared.model,
                                     escalate: overrides?.escalate ?? declared.model.escalate, block: overrides?.block)
            }
        }
    }

    /// The policy's exceptions that have not expired by `options.today` (none when exceptions are off).
    private static func activeExceptions(_ ruleSet: RuleSet, options: EngineOptions) -> [PolicyException] {
        options.applyExceptions ? ruleSet.policy.exceptions.filter { $0.expires.map { $0 >= options.today } ?? true } : []
    }

    /// The policy's reporting cues, normalized like words (empty ones dropped).
    private static func compiledReportedSpeech(_ policy: Policy) -> CompiledReportedSpeech? {
        let cueNormalizer = Normalizer(maxFiller: policy.maxFiller)
        return policy.reportedSpeech.map { speech in
            CompiledReportedSpeech(cues: speech.cues.map { cueNormalizer.normalize($0).kept }.filter { !$0.isEmpty }, window: speech.window,
                                   speakers: CompiledReportedSpeech.speakerWords.map { cueNormalizer.normalize($0).kept })
        }
    }

    /// Convenience: load a rules directory and policy and compile them.
    public convenience init(rulesDirectory: String, policyFile: String? = nil,
                            options: EngineOptions = EngineOptions()) throws(RuleLoadFailure) {
        self.init(ruleSet: try RuleLoader.load(rulesDirectory: rulesDirectory, policyFile: policyFile), options: options)
    }

    @inline(__always)
    /// Of an `all`'s children, the one whose hits alone decide whether the `all` is worth evaluating:
    /// every positive child must match, so one suffices. Picked among children that cannot match without
    /// a word — words, folded-view regexes that spell out one of a few runs of two or more Chinese
    /// characters (`姓名\s*[:：]…` needs 姓名; the runs stand in for the regex as `regexWords`), and `any`
    /// of those — the one whose shortest word is longest (single characters such as 你 are in most
    /// messages), then the one with fewer words of that length, then fewer words. Nil when no child
    /// qualifies (every child then triggers).
    static func triggerChild(_ expressions: [MatchExpression], tables: NormalizationTables) -> (child: Int, regexWords: [Word]?)? {
        /// The words whose hits a child cannot match without, and those a regex in it spells out; nil
        /// when some way of matching needs none.
        func literals(_ expression: MatchExpression) -> (words: [Word], regexWords: [Word])? {
            switch expression {
            case .words(let words):
                return (words, [])
            case .regex(let spec) where spec.view == .folded:
                guard let clause = RegexRequirement.of(spec.pattern.pattern)?.clauses.filter({ clause in
                    clause.selectivity >= 4 && clause.han.count <= 64 && clause.han.allSatisfy { $0.allSatisfy { tables.entry($0) == $0 } }
                }).max(by: { $0.selectivity < $1.selectivity }) else { return nil }
                return ([], clause.han.map { run in
                    Word(text: Word.text(of: run), normalized: run, location: spec.location)
                })
            case .distinct(let child, _):
                return literals(child)
            case .any(let children):
                var result: ([Word], [Word]) = ([], [])
                for child in children {
                    guard let found = literals(child) else { return nil }
                    result.0 += found.words
                    result.1 += found.regexWords
                }
                return result
            default:
                return nil
            }
        }
        // Regex strings may stand in only where the slot is gated by words anyway (an `all` of regexes
        // alone is evaluated for every message, its regexes' own prefilters deciding).
        guard expressions.contains(where: { if case .words = $0 { return true } else { return false } }) else { return nil }
        var best: (index: Int, rank: (Int, Int, Int), regexWords: [Word])?
        for (index, expression) in expressions.enumerated() {
            if case .not = expression { continue }
            guard let found = literals(expression) else { continue }
            let lengths = (found.words + found.regexWords).map { $0.normalized.count }
            guard let shortest = lengths.min() else { continue }
            // Longest shortest word, then fewest words of that length, then fewest words.
            let rank = (shortest, -lengths.filter { $0 == shortest }.count, -lengths.count)
            if best == nil || rank > best!.rank { best = (index, rank, found.regexWords) }
        }
        return best.map { ($0.index, $0.regexWords.isEmpty ? nil : $0.regexWords) }
    }

    /// Added to Latin letters in the collapsed view of the `stretched-letters` evasion (beyond any scalar).
    public static let shadow: UInt32 = 0x40_0000

    @inline(__always)
    public static func isLatinLetter(_ v: UInt32) -> Bool { v &- 0x61 < 26 }

    /// Added to every scalar of a word the `homophones` evasion derives (beyond any scalar and ``shadow``).
    public static let homophoneShadow: UInt32 = 0x80_0000

    /// A pattern scalar with the shadow offsets removed.
    @inline(__always)
    static func unshadow(_ v: UInt32) -> UInt32 { v & ~(shadow | homophoneShadow) }

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

/// The steps of compiling a rule set into an ``Engine``: the state they share while the engine is built
/// (expression nodes, automaton patterns and what is known of each, regex prefilter clauses). Each step
/// is one mutating method; ``Engine/init(ruleSet:options:)`` runs them in order and keeps the results.
private struct EngineBuilder {
    let prefilter: Bool
    let ruleCount: Int
    /// What regex prefilter clauses are checked against (the engine normalizer's tables).
    let tables: NormalizationTables
    /// What the engine's normalizer folds with (trigger choice reads it).
    let foldingTables = NormalizationTables.shared

    // Expression trees (see ``Engine/nodes``, ``Engine/regexes``, ``Engine/children``).
    var nodes: [Engine.Node] = []
    var regexes: [RegexSpec] = []
    var children: [Int] = []
    /// Per node: a literal whose hit can lead to a match of its slot.
    var triggers: [Bool] = []

    // Automaton patterns, by id, and what is known of each.
    var patterns: [[UInt32]] = []
    var patternIndex: [ScalarKey: Int] = [:]
    var patternNodeLists: [[Int32]] = []
    /// Per pattern: one of its words stands where it can make a rule match.
    var canMatchRule: [Bool] = []
    /// Per pattern: its prefilter id when it is a Chinese character or run a regex clause names (-1: none).
    var patternHan: [Int32] = []
    var stretchRuns: [Int: [UInt8]] = [:]
    var homophonePatterns: Set<Int> = []
    var emojiPatterns: Set<Int> = []

    // Regex prefilter clauses (see ``Engine/gateClauses``).
    var clauses: [GateClause] = []
    /// The prefilter ids of the Chinese characters and runs clauses name, indexed by ``GateClause/han``.
    var clauseHan: [Int32] = []
    var hanIDs: [[UInt32]: Int32] = [:]
    var others: OtherCharacterCollector

    init(prefilter: Bool, ruleCount: Int, tables: NormalizationTables) {
        self.prefilter = prefilter
        self.ruleCount = ruleCount
        self.tables = tables
        others = OtherCharacterCollector(tables: tables)
    }

    /// The id of `pattern`, added to the automaton's patterns if it is new.
    mutating func patternID(_ pattern: [UInt32]) -> Int {
        let key = ScalarKey(pattern)
        if let id = patternIndex[key] { return id }
        patterns.append(pattern)
        patternNodeLists.append([])
        canMatchRule.append(false)
        patternHan.append(-1)
        patternIndex[key] = patterns.count - 1
        return patterns.count - 1
    }

    /// Appends `ids` to ``children`` and returns their range.
    mutating func append(_ ids: [Int]) -> Range<Int> {
        children += ids
        return children.count - ids.count..<children.count
    }

    // MARK: Expressions

    /// Compiles every rule's expression, then every exception's, one slot each; returns each slot's root
    /// node (-1: an exception without a `match`).
    mutating func compileSlots(rules: [Rule], exceptions: [PolicyException]) -> [Int] {
        var roots = rules.enumerated().map { compile($1.match, slot: $0) }
        for exception in exceptions {
            roots.append(exception.match.map { compile($0, slot: roots.count) } ?? -1)
        }
        return roots
    }

    /// Compiles one expression into nodes; returns its node id.
    /// `positive`: not under a `not` (a word there can only stop a match), and not a child of `all`
    /// other than the one chosen to trigger it (see ``Engine/triggerChild(_:tables:)``).
    mutating func compile(_ expression: MatchExpression, slot: Int, positive: Bool = true) -> Int {
        switch expression {
        case .words(let words):
            return compileWords(words, slot: slot, positive: positive)
        case .regex(let spec):
            regexes.append(spec)
            nodes.append(.regex(regexes.count - 1))
            triggers.append(false)
            return nodes.count - 1
        case .any(let expressions):
            let ids = expressions.map { compile($0, slot: slot, positive: positive) }
            let range = append(ids)
            nodes.append(.any(range))
            triggers.append(false)
            return nodes.count - 1
        case .all(let expressions, let within):
            return compileAll(expressions, within: within, slot: slot, positive: positive)
        case .not(let inner): // the loader only allows `not` inside `all`
            return compile(inner, slot: slot, positive: false)
        case .distinct(let inner, let count): // the loader only allows it on a positive child of `all`
            let child = compile(inner, slot: slot, positive: positive)
            nodes.append(.distinct(child: child, count: Int32(count)))
            triggers.append(false)
            return nodes.count - 1
        }
    }

    /// A literal node for `words`: each word becomes (or shares) an automaton pattern that lists the node.
    mutating func compileWords(_ words: [Word], slot: Int, positive: Bool) -> Int {
        let node = nodes.count
        nodes.append(.literal(slot: slot))
        triggers.append(positive)
        for word in words {
            let id = patternID(word.normalized)
            if patternNodeLists[id].last != Int32(node) { patternNodeLists[id].append(Int32(node)) }
            if word.homophone { homophonePatterns.insert(id) }
            if word.emoji { emojiPatterns.insert(id) }
            if positive && slot < ruleCount { canMatchRule[id] = true }
            // Two stretched words with one collapsed form: the shorter runs (either may match).
            if let runs = word.stretchRuns {
                stretchRuns[id] = stretchRuns[id].map { zip($0, runs).map { min($0, $1) } } ?? runs
            }
        }
        return node
    }

    /// An `all` node: positive children ordered literal-only first, `not` children apart, and (with
    /// prefilters on) only the trigger child's words marked as triggering.
    mutating func compileAll(_ expressions: [MatchExpression], within: Int?, slot: Int, positive isPositive: Bool) -> Int {
        let trigger = prefilter ? Engine.triggerChild(expressions, tables: foldingTables) : nil
        var positive: [Int] = [], negative: [Int] = []
        for (index, child) in expressions.enumerated() {
            if case .not(let inner) = child {
                negative.append(compile(inner, slot: slot, positive: false))
            } else {
                positive.append(compile(child, slot: slot, positive: isPositive && (trigger == nil || trigger?.child == index)))
            }
        }
        // A regex chosen to trigger: the strings it spells out become a literal node of their own,
        // never evaluated, whose hits touch the slot.
        if let words = trigger?.regexWords { _ = compile(.words(words), slot: slot, positive: isPositive) }
        let cheapFirst = positive.filter { isCheap($0) } + positive.filter { !isCheap($0) }
        let positiveRange = append(cheapFirst), negativeRange = append(negative)
        nodes.append(.all(positive: positiveRange, negative: negativeRange, within: within.map(Int32.init)))
        triggers.append(false)
        return nodes.count - 1
    }

    /// Whether a node is made of literals only (no regex to run).
    func isCheap(_ id: Int) -> Bool {
        switch nodes[id] {
        case .literal: return true
        case .regex: return false
        case .any(let range): return children[range].allSatisfy(isCheap)
        case .all(let positive, let negative, _): return children[positive].allSatisfy(isCheap) && children[negative].allSatisfy(isCheap)
        case .distinct(let child, _): return isCheap(child)
        }
    }

    // MARK: Slots evaluated without a literal hit

    /// Whether a node can match with no literal hit (it contains an ungated regex).
    func ungated(_ id: Int) -> Bool {
        switch nodes[id] {
        case .literal: return false
        case .regex: return true
        case .any(let range): return children[range].contains(where: ungated)
        case .all(let positive, _, _): return children[positive].allSatisfy(ungated)
        case .distinct(let child, _): return ungated(child)
        }
    }

    /// The regexes through which a node can match with no literal hit: an `all` with a literal-gated
    /// child needs a hit, and a regex under `not` can only stop a match.
    func ungatedRegexesIn(_ id: Int) -> [Int] {
        switch nodes[id] {
        case .literal: return []
        case .regex(let index): return [index]
        case .any(let range): return children[range].flatMap(ungatedRegexesIn)
        case .all(let positive, _, _):
            return children[positive].allSatisfy(ungated) ? children[positive].flatMap(ungatedRegexesIn) : []
        case .distinct(let child, _): return ungatedRegexesIn(child)
        }
    }

    /// The slots that can match without a literal hit (``Engine/alwaysEvaluated``) and, for each, the
    /// regexes through which it can (``Engine/alwaysEvaluatedUngatedRegexes``).
    func alwaysEvaluated(roots: [Int]) -> (slots: [Int], ungatedRegexes: [[Int]]) {
        let slots = roots.indices.filter { roots[$0] >= 0 && ungated(roots[$0]) }
        return (slots, slots.map { Array(Set(ungatedRegexesIn(roots[$0]))).sorted() })
    }

    // MARK: Regex prefilter gates

    /// Prefilter clauses for folded-view regexes (see ``RegexRequirement``), with prefilters on: each
    /// Chinese character or run of them in a clause becomes an automaton pattern that marks it seen in
    /// the message. Returns each regex's gate (clauses are ranges of ``clauses``).
    mutating func compileRegexGates() -> [RegexGate] {
        var gates = regexes.map(RegexGate.init)
        for (index, spec) in regexes.enumerated() where prefilter {
            let requirement = RegexRequirement.of(spec.pattern.pattern)
            // Digits are counted so that the counts hold for either view (see ``NormalizationTables/digits``).
            gates[index].digitRun = Int32(requirement?.digitRun ?? 0)
            gates[index].digitCount = Int32(requirement?.digitCount ?? 0)
            if spec.view == .folded {
                gates[index].clauses = addFoldedViewClauses(spec, requirement: requirement)
            } else if let range = addOriginalViewClause(requirement) {
                gates[index].clauses = range
            }
        }
        return gates
    }

    /// On the original text only clauses of other characters are read (as given): the first such
    /// clause that can be marked, or nil.
    mutating func addOriginalViewClause(_ requirement: RegexRequirement?) -> Range<Int>? {
        guard let clause = requirement?.clauses.first(where: { $0.han.isEmpty && $0.ascii == (0, 0) && !$0.other.isEmpty }),
              let mask = others.mask(clause.other, folded: false) else { return nil }
        clauses.append(GateClause(ascii: (0, 0), han: clauseHan.count..<clauseHan.count, other: mask))
        return clauses.count - 1..<clauses.count
    }

    /// The clauses a folded-view regex's matches must meet: PCRE2's own facts as ASCII-only clauses (a
    /// required ASCII byte, the ASCII bytes every match starts with), up to four of the requirement's
    /// ASCII-only clauses, and its two most selective usable clauses naming Chinese characters.
    mutating func addFoldedViewClauses(_ spec: RegexSpec, requirement: RegexRequirement?) -> Range<Int> {
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
        // patterns that report wherever they occur, so at most two of those are kept.
        let asciiOnly = pcre2Clauses + clauseRequirement.filter { $0.han.isEmpty && others.markable($0.other) }.prefix(4)
        // A character that folding changes never stands in the folded view: an item holding one can never
        // meet the clause there, so it is left out (`[点點]` needs 点 in the folded view, where 點 reads as
        // 点); a clause with no item left is unusable. Of the usable ones, the two most selective: the
        // ones whose shortest item is longest (single characters are in most messages), then the ones
        // with fewer items.
        let withHan = clauseRequirement
            .compactMap { clause -> RegexRequirement.Clause? in
                guard !clause.han.isEmpty else { return nil }
                var kept = clause
                kept.han = clause.han.filter { $0.allSatisfy { tables.entry($0) == $0 } }
                return kept.han.isEmpty ? nil : kept
            }
            .filter { $0.han.count <= 64 && others.markable($0.other) }
            .sorted { a, b in
                let (x, y) = (a.han.map { $0.count }.min()!, b.han.map { $0.count }.min()!)
                return x != y ? x > y : a.han.count < b.han.count
            }
            .prefix(2)
        for clause in asciiOnly + withHan {
            guard let other = clause.other.isEmpty ? 0 : others.mask(clause.other, folded: true) else { continue }
            let hanStart = clauseHan.count
            for c in clause.han {
                let id = hanID(c)
                clauseHan.append(id)
            }
            clauses.append(GateClause(ascii: clause.ascii, han: hanStart..<clauseHan.count, other: other))
        }
        return start..<clauses.count
    }

    /// The prefilter id of a Chinese character or run a clause names; a new one also becomes (or marks)
    /// an automaton pattern.
    mutating func hanID(_ c: [UInt32]) -> Int32 {
        if let id = hanIDs[c] { return id }
        let id = Int32(hanIDs.count)
        hanIDs[c] = id
        let pattern = patternID(c)
        patternHan[pattern] = id
        return id
    }

    /// For the prescreen: regexes with a clause of Chinese characters alone are looked at only when one
    /// of that clause's items occurred (`anchored`, per clause); the others every time (`unanchored`),
    /// but those with a clause of ASCII bytes alone not when the message has no ASCII.
    static func prescreenLists(_ regexes: [Int], gates: [RegexGate], clauses: [GateClause])
        -> (unanchored: [Int], unanchoredWithoutASCII: [Int], anchored: [[Int32]]) {
        var anchored = [[Int32]](repeating: [], count: clauses.count)
        var unanchored: [Int] = []
        for index in regexes {
            if let c = gates[index].clauses.first(where: { !clauses[$0].han.isEmpty && clauses[$0].ascii == (0, 0) && clauses[$0].other == 0 }) {
                anchored[c].append(Int32(index))
            } else {
                unanchored.append(index)
            }
        }
        let withoutASCII = unanchored.filter { index in
            !clauses[gates[index].clauses].contains { $0.han.isEmpty && $0.other == 0 && ($0.ascii.0 | $0.ascii.1) != 0 }
        }
        return (unanchored, withoutASCII, anchored)
    }

    /// For each prefilter id, the clauses naming it (CSR: start offsets, then the flat list).
    func clausesOfHan() -> (start: [Int32], list: [Int32]) {
        var clausesOfHan = [[Int32]](repeating: [], count: hanIDs.count)
        for (c, clause) in clauses.enumerated() {
            for h in clause.han where clausesOfHan[Int(clauseHan[h])].last != Int32(c) { clausesOfHan[Int(clauseHan[h])].append(Int32(c)) }
        }
        var clauseStart: [Int32] = [0]
        for list in clausesOfHan { clauseStart.append(clauseStart.last! + Int32(list.count)) }
        return (clauseStart, clausesOfHan.flatMap { $0 })
    }

    // MARK: Homophones

    /// The `homophones` evasion: each derived word's two halves become automaton patterns of their own
    /// (one of them stands intact wherever a single character is swapped), reporting for the scanner
    /// to verify; a half can make a rule match exactly when its word can (prescreen). Returns, per
    /// pattern (CSR), the words of which it is a half and where in the word the half starts.
    mutating func addHomophonePieces() -> (start: [Int32], list: [(word: Int32, offset: Int32)]) {
        var pieces: [[(word: Int32, offset: Int32)]] = []
        for word in homophonePatterns.sorted() {
            let plain = patterns[word].map(Engine.unshadow)
            let half = plain.count / 2
            for range in [0..<half, half..<plain.count] {
                let id = patternID(Array(plain[range]))
                if pieces.count < patterns.count { pieces += Array(repeating: [], count: patterns.count - pieces.count) }
                pieces[id].append((Int32(word), Int32(range.lowerBound)))
                if canMatchRule[word] { canMatchRule[id] = true }
            }
        }
        var pieceStart: [Int32] = [0], pieceList: [(word: Int32, offset: Int32)] = []
        for id in patterns.indices {
            if id < pieces.count { pieceList += pieces[id] }
            pieceStart.append(Int32(pieceList.count))
        }
        return (pieceStart, pieceList)
    }

    /// Per pattern: for a `homophones` word, its scalars without the shadow offset (else empty).
    func homophoneWordScalars() -> [[UInt32]] {
        var wordScalars = [[UInt32]](repeating: [], count: patterns.count)
        for word in homophonePatterns { wordScalars[word] = patterns[word].map(Engine.unshadow) }
        return wordScalars
    }

    /// Lists as CSR: start offsets (one more than lists), then the flat list.
    static func flatten(_ lists: [[Int32]]) -> (start: [Int32], flat: [Int32]) {
        var start: [Int32] = [0], flat: [Int32] = []
        for list in lists { flat += list; start.append(Int32(flat.count)) }
        return (start, flat)
    }
}

/// The characters beyond ASCII and Chinese that regex clauses name (see ``OtherCharacterMarks``), each
/// given a bit as clauses are compiled; at most 64.
private struct OtherCharacterCollector {
    let tables: NormalizationTables
    /// The original scalars given a bit, in bit order.
    var scalars: [UInt32] = []
    var preimageCache: [UInt32: [UInt32]] = [:]

    init(tables: NormalizationTables) { self.tables = tables }

    /// The original scalars that fold into `c` (cached).
    mutating func preimages(_ c: UInt32) -> [UInt32] {
        if let cached = preimageCache[c] { return cached }
        let found = tables.preimages(of: c)
        preimageCache[c] = found
        return found
    }

    /// Whether every original scalar that can put one of `others` in the folded view can be marked.
    mutating func markable(_ others: [UInt32]) -> Bool {
        others.allSatisfy { preimages($0).allSatisfy { $0 < OtherCharacterMarks.limit && !tables.isPlainKeep($0) } }
    }

    /// The bits of the original scalars whose presence lets the view hold one of `others` (nil: not
    /// usable — beyond U+20000, kept as itself by a fast path, or more than 64 in all).
    mutating func mask(_ others: [UInt32], folded: Bool) -> UInt64? {
        var mask: UInt64 = 0
        for c in others {
            for v in folded ? preimages(c) : [c] {
                guard v < OtherCharacterMarks.limit, !tables.isPlainKeep(v) else { return nil }
                if scalars.firstIndex(of: v) == nil {
                    guard scalars.count < 64 else { return nil }
                    scalars.append(v)
                }
                mask |= 1 << UInt64(scalars.firstIndex(of: v)!)
            }
        }
        return mask
    }
}

/// Scalars (a word, an automaton pattern) as a dictionary or set key, hashed once with FNV-1a: the
/// hasher then mixes one word instead of every scalar (hashing the shipped packs' 30,000 patterns and
/// derived words scalar by scalar cost about 70 M instructions at start-up). Equality still compares
/// the scalars.
struct ScalarKey: Hashable {
    let scalars: [UInt32]
    let fnv: UInt64

    init(_ scalars: [UInt32]) {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for value in scalars { h = (h ^ UInt64(value)) &* 0x100_0000_01b3 }
        self.scalars = scalars
        fnv = h
    }

    func hash(into hasher: inout Hasher) { hasher.combine(fnv) }
    static func == (a: ScalarKey, b: ScalarKey) -> Bool { a.fnv == b.fnv && a.scalars == b.scalars }
}

/// A set of scalar arrays (see ``ScalarKey``).
struct ScalarArraySet {
    private var keys = Set<ScalarKey>()

    init(_ members: [[UInt32]]) {
        keys.reserveCapacity(members.count)
        for member in members { keys.insert(ScalarKey(member)) }
    }

    /// Adds `member`; whether it was new.
    @discardableResult
    mutating func insert(_ member: [UInt32]) -> (inserted: Bool, memberAfterInsert: [UInt32]) {
        let (inserted, key) = keys.insert(ScalarKey(member))
        return (inserted, key.scalars)
    }
}
