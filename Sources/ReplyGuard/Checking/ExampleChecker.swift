/// Runs every rule's own examples (SPEC §3: examples are tests), exactly as `replyguard check` does.
///
/// A match example passes when the rule's hits are exactly the marked `⟦…⟧` spans; a no_match example
/// when the rule has no hit. Every match example is re-run with every mutation the normalizer claims to
/// undo — an emoji prefix (catches offset bugs), full-width, Traditional, spaces between all characters,
/// fillers inside the marked spans — except those its rule skips with a reason (`skip_mutations:`).
/// A regex sees only the fillers its pattern allows (`\F`, see ``RegexFillers``).
public struct ExampleChecker {
    public enum Mutation: String, CaseIterable, Sendable {
        case emojiPrefix = "emoji prefix"
        case fullWidth = "full-width"
        case traditional = "Traditional"
        case spaced = "spaces between characters"
        case fillers = "fillers inside the match"

        /// The mutation's name in `skip_mutations:`.
        public var key: String {
            switch self {
            case .emojiPrefix: "emoji-prefix"
            case .fullWidth: "full-width"
            case .traditional: "traditional"
            case .spaced: "spaced"
            case .fillers: "fillers"
            }
        }

        /// The mutations that insert fillers (``RuleLoader`` refuses a rule whose examples fail them
        /// unless it skips them with a reason).
        public static let fillerMutations: [Mutation] = [.spaced, .fillers]

        /// What the `fillers` mutation inserts between two characters of a marked span, in turn: a space,
        /// punctuation, a symbol, an emoji.
        static let insertedFillers: [Unicode.Scalar] = [" ", "*", "·", "\u{1F600}", "/"]
    }

    public struct Result: Sendable {
        public let rule: Rule
        public let example: RuleExample
        public let mutation: Mutation?
        /// The text that was checked (mutated, without markers).
        public let text: String
        /// nil when the example held; otherwise what went wrong.
        public let failure: String?
        public var passed: Bool { failure == nil }
    }

    let engine: Engine
    let scanner: MessageScanner
    let tables: NormalizationTables

    /// - Parameter prefilter: run with the regex prefilter on or off (results must be identical).
    public init(ruleSet: RuleSet, prefilter: Bool = true) {
        var options = EngineOptions()
        options.includeModels = false
        options.includeDisabledPacks = true
        options.applyExceptions = false
        options.prefilter = prefilter
        engine = Engine(ruleSet: ruleSet, options: options)
        scanner = engine.makeScanner()
        tables = .shared
    }

    /// The mutations a rule's match examples are run with: all but those it skips.
    public static func mutations(for rule: Rule) -> [Mutation] {
        Mutation.allCases.filter { rule.skippedMutations[$0] == nil }
    }

    /// Checks every example of every rule (enabled or not), in pack and file order.
    public func checkAll() -> [Result] {
        engine.rules.flatMap(check)
    }

    public func check(_ rule: Rule) -> [Result] {
        check(rule, mutations: ExampleChecker.mutations(for: rule))
    }

    /// Runs `rule`'s examples plainly and its match examples with `mutations`.
    public func check(_ rule: Rule, mutations: [Mutation]) -> [Result] {
        var results: [Result] = []
        for example in rule.examples {
            let (text, spans) = example.textAndSpans
            results.append(run(rule, example, nil, text, spans))
            guard example.kind == .match else { continue }
            for mutation in mutations {
                let (mutated, mutatedSpans) = mutate(text, spans, mutation)
                results.append(run(rule, example, mutation, mutated, mutatedSpans))
            }
        }
        return results
    }

    private func run(_ rule: Rule, _ example: RuleExample, _ mutation: Mutation?, _ text: String, _ expected: [Range<Int>]) -> Result {
        let decision = scanner.decide(text, id: .string(rule.id))
        let actual = decision.hits.filter { $0.rule == rule.id }.map { $0.start..<$0.end }
        var failure: String?
        if let error = decision.errors.first(where: { $0.rule == rule.id }) {
            failure = "evaluation failed: \(error.message)"
        } else if example.kind == .noMatch, !actual.isEmpty {
            failure = "expected no match, got \(describe(actual, in: text))"
        } else if example.kind == .match, actual != expected {
            failure = "expected \(describe(expected, in: text)), got \(actual.isEmpty ? "no match" : describe(actual, in: text))"
        }
        return Result(rule: rule, example: example, mutation: mutation, text: text, failure: failure)
    }

    private func describe(_ spans: [Range<Int>], in text: String) -> String {
        let scalars = Array(text.unicodeScalars)
        return spans.map { span in
            var s = String.UnicodeScalarView()
            s.append(contentsOf: scalars[max(0, span.lowerBound)..<min(scalars.count, span.upperBound)])
            return "⟦\(String(s))⟧ at \(span.lowerBound)..<\(span.upperBound)"
        }.joined(separator: ", ")
    }

    /// The mutated text and where the expected spans move to (Unicode-scalar offsets).
    public func mutate(_ text: String, _ spans: [Range<Int>], _ mutation: Mutation) -> (String, [Range<Int>]) {
        let scalars = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        switch mutation {
        case .emojiPrefix:
            let prefix = "🙂👍 ".unicodeScalars
            out.append(contentsOf: prefix)
            out.append(contentsOf: scalars)
            return (String(out), spans.map { ($0.lowerBound + prefix.count)..<($0.upperBound + prefix.count) })
        case .fullWidth:
            for s in scalars {
                if s == " " { out.append("\u{3000}") } else if (0x21...0x7E).contains(s.value) {
                    out.append(Unicode.Scalar(s.value + 0xFEE0)!)
                } else { out.append(s) }
            }
            return (String(out), spans)
        case .traditional:
            for s in scalars { out.append(tables.simplifiedToTraditional[s] ?? s) }
            return (String(out), spans)
        case .spaced:
            for (i, s) in scalars.enumerated() {
                if i > 0 { out.append(" ") }
                out.append(s)
            }
            return (String(out), spans.map { (2 * $0.lowerBound)..<max(2 * $0.lowerBound, 2 * $0.upperBound - 1) })
        case .fillers:
            // Between every two characters inside a span, one filler (the next of ``insertedFillers``).
            var newIndex: [Int] = []
            var turn = 0
            for (i, s) in scalars.enumerated() {
                if spans.contains(where: { $0.lowerBound < i && i < $0.upperBound }) {
                    out.append(Mutation.insertedFillers[turn % Mutation.insertedFillers.count])
                    turn += 1
                }
                newIndex.append(i + turn)
                out.append(s)
            }
            newIndex.append(scalars.count + turn)
            return (String(out), spans.map { newIndex[$0.lowerBound]..<newIndex[$0.upperBound] })
        }
    }
}
