/// Finds a top-level field's value in one JSON object line without re-serializing it, so a filter can
/// replace just that value and pass every other byte through untouched.
public enum JSONFieldLocator {
    /// The byte ranges of the values of top-level keys `fields` in `line` (a JSON object), nil for a key
    /// that is absent; nil altogether when the line is not a well-formed object. Keys are compared after
    /// unescaping; the first occurrence of a key wins (see the variant that reports repeated keys).
    package static func valueRanges(of fields: [String], in line: UnsafeBufferPointer<UInt8>) -> [Range<Int>?]? {
        var repeated: Int?
        return valueRanges(of: fields, in: line, repeated: &repeated)
    }

    /// Like ``valueRanges(of:in:)``; `repeated` is set to the index of the first of `fields` whose key
    /// occurs more than once at the top level (parsers disagree on which value counts: most keep the last).
    package static func valueRanges(of fields: [String], in line: UnsafeBufferPointer<UInt8>, repeated: inout Int?) -> [Range<Int>?]? {
        repeated = nil
        var i = 0
        let n = line.count
        func skipSpace() { while i < n, line[i] == 0x20 || line[i] == 0x09 || line[i] == 0x0A || line[i] == 0x0D { i += 1 } }
        /// Skips a string starting at `i` (a quote); returns its content range, nil if unterminated.
        func skipString() -> Range<Int>? {
            guard i < n, line[i] == 0x22 else { return nil }
            let start = i + 1
            i += 1
            while i < n {
                if line[i] == 0x5C { i += 2; continue }
                if line[i] == 0x22 { i += 1; return start..<(i - 1) }
                i += 1
            }
            return nil
        }
        /// Skips any JSON value; false when malformed.
        func skipValue() -> Bool {
            skipSpace()
            guard i < n else { return false }
            switch line[i] {
            case 0x22: return skipString() != nil
            case 0x7B, 0x5B: // { [
                var depth = 0
                while i < n {
                    switch line[i] {
                    case 0x22: if skipString() == nil { return false }; continue
                    case 0x7B, 0x5B: depth += 1
                    case 0x7D, 0x5D: depth -= 1; if depth == 0 { i += 1; return true }
                    default: break
                    }
                    i += 1
                }
                return false
            default:
                let start = i
                while i < n, ![0x2C, 0x7D, 0x5D, 0x20, 0x09, 0x0A, 0x0D].contains(line[i]) { i += 1 }
                return isLiteral(UnsafeBufferPointer(rebasing: line[start..<i]))
            }
        }
        skipSpace()
        guard i < n, line[i] == 0x7B else { return nil }
        i += 1
        var found = [Range<Int>?](repeating: nil, count: fields.count)
        var first = true
        while true {
            skipSpace()
            if first, i < n, line[i] == 0x7D { i += 1; break } // {} (a comma must be followed by a key)
            first = false
            guard let keyRange = skipString() else { return nil }
            skipSpace()
            guard i < n, line[i] == 0x3A else { return nil }
            i += 1
            skipSpace()
            let valueStart = i
            guard skipValue() else { return nil }
            for (k, field) in fields.enumerated() where unescapedEquals(line, keyRange, field) {
                if found[k] == nil { found[k] = valueStart..<i } else if repeated == nil { repeated = k }
            }
            skipSpace()
            if i < n, line[i] == 0x2C { i += 1; continue }
            if i < n, line[i] == 0x7D { i += 1; break }
            return nil
        }
        skipSpace()
        return i == n ? found : nil
    }

    /// Whether `token` is `true`, `false`, `null` or a number as JSON writes it (`-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?`):
    /// `1"2`, `9x`, `0x1f`, `1.2.3` and `01` are not, and copying them would make output invalid JSON.
    static func isLiteral(_ token: UnsafeBufferPointer<UInt8>) -> Bool {
        if token.elementsEqual("true".utf8) || token.elementsEqual("false".utf8) || token.elementsEqual("null".utf8) { return true }
        var i = 0
        let n = token.count
        func digits() -> Int { let start = i; while i < n, token[i] >= 0x30, token[i] <= 0x39 { i += 1 }; return i - start }
        if i < n, token[i] == 0x2D { i += 1 }
        guard i < n else { return false }
        if token[i] == 0x30 { i += 1 } else if digits() == 0 { return false }
        if i < n, token[i] == 0x2E { i += 1; if digits() == 0 { return false } }
        if i < n, token[i] == 0x65 || token[i] == 0x45 {
            i += 1
            if i < n, token[i] == 0x2B || token[i] == 0x2D { i += 1 }
            if digits() == 0 { return false }
        }
        return i == n
    }

