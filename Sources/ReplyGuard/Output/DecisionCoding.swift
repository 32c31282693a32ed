import Foundation

/// A decision record read back typed (`replyguard.decision/1`): what `scan`, `filter`'s audit log, the
/// review queue and the HTTP service write, decoded with `JSONDecoder` and written with `JSONEncoder`
/// in the same shape as ``Decision/jsonLine(extra:)`` (which the hot path uses). A numeric id keeps its
/// text; a `path:line` id reads back as a string.
extension Decision: Codable {
    enum CodingKeys: String, CodingKey { case schema, id, verdict, scores, hits, errors, suppressed, policy, engine }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let schema = try container.decodeIfPresent(String.self, forKey: .schema), schema != Decision.schema {
            throw DecodingError.dataCorruptedError(forKey: .schema, in: container, debugDescription: "schema '\(schema)' is not \(Decision.schema)")
        }
        self.init(id: try container.decode(MessageID.self, forKey: .id),
                  verdict: try container.decode(Verdict.self, forKey: .verdict),
                  scores: try container.decodeIfPresent([String: Int].self, forKey: .scores) ?? [:],
                  hits: try container.decodeIfPresent([Hit].self, forKey: .hits) ?? [],
                  errors: try container.decodeIfPresent([DecisionError].self, forKey: .errors) ?? [],
                  suppressed: try container.decodeIfPresent([Suppression].self, forKey: .suppressed) ?? [],
                  policy: try container.decodeIfPresent(String.self, forKey: .policy) ?? "")
        engine = try container.decodeIfPresent(String.self, forKey: .engine) ?? ""
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Decision.schema, forKey: .schema)
        try container.encode(id, forKey: .id)
        try container.encode(verdict, forKey: .verdict)
        try container.encode(scores, forKey: .scores)
        try container.encode(hits, forKey: .hits)
        try container.encode(errors, forKey: .errors)
        try container.encode(suppressed, forKey: .suppressed)
        try container.encode(policy, forKey: .policy)
        try container.encode(engine, forKey: .engine)
    }

    /// The categories of the decision's hits, in first-hit order (each once).
    public var categories: [String] {
        var seen: [String] = []
        for hit in hits where !seen.contains(hit.category) { seen.append(hit.category) }
        return seen
    }
}

extension MessageID: Codable {
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) { self = .string(text); return }
        if let integer = try? container.decode(Int64.self) { self = .number(String(integer)); return }
        let number = try container.decode(Double.self)
        self = .number(String(number))
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let text): try container.encode(text)
        case .position: try container.encode(description)
        case .number(let text):
            if let integer = Int64(text) { try container.encode(integer) } else if let number = Double(text) { try container.encode(number) } else { try container.encode(text) }
        }
    }
}

extension Hit {
    enum CodingKeys: String, CodingKey { case rule, pack, category, action, score, start, end, byteStart, byteEnd, match, reported }

    /// `score` is the rule's score, or for a model pack's hit the model's probability.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        var score: Int?, modelScore: Double?
        if let integer = try? container.decodeIfPresent(Int.self, forKey: .score) { score = integer } else {
            modelScore = try container.decodeIfPresent(Double.self, forKey: .score)
        }
        self.init(rule: try container.decode(String.self, forKey: .rule), pack: try container.decode(String.self, forKey: .pack),
                  category: try container.decode(String.self, forKey: .category),
                  action: try container.decodeIfPresent(Verdict.self, forKey: .action), score: score,
                  start: try container.decode(Int.self, forKey: .start), end: try container.decode(Int.self, forKey: .end),
                  byteStart: try container.decode(Int.self, forKey: .byteStart), byteEnd: try container.decode(Int.self, forKey: .byteEnd),
                  match: try container.decode(String.self, forKey: .match),
                  reported: try container.decodeIfPresent(Bool.self, forKey: .reported) ?? false, modelScore: modelScore)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(rule, forKey: .rule)
        try container.encode(pack, forKey: .pack)
        try container.encode(category, forKey: .category)
        try container.encode(action, forKey: .action)
        if let modelScore { try container.encode(modelScore, forKey: .score) } else { try container.encode(score, forKey: .score) }
        try container.encode(start, forKey: .start)
        try container.encode(end, forKey: .end)
        try container.encode(byteStart, forKey: .byteStart)
        try container.encode(byteEnd, forKey: .byteEnd)
        try container.encode(match, forKey: .match)
        try container.encode(reported, forKey: .reported)
    }
}
