import Foundation
import ReplyGuardPCRE2

/// A span in a message: original scalar offsets and the kept (normalized) positions they cover.
struct Span: Equatable {
    var start: Int32
    var end: Int32
    var keptStart: Int32
    var keptEnd: Int32
}

/// What a hit records of its rule.
struct RuleLabel {
    let id: String
    let pack: String
    let category: String
    let action: Verdict?
    let score: Int?
}

/// Per-thread matching state for an ``Engine``: normalization buffers, literal hits, the PCRE2 matcher.
/// Not thread-safe; make one per thread with ``Engine/makeScanner()``.
public final class MessageScanner {
    public let engine: Engine
    private let matcher: PCRE2Matcher
    // What every message touches, held by this scanner so that scanners on different cores never
    // count references on the same objects (atomic increments on a shared cache line cost more than the
    // matching itself). The engine keeps the automaton and tables alive; the strings are this scanner's
    // own copies.
    private let automaton: LiteralAutomaton
    private let tables: NormalizationTables
    private let plainSymbols: UnsafeMutablePointer<UInt16>
    private let normalizer: Normalizer
    private let digest: String
    private let ruleLabels: [RuleLabel]
    /// The enabled models' scores, summed in the prescreen (nil without models).
    private let modelPrescreen: ModelPrescreen?
    private let work = NormalizationWorkspace()
    private var literalHits: [(node: Int32, span: Span)] = []
    private var nodeHitRange: [Range<Int>?]
    private var touched: [Bool]
    private var touchedSlots: [Int] = []
    private var errors: [DecisionError] = []
    /// Where each exception with a `match` matched in the current message (empty: not at all).
    private var exceptionSpans: [[Span]]
    /// The prefilter clauses marked in the current message, in the order first seen.
    private var seenClauses: [Int32] = []
    /// The literal occurrences of the current message that hold (pattern, span).
    private var validMatches: [(pattern: Int32, span: Span)] = []
    /// Matches of words an evasion derives that the automaton does not report by itself — stretched words
    /// (see ``findStretchedMatches()``) and homophone words (``findHomophoneMatches()``) — as kept indices
    /// of their first and last scalars, and the kept index of each scalar of the collapsed view.
    private var derivedMatches: [(pattern: Int32, start: Int32, end: Int32)] = []
    private var collapsed: [Int32] = []
    /// `clauseSeen[c] == generation` when a Chinese character or run of prefilter clause `c` occurs in
    /// the current message.
    private var clauseSeen: [Int]
    private var generation = 0
    private var prescreen = PrescreenGovernor()
    /// The words of rules that ended in the current message while the prescreen read it
    /// (``Engine/PrescreenRole/noted``), and whether one of them was deferred (``Engine/PrescreenRole/deferred``).
    private var notedPatterns: [Int32] = []
    private var deferredSeen = false
    /// Marks of the current message (`== generation`), in raw memory (an array would check that it is
    /// uniquely referenced at every write): per pattern, noted; per node, a word of literal node `n` ended
    /// in it, or one certainly matched there (see ``deferredRulesCannotMatch(_:longestFillerRun:)``); per
    /// slot, checked by the prescreen.
    private let patternNoted: UnsafeMutablePointer<Int>
    private let nodeSeen: UnsafeMutablePointer<Int>
    private let nodeCertain: UnsafeMutablePointer<Int>
    private let slotChecked: UnsafeMutablePointer<Int>
    /// Messages the prescreen settled that a word of a rule sent to the full path before it checked the
    /// rule's other parts (a count for tests: ``Engine/PrescreenRole/deferred``).
    private(set) var settledAfterDeferredWords = 0
    private let hasStretchedWords: Bool
    private let hasHomophoneWords: Bool
    private let hasEmojiWords: Bool
    /// The `emoji` evasion's view of the current message (see ``findEmojiMatches(_:)``): its bytes, its
    /// normalization (made on first use) and the matches of emoji words found there.
    private var emojiCopy: [UInt8] = []
    private var emojiWork: NormalizationWorkspace?
    private var emojiMatches: [(pattern: Int32, span: Span)] = []
    private var currentSlot = 0
    /// The regexes through which the always-evaluated slots can match without a literal hit, as one list
    /// in slot order, each with its slot and its gate (``Engine/alwaysEvaluated``,
    /// ``Engine/alwaysEvaluatedUngatedRegexes``): every message not settled by the prescreen runs through it.
    private let alwaysEvaluatedGates: [(slot: Int, gate: RegexGate)]
    /// The same pairs split: those with a clause that only a Chinese character can meet, listed under
    /// the first such clause (CSR, `anchoredGates` from `anchoredGateStart[c]` to `anchoredGateStart[c + 1]`:
    /// a message where that clause is not seen cannot pass them), and the others.
    private let unanchoredGates: [(slot: Int, gate: RegexGate)]
    private let anchoredGates: [(slot: Int, gate: RegexGate)]
    private let anchoredGateStart: [Int32]
    private let gateClauses: [GateClause]

    init(engine: Engine) {
        self.engine = engine
        matcher = PCRE2Matcher(limits: engine.ruleSet.policy.limits)
        automaton = engine.automaton
        hasStretchedWords = engine.hasStretchedWords
        hasHomophoneWords = engine.hasHomophoneWords
        hasEmojiWords = engine.hasEmojiWords
        tables = engine.normalizer.tables
        plainSymbols = engine.plainSymbols.entries
        normalizer = engine.normalizer
        func own(_ s: String) -> String { String(decoding: Array(s.utf8), as: UTF8.self) }
        digest = own(engine.ruleSet.digest)
        ruleLabels = engine.rules.map { RuleLabel(id: own($0.id), pack: own($0.packID), category: own($0.category), action: $0.action, score: $0.score) }
        modelPrescreen = engine.models.isEmpty ? nil : ModelPrescreen(engine.models)
        nodeHitRange = Array(repeating: nil, count: engine.nodes.count)
        touched = Array(repeating: false, count: engine.slotRoots.count)
        exceptionSpans = Array(repeating: [], count: engine.exceptions.count)
        clauseSeen = Array(repeating: 0, count: engine.gateClauses.count)
        func marks(_ count: Int) -> UnsafeMutablePointer<Int> {
            let marks = UnsafeMutablePointer<Int>.allocate(capacity: max(count, 1))
            marks.initialize(repeating: 0, count: max(count, 1))
            return marks
        }
        patternNoted = marks(engine.automaton.patternCount)
        nodeSeen = marks(engine.nodes.count)
        nodeCertain = marks(engine.nodes.count)
        slotChecked = marks(engine.slotRoots.count)
        alwaysEvaluatedGates = zip(engine.alwaysEvaluated, engine.alwaysEvaluatedUngatedRegexes).flatMap { slot, regexes in
            regexes.map { (slot: slot, gate: engine.regexGates[$0]) }
        }
        gateClauses = engine.gateClauses
        var unanchored: [(slot: Int, gate: RegexGate)] = []
        var anchored = [[(slot: Int, gate: RegexGate)]](repeating: [], count: engine.gateClauses.count)
        for (slot, gate) in alwaysEvaluatedGates {
            let clauses = engine.gateClauses
            if let c = gate.clauses.first(where: { !clauses[$0].han.isEmpty && clauses[$0].ascii == (0, 0) && clauses[$0].other == 0 }) {
                anchored[c].append((slot, gate))
            } else {
                unanchored.append((slot, gate))
            }
        }
        unanchoredGates = unanchored
        anchoredGates = anchored.flatMap { $0 }
        var start: [Int32] = [0]
        for list in anchored { start.append(start.last! + Int32(list.count)) }
        anchoredGateStart = start
    }

    deinit {
        patternNoted.deallocate()
        nodeSeen.deallocate()
        nodeCertain.deallocate()
        slotChecked.deallocate()
    }

