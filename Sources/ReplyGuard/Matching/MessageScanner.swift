import Foundation
import ReplyGuardPCRE2

/// A span in a message: original scalar offsets and the kept (normalized) positions they cover.
struct Span: Equatable {
    var start: Int32
    var end: Int32
    var keptStart: Int32
    var keptEnd: Int32
}

/// Per-thread matching state for an ``Engine``: normalization buffers, literal hits, the PCRE2 matcher.
/// Not thread-safe; make one per thread with ``Engine/makeScanner()``.
public final class MessageScanner {
    public let engine: Engine
    private let matcher: PCRE2Matcher
    private var text = NormalizedText()
    private var folded = FoldedView()
    private var foldedReady = false
    private var literalHits: [(node: Int32, span: Span)] = []
    private var nodeHitRange: [Range<Int>?]
    private var touched: [Bool]
    private var touchedSlots: [Int] = []
    private var errors: [DecisionError] = []
    private var currentSlot = 0

    init(engine: Engine) {
        self.engine = engine
        matcher = PCRE2Matcher(limits: engine.ruleSet.policy.limits)
        nodeHitRange = Array(repeating: nil, count: engine.nodes.count)
        touched = Array(repeating: false, count: engine.slotRoots.count)
    }

    /// The normalized form of the last message decided (for `explain`).
    public var lastNormalized: NormalizedText { text }

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
    public func decide(_ bytes: UnsafeBufferPointer<UInt8>, id: MessageID) -> Decision {
        engine.normalizer.normalize(bytes, into: &text)
        foldedReady = false
        errors.removeAll(keepingCapacity: true)
        if text.invalidUTF8Count > 0 {
            errors.append(DecisionError(rule: nil, message: "message is not valid UTF-8 (\(text.invalidUTF8Count) invalid byte(s) read as U+FFFD)"))
        }
        collectLiteralHits()

        // Which slots to evaluate: those with a literal hit, plus those with ungated regexes.
        for slot in engine.alwaysEvaluated where !touched[slot] { touched[slot] = true; touchedSlots.append(slot) }
        touchedSlots.sort()
        var ruleSpans: [(rule: Int, spans: [Span])] = []
        var exceptionHits: [Bool] = Array(repeating: false, count: engine.exceptions.count)
        for slot in touchedSlots {
            currentSlot = slot
            let spans = evaluate(engine.slotRoots[slot], bytes)
            if spans.isEmpty { continue }
            if slot < engine.rules.count { ruleSpans.append((slot, spans)) } else { exceptionHits[slot - engine.rules.count] = true }
        }
        for slot in touchedSlots { touched[slot] = false }
        touchedSlots.removeAll(keepingCapacity: true)
        for (node, _) in literalHits { nodeHitRange[Int(node)] = nil }

        // Hits, exceptions, scores, verdict.
        var hits: [Hit] = []
        var suppressed: [Suppression] = []
        var scores: [String: Int] = [:]
        var verdict = Verdict.allow
        let exceptionApplies = engine.exceptions.indices.map { engine.exceptions[$0].match == nil || exceptionHits[$0] }
        for (ruleIndex, spans) in ruleSpans {
            let rule = engine.rules[ruleIndex]
            if let index = engine.exceptions.indices.first(where: { exceptionApplies[$0] && engine.exceptions[$0].covers(rule.id) }) {
                suppressed.append(Suppression(rule: rule.id, reason: engine.exceptions[index].reason))
                continue
            }
            let merged = MessageScanner.merge(spans)
            var reported = false
            if rule.action == .block, let speech = engine.reportedSpeech {
                reported = merged.allSatisfy { isReportedSpeech($0, speech) }
            }
            for span in merged { hits.append(makeHit(rule, span, bytes, reported: reported)) }
            if let action = rule.action { verdict = max(verdict, reported ? engine.ruleSet.policy.reportedSpeech!.action : action) }
            if let score = rule.score { scores[rule.category, default: 0] += score }
        }
        for (category, score) in scores {
            guard let thresholds = engine.ruleSet.policy.thresholds[category] else { continue }
            if let block = thresholds.block, score >= block { verdict = max(verdict, .block) }
            if let escalate = thresholds.escalate, score >= escalate { verdict = max(verdict, .escalate) }
        }
        if !errors.isEmpty { verdict = max(verdict, .escalate) }
        literalHits.removeAll(keepingCapacity: true)
        return Decision(id: id, verdict: verdict, scores: scores, hits: hits, errors: errors,
                        suppressed: suppressed, policy: engine.ruleSet.digest)
    }

