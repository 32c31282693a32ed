import ReplyGuardPCRE2

/// A rule set in the compiled-set cache's binary form (``CacheWriter``/``CacheReader``): every field of
/// ``RuleSet`` (packs, rules, their expressions with the derived words, examples, policy, models), so a
/// set read back is the one that was written. Regexes are written as an index into one table of
/// patterns (the engine shares the same ``PCRE2Pattern`` objects), whose compiled code PCRE2 serializes.
struct PatternTable {
    private(set) var patterns: [PCRE2Pattern] = []
    private var index: [ObjectIdentifier: Int] = [:]

    init() {}

    mutating func id(_ pattern: PCRE2Pattern) -> Int {
        if let id = index[ObjectIdentifier(pattern)] { return id }
        index[ObjectIdentifier(pattern)] = patterns.count
        patterns.append(pattern)
        return patterns.count - 1
    }
}

extension CacheWriter {
    mutating func location(_ value: SourceLocation) {
        string(value.file)
        int(value.line)
        int(value.column)
    }

    mutating func word(_ value: Word) {
        string(value.text)
        raw(value.normalized)
        location(value.location)
        optional(value.stretchRuns) { $0.raw($1) }
        bool(value.homophone)
        bool(value.emoji)
    }

    mutating func regex(_ value: RegexSpec, _ patterns: inout PatternTable) {
        int(patterns.id(value.pattern))
        string(value.view.rawValue)
        optional(value.validator) { $0.string($1.rawValue) }
        location(value.location)
        string(value.source)
        int(value.fillerSlots)
        bool(value.fillerLiterals)
    }

    mutating func expression(_ value: MatchExpression, _ patterns: inout PatternTable) {
        switch value {
        case .words(let words):
            byte(0)
            list(words) { $0.word($1) }
        case .regex(let spec):
            byte(1)
            regex(spec, &patterns)
        case .any(let children):
            byte(2)
            int(children.count)
            for child in children { expression(child, &patterns) }
        case .all(let children, let within):
            byte(3)
            int(children.count)
            for child in children { expression(child, &patterns) }
            optional(within) { $0.int($1) }
        case .not(let child):
            byte(4)
            expression(child, &patterns)
        case .distinct(let child, let count):
            byte(5)
            int(count)
            expression(child, &patterns)
        }
    }

    mutating func model(_ value: NGramModel) {
        string(value.category)
        int(value.buckets)
        double(value.bias)
        raw(value.weights)
        double(value.escalate)
        strings(value.comments)
    }

    mutating func rule(_ value: Rule, _ patterns: inout PatternTable) {
        string(value.id)
        string(value.title)
        string(value.description)
        strings(value.references)
        optional(value.action) { $0.string($1.rawValue) }
        optional(value.score) { $0.int($1) }
        string(value.category)
        string(value.packID)
        expression(value.match, &patterns)
        list(value.evasions) { $0.string($1.rawValue) }
        list(value.examples) { writer, example in
            writer.string(example.kind.rawValue)
            writer.string(example.marked)
            writer.location(example.location)
        }
        location(value.location)
        list(value.skippedMutations.sorted { $0.key.rawValue < $1.key.rawValue }) { writer, pair in
            writer.string(pair.key.rawValue)
            writer.string(pair.value)
        }
    }

    mutating func policy(_ value: Policy, _ patterns: inout PatternTable) {
        optional(value.packs) { $0.strings($1) }
        map(value.thresholds) { writer, t in
            writer.optional(t.escalate) { $0.int($1) }
            writer.optional(t.block) { $0.int($1) }
        }
        int(value.exceptions.count)
        for exception in value.exceptions {
            strings(exception.rules)
            bool(exception.match != nil)
            if let match = exception.match { expression(match, &patterns) }
            string(exception.scope.rawValue)
            string(exception.reason)
            optional(exception.expires) { $0.string($1) }
            location(exception.location)
        }
        int(value.maxFiller)
        uint64(UInt64(value.limits.matchLimit))
        uint64(UInt64(value.limits.depthLimit))
        int(value.limits.jitStackBytes)
        optional(value.reportedSpeech) { writer, speech in
            writer.string(speech.action.rawValue)
            writer.strings(speech.cues)
            writer.int(speech.window)
        }
        optional(value.file) { $0.string($1) }
        map(value.modelThresholds) { writer, t in
            writer.optional(t.escalate) { $0.double($1) }
            writer.optional(t.block) { $0.double($1) }
        }
        let publishing = value.publishing
        string(publishing.fallbackReply)
        string(publishing.holdingReply)
        map(publishing.fallbackReplies) { $0.string($1) }
        optional(publishing.reviewExpiryMinutes) { $0.int($1) }
        string(publishing.maskWith)
    }