    /// Decides a message read from input. A message that could not be read (malformed JSON, a missing
    /// field) carries its reason as the first error and is escalated: `scan` and `filter` both decide
    /// through here, so they agree.
    public func decide(_ message: InputMessage) -> Decision {
        var decision = message.text.withUnsafeBufferPointer { decide($0, id: message.id) }
        if let error = message.error {
            decision.errors.insert(DecisionError(rule: nil, message: error), at: 0)
            decision.verdict = max(decision.verdict, .escalate)
        }
        return decision
    }

    public func decide(_ message: String, id: MessageID) -> Decision {
        var copy = message
        return copy.withUTF8 { decide($0, id: id) }
    }

    /// Decides one message given as UTF-8 bytes (invalid UTF-8 is read, reported and escalated).
    public func decide(bytes: [UInt8], id: MessageID) -> Decision {
        bytes.withUnsafeBufferPointer { decide($0, id: id) }
    }

    /// ``decide(bytes:id:)`` on bytes where they lie (scan's workers decide lines inside a batch).
    package func decide(_ bytes: UnsafeBufferPointer<UInt8>, id: MessageID) -> Decision {
        generation += 1
        seenClauses.removeAll(keepingCapacity: true)
        // With a model pack the prescreen scores the kept text as it goes (``ModelPrescreen``).
        if engine.options.prefilter && prescreen.shouldTry() {
            let allowed = certainlyAllowed(bytes)
            prescreen.record(allowed)
            if allowed {
                return Decision(id: id, verdict: .allow, scores: [:], hits: [], errors: [], suppressed: [], policy: digest)
            }
        }
        normalizer.normalize(bytes, into: work, automaton: automaton, plainSymbols: plainSymbols, otherMarks: engine.otherMarks)
        errors.removeAll(keepingCapacity: true)
        if work.invalidUTF8Count > 0 {
            errors.append(DecisionError(rule: nil, message: "message is not valid UTF-8 (\(work.invalidUTF8Count) invalid byte(s) read as U+FFFD)"))
        }
        derivedMatches.removeAll(keepingCapacity: true)
        if hasStretchedWords { findStretchedMatches() }
        if hasHomophoneWords { findHomophoneMatches() }
        emojiMatches.removeAll(keepingCapacity: true)
        if hasEmojiWords { findEmojiMatches(bytes) }
        collectLiteralHits()

        // Which slots to evaluate: those with a literal hit, plus those with ungated regexes.
        // A slot is touched by the first of its regexes whose prefilters do not rule it out.
        let facts = GateFacts(work, generation: generation)
        if !engine.options.prefilter {
            for (slot, _) in alwaysEvaluatedGates where !touched[slot] {
                touched[slot] = true
                touchedSlots.append(slot)
            }
        } else if facts.markup {
            // (With markup every clause of Chinese characters counts as met: see ``gateMightPass(_:_:_:)``.)
            for (slot, gate) in alwaysEvaluatedGates where !touched[slot] && gateMightPass(gate, facts, bytes) {
                touched[slot] = true
                touchedSlots.append(slot)
            }
        } else {
            for (slot, gate) in unanchoredGates where !touched[slot] && gateMightPass(gate, facts, bytes) {
                touched[slot] = true
                touchedSlots.append(slot)
            }
            for c in seenClauses {
                for i in Int(anchoredGateStart[Int(c)])..<Int(anchoredGateStart[Int(c) + 1]) {
                    let (slot, gate) = anchoredGates[i]
                    if !touched[slot] && gateMightPass(gate, facts, bytes) {
                        touched[slot] = true
                        touchedSlots.append(slot)
                    }
                }
            }
        }
        touchedSlots.sort()
        var ruleSpans: [(rule: Int, spans: [Span])] = []
        var anyExceptionHit = false
        for slot in touchedSlots {
            currentSlot = slot
            let spans = evaluate(engine.slotRoots[slot], bytes)
            if spans.isEmpty { continue }
            if slot < engine.rules.count { ruleSpans.append((slot, spans)) } else { exceptionSpans[slot - engine.rules.count] = spans; anyExceptionHit = true }
        }
        for slot in touchedSlots { touched[slot] = false }
        touchedSlots.removeAll(keepingCapacity: true)
        for (node, _) in literalHits { nodeHitRange[Int(node)] = nil }

        // Hits, exceptions, scores, verdict.
        var hits: [Hit] = []
        var suppressed: [Suppression] = []
        var scores: [String: Int] = [:]
        var verdict = Verdict.allow
        for (ruleIndex, spans) in ruleSpans {
            let rule = ruleLabels[ruleIndex]
            guard let spans = unexcepted(spans, of: rule, &suppressed) else { continue }
            let merged = MessageScanner.merge(spans)
            var reported = false
            if rule.action == .block, let speech = engine.reportedSpeech {
                reported = merged.allSatisfy { isReportedSpeech($0, speech) }
            }
            for span in merged { hits.append(makeHit(rule, span, bytes, reported: reported)) }
            if let action = rule.action { verdict = max(verdict, reported ? engine.ruleSet.policy.reportedSpeech!.action : action) }
            if let score = rule.score { scores[rule.category, default: 0] += score }
        }
        if modelPrescreen != nil { scoreModels(bytes, &hits, &suppressed, &verdict) }
        for (category, score) in scores {
            guard let thresholds = engine.ruleSet.policy.thresholds[category] else { continue }
            if let block = thresholds.block, score >= block { verdict = max(verdict, .block) }
            if let escalate = thresholds.escalate, score >= escalate { verdict = max(verdict, .escalate) }
        }
        if anyExceptionHit { for i in exceptionSpans.indices { exceptionSpans[i].removeAll() } }
        literalHits.removeAll(keepingCapacity: true)
        // The scanner keeps its error buffer; the decision gets its own (none, usually: no allocation).
        let decisionErrors = errors.isEmpty ? [] : errors
        return Decision(id: id, verdict: errors.isEmpty ? verdict : max(verdict, .escalate), scores: scores, hits: hits,
                        errors: decisionErrors, suppressed: suppressed, policy: digest)
    }

    /// Scores every enabled model on the kept text the normalization built (a message with no kept
    /// character is not scored). A model at or above its threshold is a hit of `<pack>.model` whose spans
    /// are the first occurrences of its (up to three) most contributing distinct n-grams, merged.
    private func scoreModels(_ bytes: UnsafeBufferPointer<UInt8>, _ hits: inout [Hit], _ suppressed: inout [Suppression], _ verdict: inout Verdict) {
        let kept = work.kept.buffer
        guard kept.count > 0 else { return }
        for compiled in engine.models {
            let p = compiled.model.probability(kept)
            guard p >= compiled.escalate else { continue }
            let action: Verdict = compiled.block.map { p >= $0 } == true ? .block : .escalate
            let label = RuleLabel(id: compiled.ruleID, pack: compiled.packID, category: compiled.category, action: action, score: nil)
            let origin = work.keptOrigin.buffer
            var spans: [Span] = compiled.model.features(Array(kept)).prefix(3).filter { $0.contribution > 0 }.map { f in
                Span(start: origin[f.first.lowerBound], end: origin[f.first.upperBound - 1] + 1,
                     keptStart: Int32(f.first.lowerBound), keptEnd: Int32(f.first.upperBound))
            }
            if spans.isEmpty { spans = [Span(start: 0, end: Int32(work.originalScalarCount), keptStart: 0, keptEnd: Int32(kept.count))] }
            guard let left = unexcepted(spans, of: label, &suppressed) else { continue }
            for span in MessageScanner.merge(left) {
                var hit = makeHit(label, span, bytes, reported: false)
                hit.modelScore = p
                hits.append(hit)
            }
            verdict = max(verdict, action)
        }
    }