    private func makeHit(_ rule: Rule, _ span: Span, _ bytes: UnsafeBufferPointer<UInt8>, reported: Bool) -> Hit {
        let byteStart = Int(text.scalarByteOffsets[Int(span.start)])
        let byteEnd = Int(text.scalarByteOffsets[Int(span.end)])
        let match = String(decoding: UnsafeBufferPointer(rebasing: bytes[byteStart..<byteEnd]), as: UTF8.self)
        return Hit(rule: rule.id, pack: rule.packID, category: rule.category, action: rule.action, score: rule.score,
                   start: Int(span.start), end: Int(span.end), byteStart: byteStart, byteEnd: byteEnd, match: match,
                   reported: reported)
    }

    /// True when `span` lies inside quotation marks and a reporting cue stands within the window just
    /// before the opening or just after the closing mark (in normalized characters).
    private func isReportedSpeech(_ span: Span, _ speech: CompiledReportedSpeech) -> Bool {
        let count = text.originalScalarCount
        let openers: Set<UInt32> = [0x201C, 0x300C, 0x300E, 0x2018, 0x300A, 0xFF02]
        let closers: Set<UInt32> = [0x201D, 0x300D, 0x300F, 0x2019, 0x300B]
        // Opening mark: the nearest quote character before the span, if it opens (ASCII " by parity).
        var open = -1
        var asciiQuotes = 0
        for i in 0..<Int(span.start) where text.scalars[i] == 0x22 { asciiQuotes += 1 }
        var i = Int(span.start) - 1
        while i >= 0 && Int(span.start) - i <= 400 {
            let v = text.scalars[i]
            if openers.contains(v) || (v == 0x22 && asciiQuotes % 2 == 1) { open = i; break }
            if closers.contains(v) || v == 0x22 { return false }
            i -= 1
        }
        guard open >= 0 else { return false }
        var close = -1
        i = Int(span.end)
        while i < count && i - Int(span.end) <= 400 {
            let v = text.scalars[i]
            if closers.contains(v) || v == 0x22 || v == 0xFF02 { close = i; break }
            if openers.contains(v) { return false }
            i += 1
        }
        guard close >= 0 else { return false }
        let before = text.keptIndex(atOrAfterOriginal: open), after = text.keptIndex(atOrAfterOriginal: close + 1)
        let kept = text.kept
        func containsCue(_ range: Range<Int>) -> Bool {
            speech.cues.contains { cue in
                guard cue.count <= range.count else { return false }
                return (range.lowerBound...(range.upperBound - cue.count)).contains { kept[$0..<$0 + cue.count].elementsEqual(cue) }
            }
        }
        return containsCue(max(0, before - speech.window)..<before) || containsCue(after..<min(kept.count, after + speech.window))
    }