    mutating func ruleSet(_ value: RuleSet, _ patterns: inout PatternTable) {
        int(value.packs.count)
        for pack in value.packs {
            string(pack.id)
            string(pack.version)
            string(pack.category)
            string(pack.description)
            strings(pack.sources)
            int(pack.rules.count)
            for rule in pack.rules { self.rule(rule, &patterns) }
            string(pack.file)
            optional(pack.model) { writer, declared in
                writer.string(declared.path)
                writer.model(declared.model)
                writer.location(declared.location)
            }
            strings(pack.notice)
        }
        policy(value.policy, &patterns)
        string(value.digest)
        bool(value.contentChecks == .verifiedAtBuild)
    }
}

extension CacheReader {
    mutating func location() throws(CacheFormatError) -> SourceLocation {
        SourceLocation(file: try string(), line: try int(), column: try int())
    }

    mutating func word() throws(CacheFormatError) -> Word {
        var word = Word(text: try string(), normalized: try raw(UInt32.self), location: try location())
        word.stretchRuns = try optional { reader throws(CacheFormatError) in try reader.raw(UInt8.self) }
        word.homophone = try bool()
        word.emoji = try bool()
        guard !word.normalized.isEmpty else { throw CacheFormatError("empty word") }
        return word
    }

    mutating func regex(_ patterns: [PCRE2Pattern]) throws(CacheFormatError) -> RegexSpec {
        let pattern = patterns[try index(below: patterns.count)]
        let view: RegexView = try value()
        let validator = try optional { reader throws(CacheFormatError) -> Validator in try reader.value() }
        var spec = RegexSpec(pattern: pattern, view: view, validator: validator, location: try location(), source: try string())
        spec.fillerSlots = try int()
        spec.fillerLiterals = try bool()
        return spec
    }

    /// An expression; `depth` bounds nesting (a damaged file cannot recurse without end).
    mutating func expression(_ patterns: [PCRE2Pattern], depth: Int = 0) throws(CacheFormatError) -> MatchExpression {
        guard depth < 64 else { throw CacheFormatError("expression nested too deeply") }
        switch try byte() {
        case 0:
            return .words(try list { reader throws(CacheFormatError) in try reader.word() })
        case 1:
            return .regex(try regex(patterns))
        case 2:
            let count = try self.count(minimumBytesEach: 1)
            var children: [MatchExpression] = []
            for _ in 0..<count { children.append(try expression(patterns, depth: depth + 1)) }
            return .any(children)
        case 3:
            let count = try self.count(minimumBytesEach: 1)
            var children: [MatchExpression] = []
            for _ in 0..<count { children.append(try expression(patterns, depth: depth + 1)) }
            return .all(children, within: try optional { reader throws(CacheFormatError) in try reader.int() })
        case 4:
            return .not(try expression(patterns, depth: depth + 1))
        case 5:
            let count = try int()
            guard count >= 2 else { throw CacheFormatError("bad distinct count at byte \(offset)") }
            return .distinct(try expression(patterns, depth: depth + 1), count: count)
        default:
            throw CacheFormatError("bad expression at byte \(offset - 1)")
        }
    }

    mutating func model() throws(CacheFormatError) -> NGramModel {
        let category = try string(), buckets = try int(), bias = try double()
        let weights = try raw(Float.self)
        guard buckets > 0, buckets & (buckets - 1) == 0, weights.count == buckets else { throw CacheFormatError("bad model weights") }
        return NGramModel(category: category, buckets: buckets, bias: bias, weights: weights, escalate: try double(), comments: try strings())
    }