    /// The spans of `rule` that the policy's exceptions leave, or nil (and a suppression noted) when none
    /// is left. An exception without `match`, or with `scope: message`, suppresses the rule in the whole
    /// message once its match (if any) matches anywhere; otherwise (`scope: hit`, the default) it
    /// suppresses only the spans that one of its own matches covers, so allowing 三黄片 leaves the
    /// separate 黄片 in 三黄片黄片 a hit, and allowing 操 leaves 操你妈 one.
    private func unexcepted(_ spans: [Span], of rule: RuleLabel, _ suppressed: inout [Suppression]) -> [Span]? {
        var left = spans
        for (index, exception) in engine.exceptions.enumerated() where exception.covers(rule.id) {
            let matched = exceptionSpans[index]
            if exception.match == nil || (exception.scope == .message && !matched.isEmpty) {
                left.removeAll()
            } else if !matched.isEmpty {
                left.removeAll { span in matched.contains { $0.start <= span.start && $0.end >= span.end } }
            }
            if left.isEmpty {
                suppressed.append(Suppression(rule: rule.id, reason: exception.reason))
                return nil
            }
        }
        return left
    }

    /// One pass over the message that builds no tables: true when it certainly decides as an allow with
    /// nothing to report — no word that can make a rule match ends anywhere in it (words under `not` and
    /// words of exceptions cannot) and no regex of an always-evaluated rule can match (its prefilters
    /// fail). Whatever the pass does not model (invalid UTF-8, expansions, HTML markup, an opening
    /// parenthesis after a Chinese character — blanks and ignorables between them — which may start a
    /// pinyin annotation) answers false, and the full path decides.
    /// It computes exactly what ``Normalizer/normalize(_:into:automaton:plainSymbols:)`` would for the
    /// prefilters: the kept scalars run through the automaton, the folded view's ASCII bytes, whether
    /// folding changed anything, the digits.
    private func certainlyAllowed(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var pass = PrescreenPass()
        modelPrescreen?.reset()
        if !notedPatterns.isEmpty { notedPatterns.removeAll(keepingCapacity: true) }
        deferredSeen = false
        let count = bytes.count
        var i = 0
        while i < count {
            let b0 = bytes[i]
            // Fast path: a 3-byte sequence for a scalar kept as itself (most Chinese text); the table
            // rejects overlong forms and surrogates (see ``PlainSymbolTable``).
            if b0 & 0xF0 == 0xE0, i + 2 < count, bytes[i + 1] & 0xC0 == 0x80, bytes[i + 2] & 0xC0 == 0x80 {
                let value = UInt32(b0 & 0x0F) << 12 | UInt32(bytes[i + 1] & 0x3F) << 6 | UInt32(bytes[i + 2] & 0x3F)
                let symbol = plainSymbols[Int(value)]
                if symbol != PlainSymbolTable.general {
                    pass.previous = value
                    pass.digitRuns.end()
                    if let modelPrescreen { modelPrescreen.add(value) }
                    i += 3
                    let reporting = automaton.step(&pass.state, symbol: Int32(symbol))
                    if reporting > 0 && !noteWordEnds(reporting) { return false }
                    continue
                }
            }
            if b0 < 0x80 {
                // What may start an HTML tag, character reference or JSON escape: normalization decodes those.
                if b0 == 0x26 || b0 == 0x3C, i + 1 < count, MessageScanner.mayStartMarkup(bytes[i + 1]) { return false }
                if b0 == 0x5C, i + 1 < count, MessageScanner.mayStartEscape(bytes[i + 1]) { return false }
                guard prescreen(UInt32(b0), at: i, length: 1, &pass) else { return false }
                i += 1
                continue
            }
            let (value, length) = UTF8Scanner.decodeMultibyte(bytes, at: i)
            guard length > 0, prescreen(value, at: i, length: length, &pass) else { return false } // invalid UTF-8: the full path reports it
            // An emoji that stands for a character: the full path reads the emoji view.
            if hasEmojiWords && length == 4 && tables.isEmojiWithReading(value) { return false }
            i += length
        }
        work.foldedASCII = (pass.low, pass.high)
        work.otherSeen = pass.otherSeen
        work.foldingIsIdentity = pass.identity
        work.longestDigitRun = pass.digitRuns.longest
        work.digitCount = pass.digitRuns.total
        if let modelPrescreen, modelPrescreen.mightReachAThreshold() { return false }
        let unanchored = pass.low | pass.high == 0 ? engine.prescreenUnanchoredWithoutASCII : engine.prescreenUnanchored
        if unanchored.contains(where: { regexMightMatch($0, bytes) }) { return false }
        for c in seenClauses {
            for index in engine.prescreenAnchored[Int(c)] where regexMightMatch(Int(index), bytes) { return false }
        }
        if deferredSeen {
            guard deferredRulesCannotMatch(bytes, longestFillerRun: pass.fillerRuns.longest) else { return false }
            settledAfterDeferredWords += 1
        }
        return true
    }

    /// For the prescreen, after the whole message was read with some deferred word in it: true when no
    /// rule such a word triggers can match or fail (see ``Engine/PrescreenRole``). A rule's literal node
    /// counts as possibly hit when one of its words ended anywhere (gaps, word boundaries, links and
    /// `within` not checked); a regex as possibly matching when its prefilters let it through, and then
    /// also as possibly failing (a match limit escalates), so a rule that would run a regex goes to the
    /// full path. A `not` stops an `all` only when one of its words certainly matches: a word without
    /// Latin letters or digits (no word boundary or link to check) in a message whose fillers never run
    /// longer than the policy allows inside a word (`longestFillerRun`).
    private func deferredRulesCannotMatch(_ bytes: UnsafeBufferPointer<UInt8>, longestFillerRun: Int) -> Bool {
        let nodeStart = engine.patternNodeStart, patternNodes = engine.patternNodes
        let pieceStart = engine.patternPieceStart, pieces = engine.patternPieces
        // Every literal node of a rule with a word that ended (the words a half of a `homophones` word
        // stands for: their nodes too).
        let gapsHold = longestFillerRun <= normalizer.maxFiller
        for pattern in notedPatterns {
            let p = Int(pattern)
            let certain = gapsHold && !engine.patternHasASCIIAlphanumeric[p]
            for n in Int(nodeStart[p])..<Int(nodeStart[p + 1]) {
                nodeSeen[Int(patternNodes[n])] = generation
                if certain { nodeCertain[Int(patternNodes[n])] = generation }
            }
            for k in Int(pieceStart[p])..<Int(pieceStart[p + 1]) {
                let word = Int(pieces[k].word)
                for n in Int(nodeStart[word])..<Int(nodeStart[word + 1]) { nodeSeen[Int(patternNodes[n])] = generation }
            }
        }
        // Every rule a deferred word triggers, each once.
        let roles = engine.patternPrescreenRole, triggers = engine.literalTriggers, literalSlot = engine.literalSlot
        let ruleCount = engine.rules.count
        func mightMatter(_ word: Int) -> Bool {
            for n in Int(nodeStart[word])..<Int(nodeStart[word + 1]) where triggers[Int(patternNodes[n])] {
                let slot = Int(literalSlot[Int(patternNodes[n])])
                guard slot < ruleCount, slotChecked[slot] != generation else { continue }
                slotChecked[slot] = generation
                var runsRegex = false
                if mightMatch(engine.slotRoots[slot], bytes, &runsRegex) || runsRegex { return true }
            }
            return false
        }
        for pattern in notedPatterns where roles[Int(pattern)] & Engine.PrescreenRole.deferred != 0 {
            let p = Int(pattern)
            if mightMatter(p) { return false }
            for k in Int(pieceStart[p])..<Int(pieceStart[p + 1]) where mightMatter(Int(pieces[k].word)) { return false }
        }
        return true
    }

