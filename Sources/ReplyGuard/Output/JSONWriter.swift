/// Minimal, fast JSON text building with a fixed key order (records are compared by tests as decoded
/// values, by people as text).
public enum JSONWriter {
    /// Appends `value` as a JSON string literal, escaped as by the `[UInt8]` variant.
    public static func appendString(_ value: String, to out: inout String) {
        var bytes: [UInt8] = []
        appendString(value, to: &bytes)
        out += String(decoding: bytes, as: UTF8.self)
    }

    public static func string(_ value: String) -> String {
        var out = ""
        appendString(value, to: &out)
        return out
    }
}

extension JSONWriter {
    /// Appends `value` as a JSON string literal to UTF-8 bytes: quotes, backslashes, control characters
    /// and U+2028/U+2029 (which some JSON readers treat as line ends) escaped, everything else copied as
    /// UTF-8 in runs.
    public static func appendString(_ value: String, to out: inout [UInt8]) {
        out.append(0x22)
        var copy = value
        copy.withUTF8 { appendEscaped($0, to: &out) }
        out.append(0x22)
    }

    private static func appendEscaped(_ bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        var start = 0, i = 0
        let count = bytes.count
        while i < count {
            // Eight bytes at a time while none of them needs a look (ids, digests, most of any text).
            if i + 8 <= count, !mayNeedAttention(UnsafeRawPointer(bytes.baseAddress! + i).loadUnaligned(as: UInt64.self)) {
                i += 8
                continue
            }
            let byte = bytes[i]
            if byte >= 0x20 && byte != 0x22 && byte != 0x5C && byte != 0xE2 { i += 1; continue }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<i]))
            var length = 1
            switch byte {
            case 0x22: out.append(0x5C); out.append(0x22)
            case 0x5C: out.append(0x5C); out.append(0x5C)
            case 0x0A: out.append(0x5C); out.append(0x6E)
            case 0x0D: out.append(0x5C); out.append(0x72)
            case 0x09: out.append(0x5C); out.append(0x74)
            case 0xE2 where i + 2 < count && bytes[i + 1] == 0x80 && (bytes[i + 2] == 0xA8 || bytes[i + 2] == 0xA9):
                out.append(contentsOf: [0x5C, 0x75, 0x32, 0x30, 0x32, bytes[i + 2] == 0xA8 ? 0x38 : 0x39]) // \u2028 \u2029
                length = 3
            case 0xE2: out.append(0xE2)
            default:
                out.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hexDigit(byte >> 4), hexDigit(byte & 0xF)])
            }
            i += length
            start = i
        }
        out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<count]))
    }

    private static func hexDigit(_ v: UInt8) -> UInt8 { v < 10 ? 0x30 + v : 0x61 + v - 10 }

    /// False when none of the eight bytes is a control character, `"`, `\` or 0xE2 (which may start
    /// U+2028/U+2029); true when one may be (the usual zero-byte tests: never a false "no").
    @inline(__always)
    private static func mayNeedAttention(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        @inline(__always) func hasZeroByte(_ v: UInt64) -> Bool { (v &- ones) & ~v & highs != 0 }
        let control = (word &- ones &* 0x20) & ~word & highs != 0
        return control || hasZeroByte(word ^ (ones &* 0x22)) || hasZeroByte(word ^ (ones &* 0x5C)) || hasZeroByte(word ^ (ones &* 0xE2))
    }

    /// Appends the decimal digits of `value`.
    public static func appendInt(_ value: Int, to out: inout [UInt8]) {
        if value < 0 { out.append(0x2D) }
        var magnitude = value.magnitude
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[19 - count] = UInt8(magnitude % 10) + 0x30
                magnitude /= 10
                count += 1
            } while magnitude > 0
            out.append(contentsOf: buffer[(20 - count)...])
        }
    }
}

