/// Per-scalar normalization tables, built once per process from the generated data (no ICU at run time).
///
/// Every scalar has one entry saying what it becomes: kept as a (possibly different) scalar, a filler
/// (space, punctuation, symbol, emoji: skipped between the characters of a word), ignorable (zero-width
/// and format characters, combining marks: dropped), or an expansion into several entries (`㈱` → `(株)`).
public final class NormalizationTables: Sendable {
    /// The shared tables; built on first use (about 10 ms), then immutable.
    public static let shared = NormalizationTables()

    /// Entry layout: bits 29–31 kind, bits 0–20 the folded scalar (keep, filler) or the expansion offset,
    /// bits 21–28 the expansion's length.
    static let kindShift: UInt32 = 29
    static let keep: UInt32 = 0, filler: UInt32 = 1, ignorable: UInt32 = 2, expansion: UInt32 = 3

    /// Entries for scalars below `flatLimit`, indexed by scalar value.
    let flat: [UInt32]
    static let flatLimit = 0x20000
    /// Entries for scalars at or above `flatLimit` that are not plain "keep".
    let high: [UInt32: UInt32]
    /// Expansion entries (never themselves expansions).
    let expansions: [UInt32]
    /// Simplified → Traditional, for mutating test examples (`check`); not used when matching.
    public let simplifiedToTraditional: [Unicode.Scalar: Unicode.Scalar]
    /// Pinyin initial letter of each scalar in U+4E00–U+9FFF (0 where there is none).
    private let pinyinInitials: [UInt8]

    private init() {
        var folding: [UInt32: [UInt32]] = [:]
        for item in NormalizationTables.generatedFolding.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            let parts = item.split(separator: ":", omittingEmptySubsequences: false)
            let from = UInt32(parts[0], radix: 16)!
            folding[from] = parts[1].isEmpty ? [] : parts[1].split(separator: ",").map { UInt32($0, radix: 16)! }
        }
        var expansions: [UInt32] = []
        func entry(for value: UInt32) -> UInt32 {
            guard let replacement = folding[value] else { return NormalizationTables.classify(value) }
            if replacement.isEmpty { return NormalizationTables.ignorable << NormalizationTables.kindShift }
            if replacement.count == 1 { return NormalizationTables.classify(replacement[0]) }
            let offset = UInt32(expansions.count)
            expansions.append(contentsOf: replacement.map(NormalizationTables.classify))
            return NormalizationTables.expansion << NormalizationTables.kindShift
                | UInt32(replacement.count) << 21 | offset
        }
        var flat = [UInt32](repeating: 0, count: NormalizationTables.flatLimit)
        for value in 0..<UInt32(NormalizationTables.flatLimit) { flat[Int(value)] = entry(for: value) }
        var high: [UInt32: UInt32] = [:]
        for value in folding.keys where value >= NormalizationTables.flatLimit { high[value] = entry(for: value) }
        for value in UInt32(0xE0000)...0xE0FFF where folding[value] == nil { high[value] = entry(for: value) }
        self.flat = flat
        self.high = high
        self.expansions = expansions

        var s2t: [Unicode.Scalar: Unicode.Scalar] = [:]
        for item in NormalizationTables.generatedSimplifiedToTraditional.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            let parts = item.split(separator: ":")
            s2t[Unicode.Scalar(UInt32(parts[0], radix: 16)!)!] = Unicode.Scalar(UInt32(parts[1], radix: 16)!)!
        }
        simplifiedToTraditional = s2t
        pinyinInitials = NormalizationTables.generatedPinyinInitials.utf8.filter { $0 != 0x0A }.map { $0 == UInt8(ascii: ".") ? 0 : $0 }
    }

    /// The first letter of the Mandarin reading of a CJK ideograph (`傻` → `s`), or nil.
    public func pinyinInitial(of value: UInt32) -> UInt32? {
        guard value >= 0x4E00, value < 0x4E00 + UInt32(pinyinInitials.count) else { return nil }
        let letter = pinyinInitials[Int(value - 0x4E00)]
        return letter == 0 ? nil : UInt32(letter)
    }

    /// The entry for a scalar that is already in folded form: keep, filler or ignorable by category.
    static func classify(_ value: UInt32) -> UInt32 {
        guard let scalar = Unicode.Scalar(value) else { return ignorable << kindShift }
        switch scalar.properties.generalCategory {
        case .spaceSeparator, .lineSeparator, .paragraphSeparator, .control,
             .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation,
             .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol:
            return filler << kindShift | value
        case .format, .nonspacingMark, .enclosingMark, .surrogate:
            return ignorable << kindShift
        default:
            return keep << kindShift | value
        }
    }

    @inline(__always)
    func entry(_ value: UInt32) -> UInt32 {
        if value < NormalizationTables.flatLimit { return flat[Int(value)] }
        return high[value] ?? value
    }
}