    mutating func rule(_ patterns: [PCRE2Pattern]) throws(CacheFormatError) -> Rule {
        let id = try string(), title = try string(), description = try string(), references = try strings()
        let action = try optional { reader throws(CacheFormatError) -> Verdict in try reader.value() }
        let score = try optional { reader throws(CacheFormatError) in try reader.int() }
        let category = try string(), packID = try string()
        let match = try expression(patterns)
        let evasions = try list { reader throws(CacheFormatError) -> Evasion in try reader.value() }
        let examples = try list { reader throws(CacheFormatError) -> RuleExample in
            RuleExample(kind: try reader.value(), marked: try reader.string(), location: try reader.location())
        }
        var rule = Rule(id: id, title: title, description: description, references: references, action: action, score: score,
                        category: category, packID: packID, match: match, evasions: evasions, examples: examples, location: try location())
        for _ in 0..<(try count(minimumBytesEach: 16)) {
            let mutation: ExampleChecker.Mutation = try value()
            rule.skippedMutations[mutation] = try string()
        }
        return rule
    }

    mutating func policy(_ patterns: [PCRE2Pattern]) throws(CacheFormatError) -> Policy {
        let packs = try optional { reader throws(CacheFormatError) in try reader.strings() }
        let thresholds = try map { reader throws(CacheFormatError) in
            Thresholds(escalate: try reader.optional { r throws(CacheFormatError) in try r.int() },
                       block: try reader.optional { r throws(CacheFormatError) in try r.int() })
        }
        var exceptions: [PolicyException] = []
        for _ in 0..<(try count(minimumBytesEach: 1)) {
            let rules = try strings()
            let match = try bool() ? try expression(patterns) : nil
            exceptions.append(PolicyException(rules: rules, match: match, scope: try value(), reason: try string(),
                                              expires: try optional { reader throws(CacheFormatError) in try reader.string() },
                                              location: try location()))
        }
        let maxFiller = try int()
        let matchLimit = try uint64(), depthLimit = try uint64()
        guard let match32 = UInt32(exactly: matchLimit), let depth32 = UInt32(exactly: depthLimit) else { throw CacheFormatError("bad limits") }
        let limits = PCRE2Limits(matchLimit: match32, depthLimit: depth32, jitStackBytes: try int())
        let speech = try optional { reader throws(CacheFormatError) in
            ReportedSpeech(action: try reader.value(), cues: try reader.strings(), window: try reader.int())
        }
        var policy = Policy(packs: packs, thresholds: thresholds, exceptions: exceptions, maxFiller: maxFiller, limits: limits,
                            reportedSpeech: speech, file: try optional { reader throws(CacheFormatError) in try reader.string() })
        policy.modelThresholds = try map { reader throws(CacheFormatError) in
            ModelThresholds(escalate: try reader.optional { r throws(CacheFormatError) in try r.double() },
                            block: try reader.optional { r throws(CacheFormatError) in try r.double() })
        }
        policy.publishing = PublishingPolicy(
            fallbackReply: try string(), holdingReply: try string(),
            fallbackReplies: try map { reader throws(CacheFormatError) in try reader.string() },
            reviewExpiryMinutes: try optional { reader throws(CacheFormatError) in try reader.int() }, maskWith: try string())
        return policy
    }

    mutating func ruleSet(_ patterns: [PCRE2Pattern]) throws(CacheFormatError) -> RuleSet {
        var packs: [RulePack] = []
        for _ in 0..<(try count(minimumBytesEach: 1)) {
            let id = try string(), version = try string(), category = try string(), description = try string()
            let sources = try strings()
            var rules: [Rule] = []
            for _ in 0..<(try count(minimumBytesEach: 1)) { rules.append(try rule(patterns)) }
            var pack = RulePack(id: id, version: version, category: category, description: description, sources: sources,
                                rules: rules, file: try string())
            pack.model = try optional { reader throws(CacheFormatError) in
                PackModel(path: try reader.string(), model: try reader.model(), location: try reader.location())
            }
            pack.notice = try strings()
            packs.append(pack)
        }
        let policy = try self.policy(patterns)
        var ruleSet = RuleSet(packs: packs, policy: policy, digest: try string())
        ruleSet.contentChecks = try bool() ? .verifiedAtBuild : .ran
        return ruleSet
    }
}