    private static func unescapedEquals(_ line: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ field: String) -> Bool {
        let raw = line[range]
        if !raw.contains(0x5C) { return raw.elementsEqual(field.utf8) }
        // Rare: an escaped key. Let Foundation-free decoding handle the common escapes.
        var decoded = "\""
        decoded += String(decoding: raw, as: UTF8.self)
        decoded += "\""
        return JSONStringDecoder.decode(Array(decoded.utf8)) == field
    }
}

/// Decodes one JSON string literal (with quotes) into a String; nil when malformed.
public enum JSONStringDecoder {
    public static func decode(_ literal: [UInt8]) -> String? {
        var loneSurrogates = 0
        return decode(literal, loneSurrogates: &loneSurrogates)
    }

    /// Like ``decode(_:)``; counts `\uD800`–`\uDFFF` escapes that are not a valid pair (decoded as
    /// U+FFFD here, kept as they are by many parsers downstream).
    public static func decode(_ literal: [UInt8], loneSurrogates: inout Int) -> String? {
        guard literal.count >= 2, literal.first == 0x22, literal.last == 0x22 else { return nil }
        var out = String.UnicodeScalarView()
        var bytes: [UInt8] = []
        func flush() { if !bytes.isEmpty { out.append(contentsOf: String(decoding: bytes, as: UTF8.self).unicodeScalars); bytes.removeAll() } }
        var i = 1
        let end = literal.count - 1
        func hex4(_ at: Int) -> UInt32? {
            guard at + 4 <= end else { return nil }
            return UInt32(String(decoding: literal[at..<at + 4], as: UTF8.self), radix: 16)
        }
        while i < end {
            let b = literal[i]
            if b == 0x22 { return nil }
            if b != 0x5C { bytes.append(b); i += 1; continue }
            guard i + 1 < end else { return nil }
            flush()
            switch literal[i + 1] {
            case 0x22: out.append("\""); i += 2
            case 0x5C: out.append("\\"); i += 2
            case 0x2F: out.append("/"); i += 2
            case 0x62: out.append("\u{08}"); i += 2
            case 0x66: out.append("\u{0C}"); i += 2
            case 0x6E: out.append("\n"); i += 2
            case 0x72: out.append("\r"); i += 2
            case 0x74: out.append("\t"); i += 2
            case 0x75:
                guard var value = hex4(i + 2) else { return nil }
                i += 6
                if (0xD800...0xDBFF).contains(value), i + 1 < end, literal[i] == 0x5C, literal[i + 1] == 0x75,
                   let low = hex4(i + 2), (0xDC00...0xDFFF).contains(low) {
                    value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
                }
                if let scalar = Unicode.Scalar(value) { out.append(scalar) } else { out.append("\u{FFFD}"); loneSurrogates += 1 }
            default: return nil
            }
        }
        flush()
        return String(out)
    }
}

/// What ``JSONFieldLocator/repeatedKey(in:)`` found.
package enum JSONKeyCheck: Equatable, Sendable {
    /// A well-formed JSON value whose objects each name every key once.
    case unique
    /// An object (at any depth) names this key more than once.
    case repeated(String)
    /// Not one well-formed JSON value.
    case malformed
}

