// The shipped rule set compiled into the binary. `EmbeddedRulesData.files` is generated at build time from
// the package's `rules/` directory by the EmbedRules build tool plugin (Plugins/EmbedRules), so it always
// holds the rules/ the binary was built from.

extension EmbeddedRulesData {
    /// The bytes of one embedded file.
    public static func bytes(encoding: Encoding, contents: StaticString) -> [UInt8] {
        let raw = contents.withUTF8Buffer { Array($0) }
        switch encoding {
        case .utf8: return raw
        case .base64: return Base64.decode(raw)
        }
    }
}

/// Base64 decoding (RFC 4648, no line breaks) without Foundation, for files that are not UTF-8.
enum Base64 {
    static func decode(_ text: [UInt8]) -> [UInt8] {
        func value(_ c: UInt8) -> UInt32? {
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): return UInt32(c - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): return UInt32(c - UInt8(ascii: "a") + 26)
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(c - UInt8(ascii: "0") + 52)
            case UInt8(ascii: "+"): return 62
            case UInt8(ascii: "/"): return 63
            default: return nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(text.count / 4 * 3)
        var accumulator: UInt32 = 0, bits = 0
        for c in text {
            guard let v = value(c) else { continue } // '=' padding
            accumulator = accumulator << 6 | v
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        return out
    }
}
