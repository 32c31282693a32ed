import Foundation

/// Decides how much of a reply that arrives in pieces (a streamed chat completion) may be released
/// before the reply is complete, with this guarantee for any way the reply is split:
///
/// - (a) no character inside the span of a hit of the complete reply — any rule's hit, so every hit
///   that masks, escalates or blocks — is ever released;
/// - (b) every released prefix was itself decided `allow` by the engine.
///
/// How: ``ReplyStream/append(_:)`` releases the text up to a *frontier*, the least of
/// - the start of the last ``HoldBound/units`` units (characters normalization keeps) of the text so
///   far: the bound is derived from the rules (their longest word, every evasion variant included, and
///   each regex whose longest witness, ``RegexWitness``, is no longer), so a match that begins before
///   the frontier has all its characters in the text so far;
/// - the start of any match, in the text so far, of any rule's word or regex on its own (a *leaf* of a
///   rule, matched by a second engine with every leaf a rule of its own and no exceptions): a pending
///   partial match of an `all` rule, a score rule under its threshold and an allowed hit all stop it —
///   except a *windowed* leaf match that can no longer be part of a hit, and a leaf match under an `all`
///   whose `not` is already present (below);
/// - the start of an HTML tag or character reference, a parenthesised pinyin annotation, or a run of
///   ASCII without blanks (a web address) that has not ended yet: normalization reads them whole;
/// - the earliest start of a complete or partial match of each other regex — no witness (an unbounded
///   repeat before its end, a backreference) or a longer one: ``HoldBound/partialRules`` — found by
///   PCRE2's hard partial matching on the text up to the limits above
///   (``MessageScanner/earliestPossibleStart(ofRegexes:in:from:)``): a regex that can still complete a
///   match holds back only from where that match would begin;
///   a regex that matches only a subject of at most N characters (``RegexWitness/subjectCap(_:maxFiller:)``:
///   `\A`, bounded items, a bounded lookahead ending in `\z`) is no longer looked for once more than N
///   original characters with a kept character have arrived before the last such character and before an
///   open construct — the text the bound's proof already takes as normalized the same in any longer reply;
///   each of them is at least one character of the view the regex runs on (the original text, or the folded
///   view, which drops no kept character), so the complete reply is longer than N there;
///
/// and only when the engine decides that prefix `allow`. So a hit of the complete reply that overlaps
/// released text would have been a leaf match in the text so far, and the frontier stops before it.
/// Released text never shrinks.
///
/// **Windows.** A leaf whose path from its rule's root passes through an `all` with `within` has an
/// outermost such `all`, A, with window W. The engine measures `within` in kept characters (fillers,
/// blanks and ignorables are none; ``MessageScanner/windows(_:within:)``): a hit of A is an anchor hit
/// of one child plus, for each other child, a hit starting at or after the anchor, and spans from the
/// anchor's kept start s to at most s + W; a nested hit (an `any`, an `all` with or without a window)
/// again starts at its anchor and contains what it is made of. So every leaf match a hit of A is made
/// of lies in kept characters [s, s + W), and the hit's start is the least start of those matches.
/// Evasions and fillers change nothing here: the spans are kept characters of the one normalized text,
/// however many original characters a match covers. *Relaxed* A, A′ (``relaxed(_:)``), drops every
/// `not` (a `not` may stop matching as text grows: a word boundary, a lookahead) and reads each `all`
/// without `within` under A as `any`; then a hit of A′ depends only on the leaf matches inside it, more
/// matches never remove one, and for every hit of A there is a hit of A′ from the same leaf matches.
///
/// Let c be the frontier's cut before leaf matches are taken into account, and K the number of kept
/// characters before c: a leaf match of the complete reply that begins before c is a leaf match of the
/// text so far, with the same span (the bound above). A windowed leaf match m does not stop the frontier
/// when (i) the kept characters before the end of m, plus W, are fewer than K, and (ii) A′, run as a rule
/// of its own (``windowed``), has no hit in the text so far (m is read as the engine reports it: the
/// overlapping matches of one leaf merged, so each match inside meets (i) too). Proof that (a) still
/// holds: every hit of a rule is a hit of a leaf with no windowed `all` above it (which stops the frontier
/// as before) or of an outermost windowed `all` A (the `any`s and `all`s above A pass its hits on as
/// they are). Take such a hit h of the complete reply starting before the frontier, and b the leaf match
/// it is made of with the least start (h starts there). b begins before c, so it is a leaf match of the
/// text so far; if it stopped the frontier, the frontier is at or before h. Otherwise (i) puts every kept
/// character of h before K (h ends at most W kept characters after its start, which is at or before b's),
/// so every leaf match h is made of begins before c and is a leaf match of the text so far: then A′ has
/// a hit in the text so far, against (ii). A score rule is no different (its hits are hits); a leaf under
/// an `all` without a window that is not itself inside a windowed `all` has no W and always stops it.
///
/// **`not`s.** A `not` is read over the whole message: an `all` with a `not` child that matches anywhere
/// in the complete reply has no hit at all. Each `not` of a word list under an `all` is a rule of its own
/// in the leaf engine (`rule!i`, its words as the rule has them, evasion variants included), and a leaf
/// whose path from its rule's root passes through an `all` with such a `not` (``leafNots``) does not stop
/// the frontier when (iii) that word list has a match in the text so far with at least one kept character
/// after it before c. Such a match is one of the complete reply: the text before c is normalized and
/// matched the same in the text so far and in the complete reply (the construct and bound limits above),
/// and whether a word's match counts looks only at its own characters, the kept characters next to it
/// (Latin word boundaries: the next one lies before c too) and the run of ASCII it is in (a web address:
/// a run still open at the end of the text so far starts at or after c). Proof that (a) still holds: take
/// a hit h of the complete reply starting before the frontier and b, as above, the leaf match it is made
/// of with the least start. h is made through b's path, so every `all` on it has a hit in the complete
/// reply, and none of their `not`s matches there: b's leaf meets no (iii), and the proof above holds for
/// b unchanged. A `not` of a regex (a lookahead, a boundary may change with later text) or of an `any`/`all` is
/// not used. The relaxed windows still drop every `not`: (iii) is checked before (i) and (ii).
///
/// **Capped regexes.** Likewise a leaf whose path passes through an `all` with a required regex (a child,
/// or a child of a child `all`) that matches only a subject of at most N characters (``leafCaps``; the
/// subject cap above) does not stop the frontier once more than N stable characters have arrived: that
/// regex matches nowhere in the complete reply, so the `all` has no hit there and h is not made through
/// b's path.
///
/// A model pack scores the whole text, so no frontier keeps its hits back: with one enabled the stream is
/// *sentence-level* (``HoldBound/Mode/sentence``) — text is released only up to a sentence end (after
/// 。！？!?；; or a line break) at or before the frontier, and only when the full engine, the models scored
/// on that prefix, decides the prefix `allow`. (a) then holds for every rule's hit; a model's score can
/// still cross its threshold only with later text, after earlier sentences went out (each allowed on its
/// own). ``ReplyStream/whole`` (strict mode) releases nothing before the end.
///
/// Thread-safe; each ``ReplyStream`` is used by one thread at a time.
public final class StreamingDecider: Sendable {
    public let engine: Engine
    /// The rules' words and regexes, each a rule of its own (no exceptions, no models, no thresholds).
    let leaves: Engine
    public let bound: HoldBound
    /// The leaf regexes with no witness or one longer than the words' (indexes into the leaf engine's
    /// ``Engine/regexes``), held by partial matching.
    let partialRegexes: [Int]
    /// Those of ``partialRegexes`` that match only a subject of at most `cap` characters
    /// (``RegexWitness/subjectCap(_:maxFiller:)``): a stream stops looking for them once its text is longer.
    let cappedRegexes: [(regex: Int, cap: Int)]
    /// The outermost `all` with `within` on the path to a leaf (by the leaf rule's id, `rule#k`): its
    /// window and the id of its rule in ``windowed``. Leaves with no such `all` above them are not here.
    let leafWindows: [String: (window: Int, node: String)]
    /// Each outermost windowed `all` of a rule, relaxed (``relaxed(_:)``), a rule of its own (`rule@j`).
    let windowed: Engine?
    /// The `not`s made of words of the `all`s above a leaf (by the leaf rule's id, `rule#k`): their rules'
    /// ids (`rule!i`) in ``leaves``, where each such word list is a rule of its own.
    let leafNots: [String: [String]]
    /// The ids of those word-list rules in ``leaves`` (their matches stop nothing).
    let notRules: Set<String>
    /// The least subject cap (``RegexWitness/subjectCap(_:maxFiller:)``) of the regexes an `all` above a
    /// leaf requires (by the leaf rule's id, `rule#k`); leaves with no such regex are not here.
    let leafCaps: [String: Int]

