// The shipped rule set compiled into the binary. `EmbeddedRulesData.base64Files` is generated at build time
// from the package's `rules/` directory by Scripts/embed-rules (run by the EmbedRules build tool
// plugin, Plugins/EmbedRules), so it always holds the rules/ the binary was built from.

extension EmbeddedRulesData {
    /// (path relative to `rules/`, e.g. `profiles/posts.yaml`; size in bytes; the file's bytes, decoded
    /// when called).
    public static var files: [(path: String, size: Int, bytes: @Sendable () -> [UInt8])] {
        base64Files.map { file in
            let encoded = file.base64
            return (file.path, Base64.decodedCount(encoded), { Base64.decode(encoded) })
        }
    }
}

/// Base64 decoding (RFC 4648 alphabet, no line breaks; `=` padding and anything outside the alphabet
/// skipped) without Foundation: 4.3 MB in a few milliseconds.
enum Base64 {
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, character) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            table[Int(character)] = UInt8(index)
        }
        return table
    }()

    /// The number of bytes `text` decodes to (from its length and `=` padding).
    static func decodedCount(_ text: StaticString) -> Int {
        text.withUTF8Buffer { input in
            let padding = input.reversed().prefix(2).prefix { $0 == UInt8(ascii: "=") }.count
            return input.count / 4 * 3 - padding
        }
    }

    static func decode(_ text: StaticString) -> [UInt8] {
        text.withUTF8Buffer { input in
            values.withUnsafeBufferPointer { table in
                [UInt8](unsafeUninitializedCapacity: input.count / 4 * 3 + 3) { output, count in
                    var accumulator: UInt32 = 0, bits: UInt32 = 0, written = 0
                    // Whole groups of four alphabet characters, three bytes each; the first group holding
                    // anything else (padding, a line break) and the rest go through the general loop below.
                    var start = 0
                    while start + 4 <= input.count {
                        let a = table[Int(input[start])], b = table[Int(input[start + 1])]
                        let c = table[Int(input[start + 2])], d = table[Int(input[start + 3])]
                        if (a | b | c | d) & 0x80 != 0 { break }
                        let group = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                        output[written] = UInt8(truncatingIfNeeded: group >> 16)
                        output[written + 1] = UInt8(truncatingIfNeeded: group >> 8)
                        output[written + 2] = UInt8(truncatingIfNeeded: group)
                        written += 3
                        start += 4
                    }
                    for character in input[start...] {
                        let value = table[Int(character)]
                        if value == 0xFF { continue }
                        accumulator = accumulator << 6 | UInt32(value)
                        bits += 6
                        if bits >= 8 {
                            bits -= 8
                            output[written] = UInt8(truncatingIfNeeded: accumulator >> bits)
                            written += 1
                        }
                    }
                    count = written
                }
            }
        }
    }
}