extension Decision {
    /// The decision as one line of JSON (no trailing newline), schema ``Decision/schema``:
    /// `{"schema","id","verdict","scores","hits":[…],"errors":[…],"suppressed":[…],"policy","engine"}`.
    public func jsonLine(extra: [(String, String)] = []) -> String {
        var out: [UInt8] = []
        appendJSONLine(to: &out, extra: extra)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends ``jsonLine(extra:)``'s bytes to `out`.
    public func appendJSONLine(to out: inout [UInt8], extra: [(String, String)] = []) {
        Decision.appendRecordStart(to: &out)
        switch id {
        case .string(let s): JSONWriter.appendString(s, to: &out)
        case .number(let n): out.append(contentsOf: n.utf8)
        case .position(let file, let line):
            Decision.appendPositionStart(file, to: &out)
            Decision.appendPositionEnd(line, to: &out)
        }
        appendRecordMiddle(to: &out)
        JSONWriter.appendString(policy, to: &out)
        Decision.appendEngineKey(to: &out)
        JSONWriter.appendString(engine, to: &out)
        for (key, rawJSON) in extra {
            out.append(0x2C)
            JSONWriter.appendString(key, to: &out)
            out.append(0x3A)
            out.append(contentsOf: rawJSON.utf8)
        }
        out.append(0x7D)
    }

    /// ``appendJSONLine(to:extra:)`` (no extra fields) for a run of records, the same bytes: what is the
    /// same from one record to the next — the start up to a position id's line number (the file name
    /// escaped), and the policy digest and engine to the end — is rendered once into `cache` and copied
    /// while it still applies (scan renders millions of records this way).
    public func appendJSONLine(to out: inout [UInt8], cache: inout DecisionRecordCache) {
        switch id {
        case .position(let file, let line):
            if cache.file != file {
                cache.positionStart.removeAll(keepingCapacity: true)
                Decision.appendRecordStart(to: &cache.positionStart)
                Decision.appendPositionStart(file, to: &cache.positionStart)
                cache.file = file
            }
            out.append(contentsOf: cache.positionStart)
            Decision.appendPositionEnd(line, to: &out)
        case .string(let s):
            Decision.appendRecordStart(to: &out)
            JSONWriter.appendString(s, to: &out)
        case .number(let n):
            Decision.appendRecordStart(to: &out)
            out.append(contentsOf: n.utf8)
        }
        appendRecordMiddle(to: &out)
        if cache.policy != policy || cache.engine != engine {
            cache.end.removeAll(keepingCapacity: true)
            JSONWriter.appendString(policy, to: &cache.end)
            Decision.appendEngineKey(to: &cache.end)
            JSONWriter.appendString(engine, to: &cache.end)
            cache.end.append(0x7D)
            (cache.policy, cache.engine) = (policy, engine)
        }
        out.append(contentsOf: cache.end)
    }

    private static func appendEngineKey(to out: inout [UInt8]) {
        let key: StaticString = ",\"engine\":"
        key.withUTF8Buffer { out.append(contentsOf: $0) }
    }

    private static func appendRecordStart(to out: inout [UInt8]) {
        let start: StaticString = "{\"schema\":\"replyguard.decision/1\",\"id\":" // Decision.schema (a test checks they agree)
        start.withUTF8Buffer { out.append(contentsOf: $0) }
    }

    /// A position id `"file:line"` is escaped as one string: the quote, the file escaped and the colon
    /// here, then ``appendPositionEnd(_:to:)`` the line number and the closing quote.
    private static func appendPositionStart(_ file: String, to out: inout [UInt8]) {
        JSONWriter.appendString(file, to: &out)
        out.removeLast()
        out.append(0x3A)
    }

    private static func appendPositionEnd(_ line: Int, to out: inout [UInt8]) {
        JSONWriter.appendInt(line, to: &out)
        out.append(0x22)
    }

    /// From the verdict to `"policy":` (the scores, hits, errors and suppressions between).
    private func appendRecordMiddle(to out: inout [UInt8]) {
        func raw(_ text: StaticString) { text.withUTF8Buffer { out.append(contentsOf: $0) } }
        func string(_ value: String) { JSONWriter.appendString(value, to: &out) }
        func int(_ value: Int) { JSONWriter.appendInt(value, to: &out) }
        raw(",\"verdict\":\"")
        out.append(contentsOf: verdict.rawValue.utf8)
        if scores.isEmpty && hits.isEmpty && errors.isEmpty && suppressed.isEmpty {
            // Most records: the empty lists in one piece.
            raw("\",\"scores\":{},\"hits\":[],\"errors\":[],\"suppressed\":[],\"policy\":")
        } else {
            raw("\",\"scores\":{")
            for (i, key) in scores.keys.sorted().enumerated() {
                if i > 0 { out.append(0x2C) }
                string(key)
                out.append(0x3A)
                int(scores[key]!)
            }
            raw("},\"hits\":[")
            for (i, hit) in hits.enumerated() {
                if i > 0 { out.append(0x2C) }
                raw("{\"rule\":"); string(hit.rule)
                raw(",\"pack\":"); string(hit.pack)
                raw(",\"category\":"); string(hit.category)
                raw(",\"action\":")
                if let action = hit.action { out.append(0x22); out.append(contentsOf: action.rawValue.utf8); out.append(0x22) } else { raw("null") }
                raw(",\"score\":")
                if let p = hit.modelScore { out.append(contentsOf: NGramModel.format(p, 4).utf8) } else if let score = hit.score { int(score) } else { raw("null") }
                raw(",\"start\":"); int(hit.start)
                raw(",\"end\":"); int(hit.end)
                raw(",\"byteStart\":"); int(hit.byteStart)
                raw(",\"byteEnd\":"); int(hit.byteEnd)
                raw(",\"match\":"); string(hit.match)
                if hit.reported { raw(",\"reported\":true}") } else { raw(",\"reported\":false}") }
            }
            raw("],\"errors\":[")
            for (i, error) in errors.enumerated() {
                if i > 0 { out.append(0x2C) }
                raw("{\"rule\":")
                if let rule = error.rule { string(rule) } else { raw("null") }
                raw(",\"message\":"); string(error.message)
                out.append(0x7D)
            }
            raw("],\"suppressed\":[")
            for (i, item) in suppressed.enumerated() {
                if i > 0 { out.append(0x2C) }
                raw("{\"rule\":"); string(item.rule)
                raw(",\"reason\":"); string(item.reason)
                out.append(0x7D)
            }
            raw("],\"policy\":")
        }
    }
}

/// What ``Decision/appendJSONLine(to:cache:)`` keeps from one record to the next; start with an empty
/// one per run of records (scan: per batch, on the worker rendering it).
public struct DecisionRecordCache {
    var file: String?
    /// The record's start through a position id's colon, for `file`.
    var positionStart: [UInt8] = []
    var policy: String?
    var engine: String?
    /// The policy digest, the engine and the closing brace, for `policy` and `engine`.
    var end: [UInt8] = []

    public init() {}
}