    /// The characters after which a sentence ends (sentence-level hold): 。！？!?；; and a line break.
    static let sentenceEnds: Set<UInt32> = [0x3002, 0xFF01, 0xFF1F, 0x21, 0x3F, 0xFF1B, 0x3B, 0x0A]

    public init(engine: Engine) {
        self.engine = engine
        let (leafSet, bound, windowSet, leafWindows, leafNots, leafCaps) = StreamingDecider.leafRules(engine)
        self.bound = bound
        self.leafNots = leafNots
        self.leafCaps = leafCaps
        var options = EngineOptions()
        options.includeModels = false
        options.applyExceptions = false
        let leaves = Engine(ruleSet: leafSet, options: options)
        self.leaves = leaves
        notRules = Set(leaves.rules.lazy.map(\.id).filter { $0.contains("!") })
        self.leafWindows = leafWindows
        windowed = leafWindows.isEmpty ? nil : Engine(ruleSet: windowSet, options: options)
        let maxFiller = leafSet.policy.maxFiller
        partialRegexes = leaves.regexes.indices.filter { index in
            RegexWitness.units(leaves.regexes[index].pattern.pattern, maxFiller: maxFiller).map { $0 >= bound.units } ?? true
        }
        cappedRegexes = partialRegexes.compactMap { index in
            RegexWitness.subjectCap(leaves.regexes[index].pattern.pattern, maxFiller: maxFiller).map { (index, $0) }
        }
    }