    /// Runs the automaton over the kept text and keeps occurrences whose inner gaps and word boundaries hold.
    private func collectLiteralHits() {
        let maxFiller = engine.normalizer.maxFiller
        let kept = text.kept, gaps = text.gaps, origin = text.keptOrigin
        engine.automaton.forEachMatch(in: kept) { pattern, end in
            let start = end - Int(engine.automaton.patternLengths[pattern]) + 1
            var k = start + 1
            while k <= end { if Int(gaps[k]) > maxFiller { return }; k += 1 }
            if engine.patternLeftBoundary[pattern], start > 0, gaps[start] == 0,
               Engine.isASCIIAlphanumeric(kept[start - 1]) { return }
            if engine.patternRightBoundary[pattern], end + 1 < kept.count, gaps[end + 1] == 0,
               Engine.isASCIIAlphanumeric(kept[end + 1]) { return }
            let span = Span(start: origin[start], end: origin[end] + 1, keptStart: Int32(start), keptEnd: Int32(end + 1))
            for n in Int(engine.patternNodeStart[pattern])..<Int(engine.patternNodeStart[pattern + 1]) {
                literalHits.append((engine.patternNodes[n], span))
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
            if case .literal(let slot) = engine.nodes[Int(node)], !touched[slot] {
                touched[slot] = true
                touchedSlots.append(slot)
            }
            i = j
        }
    }

    /// Spans where `node` matches; empty when it does not. Literal children of `all` are checked first,
    /// so a regex gated by a word only runs when the word is present.
    private func evaluate(_ node: Int, _ bytes: UnsafeBufferPointer<UInt8>) -> [Span] {
        switch engine.nodes[node] {
        case .literal:
            guard let range = nodeHitRange[node] else { return [] }
            return literalHits[range].map(\.span)
        case .regex(let spec):
            return regexSpans(spec, bytes)
        case .any(let children):
            return children.flatMap { evaluate($0, bytes) }
        case .all(let positive, let negative, let within):
            var results: [[Span]] = Array(repeating: [], count: positive.count)
            let order = positive.indices.sorted { isCheap(positive[$0]) && !isCheap(positive[$1]) }
            for index in order {
                results[index] = evaluate(positive[index], bytes)
                if results[index].isEmpty { return [] }
            }
            for child in negative where !evaluate(child, bytes).isEmpty { return [] }
            guard let within else { return results.flatMap { $0 } }
            return MessageScanner.windows(results, within: Int32(within))
        }
    }

    private func isCheap(_ node: Int) -> Bool {
        switch engine.nodes[node] {
        case .literal: return true
        case .regex: return false
        case .any(let children): return children.allSatisfy(isCheap)
        case .all(let positive, let negative, _): return (positive + negative).allSatisfy(isCheap)
        }
    }

    private func regexSpans(_ spec: RegexSpec, _ bytes: UnsafeBufferPointer<UInt8>) -> [Span] {
        // When folding changed nothing, the folded view is the original: search the bytes directly.
        let useFolded = spec.view == .folded && !text.foldingIsIdentity
        // Every match needs this ASCII byte and the folded view has none: skip (and do not build it).
        if useFolded, engine.options.prefilter, let required = spec.pattern.requiredByte, required < 0x80,
           !text.foldedViewContains(ascii: required) { return [] }
        // Every match starts with one of these ASCII bytes and the folded view has none: skip.
        if useFolded, engine.options.prefilter, let first = spec.pattern.asciiFirstBytes,
           !text.foldedViewContains(anyOf: first) { return [] }
        if useFolded && !foldedReady {
            engine.normalizer.foldedView(of: text, into: &folded)
            foldedReady = true
        }
        var byteRanges: [Range<Int>] = []
        func run(_ subject: UnsafeBufferPointer<UInt8>) {
            if engine.options.prefilter, let required = spec.pattern.requiredByte,
               subject.isEmpty || memchr(subject.baseAddress!, Int32(required), subject.count) == nil { return }
            do {
                try matcher.forEachMatch(of: spec.pattern, in: subject) { range in
                    if spec.validator?.accepts(subject[range]) ?? true { byteRanges.append(range) }
                    return true
                }
            } catch {
                let rule = currentSlot < engine.rules.count ? engine.rules[currentSlot].id : nil
                errors.append(DecisionError(rule: rule, message: "regex at \(spec.location) failed: \(error.message)"))
            }
        }
        if useFolded { folded.bytes.withUnsafeBufferPointer { run($0) } } else { run(bytes) }
        let count = text.originalScalarCount
        return byteRanges.map { range in
            let start: Int, end: Int
            if useFolded {
                start = folded.originalIndex(forByte: range.lowerBound, originalCount: count, isEnd: false)
                end = range.isEmpty ? start : folded.originalIndex(forByte: range.upperBound, originalCount: count, isEnd: true)
            } else {
                start = originalIndex(forByte: range.lowerBound)
                end = range.isEmpty ? start : originalIndex(forByte: range.upperBound, roundUp: true)
            }
            return Span(start: Int32(start), end: Int32(end),
                        keptStart: Int32(text.keptIndex(atOrAfterOriginal: start)),
                        keptEnd: Int32(text.keptIndex(atOrAfterOriginal: end)))
        }
    }

    /// Original scalar index of a byte offset (rounded to the scalar containing or following it).
    private func originalIndex(forByte offset: Int, roundUp: Bool = false) -> Int {
        let offsets = text.scalarByteOffsets
        var low = 0, high = offsets.count - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if Int(offsets[mid]) <= offset { low = mid } else { high = mid - 1 }
        }
        return roundUp && Int(offsets[low]) < offset ? low + 1 : low
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

    /// Sorts spans and merges overlapping ones.
    static func merge(_ spans: [Span]) -> [Span] {
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