extension JSONFieldLocator {
    /// Whether an object anywhere in `json` (one JSON value, whitespace around it allowed) names a key more
    /// than once. Parsers disagree on which value counts (Foundation's `JSONSerialization` and Python's
    /// `json` keep the last, others the first; Foundation merges canonically equivalent keys that Python
    /// keeps apart), so a filter that decides one value and passes the bytes on must not pass such a
    /// document. String values' escapes are not checked (the caller's parser does). Keys are compared as Swift strings after unescaping, so `"\u0063ontent"` and
    /// `"content"` are the same key, and so are two canonically equivalent spellings (one key to
    /// Foundation). A byte walk: no values are built, only the keys of the objects open at the time.
    package static func repeatedKey(in json: UnsafeBufferPointer<UInt8>) -> JSONKeyCheck {
        var i = 0
        let n = json.count
        /// The keys of every open object, innermost last; `levels` holds where each open object's keys start
        /// (and, past ``setFrom`` keys, a set of them), -1 for an open array.
        var keys: [String] = []
        var levels: [(start: Int, set: Set<String>?)] = []
        let setFrom = 12
        func skipSpace() { while i < n, json[i] == 0x20 || json[i] == 0x09 || json[i] == 0x0A || json[i] == 0x0D { i += 1 } }
        /// Skips a string at `i` (a quote); its content range, nil if unterminated or holding a raw control character.
        func string() -> Range<Int>? {
            guard i < n, json[i] == 0x22 else { return nil }
            let start = i + 1
            i += 1
            while i < n {
                let byte = json[i]
                if byte == 0x5C { i += 2; continue }
                if byte == 0x22 { i += 1; return start..<(i - 1) }
                if byte < 0x20 { return nil }
                i += 1
            }
            return nil
        }
        /// Reads one key; false when it repeats one of its object's (`found` is then set) or its escapes are malformed.
        func add(_ range: Range<Int>, _ found: inout String?) -> Bool {
            let raw = json[range]
            let key: String
            if raw.contains(0x5C) {
                guard let decoded = JSONStringDecoder.decode(Array(json[(range.lowerBound - 1)...range.upperBound])) else { found = nil; return false }
                key = decoded
            } else {
                key = String(decoding: raw, as: UTF8.self)
            }
            let level = levels.count - 1
            if var set = levels[level].set {
                levels[level].set = nil
                let (inserted, _) = set.insert(key)
                levels[level].set = set
                if !inserted { found = key; return false }
                return true
            }
            let start = levels[level].start
            for k in start..<keys.count where keys[k] == key {
                found = key
                return false
            }
            keys.append(key)
            if keys.count - start >= setFrom { levels[level].set = Set(keys[start...]) }
            return true
        }
        // The walk: a value's start (opening a level for an object or array); after a value the innermost
        // open level says what may follow. A leading byte order mark is skipped (Foundation allows one).
        if n >= 3, json[0] == 0xEF, json[1] == 0xBB, json[2] == 0xBF { i = 3 }
        skipSpace()
        while true {
            // A value starts at `i`.
            skipSpace()
            guard i < n else { return .malformed }
            switch json[i] {
            case 0x7B: // {
                i += 1
                levels.append((keys.count, nil))
                skipSpace()
                if i < n, json[i] == 0x7D { i += 1; levels.removeLast(); break }
                guard let key = string() else { return .malformed }
                var found: String?
                if !add(key, &found) { return found.map { .repeated($0) } ?? .malformed }
                skipSpace()
                guard i < n, json[i] == 0x3A else { return .malformed }
                i += 1
                continue
            case 0x5B: // [
                i += 1
                levels.append((-1, nil))
                skipSpace()
                if i < n, json[i] == 0x5D { i += 1; levels.removeLast(); break }
                continue
            case 0x22:
                guard string() != nil else { return .malformed }
            default:
                let start = i
                while i < n, ![0x2C, 0x7D, 0x5D, 0x20, 0x09, 0x0A, 0x0D, 0x3A, 0x22, 0x7B, 0x5B].contains(json[i]) { i += 1 }
                guard i > start, isLiteral(UnsafeBufferPointer(rebasing: json[start..<i])) else { return .malformed }
            }
            // A value ended: close the levels it completes, then expect the next element or key.
            while true {
                skipSpace()
                guard let level = levels.last else {
                    return i == n ? .unique : .malformed
                }
                guard i < n else { return .malformed }
                let isObject = level.start >= 0
                if json[i] == 0x2C {
                    i += 1
                    if isObject {
                        skipSpace()
                        guard let key = string() else { return .malformed }
                        var found: String?
                        if !add(key, &found) { return found.map { .repeated($0) } ?? .malformed }
                        skipSpace()
                        guard i < n, json[i] == 0x3A else { return .malformed }
                        i += 1
                    }
                    break
                }
                guard json[i] == (isObject ? 0x7D : 0x5D) else { return .malformed }
                i += 1
                if isObject { keys.removeSubrange(level.start...) }
                levels.removeLast()
            }
        }
    }

    package static func repeatedKey(in json: [UInt8]) -> JSONKeyCheck {
        json.withUnsafeBufferPointer { repeatedKey(in: $0) }
    }
}