    /// The rule (its id in the shipped set, without the leaf's `#k`) of the leaf regex `index` (into the
    /// leaf engine's ``Engine/regexes``), for measurement (``ReplyStream/describe(_:)``).
    func regexRule(_ index: Int) -> String {
        guard index < leaves.regexes.count else { return "regex \(index)" }
        let location = leaves.regexes[index].location
        for rule in leaves.rules {
            if case .regex(let spec) = rule.match, spec.location == location { return String(rule.id.prefix { $0 != "#" }) }
        }
        return "regex \(index)"
    }

    /// A stream for one reply; `strict` holds it whole whatever the bound. `sentenceCap`: in sentence
    /// mode, holding more characters than this is recorded (``ReplyStream/heldOverCap``); nothing
    /// undecided is released for it.
    public func makeStream(strict: Bool = false, sentenceCap: Int = 1000) -> ReplyStream {
        ReplyStream(decider: self, whole: strict, sentenceCap: sentenceCap)
    }

    /// The enabled rules taken apart into their positive leaves (and the word lists of the `not`s above
    /// them, rules of their own in the same set), the hold bound, the outermost windowed `all`s relaxed into
    /// rules of their own, the window above each leaf that has one, and the `not`s above each leaf.
    static func leafRules(_ engine: Engine) -> (RuleSet, HoldBound, RuleSet, [String: (window: Int, node: String)], [String: [String]], [String: Int]) {
        let ruleSet = engine.ruleSet
        let maxFiller = ruleSet.policy.maxFiller
        var sentenceReason: String?
        var packs: [RulePack] = []
        // Each leaf's witness: words always have one; a regex may not (nil).
        var witnesses: [(rule: String, units: Int?, regex: Bool)] = []
        for model in engine.models where sentenceReason == nil {
            sentenceReason = "model pack \(model.packID): a score of the whole text, decided on each prefix up to a sentence end"
        }
        var windowPacks: [RulePack] = []
        var leafWindows: [String: (window: Int, node: String)] = [:]
        var leafNots: [String: [String]] = [:]
        var leafCaps: [String: Int] = [:]
        for pack in ruleSet.enabledPacks {
            var rules: [Rule] = []
            var windowRules: [Rule] = []
            for rule in engine.rules where rule.packID == pack.id {
                var leaves: [Leaf] = []
                var windows: [(all: MatchExpression, within: Int)] = []
                var nots: [[Word]] = []
                collect(rule.match, Leaf(expression: rule.match), maxFiller: maxFiller, into: &leaves, windows: &windows, notWords: &nots)
                for (i, words) in nots.enumerated() {
                    rules.append(Rule(id: "\(rule.id)!\(i)", title: rule.title, description: "", references: [], action: .block, score: nil,
                                      category: rule.category, packID: pack.id, match: .words(words), evasions: rule.evasions, examples: [],
                                      location: rule.location))
                }
                for (j, window) in windows.enumerated() {
                    windowRules.append(Rule(id: "\(rule.id)@\(j)", title: rule.title, description: "", references: [], action: .block, score: nil,
                                            category: rule.category, packID: pack.id, match: relaxed(window.all), evasions: rule.evasions,
                                            examples: [], location: rule.location))
                }
                for (k, found) in leaves.enumerated() {
                    let leaf = found.expression
                    if let window = found.window { leafWindows["\(rule.id)#\(k)"] = (windows[window].within, "\(rule.id)@\(window)") }
                    if !found.nots.isEmpty { leafNots["\(rule.id)#\(k)"] = found.nots.map { "\(rule.id)!\($0)" } }
                    if let cap = found.cap { leafCaps["\(rule.id)#\(k)"] = cap }
                    let units: Int?
                    switch leaf {
                    case .words(let words):
                        units = words.map(\.normalized.count).max() ?? 0
                    case .regex(let spec):
                        units = RegexWitness.units(spec.pattern.pattern, maxFiller: maxFiller)
                    default:
                        units = 0
                    }
                    var regex = false
                    if case .regex = leaf { regex = true }
                    witnesses.append((rule.id, units, regex))
                    rules.append(Rule(id: "\(rule.id)#\(k)", title: rule.title, description: "", references: [], action: .block, score: nil,
                                      category: rule.category, packID: pack.id, match: leaf, evasions: rule.evasions, examples: [],
                                      location: rule.location))
                }
            }
            packs.append(RulePack(id: pack.id, version: pack.version, category: pack.category, description: "", sources: [], rules: rules, file: pack.file))
            windowPacks.append(RulePack(id: pack.id, version: pack.version, category: pack.category, description: "", sources: [], rules: windowRules,
                                        file: pack.file))
        }
        var policy = ruleSet.policy
        policy.packs = nil
        policy.thresholds = [:]
        policy.exceptions = []
        policy.reportedSpeech = nil
        policy.modelThresholds = [:]
        let leafSet = RuleSet(packs: packs, policy: policy, digest: ruleSet.digest)
        let windowSet = RuleSet(packs: windowPacks, policy: policy, digest: ruleSet.digest)
        // Words set the bound; a regex whose witness is longer, or has none, is held by partial matching.
        var longest = 0, longestRule: String?
        for witness in witnesses where !witness.regex {
            if let units = witness.units, units > longest { (longest, longestRule) = (units, witness.rule) }
        }
        var partialRules: [String] = []
        for witness in witnesses where witness.regex {
            if let units = witness.units, units <= longest { continue }
            if !partialRules.contains(witness.rule) { partialRules.append(witness.rule) }
        }
        return (leafSet, HoldBound(units: longest + 1, rule: longestRule, partialRules: partialRules, sentenceReason: sentenceReason),
                windowSet, leafWindows, leafNots, leafCaps)
    }

