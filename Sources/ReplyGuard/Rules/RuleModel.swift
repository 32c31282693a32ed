import ReplyGuardPCRE2

/// Verdict for a message, ordered `allow < escalate < block`.
public enum Verdict: String, Sendable, Comparable, CaseIterable, Codable {
    /// Published as written.
    case allow
    /// Published with the spans of `mask` rules starred out (policy `mask_with`).
    case mask
    /// Held for a human (the holding reply is published meanwhile).
    case escalate
    /// Never published (the fallback reply is).
    case block
    /// 0, 1, 2, 3 for allow, mask, escalate, block (the `allCases` order).
    public var rank: Int {
        switch self { case .allow: return 0; case .mask: return 1; case .escalate: return 2; case .block: return 3 }
    }
    public static func < (lhs: Verdict, rhs: Verdict) -> Bool { lhs.rank < rhs.rank }
}

/// A position in a rule-pack or policy file: 1-based line and column.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public let file: String
    public let line: Int
    public let column: Int
    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }
    public var description: String { "\(file):\(line):\(column)" }
}

/// Which text a regex runs on.
public enum RegexView: String, Sendable {
    /// Folded like literals (width, case, Traditional → Simplified, zero-width dropped) but fillers kept.
    case folded
    /// The message exactly as given (invalid UTF-8 bytes never match).
    case original
}

/// A PCRE2 regex in a rule, compiled at load time.
public struct RegexSpec: Sendable {
    /// The compiled pattern: ``source`` with each `\F` expanded (see ``RegexFillers``).
    public let pattern: PCRE2Pattern
    public let view: RegexView
    /// When set, a match only counts if the validator accepts its text.
    public let validator: Validator?
    public let location: SourceLocation
    /// The pattern as written in the pack.
    public var source: String
    /// How many filler classes the compiled pattern holds (each `\F`, and with ``fillerLiterals`` each
    /// place between two literal letters or digits).
    public var fillerSlots = 0
    /// `fillers: literals`: fillers may stand between the letters and digits the pattern spells out.
    public var fillerLiterals = false
}

/// Opt-in expansions of a rule's words for evasions that cost precision (SPEC §3).
public enum Evasion: String, Sendable, CaseIterable {
    /// Also match the pinyin initials of each word made of Chinese characters: 傻逼 → `sb`,
    /// 你妈死了 → `nmsl`. The initials match only as whole Latin words.
    case pinyinInitials = "pinyin-initials"
    /// Also match each word of two or more characters, at least one of them Chinese, spelled out in
    /// toneless pinyin (哑巴 → `yaba`, 打call → `dacall`), as a whole Latin word; spaces or other fillers
    /// may stand between the syllables as between any characters (`ni bu shuo hua`).
    case pinyin = "pinyin"
    /// Also match each word with its numerals written another way: a digit, a Chinese numeral or its
    /// financial (大写) form stand for each other (下三滥 → 下3滥, 下叁滥; 二百五 → 2百5, 贰佰伍; 一比一 → 1比1),
    /// 十 百 千 with 拾 佰 仟; 两 may be written 2 (三天两头 → 3天2头). A two-character word gets no variant with a digit (`2、货` is list numbering).
    case numerals = "numerals"
    /// Also match each word with a Latin letter when its letters are stretched, repeated in a row
    /// (`fuck` → `fuuuuck`, `fuckkkk`; `打call` → `打caaall`): a run of one letter in the message stands
    /// for a run at least as long in the word.
    case stretchedLetters = "stretched-letters"
    /// Also match each word of eight or more normalized characters, at least one of them Chinese, with
    /// one Chinese character swapped for a homophone — another character with the same toneless pinyin
    /// (你不说话没人把你当哑巴 → 你不说话没人把你当雅巴): near-duplicates of known long lines. Found through
    /// the word's two halves in the literal automaton (one of them is intact) and verified against the word.
    case homophones = "homophones"
    /// Also match each word of two or more characters with characters written as their components
    /// (拆字: 妈 → 女马, 狗 → 犭句, 贱 → 贝戋, 蠢 → 春虫虫), one character or several, from the component
    /// table (``NormalizationTables/components(of:)``).
    case splitCharacters = "split-characters"
    /// Also match each word of two or more characters with characters written as an emoji that stands for
    /// them (🐶 狗, 🐷 猪, 🥚 蛋, 💩 屎; CLDR's Chinese emoji names) or for a character of the same reading
    /// (🐴 马 for 妈); at least one character stays as written.
    case emoji = "emoji"
    /// Also match each word of two or more characters, at least one of them Chinese, with some of its
    /// Chinese characters spelled in toneless pinyin and the others not (滚蛋 → `gun蛋`, 去死吧 → `去si吧`).
    case pinyinMixed = "pinyin-mixed"
    /// Also match each word of three to seven normalized characters, at least one of them Chinese, with
    /// one Chinese character swapped for an everyday character that sounds the same — the same toneless
    /// reading, or the same but for a retroflex initial (狗东西 → 狗冬西, 你妈死了 → 你妈屎了). Words of eight
    /// or more characters have `homophones`.
    case soundAlikes = "sound-alikes"
    /// Also match each word of three or more characters, at least one of them Chinese, written backwards
    /// (狗东西 → 西东狗, 你妈死了 → 了死妈你).
    case reversed = "reversed"
}