    /// Whether `node` might have a span in the current message, from what the prescreen saw (see
    /// ``deferredRulesCannotMatch(_:longestFillerRun:)``); `runsRegex` is set when evaluating it as ``evaluate(_:_:)`` does
    /// (children of `all` in order, stopping at the first that cannot match) would reach a regex whose
    /// prefilters let it through.
    private func mightMatch(_ node: Int, _ bytes: UnsafeBufferPointer<UInt8>, _ runsRegex: inout Bool) -> Bool {
        switch engine.nodes[node] {
        case .literal:
            return nodeSeen[node] == generation
        case .regex(let index):
            guard regexMightMatch(index, bytes) else { return false }
            runsRegex = true
            return true
        case .any(let range):
            var any = false
            for child in range where mightMatch(engine.children[child], bytes, &runsRegex) { any = true }
            return any
        case .distinct(let child, _):
            // one possible hit is all the prescreen can tell (not how many different ones)
            return mightMatch(child, bytes, &runsRegex)
        case .all(let positive, let negative, _):
            for child in positive where !mightMatch(engine.children[child], bytes, &runsRegex) { return false }
            for child in negative { _ = mightMatch(engine.children[child], bytes, &runsRegex) }
            return !negative.contains { certainlyMatches(engine.children[$0]) }
        }
    }

    /// Whether `node`, a child of a `not`, certainly has a span in the current message: a literal node
    /// with a word that certainly matched, or `any` with such a child (see ``deferredRulesCannotMatch(_:longestFillerRun:)``).
    private func certainlyMatches(_ node: Int) -> Bool {
        switch engine.nodes[node] {
        case .literal: return nodeCertain[node] == generation
        case .any(let range): return range.contains { certainlyMatches(engine.children[$0]) }
        default: return false
        }
    }