    /// A positive leaf of a rule and what lies above it (``collect(_:_:maxFiller:into:windows:notWords:)``).
    struct Leaf {
        var expression: MatchExpression
        /// The index into `windows` of the outermost `all` with `within` above it.
        var window: Int?
        /// The indexes into `notWords` of the `not`s of words that are children of an `all` above it.
        var nots: [Int] = []
        /// The least subject cap of the regexes the `all`s above it require (``requiredCap(_:maxFiller:)``).
        var cap: Int?
    }

    /// The least subject cap of the regexes `expression` requires to match: itself, or any child of an
    /// `all` (recursively through `all`s; an `any` requires none of its alternatives).
    static func requiredCap(_ expression: MatchExpression, maxFiller: Int) -> Int? {
        switch expression {
        case .regex(let spec): return RegexWitness.subjectCap(spec.pattern.pattern, maxFiller: maxFiller)
        case .all(let children, _): return children.compactMap { requiredCap($0, maxFiller: maxFiller) }.min()
        case .distinct(let child, _): return requiredCap(child, maxFiller: maxFiller)
        case .words, .any, .not: return nil
        }
    }

    /// The positive words and regexes of an expression (not those under `not`: they take hits away, and
    /// no hit's span starts at one), each with what lies above it (`above`: the path so far; see ``Leaf``);
    /// `windows` gets each outermost windowed `all` (nested windowed `all`s lie inside it), and `notWords`
    /// each word list of a `not` that is a child of an `all` (a `not` of a regex or of an expression is
    /// left out).
    static func collect(_ expression: MatchExpression, _ above: Leaf, maxFiller: Int, into leaves: inout [Leaf],
                        windows: inout [(all: MatchExpression, within: Int)], notWords: inout [[Word]]) {
        switch expression {
        case .words, .regex:
            var leaf = above
            leaf.expression = expression
            leaves.append(leaf)
        case .any(let children):
            for child in children { collect(child, above, maxFiller: maxFiller, into: &leaves, windows: &windows, notWords: &notWords) }
        case .distinct(let child, _):
            collect(child, above, maxFiller: maxFiller, into: &leaves, windows: &windows, notWords: &notWords)
        case .all(let children, let within):
            var above = above
            if above.window == nil, let within {
                above.window = windows.count
                windows.append((expression, within))
            }
            for case .not(.words(let words)) in children {
                above.nots.append(notWords.count)
                notWords.append(words)
            }
            if let cap = requiredCap(expression, maxFiller: maxFiller) { above.cap = min(above.cap ?? cap, cap) }
            for child in children { collect(child, above, maxFiller: maxFiller, into: &leaves, windows: &windows, notWords: &notWords) }
        case .not: break
        }
    }

