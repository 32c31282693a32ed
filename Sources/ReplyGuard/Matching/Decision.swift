/// The id of a message: a string, a JSON number kept exactly as written, or a position in a file
/// (rendered `path:line` only when needed, which matters at millions of messages).
public enum MessageID: Sendable, Equatable, CustomStringConvertible {
    case string(String)
    case number(String)
    case position(file: String, line: Int)
    public var description: String {
        switch self {
        case .string(let s), .number(let s): return s
        case .position(let file, let line): return "\(file):\(line)"
        }
    }
}

/// One rule hit in a message (SPEC §5). Offsets refer to the original text.
public struct Hit: Sendable, Equatable, Codable {
    public let rule: String
    public let pack: String
    public let category: String
    /// The rule's own action, if it has one (a score-only rule has none).
    public let action: Verdict?
    public let score: Int?
    /// Unicode-scalar offsets into the original text, end exclusive.
    public let start: Int
    public let end: Int
    /// UTF-8 byte offsets into the original bytes, end exclusive.
    public let byteStart: Int
    public let byteEnd: Int
    /// The original text of the span.
    public let match: String
    /// True when the span is quoted reported speech (see ``ReportedSpeech``) and the rule's block was
    /// lowered to the policy's reported-speech action.
    public let reported: Bool
    /// For a model pack's hit (`<pack>.model`): the model's probability; the record's `score` shows it.
    public var modelScore: Double? = nil
}

/// Something that stopped a message from being decided normally; any error escalates (fail closed).
public struct DecisionError: Sendable, Equatable, Codable {
    /// The rule whose evaluation failed, if the error belongs to one.
    public let rule: String?
    public let message: String
    public init(rule: String?, message: String) {
        self.rule = rule
        self.message = message
    }
}

/// A hit that a policy exception suppressed.
public struct Suppression: Sendable, Equatable, Codable {
    public let rule: String
    public let reason: String
}

/// What replyguard decided about one message: the record written per message (schema version 1).
public struct Decision: Sendable, Equatable {
    public static let schema = "replyguard.decision/1"
    public var id: MessageID
    public var verdict: Verdict
    /// Category scores, from rules with a `score` that hit (each rule counts once per message).
    public var scores: [String: Int]
    public var hits: [Hit]
    public var errors: [DecisionError]
    public var suppressed: [Suppression]
    /// Digest of the policy and packs that made the decision.
    public var policy: String
    /// The replyguard version that made it (``ReplyGuardVersion/string``); a verdict is reproducible from
    /// the same `engine` and `policy` (normalization and matching change with the engine, not the digest).
    /// Empty when read back from a record written before the field existed.
    public var engine: String = ReplyGuardVersion.string

    public init(id: MessageID, verdict: Verdict, scores: [String: Int], hits: [Hit], errors: [DecisionError],
                suppressed: [Suppression], policy: String) {
        self.id = id
        self.verdict = verdict
        self.scores = scores
        self.hits = hits
        self.errors = errors
        self.suppressed = suppressed
        self.policy = policy
    }
}

extension Decision {
    /// `text` — the bytes this decision was made on — with every character inside the span of a `mask`
    /// hit replaced by `replacement` (one per character: `他妈的` → `＊＊＊`). Invalid UTF-8 reads as U+FFFD.
    public func masked(_ text: [UInt8], with replacement: String) -> String {
        var hidden = [Bool](repeating: false, count: text.count)
        for hit in hits where hit.action == .mask {
            for i in max(0, hit.byteStart)..<min(text.count, hit.byteEnd) { hidden[i] = true }
        }
        var result = String.UnicodeScalarView()
        text.withUnsafeBufferPointer { bytes in
            UTF8Scanner.forEachScalar(in: bytes) { value, offset, _ in
                if hidden[offset] { result.append(contentsOf: replacement.unicodeScalars) } else { result.append(Unicode.Scalar(value) ?? "\u{FFFD}") }
            }
        }
        return String(result)
    }
}