    /// True for a byte after `<` or `&` that may continue a tag or reference (the full path decides).
    @inline(__always)
    static func mayStartMarkup(_ b: UInt8) -> Bool {
        (b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A || b == 0x23 || b == 0x2F || b == 0x21 || b == 0x3F
    }

    /// True for a byte after `\` that may continue a JSON string escape (the full path decides).
    @inline(__always)
    static func mayStartEscape(_ b: UInt8) -> Bool {
        switch b {
        case 0x22, 0x5C, 0x2F, 0x62, 0x66, 0x6E, 0x72, 0x74, 0x75: return true
        default: return false
        }
    }

    /// What the prescreen has read of a message so far.
    private struct PrescreenPass {
        var state: Int32 = 0
        var identity = true
        var previous: UInt32 = 0
        var low: UInt64 = 0, high: UInt64 = 0
        var digitRuns = DigitRunCounter()
        var otherSeen: UInt64 = 0
        /// The last kept scalar read by ``prescreen(_:at:length:_:)`` (with stretched words only).
        var lastKept: UInt32 = 0
        var fillerRuns = FillerRunCounter()
    }

    /// The longest run of fillers between two kept scalars of a message, read scalar by scalar: at least
    /// the largest gap normalization writes (a run of blanks counts as one filler there, here as many;
    /// ignorable characters inside a run neither end it nor count). Kept scalars are not read: a filler
    /// that does not start where the run's last filler or ignorable ended starts a new run.
    struct FillerRunCounter {
        private var end = -1, run = 0
        private(set) var longest = 0

        @inline(__always)
        mutating func note(filler offset: Int, length: Int) {
            run = offset == end ? run + 1 : 1
            end = offset + length
            longest = max(longest, run)
        }

        @inline(__always)
        mutating func note(ignorable offset: Int, length: Int) {
            if offset == end { end = offset + length }
        }
    }

    /// The prescreen's step for any scalar, as normalization treats it; false when the message needs the
    /// full path.
    @inline(__always)
    private func prescreen(_ value: UInt32, at offset: Int, length: Int, _ pass: inout PrescreenPass) -> Bool {
        guard !((value == 0x28 || value == 0xFF08) && normalizer.precedesAnnotation(pass.previous)) else { return false }
        if let marks = engine.otherMarks { pass.otherSeen |= marks.bit(value) }
        let entry = tables.isPlainKeep(value) ? value
            : value < NormalizationTables.flatLimit ? tables.flat[Int(value)] : tables.entry(value)
        let kind = entry >> NormalizationTables.kindShift, folded = entry & 0x1F_FFFF
        // What an annotation looks through does not count as the character before a parenthesis
        // (`當\u{200B}(dāng)`, `當 (dāng)`): ignorables and blanks.
        if kind != NormalizationTables.ignorable && !(kind == NormalizationTables.filler && Normalizer.isBlank(folded)) {
            pass.previous = value
        }
        switch kind {
        case NormalizationTables.keep, NormalizationTables.filler:
            if kind == NormalizationTables.filler { pass.fillerRuns.note(filler: offset, length: length) }
            if folded != value { pass.identity = false }
            pass.digitRuns.note(value, in: tables)
            if folded < 64 { pass.low |= 1 << UInt64(folded) } else if folded < 128 { pass.high |= 1 << UInt64(folded - 64) }
            guard kind == NormalizationTables.keep else { return true }
            // A Latin letter repeated may be a stretched word, which only the full path looks for.
            if hasStretchedWords {
                if folded == pass.lastKept && Engine.isLatinLetter(folded) { return false }
                pass.lastKept = folded
            }
            if let modelPrescreen { modelPrescreen.add(folded) }
            let reporting = automaton.step(&pass.state, folded)
            return reporting == 0 || noteWordEnds(reporting)
        case NormalizationTables.ignorable:
            pass.identity = false
            pass.fillerRuns.note(ignorable: offset, length: length)
            return true
        default:
            return false
        }
    }

    /// Notes the prefilter characters among the patterns a prescreen step reported; false when one of
    /// them is a word (the message needs the full path).
    @inline(__always)
    private func noteWordEnds(_ reporting: Int32) -> Bool {
        var wordEnds = false
        automaton.forEachPattern(reportedBy: reporting) { pattern in
            let role = engine.patternPrescreenRole[pattern]
            if role != 0 {
                if role & Engine.PrescreenRole.decisive != 0 { wordEnds = true }
                if role & Engine.PrescreenRole.deferred != 0 { deferredSeen = true }
                if role & Engine.PrescreenRole.noted != 0 && patternNoted[pattern] != generation {
                    patternNoted[pattern] = generation
                    notedPatterns.append(Int32(pattern))
                }
            }
            let han = engine.patternGateHan[pattern]
            if han >= 0 { markClauses(ofHan: Int(han)) }
        }
        return !wordEnds
    }

    private func makeHit(_ rule: RuleLabel, _ span: Span, _ bytes: UnsafeBufferPointer<UInt8>, reported: Bool) -> Hit {
        let byteStart = Int(work.offsets[Int(span.start)])
        let byteEnd = Int(work.offsets[Int(span.end)])
        let match = String(decoding: UnsafeBufferPointer(rebasing: bytes[byteStart..<byteEnd]), as: UTF8.self)
        return Hit(rule: rule.id, pack: rule.pack, category: rule.category, action: rule.action, score: rule.score,
                   start: Int(span.start), end: Int(span.end), byteStart: byteStart, byteEnd: byteEnd, match: match,
                   reported: reported)
    }

    /// True when `span` lies inside quotation marks and a reporting cue stands within the window just
    /// before the opening or just after the closing mark (in normalized characters), or when it follows a
    /// colon in the same sentence that a cue ends just before, with a third person named before the cue
    /// (该工作人员竟回复：…).
    private func isReportedSpeech(_ span: Span, _ speech: CompiledReportedSpeech) -> Bool {
        isQuoted(span, speech) || isIntroducedByColon(span, speech)
    }

    private func occurs(_ word: [UInt32], endingIn ends: ClosedRange<Int>, _ kept: UnsafeBufferPointer<UInt32>) -> Int? {
        for end in ends where end - word.count >= 0 && end <= kept.count {
            if kept[(end - word.count)..<end].elementsEqual(word) { return end - word.count }
        }
        return nil
    }

    private func isIntroducedByColon(_ span: Span, _ speech: CompiledReportedSpeech) -> Bool {
        let sentenceEnds: Set<UInt32> = [0x3002, 0xFF01, 0xFF1F, 0x21, 0x3F, 0x0A, 0xFF1B, 0x3B, 0x201C, 0x201D]
        var colon = -1
        var i = Int(span.start) - 1
        while i >= 0 && Int(span.start) - i <= 200 {
            let v = work.scalars[i]
            if v == 0xFF1A || v == 0x3A { colon = i; break }
            if sentenceEnds.contains(v) { return false }
            i -= 1
        }
        guard colon > 0 else { return false }
        let before = work.keptIndex(atOrAfterOriginal: colon)
        let kept = work.kept.buffer
        // the cue ends at most two characters before the colon (回复：, 回复称：, 竟回复道：)
        for cue in speech.cues {
            guard let start = occurs(cue, endingIn: max(0, before - 2)...before, kept) else { continue }
            let from = max(0, start - speech.window)
            for speaker in speech.speakers where speaker.count <= start - from {
                if (from...(start - speaker.count)).contains(where: { kept[$0..<$0 + speaker.count].elementsEqual(speaker) }) { return true }
            }
        }
        return false
    }

    private func isQuoted(_ span: Span, _ speech: CompiledReportedSpeech) -> Bool {
        let count = work.originalScalarCount
        let openers: Set<UInt32> = [0x201C, 0x300C, 0x300E, 0x2018, 0x300A, 0xFF02]
        let closers: Set<UInt32> = [0x201D, 0x300D, 0x300F, 0x2019, 0x300B]
        // Opening mark: the nearest quote character before the span, if it opens (ASCII " by parity).
        var open = -1
        var asciiQuotes = 0
        for i in 0..<Int(span.start) where work.scalars[i] == 0x22 { asciiQuotes += 1 }
        var i = Int(span.start) - 1
        while i >= 0 && Int(span.start) - i <= 400 {
            let v = work.scalars[i]
            if openers.contains(v) || (v == 0x22 && asciiQuotes % 2 == 1) { open = i; break }
            if closers.contains(v) || v == 0x22 { return false }
            i -= 1
        }
        guard open >= 0 else { return false }
        var close = -1
        i = Int(span.end)
        while i < count && i - Int(span.end) <= 400 {
            let v = work.scalars[i]
            if closers.contains(v) || v == 0x22 || v == 0xFF02 { close = i; break }
            if openers.contains(v) { return false }
            i += 1
        }
        guard close >= 0 else { return false }
        let before = work.keptIndex(atOrAfterOriginal: open), after = work.keptIndex(atOrAfterOriginal: close + 1)
        let kept = work.kept.buffer
        func containsCue(_ range: Range<Int>) -> Bool {
            speech.cues.contains { cue in
                guard cue.count <= range.count else { return false }
                return (range.lowerBound...(range.upperBound - cue.count)).contains { kept[$0..<$0 + cue.count].elementsEqual(cue) }
            }
        }
        return containsCue(max(0, before - speech.window)..<before) || containsCue(after..<min(kept.count, after + speech.window))
    }

    /// The `stretched-letters` evasion: when the message repeats a Latin letter (adjacent, no filler
    /// between), steps the automaton once more over its collapsed view — each such run as one letter,
    /// shifted by ``Engine/shadow`` — and keeps the stretched words found there whose runs in the message
    /// are at least as long as in the word, and longer somewhere (otherwise the word itself matched), as
    /// kept spans covering the whole runs.
    private func findStretchedMatches() {
        let kept = work.kept.buffer, gaps = work.gaps.buffer, n = kept.count
        var k = 1
        while k < n && !(kept[k] == kept[k - 1] && gaps[k] == 0 && Engine.isLatinLetter(kept[k])) { k += 1 }
        guard k < n else { return }
        collapsed.removeAll(keepingCapacity: true)
        var state: Int32 = 0
        var found: [(pattern: Int32, last: Int32)] = []
        for k in 0..<n {
            let v = kept[k], latin = Engine.isLatinLetter(v)
            if latin && k > 0 && kept[k - 1] == v && gaps[k] == 0 { continue }
            collapsed.append(Int32(k))
            let reporting = automaton.step(&state, symbol: automaton.symbol(latin ? v | Engine.shadow : v))
            if reporting > 0 {
                automaton.forEachPattern(reportedBy: reporting) { pattern in
                    if engine.patternStretchRuns[pattern] != nil { found.append((Int32(pattern), Int32(collapsed.count - 1))) }
                }
            }
        }
        collapsed.append(Int32(n))
        for (pattern, last) in found {
            let runs = engine.patternStretchRuns[Int(pattern)]!
            let first = Int(last) - runs.count + 1
            var longer = false, holds = true
            for (offset, run) in runs.enumerated() {
                let length = Int(collapsed[first + offset + 1] - collapsed[first + offset])
                if length < Int(run) { holds = false; break }
                if length > Int(run) { longer = true }
            }
            if holds && longer { derivedMatches.append((pattern, collapsed[first], collapsed[Int(last) + 1] - 1)) }
        }
    }

    /// The `homophones` evasion: each half of a homophone word found while normalizing puts the word at one
    /// place in the kept text; the window there is a match when it differs from the word in exactly one
    /// scalar, a Chinese character with the same toneless reading as the word's (a window equal to the
    /// word is the word's own match). Gaps, word boundaries and links are checked like any match's.
    private func findHomophoneMatches() {
        let kept = work.kept.buffer
        let pieceStart = engine.patternPieceStart, pieces = engine.patternPieces
        let plainCount = work.matches.count
        for index in 0..<plainCount {
            let match = work.matches[index]
            let pattern = Int(match >> 32)
            let range = Int(pieceStart[pattern])..<Int(pieceStart[pattern + 1])
            if range.isEmpty { continue }
            let pieceFirst = Int(match & 0xFFFF_FFFF) - Int(automaton.patternLengths[pattern]) + 1
            for k in range {
                let (word, offset) = pieces[k]
                let scalars = engine.homophoneWordScalars[Int(word)]
                let start = pieceFirst - Int(offset), end = start + scalars.count - 1
                guard start >= 0, end < kept.count else { continue }
                var swapped = -1
                for (i, v) in scalars.enumerated() where kept[start + i] != v {
                    if swapped >= 0 { swapped = -2; break }
                    swapped = i
                }
                guard swapped >= 0, Normalizer.isHan(kept[start + swapped]), Normalizer.isHan(scalars[swapped]),
                      let reading = tables.pinyin(of: scalars[swapped]), tables.pinyin(of: kept[start + swapped]) == reading else { continue }
                if derivedMatches.contains(where: { $0.pattern == word && $0.start == Int32(start) }) { continue }
                derivedMatches.append((word, Int32(start), Int32(end)))
            }
        }
    }

    /// The `emoji` evasion: when the message holds an emoji that stands for a character (🐶 for 狗; as
    /// written or as a character reference), normalizes a copy of it in which each such emoji is its
    /// stand-in scalar (a reference: the stand-in, then zero-width spaces for the rest of it, so that
    /// every original scalar keeps its index) and keeps the emoji words found there whose gaps, word
    /// boundaries and links hold, as spans of the original. Messages without such an emoji cost a
    /// `memchr` for the lead byte of U+1F000 … (or nothing, with markup they cost the scan).
    private func findEmojiMatches(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard work.markup.count > 0 || (bytes.count > 0 && memchr(bytes.baseAddress!, 0xF0, bytes.count) != nil) else { return }
        let scalars = work.scalars.buffer, offsets = work.offsets.buffer, n = scalars.count
        emojiCopy.removeAll(keepingCapacity: true)
        var found = false
        var i = 0
        while i < n {
            let v = scalars[i]
            var standIn: UInt32?, end = i + 1
            if v >= 0x1F000 {
                standIn = tables.emojiStandIn(v)
            } else if v == 0x26 || v == 0x5C, work.markup.count > 0, let (e, decoded) = Normalizer.markup(scalars, i), decoded != Normalizer.tag {
                standIn = tables.emojiStandIn(decoded)
                end = e
            }
            if let standIn {
                found = true
                emojiCopy += [UInt8(0xF0 | standIn >> 18), UInt8(0x80 | standIn >> 12 & 0x3F), UInt8(0x80 | standIn >> 6 & 0x3F), UInt8(0x80 | standIn & 0x3F)]
                for _ in i + 1..<end { emojiCopy += [0xE2, 0x80, 0x8B] } // U+200B, ignorable
                i = end
            } else {
                emojiCopy += UnsafeBufferPointer(rebasing: bytes[Int(offsets[i])..<Int(offsets[i + 1])])
                i += 1
            }
        }
        guard found else { return }
        let view = emojiWork ?? NormalizationWorkspace()
        emojiWork = view
        emojiCopy.withUnsafeBufferPointer { normalizer.normalize($0, into: view, automaton: automaton, plainSymbols: plainSymbols) }
        let kept = view.kept.buffer, gaps = view.gaps.buffer, origin = view.keptOrigin.buffer
        for index in 0..<view.matches.count {
            let match = view.matches[index]
            let pattern = Int(match >> 32)
            guard engine.patternIsEmoji[pattern] else { continue }
            let end = Int(match & 0xFFFF_FFFF), start = end - Int(automaton.patternLengths[pattern]) + 1
            if (start + 1...end).contains(where: { Int(gaps[$0]) > normalizer.maxFiller }) { continue }
            if engine.patternLeftBoundary[pattern], start > 0, gaps[start] == 0, Engine.isASCIIAlphanumeric(kept[start - 1]) { continue }
            if engine.patternRightBoundary[pattern], end + 1 < kept.count, gaps[end + 1] == 0, Engine.isASCIIAlphanumeric(kept[end + 1]) { continue }
            if engine.patternHasASCIIAlphanumeric[pattern],
               LinkToken.contains(view.scalars.buffer, first: Int(origin[start]), last: Int(origin[end])) { continue }
            let first = Int(origin[start]), last = work.originalEnd(after: Int(origin[end]))
            emojiMatches.append((Int32(pattern), Span(start: Int32(first), end: Int32(last), keptStart: Int32(work.keptIndex(atOrAfterOriginal: first)),
                                                      keptEnd: Int32(work.keptIndex(atOrAfterOriginal: last)))))
        }
    }

    /// Keeps the literal matches found while normalizing whose inner gaps and word boundaries hold, and
    /// notes the prefilter characters seen.
    private func collectLiteralHits() {
        let maxFiller = normalizer.maxFiller
        let kept = work.kept.buffer, gaps = work.gaps.buffer, origin = work.keptOrigin.buffer
        let nodeStart = engine.patternNodeStart, patternNodes = engine.patternNodes
        let triggers = engine.literalTriggers, literalSlot = engine.literalSlot
        // First the occurrences that hold (gaps, word boundaries, links) and the slots their trigger
        // words touch; then hits only for the nodes of touched slots and of slots evaluated anyway
        // (common words that trigger nothing — 你, 联系 next to a rarer word — are never sorted).
        validMatches.removeAll(keepingCapacity: true)
        let plainCount = work.matches.count
        for index in 0..<plainCount + derivedMatches.count {
            let pattern: Int, start: Int, end: Int
            if index < plainCount {
                let match = work.matches[index]
                pattern = Int(match >> 32)
                end = Int(match & 0xFFFF_FFFF)
                start = end - Int(automaton.patternLengths[pattern]) + 1
            } else {
                let match = derivedMatches[index - plainCount]
                (pattern, start, end) = (Int(match.pattern), Int(match.start), Int(match.end))
            }
            let han = engine.patternGateHan[pattern]
            if han >= 0 { markClauses(ofHan: Int(han)) }
            var inner = start + 1
            while inner <= end && Int(gaps[inner]) <= maxFiller { inner += 1 }
            if inner <= end { continue }
            if engine.patternLeftBoundary[pattern], start > 0, gaps[start] == 0,
               Engine.isASCIIAlphanumeric(kept[start - 1]) { continue }
            if engine.patternRightBoundary[pattern], end + 1 < kept.count, gaps[end + 1] == 0,
               Engine.isASCIIAlphanumeric(kept[end + 1]) { continue }
            if engine.patternHasASCIIAlphanumeric[pattern],
               LinkToken.contains(work.scalars.buffer, first: Int(origin[start]), last: Int(origin[end])) { continue }
            let span = Span(start: origin[start], end: Int32(work.originalEnd(after: Int(origin[end]))), keptStart: Int32(start), keptEnd: Int32(end + 1))
            validMatches.append((Int32(pattern), span))
            for n in Int(nodeStart[pattern])..<Int(nodeStart[pattern + 1]) where triggers[Int(patternNodes[n])] {
                let slot = Int(literalSlot[Int(patternNodes[n])])
                if !touched[slot] {
                    touched[slot] = true
                    touchedSlots.append(slot)
                }
            }
        }
        // Emoji words found in the emoji view (``findEmojiMatches(_:)``), checked there.
        for (pattern, span) in emojiMatches {
            validMatches.append((pattern, span))
            for n in Int(nodeStart[Int(pattern)])..<Int(nodeStart[Int(pattern) + 1]) where triggers[Int(patternNodes[n])] {
                let slot = Int(literalSlot[Int(patternNodes[n])])
                if !touched[slot] {
                    touched[slot] = true
                    touchedSlots.append(slot)
                }
            }
        }
        for (pattern, span) in validMatches {
            for n in Int(nodeStart[Int(pattern)])..<Int(nodeStart[Int(pattern) + 1]) {
                let node = patternNodes[n], slot = Int(literalSlot[Int(node)])
                if touched[slot] || engine.slotAlwaysEvaluated[slot] { literalHits.append((node, span)) }
            }
        }
        guard !literalHits.isEmpty else { return }
        literalHits.sort { $0.node != $1.node ? $0.node < $1.node : $0.span.start < $1.span.start }
        var i = 0
        while i < literalHits.count {
            let node = literalHits[i].node
            var j = i
            while j < literalHits.count && literalHits[j].node == node { j += 1 }
            nodeHitRange[Int(node)] = i..<j
            i = j
        }
    }

    /// Spans where `node` matches; empty when it does not. Positive children of `all` are ordered
    /// literal-only first (see ``Engine/children``), and evaluation stops at the first that fails.
    private func evaluate(_ node: Int, _ bytes: UnsafeBufferPointer<UInt8>) -> [Span] {
        switch engine.nodes[node] {
        case .literal:
            guard let range = nodeHitRange[node] else { return [] }
            return literalHits[range].map(\.span)
        case .regex(let index):
            return regexSpans(index, bytes)
        case .any(let range):
            var spans: [Span] = []
            for child in range { spans += evaluate(engine.children[child], bytes) }
            return spans
        case .all(let positive, let negative, let within):
            var results: [[Span]] = []
            var distinct = false
            for child in positive {
                let id = engine.children[child]
                let spans = evaluate(id, bytes)
                if spans.isEmpty { return [] }
                results.append(spans)
                if case .distinct = engine.nodes[id] { distinct = true }
            }
            for child in negative where !evaluate(engine.children[child], bytes).isEmpty { return [] }
            guard let within else { return results.count == 1 ? results[0] : results.flatMap { $0 } }
            guard distinct else { return MessageScanner.windows(results, within: within) }
            // Children asked for N different hits: each list's required count and its hits' texts.
            var counts: [Int] = [], texts: [[Int]] = []
            for (index, child) in positive.enumerated() {
                if case .distinct(_, let count) = engine.nodes[engine.children[child]] {
                    counts.append(Int(count))
                    texts.append(textIdentities(results[index]))
                } else {
                    counts.append(1)
                    texts.append([])
                }
            }
            return MessageScanner.windows(results, within: within, counts: counts, texts: texts)
        case .distinct(let child, let count):
            let spans = evaluate(child, bytes)
            guard spans.count >= count else { return [] }
            let all = Span(start: 0, end: 0, keptStart: 0, keptEnd: 0)
            return MessageScanner.distinctHits(spans, texts: textIdentities(spans), count: Int(count), startingAtOrAfter: all, including: nil) == nil ? [] : spans
        }
    }

    /// For each span, a number that is the same exactly for spans of the same matched text (their kept,
    /// normalized characters): `distinct:` counts different texts.
    private func textIdentities(_ spans: [Span]) -> [Int] {
        let kept = work.kept.buffer
        var seen: [ArraySlice<UInt32>: Int] = [:]
        return spans.map { span in
            let lower = max(0, min(Int(span.keptStart), kept.count)), upper = max(lower, min(Int(span.keptEnd), kept.count))
            let text = ArraySlice(kept[lower..<upper])
            if let id = seen[text] { return id }
            seen[text] = seen.count
            return seen.count - 1
        }
    }

    /// `count` hits of `spans` (text identities `texts`) starting at or after `from`'s start, of pairwise
    /// different text and not overlapping, with `including` (an index into `spans`) among them when given,
    /// chosen so that the last of them ends as early as possible (earliest end first, each new text
    /// taken when it overlaps none taken); nil when there are not that many.
    static func distinctHits(_ spans: [Span], texts: [Int], count: Int, startingAtOrAfter from: Span, including: Int?) -> [Int]? {
        var chosen: [Int] = including.map { [$0] } ?? []
        let order = spans.indices.filter { spans[$0].keptStart >= from.keptStart && $0 != including }
            .sorted { (spans[$0].keptEnd, spans[$0].keptStart) < (spans[$1].keptEnd, spans[$1].keptStart) }
        for candidate in order where chosen.count < count {
            let span = spans[candidate]
            if chosen.contains(where: { texts[$0] == texts[candidate] || (spans[$0].keptStart < span.keptEnd && span.keptStart < spans[$0].keptEnd) }) { continue }
            chosen.append(candidate)
        }
        return chosen.count >= count ? chosen : nil
    }

    /// False when regex `index` certainly cannot match the current message (its prefilters fail); needs
    /// the folded-view facts of the normalization (or the prescreen) and the Chinese characters seen.
    private func regexMightMatch(_ index: Int, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard engine.options.prefilter else { return true }
        return gateMightPass(engine.regexGates[index], GateFacts(work, generation: generation), bytes)
    }

    /// What the prefilters read of the current message (taken once for a run of gates).
    private struct GateFacts {
        let longestDigitRun: Int32, digitCount: Int32
        let foldedASCII: (UInt64, UInt64)
        let otherSeen: UInt64
        let markup: Bool
        let foldingIsIdentity: Bool
        let generation: Int

        @inline(__always)
        init(_ work: NormalizationWorkspace, generation: Int) {
            (longestDigitRun, digitCount) = (work.longestDigitRun, work.digitCount)
            foldedASCII = work.foldedASCII
            otherSeen = work.otherSeen
            markup = work.markup.count > 0
            foldingIsIdentity = work.foldingIsIdentity
            self.generation = generation
        }
    }

    /// ``regexMightMatch(_:_:)`` for a regex's gate (prefilters on).
    @inline(__always)
    private func gateMightPass(_ gate: RegexGate, _ facts: GateFacts, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        if gate.digitRun > facts.longestDigitRun || gate.digitCount > facts.digitCount { return false }
        // A clause of what every match of a folded-view regex contains is not met by the folded view (the
        // original when folding changed nothing): a byte PCRE2 says every match needs, the ASCII bytes
        // every match starts with, the characters read from the pattern (see ``RegexRequirement``).
        for c in gate.clauses {
            let clause = gateClauses[c]
            if gate.folded && (facts.foldedASCII.0 & clause.ascii.0 != 0 || facts.foldedASCII.1 & clause.ascii.1 != 0) { continue }
            // (The folded view keeps HTML tags as written, which the automaton did not read: with
            // markup in the message, Chinese characters are not looked for.)
            if !clause.han.isEmpty && (clauseSeen[c] == facts.generation || facts.markup) { continue }
            // Other characters: marked by original scalar while decoding (see ``OtherCharacterMarks``).
            if clause.other & facts.otherSeen != 0 { continue }
            return false
        }
        // The regex searches the original bytes (its view, or the folded view when folding changed
        // nothing): the byte every match needs is not there. (On a folded view built for the regex,
        // ``regexSpans(_:_:)`` checks the view itself.)
        if !(gate.folded && !facts.foldingIsIdentity), let required = gate.requiredByte,
           bytes.isEmpty || memchr(bytes.baseAddress!, Int32(required), bytes.count) == nil { return false }
        return true
    }

    @inline(__always)
    private func markClauses(ofHan h: Int) {
        for i in Int(engine.gateHanClauseStart[h])..<Int(engine.gateHanClauseStart[h + 1]) {
            let c = Int(engine.gateHanClauses[i])
            if clauseSeen[c] != generation {
                clauseSeen[c] = generation
                seenClauses.append(Int32(c))
            }
        }
    }

    private func regexSpans(_ index: Int, _ bytes: UnsafeBufferPointer<UInt8>) -> [Span] {
        guard regexMightMatch(index, bytes) else { return [] }
        let gate = engine.regexGates[index]
        // When folding changed nothing, the folded view is the original: search the bytes directly.
        let useFolded = gate.folded && !work.foldingIsIdentity
        if useFolded && !work.foldedViewReady { normalizer.buildFoldedView(work) }
        let subject = useFolded ? work.foldedBytes.buffer : bytes
        if useFolded, engine.options.prefilter, let required = gate.requiredByte,
           subject.isEmpty || memchr(subject.baseAddress!, Int32(required), subject.count) == nil { return [] }
        var byteRanges: [Range<Int>] = []
        do {
            try gate.pattern._withUnsafeGuaranteedRef { pattern in
                try matcher.forEachMatch(of: pattern, in: subject) { range in
                    if gate.validator?.accepts(subject[range]) ?? true { byteRanges.append(range) }
                    return true
                }
            }
        } catch {
            let rule = currentSlot < engine.rules.count ? engine.rules[currentSlot].id : nil
            errors.append(DecisionError(rule: rule, message: "regex at \(engine.regexes[index].location) failed: \((error as? PCRE2MatchError)?.message ?? "\(error)")"))
        }
        return byteRanges.map { range in
            let start: Int, end: Int
            if useFolded {
                start = work.originalIndex(forFoldedByte: range.lowerBound, isEnd: false)
                end = range.isEmpty ? start : work.originalIndex(forFoldedByte: range.upperBound, isEnd: true)
            } else {
                start = work.originalIndex(forByte: range.lowerBound)
                end = range.isEmpty ? start : work.originalIndex(forByte: range.upperBound, roundUp: true)
            }
            return Span(start: Int32(start), end: Int32(end),
                        keptStart: Int32(work.keptIndex(atOrAfterOriginal: start)),
                        keptEnd: Int32(work.keptIndex(atOrAfterOriginal: end)))
        }
    }

    /// For ``ReplyStream``: the original scalar index where a match of any of the regexes `indices` (into
    /// ``Engine/regexes``) could begin once more text follows `bytes` — the earliest start of a complete
    /// or partial match in its view (``PCRE2Matcher/earliestPossibleStart(of:in:)``) — or nil when none
    /// can begin inside `bytes`. Only starts at or after original scalar `from` are looked for (text
    /// before it is out already). No prefilter is used (they say what a complete match needs). A match
    /// error answers 0: everything is held.
    package func earliestPossibleStart(ofRegexes indices: [Int], in bytes: UnsafeBufferPointer<UInt8>, from: Int = 0) -> Int? {
        earliestPossibleMatch(ofRegexes: indices, in: bytes, from: from)?.start
    }

    /// ``earliestPossibleStart(ofRegexes:in:from:)`` and the regex (one of `indices`: the first
    /// of those with the least start, the first failing one on a match error) that can begin there.
    package func earliestPossibleMatch(ofRegexes indices: [Int], in bytes: UnsafeBufferPointer<UInt8>, from: Int = 0) -> (start: Int, regex: Int)? {
        normalizer.normalize(bytes, into: work, automaton: automaton, plainSymbols: plainSymbols, otherMarks: engine.otherMarks)
        var earliest: (start: Int, regex: Int)?
        for index in indices {
            let gate = engine.regexGates[index]
            let useFolded = gate.folded && !work.foldingIsIdentity
            if useFolded && !work.foldedViewReady { normalizer.buildFoldedView(work) }
            let subject = useFolded ? work.foldedBytes.buffer : bytes
            let first = useFolded ? work.foldedByte(atOrAfterOriginal: from) : Int(work.offsets[min(from, work.originalScalarCount)])
            let found: Int?
            do {
                found = try gate.pattern._withUnsafeGuaranteedRef { pattern throws(PCRE2MatchError) in
                    try matcher.earliestPossibleStart(of: pattern, in: subject, from: first)
                }
            } catch {
                return (0, index)
            }
            guard let byte = found else { continue }
            let start = useFolded ? work.originalIndex(forFoldedByte: byte, isEnd: false) : work.originalIndex(forByte: byte)
            if earliest == nil || start < earliest!.start { earliest = (start, index) }
        }
        return earliest
    }

    /// For `all` with `within`: every window (leftmost hit plus the earliest-ending hit of each other
    /// child starting at or after it) spanning at most `within` kept characters, as one combined span.
    static func windows(_ lists: [[Span]], within: Int32) -> [Span] {
        var result: [Span] = []
        for (anchorList, anchors) in lists.enumerated() {
            for anchor in anchors {
                var combined = anchor
                var ok = true
                for (other, spans) in lists.enumerated() where other != anchorList {
                    guard let best = spans.filter({ $0.keptStart >= anchor.keptStart }).min(by: { $0.keptEnd < $1.keptEnd }) else { ok = false; break }
                    combined.start = min(combined.start, best.start)
                    combined.end = max(combined.end, best.end)
                    combined.keptEnd = max(combined.keptEnd, best.keptEnd)
                }
                if ok && combined.keptEnd - combined.keptStart <= within { result.append(combined) }
            }
        }
        return result
    }

    /// ``windows(_:within:)`` where list `i` needs `counts[i]` hits of different text (`texts[i]`, see
    /// ``distinctHits(_:texts:count:startingAtOrAfter:including:)``) in the window: every window whose
    /// leftmost hit is some hit of some list, as one combined span.
    static func windows(_ lists: [[Span]], within: Int32, counts: [Int], texts: [[Int]]) -> [Span] {
        var result: [Span] = []
        for (anchorList, anchors) in lists.enumerated() {
            for (anchorIndex, anchor) in anchors.enumerated() {
                var combined = anchor
                var ok = true
                for (other, spans) in lists.enumerated() {
                    if other == anchorList && counts[other] == 1 { continue }
                    let picked: [Span]
                    if counts[other] == 1 {
                        guard let best = spans.filter({ $0.keptStart >= anchor.keptStart }).min(by: { $0.keptEnd < $1.keptEnd }) else { ok = false; break }
                        picked = [best]
                    } else {
                        guard let indexes = distinctHits(spans, texts: texts[other], count: counts[other], startingAtOrAfter: anchor,
                                                         including: other == anchorList ? anchorIndex : nil) else { ok = false; break }
                        picked = indexes.map { spans[$0] }
                    }
                    for best in picked {
                        combined.start = min(combined.start, best.start)
                        combined.end = max(combined.end, best.end)
                        combined.keptEnd = max(combined.keptEnd, best.keptEnd)
                    }
                }
                if ok && combined.keptEnd - combined.keptStart <= within { result.append(combined) }
            }
        }
        return result
    }

    /// Sorts spans and merges overlapping ones.
    static func merge(_ spans: [Span]) -> [Span] {
        if spans.count < 2 { return spans }
        var merged: [Span] = []
        for span in spans.sorted(by: { ($0.start, $0.end) < ($1.start, $1.end) }) {
            if var last = merged.last, span.start < last.end {
                last.end = max(last.end, span.end)
                last.keptEnd = max(last.keptEnd, span.keptEnd)
                merged[merged.count - 1] = last
            } else {
                merged.append(span)
            }
        }
        return merged
    }
}

/// Decides when ``MessageScanner``'s one-pass prescreen is worth trying. It never changes a decision; it
/// costs a pass over every message it does not settle, so where most messages contain pack words (or
/// digits for always-run regexes) it is switched off for a while, then probed again.
struct PrescreenGovernor {
    private var tried = 0, settled = 0, pausedFor = 0