    /// An expression with every `not` dropped and every `all` without `within` read as `any`: its hits
    /// are found from the leaf matches inside each hit alone (no condition on the rest of the message),
    /// and more leaf matches only add hits. For each hit of the expression itself there is a hit of this
    /// one with the same start (in kept characters) and an end no later.
    static func relaxed(_ expression: MatchExpression) -> MatchExpression {
        switch expression {
        case .words, .regex, .not: return expression
        case .any(let children): return .any(children.map(relaxed))
        // One hit of the child has the start and no later end than a hit of N different ones.
        case .distinct(let child, _): return relaxed(child)
        case .all(let children, let within):
            let positive = children.filter { if case .not = $0 { return false } else { return true } }.map(relaxed)
            guard let within else { return positive.count == 1 ? positive[0] : .any(positive) }
            return .all(positive, within: within)
        }
    }
}

/// One reply arriving in pieces (see ``StreamingDecider``). Not thread-safe.
public final class ReplyStream {
    let decider: StreamingDecider
    /// Held whole: nothing is released before the end.
    public let whole: Bool
    /// How this stream is held.
    public var mode: HoldBound.Mode { whole ? .whole : decider.bound.mode }
    /// Sentence mode: more characters held than this at once is recorded in ``heldOverCap``.
    public let sentenceCap: Int
    /// The reply so far (complete UTF-8 characters only).
    public private(set) var text: [UInt8] = []
    /// Bytes of a character split across pieces, waiting for the rest.
    private var partial: [UInt8] = []
    /// Bytes of ``text`` released so far.
    public private(set) var released = 0
    /// The most characters (Unicode scalars) held back at once.
    public private(set) var longestHold = 0
    /// Sentence mode: true once more than ``sentenceCap`` characters were held at once (a long run with no
    /// sentence end, or sentences not allowed on their own). They stay held: nothing undecided goes out.
    public private(set) var heldOverCap = false
    private var scalarsSoFar = 0
    private var releasedScalars = 0
    private let scanner: MessageScanner
    private let leafScanner: MessageScanner
    /// For ``StreamingDecider/windowed``, made when first needed.
    private var windowScanner: MessageScanner?
    /// The held regexes (``StreamingDecider/partialRegexes``) that can still match this reply, and those of
    /// them with a subject cap not yet exceeded (``StreamingDecider/cappedRegexes``).
    private var heldRegexes: [Int]
    private var cappedRegexes: [(regex: Int, cap: Int)]
    /// What set the frontier at the last append (measurement, bench/stream-stall.sh): set on the live
    /// path without building text; ``describe(_:)`` formats it.
    var holdReason = HoldReason.none