/// A literal word of a rule, as written and as normalized.
public struct Word: Sendable {
    public let text: String
    /// The kept scalars the word normalizes to (what the automaton matches).
    public let normalized: [UInt32]
    public let location: SourceLocation
    /// For a word the `stretched-letters` evasion derives: `normalized` is the word with each run of a
    /// repeated Latin letter collapsed to one, the letters shifted by ``Engine``'s shadow offset (never a
    /// kept scalar: only the collapsed view of a message holds them), and this is each run's length in the
    /// word (`call` → `c a l` with 1 1 2): a message's run must be at least as long.
    public var stretchRuns: [UInt8]? = nil
    /// For a word the `homophones` evasion derives: `normalized` is the word with every scalar shifted by
    /// ``Engine/homophoneShadow`` (never a kept scalar: the automaton never finds it by itself); the
    /// scanner reports it where the word's halves lead to a window that differs from the word in exactly
    /// one Chinese character of the same reading.
    public var homophone = false
    /// For a word the `emoji` evasion derives: some scalars of `normalized` are emoji stand-ins
    /// (``NormalizationTables/emojiStandInBase`` …), which only the scanner's emoji view of a message holds.
    public var emoji = false
}

/// A rule's match expression (SPEC §3).
public indirect enum MatchExpression: Sendable {
    /// Any of these words, matched after normalization with fillers skipped.
    case words([Word])
    case regex(RegexSpec)
    /// At least one child matches; hits are the union.
    case any([MatchExpression])
    /// Every positive child matches and no `not` child does; with `within`, one hit of each positive
    /// child fits in a window of that many kept (normalized, filler-free) characters.
    case all([MatchExpression], within: Int?)
    /// Only inside `all`: the child must not match anywhere in the message.
    case not(MatchExpression)
    /// Only as a positive child of `all` (`distinct: N` next to the child's kind): the child counts only
    /// with `count` hits of pairwise different matched text (the hit's normalized characters) that do not
    /// overlap; with the `all`'s `within`, all of them inside the window (two different names of one list).
    case distinct(MatchExpression, count: Int)
}

/// An example attached to a rule; the expected spans are marked `⟦…⟧` in match examples.
public struct RuleExample: Sendable {
    public enum Kind: String, Sendable {
        case match
        case noMatch = "no_match"
    }
    public let kind: Kind
    /// The example as written, with markers.
    public let marked: String
    public let location: SourceLocation

    /// The text without markers and the marked spans in Unicode-scalar offsets.
    public var textAndSpans: (text: String, spans: [Range<Int>]) {
        var text = String.UnicodeScalarView()
        var spans: [Range<Int>] = []
        var open: Int?
        for scalar in marked.unicodeScalars {
            if scalar == "⟦" { open = text.count } else if scalar == "⟧", let start = open {
                spans.append(start..<text.count); open = nil
            } else { text.append(scalar) }
        }
        return (String(text), spans)
    }
}