    mutating func shouldTry() -> Bool {
        if pausedFor > 0 { pausedFor -= 1; return false }
        return true
    }

    mutating func record(_ settledIt: Bool) {
        tried += 1
        if settledIt { settled += 1 }
        guard tried == 1024 else { return }
        if settled < 256 { pausedFor = 16 * 1024 }
        tried = 0
        settled = 0
    }
}

/// The enabled models' logits, summed while the prescreen reads the kept scalars one by one: each new
/// scalar ends one 1-, 2- and 3-gram, the same n-grams ``NGramModel/forEachGram`` enumerates by start
/// (FNV-1a states of the last one and two scalars carried along). A message any model might score at
/// or near its escalate threshold goes to the full path, which scores it exactly (the sums run in
/// another order, so a margin covers rounding).
final class ModelPrescreen {
    // Raw memory only: `add` runs for every kept scalar of every message, and arrays of buffers there
    // cost a retain, a release and a uniqueness check per scalar (more than the lookups themselves).
    private let modelCount: Int
    /// Each model's weights (`masks[k] + 1` of them, a copy owned here).
    private let weights: UnsafeMutablePointer<UnsafeMutablePointer<Float>>
    private let masks: UnsafeMutablePointer<UInt32>
    private let biases: [Double]
    /// Each model's escalate threshold as a logit, less a margin.
    private let limits: [Double]
    private let sums: UnsafeMutablePointer<Float>
    private var count = 0
    private var last1: UInt32 = 0, last2: UInt32 = 0