    /// What set the frontier (``holdReason``).
    enum HoldReason: Equatable {
        /// No append has computed a frontier yet (or the stream is held whole).
        case none
        /// The hold bound alone.
        case bound
        /// An HTML tag, reference, annotation or ASCII run that has not ended.
        case construct
        /// A pending (partial or complete) match of a held regex: its index into the leaf engine's regexes.
        case partial(regex: Int)
        /// A match of a leaf rule (its id in the leaf engine, `rule#k`).
        case leaf(rule: String)
        /// The prefix up to the frontier was decided other than allow.
        case prefix(Verdict)
        /// Sentence mode: no sentence end before the bound.
        case sentenceEnd
    }

    /// ``holdReason`` as text: `bound`, `construct`, `partial <rule>`, `leaf <rule#k>`, `prefix <verdict>`,
    /// `sentence end` (or empty for none).
    func describe(_ reason: HoldReason) -> String {
        switch reason {
        case .none: return ""
        case .bound: return "bound"
        case .construct: return "construct"
        case .partial(let regex): return "partial \(decider.regexRule(regex))"
        case .leaf(let rule): return "leaf \(rule)"
        case .prefix(let verdict): return "prefix \(verdict)"
        case .sentenceEnd: return "sentence end"
        }
    }

    /// At most this many sentence ends are tried (newest first) at one append in sentence mode.
    static let sentenceTries = 8

    init(decider: StreamingDecider, whole: Bool, sentenceCap: Int) {
        self.decider = decider
        self.whole = whole
        self.sentenceCap = sentenceCap
        scanner = decider.engine.makeScanner()
        leafScanner = decider.leaves.makeScanner()
        heldRegexes = decider.partialRegexes
        cappedRegexes = decider.cappedRegexes
    }

    /// Characters (Unicode scalars) released so far.
    public var releasedCharacters: Int { releasedScalars }

    /// Adds the next piece (any split: a UTF-8 character may straddle two) and returns the bytes that
    /// may be released now (complete characters; empty when nothing more may go out yet).
    public func append(_ piece: [UInt8]) -> [UInt8] {
        partial += piece
        let complete = StreamingDecider.completePrefix(partial)
        guard complete > 0 else { return [] }
        let added = partial[..<complete]
        scalarsSoFar += added.reduce(0) { $0 + (($1 & 0xC0) != 0x80 ? 1 : 0) }
        text += added
        partial.removeFirst(complete)
        defer {
            longestHold = max(longestHold, scalarsSoFar - releasedScalars)
            if mode == .sentence && scalarsSoFar - releasedScalars > sentenceCap { heldOverCap = true }
        }
        guard !whole else { return [] }
        for end in candidates(units: decider.bound.units) where end > released {
            // (b): the prefix itself must be decided allow (in sentence mode: the models scored on it too).
            let prefix = Array(text[..<end])
            let verdict = scanner.decide(InputMessage(id: .string("prefix"), text: prefix, error: nil)).verdict
            guard verdict == .allow else {
                holdReason = .prefix(verdict)
                continue
            }
            let out = Array(text[released..<end])
            released = end
            releasedScalars += out.reduce(0) { $0 + (($1 & 0xC0) != 0x80 ? 1 : 0) }
            return out
        }
        return []
    }

    /// Bytes still held: what the end of the reply decides on (the whole text is ``text``).
    public var held: ArraySlice<UInt8> { text[released...] }

    /// True when bytes of an unfinished UTF-8 character are left over (the reply ended inside one).
    public var endsInsideCharacter: Bool { !partial.isEmpty }

    /// The byte offsets up to which the text so far may be released, best first: the frontier (bounded
    /// mode), or the sentence ends at or before it, newest first (sentence mode).
    func candidates(units: Int) -> [Int] {
        var normalized = NormalizedText()
        text.withUnsafeBufferPointer { decider.engine.normalizer.normalize($0, into: &normalized) }
        let cut = frontier(units: units, normalized)
        let offsets = normalized.scalarByteOffsets
        guard decider.bound.mode == .sentence else { return [Int(offsets[cut])] }
        if holdReason == .bound { holdReason = .sentenceEnd }
        var ends: [Int] = []
        var k = cut
        while k > 0, ends.count < ReplyStream.sentenceTries, Int(offsets[k]) > released {
            if StreamingDecider.sentenceEnds.contains(normalized.scalars[k - 1]) { ends.append(Int(offsets[k])) }
            k -= 1
        }
        return ends
    }