/// One rule of a pack.
public struct Rule: Sendable {
    public let id: String
    public let title: String
    public let description: String
    public let references: [String]
    public let action: Verdict?
    public let score: Int?
    public let category: String
    public let packID: String
    public let match: MatchExpression
    public let evasions: [Evasion]
    public let examples: [RuleExample]
    public let location: SourceLocation
    /// Mutations of ``ExampleChecker`` this rule's match examples are not run with (`skip_mutations:`),
    /// each with the author's reason.
    public var skippedMutations: [ExampleChecker.Mutation: String] = [:]
}

/// A rule-pack file.
public struct RulePack: Sendable {
    public let id: String
    public let version: String
    public let category: String
    public let description: String
    public let sources: [String]
    public let rules: [Rule]
    public let file: String
    /// The pack's learned scorer (`model: FILE`), if it declares one.
    public var model: PackModel? = nil
    /// Attribution lines its data requires (`notice:`), each to appear verbatim in the NOTICE file that
    /// travels with the pack (a model trained on Apache-2.0 or MIT data names them here).
    public var notice: [String] = []
}

/// A model a pack declares: the file it was read from and the model. Its hits carry the rule id
/// `<pack>.model`.
public struct PackModel: Sendable {
    public let path: String
    public let model: NGramModel
    public let location: SourceLocation
}

/// Policy overrides for a model pack's probability thresholds; `block` only from the policy.
public struct ModelThresholds: Sendable, Equatable {
    public var escalate: Double?
    public var block: Double?
    public init(escalate: Double? = nil, block: Double? = nil) {
        self.escalate = escalate
        self.block = block
    }
}

/// Escalate/block thresholds for a category score.
public struct Thresholds: Sendable, Equatable {
    public var escalate: Int?
    public var block: Int?
    public init(escalate: Int? = nil, block: Int? = nil) {
        self.escalate = escalate
        self.block = block
    }
}

/// What an exception with a `match` suppresses.
public enum ExceptionScope: String, Sendable {
    /// Only the rule hits that one of the exception's own matches covers (houbb's `wordAllow`).
    case hit
    /// Every hit of the covered rules, once the exception's match matches anywhere in the message.
    case message
}

/// An allow-list entry: suppresses the hits of some rules; with `match`, only the hits its matches cover
/// (or, with `scope: message`, every hit once it matches).
public struct PolicyException: Sendable {
    /// Rule ids this exception covers: an exact id, a prefix ending in `*` (`celebrity.*`), or `*`.
    public let rules: [String]
    public let match: MatchExpression?
    public let scope: ExceptionScope
    public let reason: String
    /// Last day (inclusive, `YYYY-MM-DD`) on which the exception applies; nil for no expiry.
    public let expires: String?
    public let location: SourceLocation

    func covers(_ ruleID: String) -> Bool {
        rules.contains { $0 == "*" || $0 == ruleID || ($0.hasSuffix("*") && ruleID.hasPrefix($0.dropLast())) }
    }
}

/// How block-level hits inside reported speech are treated: a span enclosed in quotation marks with a
/// reporting cue (回复, 称, 报道 …) within `window` normalized characters outside the quotes is news or
/// a complaint quoting the line, not the account saying it, and gets `action` instead of block.
public struct ReportedSpeech: Sendable {
    public var action: Verdict
    public var cues: [String]
    public var window: Int

    public static let standard = ReportedSpeech(action: .escalate, cues: [
        "回复", "答复", "回应", "收到", "称", "表示", "写道", "说道", "言论", "报道", "通报", "网友", "记者",
        "雷人", "发布", "转发", "声明", "致歉", "道歉", "引发", "被曝", "曝光", "截图", "疑似", "据",
        // a verb of abuse before the quote (破口大骂：“…”), the attribution after it (“…”这是…的回复内容)
        "骂", "怒斥", "斥责", "呵斥", "怼", "这是", "内容",
        // a reply quoting the citizen's complaint (您反映的“…”问题, 来信提到的“…”, 投诉窗口人员说“…”)
        "反映", "来信", "来电", "留言", "投诉", "举报", "提到", "所说", "所述", "诉求", "工作人员",
        // said in one breath (说了一句“滚”, 吼道：…)
        "一句", "说了句", "吼道", "喊道", "怒吼",
    ], window: 20)
}