    init(_ models: [CompiledModel]) {
        modelCount = models.count
        weights = .allocate(capacity: models.count)
        masks = .allocate(capacity: models.count)
        sums = .allocate(capacity: models.count)
        for (k, compiled) in models.enumerated() {
            let copy = UnsafeMutableBufferPointer<Float>.allocate(capacity: compiled.model.weights.count)
            _ = copy.initialize(from: compiled.model.weights)
            (weights + k).initialize(to: copy.baseAddress!)
            (masks + k).initialize(to: UInt32(compiled.model.buckets - 1))
            (sums + k).initialize(to: 0)
        }
        biases = models.map(\.model.bias)
        limits = models.map { compiled in
            let p = compiled.escalate
            if p <= 0 { return -.infinity }
            if p >= 1 { return .infinity }
            return log(p / (1 - p)) - 1e-3
        }
    }

    deinit {
        for k in 0..<modelCount { weights[k].deallocate() }
        weights.deallocate()
        masks.deallocate()
        sums.deallocate()
    }

    func reset() {
        for k in 0..<modelCount { sums[k] = 0 }
        count = 0
    }

    @inline(__always)
    func add(_ value: UInt32) {
        let g1 = (NGramModel.fnvOffset ^ value) &* NGramModel.fnvPrime
        let g2 = (last1 ^ value) &* NGramModel.fnvPrime
        let g3 = (last2 ^ value) &* NGramModel.fnvPrime
        for k in 0..<modelCount {
            let w = weights[k], mask = masks[k]
            var sum = w[NGramModel.bucket(g1, mask)]
            if count >= 1 { sum += w[NGramModel.bucket(g2, mask)] }
            if count >= 2 { sum += w[NGramModel.bucket(g3, mask)] }
            sums[k] += sum
        }
        last2 = g2
        last1 = g1
        count += 1
    }

    /// Whether some model might reach its escalate threshold (a message with no kept scalar is not scored).
    func mightReachAThreshold() -> Bool {
        guard count > 0 else { return false }
        let grams = Double(NGramModel.gramCount(count)).squareRoot()
        for k in 0..<modelCount where biases[k] + Double(sums[k]) / grams >= limits[k] { return true }
        return false
    }
}