    /// The original scalar index up to which the text so far may be released (see ``StreamingDecider``).
    func frontier(units: Int, _ normalized: NormalizedText) -> Int {
        let scalars = normalized.scalars
        // The start (original scalar index) of the last `units` units.
        var cut = scalars.count
        var counted = 0
        var k = normalized.kept.count - 1
        var lastOrigin: Int32 = -1
        var lastLetter: UInt32 = 0
        while k >= 0 {
            let origin = normalized.keptOrigin[k]
            let value = normalized.kept[k]
            let sameRun = Engine.isLatinLetter(value) && value == lastLetter
            if origin != lastOrigin && !sameRun {
                counted += 1
                if counted > units { break }
            }
            cut = Int(origin)
            lastOrigin = origin
            lastLetter = Engine.isLatinLetter(value) ? value : 0
            k -= 1
        }
        if counted <= units { cut = 0 }
        holdReason = .bound
        let construct = ReplyStream.openConstruct(scalars)
        if construct < cut { (cut, holdReason) = (construct, .construct) }
        // A regex that matches only a subject of at most `cap` characters can never match once the reply is
        // longer. Counted: the original characters with a kept (normalized) character before the last one
        // and before an open construct — what a longer reply normalizes the same (the bound's margin) — each
        // at least one character of either view a regex runs on.
        var stable = 0
        if !cappedRegexes.isEmpty || !decider.leafCaps.isEmpty {
            stable = ReplyStream.keptOriginals(before: min(construct, Int(normalized.keptOrigin.last ?? 0)), normalized)
        }
        if !cappedRegexes.isEmpty {
            if cappedRegexes.contains(where: { $0.cap < stable }) {
                let over = Set(cappedRegexes.lazy.filter { $0.cap < stable }.map(\.regex))
                cappedRegexes.removeAll { over.contains($0.regex) }
                heldRegexes.removeAll(where: over.contains)
            }
        }
        if cut > 0, !heldRegexes.isEmpty {
            // Regexes with no bound: where a match could still begin, read on the text up to the cut (a
            // prefix the rest of the reply cannot change: the units after it are held anyway).
            let offsets = normalized.scalarByteOffsets
            let end = Int(offsets[cut])
            // Matches that begin before the released text cannot be helped any more: look from there on.
            var from = 0, high = cut
            while from < high {
                let mid = (from + high) / 2
                if Int(offsets[mid]) < released { from = mid + 1 } else { high = mid }
            }
            let start = text.withUnsafeBufferPointer {
                leafScanner.earliestPossibleMatch(ofRegexes: heldRegexes, in: UnsafeBufferPointer(rebasing: $0[..<end]), from: from)
            }
            if let start, start.start < cut { (cut, holdReason) = (start.start, .partial(regex: start.regex)) }
        }
        if cut > 0 {
            let decision = leafScanner.decide(InputMessage(id: .string("leaves"), text: text, error: nil))
            if !decision.errors.isEmpty { return 0 }
            // Kept characters before the cut: leaf matches that begin there are those of the complete reply.
            let keptBeforeCut = ReplyStream.keptBefore(cut, normalized)
            // Word lists of `not`s with a match that ends before the kept character before the cut: a match
            // of the complete reply too, so no `all` they are a `not` of has a hit.
            var present: Set<String> = []
            for hit in decision.hits where decider.notRules.contains(hit.rule) && ReplyStream.keptBefore(hit.end, normalized) < keptBeforeCut {
                present.insert(hit.rule)
            }
            var quiet: Set<String>?
            for hit in decision.hits where hit.start < cut && !decider.notRules.contains(hit.rule) {
                // A leaf under an `all` whose `not` is present: no hit of the complete reply is made of it.
                if let nots = decider.leafNots[hit.rule], nots.contains(where: present.contains) { continue }
                // A leaf under an `all` that requires a regex the reply is already too long for: likewise.
                if let cap = decider.leafCaps[hit.rule], cap < stable { continue }
                // A leaf under a window: once every hit of that window starting at this match lies before
                // the cut, it stops the frontier only if the relaxed window has a hit in the text so far.
                if let entry = decider.leafWindows[hit.rule], ReplyStream.keptBefore(hit.end, normalized) + entry.window < keptBeforeCut {
                    if quiet == nil { quiet = windowsWithoutHit() }
                    guard let quiet else { return 0 }
                    if quiet.contains(entry.node) { continue }
                }
                if hit.start < cut { (cut, holdReason) = (hit.start, .leaf(rule: hit.rule)) }
            }
        }
        return cut
    }