/// What publishing needs from the policy file (fallback, holding and mask replies, review expiry): owned
/// by the reply gate, never read by matching.
public struct PublishingPolicy: Sendable, Equatable {
    /// Published instead of a blocked reply (and of one that could not be held).
    public var fallbackReply: String
    /// Published while an escalated reply waits for review.
    public var holdingReply: String
    /// Per category: a fallback reply replacing ``fallbackReply`` when that category blocked.
    public var fallbackReplies: [String: String]
    /// Minutes a held reply waits for review before it expires (never published); nil: no expiry.
    public var reviewExpiryMinutes: Int?
    /// What each character of a `mask` rule's span is replaced with when a masked reply is published.
    public var maskWith: String

    public static let builtIn = PublishingPolicy(
        fallbackReply: "抱歉，这个问题我暂时无法回答，请拨打12345政务服务便民热线咨询。",
        holdingReply: "您的留言已收到，工作人员将尽快人工回复。",
        fallbackReplies: [:], reviewExpiryMinutes: 24 * 60, maskWith: "＊")

    public init(fallbackReply: String, holdingReply: String, fallbackReplies: [String: String], reviewExpiryMinutes: Int?, maskWith: String) {
        self.fallbackReply = fallbackReply
        self.holdingReply = holdingReply
        self.fallbackReplies = fallbackReplies
        self.reviewExpiryMinutes = reviewExpiryMinutes
        self.maskWith = maskWith
    }
}

/// The policy file (SPEC §3): what matching needs — which packs are on, thresholds, exceptions, matching
/// limits, reported speech — compiled into the ``Engine``, and ``publishing``, which the reply gate owns.
public struct Policy: Sendable {
    /// Enabled pack ids; nil means every pack in the rules directory.
    public var packs: [String]?
    public var thresholds: [String: Thresholds]
    public var exceptions: [PolicyException]
    public var maxFiller: Int
    public var limits: PCRE2Limits
    /// Quoted reported speech handling; nil turns it off (quoted lines are blocked like any other).
    public var reportedSpeech: ReportedSpeech?
    /// The file it came from, or nil for the built-in default.
    public var file: String?
    /// Per model pack id: thresholds replacing the model file's (`models:`); a model blocks only here.
    public var modelThresholds: [String: ModelThresholds] = [:]
    /// The replies and review expiry (not part of matching).
    public var publishing = PublishingPolicy.builtIn

    public static let builtIn = Policy(
        packs: nil, thresholds: [:], exceptions: [], maxFiller: 4, limits: PCRE2Limits(),
        reportedSpeech: .standard, file: nil)
}

/// Everything loaded from a rules directory and a policy: ready to compile into an ``Engine``.
public struct RuleSet: Sendable {
    /// Every pack found, enabled or not (so `check` can test them all).
    public let packs: [RulePack]
    public let policy: Policy
    /// `sha256:` digest of the policy file and the enabled packs' files.
    public let digest: String
    /// Whether the loader ran the checks that depend only on the files' content, or skipped them for
    /// the build-verified embedded set (see ``RuleLoader/load(rulesDirectory:policyFile:files:normalizer:verifyEmbedded:)``).
    public internal(set) var contentChecks: ContentChecks = .ran

    /// See ``contentChecks``.
    public enum ContentChecks: Sendable, Equatable {
        /// Every check ran at load (any set read from files, or with `verifyEmbedded`).
        case ran
        /// The filler check and model checksums were skipped: the set is the one built into the binary,
        /// on whose bytes the tests ran them.
        case verifiedAtBuild
    }

    /// What the reply gate needs from the policy.
    public var publishing: PublishingPolicy { policy.publishing }

    public var enabledPacks: [RulePack] {
        guard let ids = policy.packs else { return packs }
        return packs.filter { ids.contains($0.id) }
    }
}

extension Word {
    /// The text of a derived word's scalar values (any that is no Unicode scalar, such as a surrogate,
    /// left out), encoded straight to UTF-8: the same String as building a `String.UnicodeScalarView`,
    /// which cost about 5,000 instructions per word (a quarter of expanding the shipped packs' evasions).
    static func text(of values: [UInt32]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * 4)
        for value in values {
            guard let scalar = Unicode.Scalar(value) else { continue }
            UTF8.encode(scalar) { bytes.append($0) }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