    /// The ids of the relaxed windows (``StreamingDecider/windowed``) with no hit in the text so far;
    /// nil on an engine error (then nothing is released).
    func windowsWithoutHit() -> Set<String>? {
        guard let windowed = decider.windowed else { return [] }
        let scanner = windowScanner ?? windowed.makeScanner()
        windowScanner = scanner
        let decision = scanner.decide(InputMessage(id: .string("windows"), text: text, error: nil))
        guard decision.errors.isEmpty else { return nil }
        var ids = Set(decider.leafWindows.values.map(\.node))
        for hit in decision.hits { ids.remove(hit.rule) }
        return ids
    }

    /// How many original scalars before `index` have a kept (normalized) character.
    static func keptOriginals(before index: Int, _ normalized: NormalizedText) -> Int {
        var count = 0
        var last: Int32 = -1
        for origin in normalized.keptOrigin {
            guard Int(origin) < index else { break }
            if origin != last { count += 1 }
            last = origin
        }
        return count
    }

    /// How many kept (normalized) characters come from original scalars before `index`.
    static func keptBefore(_ index: Int, _ normalized: NormalizedText) -> Int {
        let origins = normalized.keptOrigin
        var low = 0, high = origins.count
        while low < high {
            let mid = (low + high) / 2
            if Int(origins[mid]) < index { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// The first original scalar of a construct normalization reads whole that may not have ended yet: an
    /// HTML tag or character reference, a parenthesised annotation, a run of ASCII with no blank.
    static func openConstruct(_ scalars: [UInt32]) -> Int {
        let n = scalars.count
        var cut = n
        // A tag: `<` with no `>`, `<` or line break after it, within 402 characters.
        var k = n - 1
        while k >= 0 && n - k <= 402 {
            let v = scalars[k]
            if v == 0x3E || v == 0x0A { break }
            if v == 0x3C { cut = k; break }
            k -= 1
        }
        // A reference: `&` with no `;` after it, within 12 characters.
        k = n - 1
        while k >= 0 && n - k <= 12 {
            let v = scalars[k]
            if v == 0x3B { break }
            if v == 0x26 { cut = min(cut, k); break }
            k -= 1
        }
        // An annotation: `(` or `（` with no closing parenthesis after it, within 100 characters.
        k = n - 1
        while k >= 0 && n - k <= 100 {
            let v = scalars[k]
            if v == 0x29 || v == 0xFF09 { break }
            if v == 0x28 || v == 0xFF08 { cut = min(cut, k); break }
            k -= 1
        }
        // A web address, e-mail address, @handle or hash: the run of printable ASCII without blanks at the end.
        k = n
        while k > 0, scalars[k - 1] > 0x20, scalars[k - 1] < 0x7F { k -= 1 }
        return min(cut, k)
    }

    /// How many leading bytes of `bytes` are complete UTF-8 characters (an invalid byte counts as one:
    /// it will never become valid).
    static func completePrefixForTesting(_ bytes: [UInt8]) -> Int { StreamingDecider.completePrefix(bytes) }
}

extension StreamingDecider {
    /// How many leading bytes of `bytes` end on a character boundary (a trailing incomplete sequence of a
    /// multi-byte character is left out; anything invalid passes through as it is).
    static func completePrefix(_ bytes: [UInt8]) -> Int {
        let n = bytes.count
        var k = n
        var back = 0
        while k > 0, back < 4, bytes[k - 1] & 0xC0 == 0x80 { k -= 1; back += 1 }
        guard k > 0 else { return back == n && n < 4 ? 0 : n }
        let lead = bytes[k - 1]
        let need: Int
        if lead & 0xE0 == 0xC0 { need = 2 } else if lead & 0xF0 == 0xE0 { need = 3 } else if lead & 0xF8 == 0xF0 { need = 4 } else { return n }
        return need > back + 1 ? k - 1 : n
    }
}
