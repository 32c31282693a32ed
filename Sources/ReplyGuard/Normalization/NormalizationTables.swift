/// Per-scalar normalization tables, built once per process from the generated data (no ICU at run time).
///
/// Every scalar has one entry saying what it becomes: kept as a (possibly different) scalar, a filler
/// (space, punctuation, symbol, emoji: skipped between the characters of a word), ignorable (zero-width
/// and format characters, combining marks: dropped), or an expansion into several entries (`㈱` → `(株)`).
/// `@unchecked Sendable`: built once in `init` and never mutated after (its tables are raw buffers,
/// which the compiler cannot see are read-only).
public final class NormalizationTables: @unchecked Sendable {
    /// The shared tables; built on first use (about 10 ms), then immutable — or the ones the
    /// compiled-set cache read, when it ran before anything used them (``preloaded``).
    public static let shared = preloaded ?? NormalizationTables()

    /// Tables ``CompiledSetCache`` read from its file (written from `shared` by the same binary), set
    /// before the first use of ``shared`` on the loading thread; nil otherwise.
    nonisolated(unsafe) static var preloaded: NormalizationTables?

    /// Entry layout: bits 29–31 kind, bits 0–20 the folded scalar (keep, filler) or the expansion offset,
    /// bits 21–28 the expansion's length.
    static let kindShift: UInt32 = 29
    static let keep: UInt32 = 0, filler: UInt32 = 1, ignorable: UInt32 = 2, expansion: UInt32 = 3

    /// Entries for scalars below `flatLimit`, indexed by scalar value (raw memory: immutable after init,
    /// read by every scanner thread without reference counting).
    let flat: UnsafeBufferPointer<UInt32>
    static let flatLimit = 0x20000
    /// Entries for scalars at or above `flatLimit` that are not plain "keep".
    let high: [UInt32: UInt32]
    /// Expansion entries (never themselves expansions).
    let expansions: [UInt32]
    /// The scalars below ``flatLimit`` that fold into another scalar or expand, ascending.
    let changedScalars: [UInt32]
    /// Simplified → Traditional, for mutating test examples (`check`); not used when matching (built on
    /// first use).
    public var simplifiedToTraditional: [Unicode.Scalar: Unicode.Scalar] { NormalizationTables.simplifiedToTraditionalTable }
    private static let simplifiedToTraditionalTable: [Unicode.Scalar: Unicode.Scalar] = {
        var s2t: [Unicode.Scalar: Unicode.Scalar] = [:]
        for (from, to) in parseMappings(generatedSimplifiedToTraditional) {
            s2t[Unicode.Scalar(from)!] = Unicode.Scalar(to[0])!
        }
        return s2t
    }()
    /// Pinyin initial letter of each scalar in U+4E00–U+9FFF (0 where there is none), built on first use
    /// (only words with the `pinyin-initials` evasion need it).
    private static let pinyinInitials: [UInt8] =
        generatedPinyinInitials.utf8.filter { $0 != 0x0A }.map { $0 == UInt8(ascii: ".") ? 0 : $0 }

    /// One bit per BMP scalar: set when the scalar is kept as itself (most Chinese text), so the hot
    /// loops can skip the 4-byte entry (8 KB stays in the L1 cache where the entries would not).
    let plainKeep: UnsafeBufferPointer<UInt64>

    @inline(__always)
    func isPlainKeep(_ value: UInt32) -> Bool {
        value < 0x10000 && plainKeep[Int(value >> 6)] >> UInt64(value & 63) & 1 != 0
    }

    /// One bit per scalar below `flatLimit`: set when it counts as a decimal digit for the regex
    /// prefilter's digit counts — it is one (general category Nd, what `\d` matches), folds to one (`①`,
    /// fullwidth digits), or expands to text that holds one (`⑽` → `(10)`; such an expansion counts as
    /// all of its characters). Every Nd scalar lies below `flatLimit`.
    let digits: UnsafeBufferPointer<UInt64>

    @inline(__always)
    func countsAsDigit(_ value: UInt32) -> Bool {
        value < UInt32(NormalizationTables.flatLimit) && digits[Int(value >> 6)] >> UInt64(value & 63) & 1 != 0
    }

    deinit {
        flat.deallocate()
        plainKeep.deallocate()
        digits.deallocate()
    }

    private init() {
        let folding = NormalizationTables.parseMappings(NormalizationTables.generatedFolding)
        var expansions: [UInt32] = []
        func entry(replacing replacement: [UInt32]) -> UInt32 {
            if replacement.isEmpty { return NormalizationTables.ignorable << NormalizationTables.kindShift }
            if replacement.count == 1 { return NormalizationTables.classify(replacement[0]) }
            let offset = UInt32(expansions.count)
            expansions.append(contentsOf: replacement.map { NormalizationTables.classify($0) })
            return NormalizationTables.expansion << NormalizationTables.kindShift
                | UInt32(replacement.count) << 21 | offset
        }
        // Every scalar classified as itself, then the folded ones overwritten.
        var isDecimal = [Bool](repeating: false, count: NormalizationTables.flatLimit)
        var flat = (0..<UInt32(NormalizationTables.flatLimit)).map { value in
            NormalizationTables.classify(value) { isDecimal[Int(value)] = $0 == .decimalNumber }
        }
        let unfolded = flat
        var high: [UInt32: UInt32] = [:]
        for value in UInt32(0xE0000)...0xE0FFF { high[value] = NormalizationTables.classify(value) }
        for (from, replacement) in folding {
            if from < NormalizationTables.flatLimit { flat[Int(from)] = entry(replacing: replacement) } else { high[from] = entry(replacing: replacement) }
        }
        // Latin lookalikes (ѕ м ᴄ Β → s m c b) and CJK radical forms (⺡ → 氵) fold as their targets do, and so
        // does every scalar that folds into one (Cyrillic С → с → c).
        let lookalikes = NormalizationTables.lookalikeTargets
        for (from, target) in lookalikes { flat[Int(from)] = flat[Int(target)] }
        for value in 0..<NormalizationTables.flatLimit where flat[value] >> NormalizationTables.kindShift == NormalizationTables.keep {
            if let target = lookalikes[flat[value] & 0x1F_FFFF] { flat[value] = flat[Int(target)] }
        }
        let table = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: flat.count)
        _ = table.initialize(from: flat)
        self.flat = UnsafeBufferPointer(table)
        let bits = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: 0x10000 / 64)
        bits.initialize(repeating: 0)
        for value in 0..<0x10000 where flat[value] == NormalizationTables.keep << NormalizationTables.kindShift | UInt32(value) {
            bits[value >> 6] |= 1 << UInt64(value & 63)
        }
        plainKeep = UnsafeBufferPointer(bits)
        func decimal(_ value: UInt32) -> Bool { value < NormalizationTables.flatLimit && isDecimal[Int(value)] }
        let digitBits = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: NormalizationTables.flatLimit / 64)
        digitBits.initialize(repeating: 0)
        for value in 0..<NormalizationTables.flatLimit where flat[value] != unfolded[value] || isDecimal[value] {
            let entry = flat[value]
            let counts: Bool
            switch entry >> NormalizationTables.kindShift {
            case NormalizationTables.keep, NormalizationTables.filler: counts = decimal(entry & 0x1F_FFFF)
            case NormalizationTables.expansion:
                let count = Int(entry >> 21 & 0xFF), offset = Int(entry & 0x1F_FFFF)
                counts = expansions[offset..<offset + count].contains { decimal($0 & 0x1F_FFFF) }
            default: counts = false
            }
            if counts || isDecimal[value] { digitBits[value >> 6] |= 1 << UInt64(value & 63) }
        }
        digits = UnsafeBufferPointer(digitBits)
        changedScalars = (0..<UInt32(NormalizationTables.flatLimit)).filter { NormalizationTables.changes(flat[Int($0)], $0) }
        self.high = high
        self.expansions = expansions
    }

    /// Writes the tables for the compiled-set cache (``init(reading:)`` reads them).
    func write(to writer: inout CacheWriter) {
        writer.raw(flat.baseAddress!, count: flat.count)
        writer.raw(high.keys.sorted())
        writer.raw(high.keys.sorted().map { high[$0]! })
        writer.raw(expansions)
        writer.raw(changedScalars)
        writer.raw(plainKeep.baseAddress!, count: plainKeep.count)
        writer.raw(digits.baseAddress!, count: digits.count)
    }

    /// The tables ``write(to:)`` wrote; every expansion entry is checked to lie inside the expansions.
    init(reading reader: inout CacheReader) throws(CacheFormatError) {
        let flat: [UInt32] = try reader.raw()
        let highKeys: [UInt32] = try reader.raw(), highValues: [UInt32] = try reader.raw()
        let expansions: [UInt32] = try reader.raw()
        let changed: [UInt32] = try reader.raw()
        let plainKeep: [UInt64] = try reader.raw()
        let digits: [UInt64] = try reader.raw()
        func valid(_ entry: UInt32) -> Bool {
            guard entry >> NormalizationTables.kindShift == NormalizationTables.expansion else { return true }
            return Int(entry & 0x1F_FFFF) + Int(entry >> 21 & 0xFF) <= expansions.count
        }
        guard flat.count == NormalizationTables.flatLimit, highKeys.count == highValues.count,
              plainKeep.count == 0x10000 / 64, digits.count == NormalizationTables.flatLimit / 64,
              flat.allSatisfy(valid), highValues.allSatisfy(valid),
              expansions.allSatisfy({ $0 >> NormalizationTables.kindShift != NormalizationTables.expansion })
        else { throw CacheFormatError("normalization tables out of range") }
        var high: [UInt32: UInt32] = [:]
        high.reserveCapacity(highKeys.count)
        for (key, value) in zip(highKeys, highValues) { high[key] = value }
        self.high = high
        self.expansions = expansions
        changedScalars = changed
        let table = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: flat.count)
        _ = table.initialize(from: flat)
        self.flat = UnsafeBufferPointer(table)
        let keepBits = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: plainKeep.count)
        _ = keepBits.initialize(from: plainKeep)
        self.plainKeep = UnsafeBufferPointer(keepBits)
        let digitBits = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: digits.count)
        _ = digitBits.initialize(from: digits)
        self.digits = UnsafeBufferPointer(digitBits)
    }

    /// Reads the generated `SCALAR:REPLACEMENT[,REPLACEMENT…]` items (hex, separated by spaces or
    /// newlines) byte by byte: splitting the String by Characters cost a tenth of start-up.
    static func parseMappings(_ text: String) -> [(UInt32, [UInt32])] {
        var result: [(UInt32, [UInt32])] = []
        var from: UInt32 = 0, value: UInt32 = 0, digits = 0
        var replacement: [UInt32] = []
        var inReplacement = false
        func finishValue() {
            if digits > 0 { if inReplacement { replacement.append(value) } else { from = value } }
            value = 0
            digits = 0
        }
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = value << 4 | UInt32(byte - UInt8(ascii: "0")); digits += 1
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = value << 4 | UInt32(byte - UInt8(ascii: "a") + 10); digits += 1
            case UInt8(ascii: "A")...UInt8(ascii: "F"): value = value << 4 | UInt32(byte - UInt8(ascii: "A") + 10); digits += 1
            case UInt8(ascii: ":"): finishValue(); inReplacement = true
            case UInt8(ascii: ","): finishValue()
            default: // space or newline ends an item
                finishValue()
                if inReplacement { result.append((from, replacement)) }
                replacement.removeAll(keepingCapacity: true)
                inReplacement = false
            }
        }
        finishValue()
        if inReplacement { result.append((from, replacement)) }
        return result
    }

    /// Toneless pinyin of each scalar in U+4E00–U+9FFF (empty where there is none), built on first use (only
    /// words with the `pinyin` evasion need it).
    /// Read from the generated text's bytes into one flat table (splitting the String by Characters into
    /// 21,000 arrays cost 54 M instructions, 4 % of `explain`'s start-up with the shipped set).
    private static let pinyinSyllables = PinyinSyllables(generatedPinyin)

    /// The syllables of ``generatedPinyin``: the letters of syllable `i` are
    /// `letters[start[i]..<start[i + 1]]` (none for `.`).
    private struct PinyinSyllables {
        var letters: [UInt8] = []
        var start: [Int32] = [0]

        init(_ text: String) {
            var inItem = false
            for byte in text.utf8 {
                if byte == UInt8(ascii: " ") || byte == 0x0A {
                    if inItem { start.append(Int32(letters.count)) }
                    inItem = false
                } else {
                    inItem = true
                    if byte != UInt8(ascii: ".") { letters.append(byte) }
                }
            }
            if inItem { start.append(Int32(letters.count)) }
        }

        var count: Int { start.count - 1 }

        /// The letters of syllable `index` (empty for a scalar without a reading).
        subscript(index: Int) -> ArraySlice<UInt8> { letters[Int(start[index])..<Int(start[index + 1])] }
    }

    /// The toneless Mandarin reading of a CJK ideograph (`哑` → `ya`), or nil.
    public func pinyin(of value: UInt32) -> [UInt32]? {
        let syllables = NormalizationTables.pinyinSyllables
        guard value >= 0x4E00, value < 0x4E00 + UInt32(syllables.count), !syllables[Int(value - 0x4E00)].isEmpty else { return nil }
        return syllables[Int(value - 0x4E00)].map(UInt32.init)
    }

    /// Every toneless Mandarin syllable the pinyin table spells (`dang`, `shuang`), plus `ü` written `v`
    /// (`lv`, `nve`) and the few syllables no character of the table reads as (`dei`, `zhei` …), each
    /// packed by ``packSyllable(_:)``: what a pinyin annotation may spell. Built on first use (only
    /// messages with a parenthesis after a Chinese character need it).
    private static let pinyinSyllableSet: Set<UInt32> = {
        var set = Set<UInt32>()
        for index in 0..<pinyinSyllables.count where !pinyinSyllables[index].isEmpty {
            set.insert(packSyllable(pinyinSyllables[index].map(UInt32.init)))
        }
        for extra in ["lv", "lve", "nv", "nve", "cei", "dei", "tei", "zhei", "o", "ei", "yo", "lo", "n", "hng"] {
            set.insert(packSyllable(extra.unicodeScalars.map { $0.value }))
        }
        return set
    }()

    /// Up to six lower-case letters `a`–`z`, 5 bits each (a = 1), as one number.
    static func packSyllable(_ letters: [UInt32]) -> UInt32 {
        letters.reduce(0) { $0 << 5 | ($1 - 0x60) }
    }

    /// True when `packed` (see ``packSyllable(_:)``) is a toneless Mandarin syllable (`dang`, not `sb`).
    func isPinyinSyllable(_ packed: UInt32) -> Bool {
        NormalizationTables.pinyinSyllableSet.contains(packed)
    }

    /// The first letter of the Mandarin reading of a CJK ideograph (`傻` → `s`), or nil.
    public func pinyinInitial(of value: UInt32) -> UInt32? {
        let initials = NormalizationTables.pinyinInitials
        guard value >= 0x4E00, value < 0x4E00 + UInt32(initials.count) else { return nil }
        let letter = initials[Int(value - 0x4E00)]
        return letter == 0 ? nil : UInt32(letter)
    }

    // MARK: Evasion families (issue 17)

    /// Lookalike → target (both below ``flatLimit``), from the generated table.
    static let lookalikeTargets: [UInt32: UInt32] = {
        var table: [UInt32: UInt32] = [:]
        for (from, to) in parseMappings(generatedLookalikes) where to.count == 1 && from < flatLimit && to[0] < flatLimit { table[from] = to[0] }
        return table
    }()

    /// The components of each character the `split-characters` evasion splits (built on first use).
    private static let componentsTable: [UInt32: [UInt32]] = {
        var table: [UInt32: [UInt32]] = [:]
        for item in componentTable.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            let scalars = item.unicodeScalars.map { $0.value }
            if scalars.count >= 3 { table[scalars[0]] = Array(scalars.dropFirst()) }
        }
        return table
    }()

    /// The components users write for a character (拆字: `妈` → `女马`, `蠢` → `春虫虫`), or nil.
    public func components(of value: UInt32) -> [UInt32]? { NormalizationTables.componentsTable[value] }

    /// The emoji with readings, in scalar order, and the characters each stands for.
    static let emojiReadingList: [(emoji: UInt32, characters: [UInt32])] =
        parseMappings(generatedEmojiReadings).map { ($0.0, $0.1) }.sorted { $0.emoji < $1.emoji }
    /// Emoji scalar → its index in ``emojiReadingList``.
    static let emojiIndex: [UInt32: Int] = {
        var table: [UInt32: Int] = [:]
        for (k, item) in emojiReadingList.enumerated() { table[item.emoji] = k }
        return table
    }()

    /// The first of the private-use scalars (U+10F000 …, one per emoji with a reading) that stand for the
    /// emoji in the words the `emoji` evasion derives and in the view of a message the scanner builds.
    public static let emojiStandInBase: UInt32 = 0x10_F000

    /// Whether `value` is an emoji that stands for a character (🐶 for 狗); all of them lie at U+1F000
    /// or above.
    @inline(__always)
    public func isEmojiWithReading(_ value: UInt32) -> Bool {
        value >= 0x1F000 && NormalizationTables.emojiIndex[value] != nil
    }

    /// The stand-in scalar for an emoji with a reading, or nil.
    public func emojiStandIn(_ emoji: UInt32) -> UInt32? {
        NormalizationTables.emojiIndex[emoji].map { NormalizationTables.emojiStandInBase + UInt32($0) }
    }

    /// The stand-ins of the emoji that may stand for `character` in a word: those whose reading is the
    /// character, or a character of the same toneless reading (🐴 马 for 妈: both `ma`).
    public func emojiStandIns(for character: UInt32) -> [UInt32] {
        var result = NormalizationTables.emojiByCharacter[character] ?? []
        if let reading = pinyin(of: character) {
            for standIn in NormalizationTables.emojiByReading[reading] ?? [] where !result.contains(standIn) { result.append(standIn) }
        }
        return result.sorted()
    }

    /// The stand-ins of the emoji that read as each character, and as each toneless reading (built on
    /// first use: only words with the `emoji` evasion need them).
    private static let emojiByCharacter: [UInt32: [UInt32]] = {
        var table: [UInt32: [UInt32]] = [:]
        for (k, item) in emojiReadingList.enumerated() {
            for c in item.characters { table[c, default: []].append(emojiStandInBase + UInt32(k)) }
        }
        return table
    }()
    private static let emojiByReading: [[UInt32]: [UInt32]] = {
        var table: [[UInt32]: [UInt32]] = [:]
        for (c, standIns) in emojiByCharacter {
            guard let reading = NormalizationTables.shared.pinyin(of: c) else { continue }
            for s in standIns where !(table[reading] ?? []).contains(s) { table[reading, default: []].append(s) }
        }
        return table
    }()

    /// The everyday characters (GB 2312 level 1).
    private static let commonCharacters: Set<UInt32> =
        Set(generatedCommonCharacters.unicodeScalars.map { $0.value }.filter { $0 != 0x0A })

    /// The most frequent characters (的 是 了 你 有 …; Unihan kFrequency 1).
    private static let frequentCharacters: Set<UInt32> =
        Set(generatedFrequentCharacters.unicodeScalars.map { $0.value }.filter { $0 != 0x0A })

    /// Whether `value` is one of the most frequent characters (的 是 了 你 有 …): the `sound-alikes`
    /// evasion never swaps one in, and a word needs another character than these besides the swap.
    public func isMostFrequent(_ value: UInt32) -> Bool { NormalizationTables.frequentCharacters.contains(value) }

    /// A toneless reading with the retroflex initials made flat (zh ch sh → z c s): the accents and
    /// sound-alike spellings merge them (死 si and 屎 shi).
    static func flatReading(_ reading: [UInt32]) -> [UInt32] {
        if reading.count >= 2, reading[1] == 0x68, [0x7A, 0x63, 0x73].contains(reading[0]) { return [reading[0]] + reading.dropFirst(2) }
        return reading
    }

    /// Everyday characters by flat reading (built on first use: only the `sound-alikes` evasion needs it).
    private static let commonByFlatReading: [[UInt32]: [UInt32]] = {
        var table: [[UInt32]: [UInt32]] = [:]
        for value in commonCharacters.sorted() {
            if let reading = NormalizationTables.shared.pinyin(of: value) { table[flatReading(reading), default: []].append(value) }
        }
        return table
    }()

    /// The everyday characters other than `value` that sound like it, but for the most frequent ones: the
    /// same toneless reading, or the same but for a retroflex initial (`东` → `冬 懂 动 …`, `死` → `四 似 屎 …`,
    /// not `是`). Empty for a character with no reading.
    public func soundAlikes(of value: UInt32) -> [UInt32] {
        guard let reading = pinyin(of: value) else { return [] }
        return (NormalizationTables.commonByFlatReading[NormalizationTables.flatReading(reading)] ?? []).filter { $0 != value && !isMostFrequent($0) }
    }

    static let allLetterBlocks: [ClosedRange<UInt32>] = [0x4E00...0x9FFF, 0x3400...0x4DBF, 0xAC00...0xD7A3]

    /// The scalars with the Unicode property Default_Ignorable_Code_Point, as this Swift runtime reports
    /// it (a test compares every scalar with `properties.isDefaultIgnorableCodePoint`): looking the
    /// property up for the 94,000 scalars the tables classify cost 30 M instructions at every start.
    static let defaultIgnorableRanges: [ClosedRange<UInt32>] = [
        0xAD...0xAD, 0x34F...0x34F, 0x61C...0x61C, 0x115F...0x1160, 0x17B4...0x17B5, 0x180B...0x180F,
        0x200B...0x200F, 0x202A...0x202E, 0x2060...0x206F, 0x3164...0x3164, 0xFE00...0xFE0F, 0xFEFF...0xFEFF,
        0xFFA0...0xFFA0, 0xFFF0...0xFFF8, 0x1BCA0...0x1BCA3, 0x1D173...0x1D17A, 0xE0000...0xE0FFF,
    ]

    /// Whether `value` is a Default_Ignorable_Code_Point (see ``defaultIgnorableRanges``, in order).
    static func isDefaultIgnorable(_ value: UInt32) -> Bool {
        for range in defaultIgnorableRanges {
            if value < range.lowerBound { return false }
            if value <= range.upperBound { return true }
        }
        return false
    }

    /// The entry for a scalar that is already in folded form: keep, filler or ignorable by category
    /// (which `category` is told, when it was looked up).
    static func classify(_ value: UInt32, category: (Unicode.GeneralCategory) -> Void = { _ in }) -> UInt32 {
        // Blocks that are all letters (Lo) need no property lookup: CJK Unified Ideographs and Extension A,
        // Hangul syllables. (A test checks this against the Unicode properties.)
        if NormalizationTables.allLetterBlocks.contains(where: { $0.contains(value) }) { return keep << kindShift | value }
        guard let scalar = Unicode.Scalar(value) else { return ignorable << kindShift }
        let generalCategory = scalar.properties.generalCategory
        category(generalCategory)
        // Default-ignorable code points render as nothing, whatever their category: the Hangul fillers
        // (U+3164, U+115F, U+1160: letters) are zero-width padding as much as U+200B is.
        if isDefaultIgnorable(value) { return ignorable << kindShift }
        switch generalCategory {
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

    /// Whether the entry of `value` makes it anything but itself, kept or a filler (folded, expanded).
    /// Ignorable scalars hold nothing and do not count.
    @inline(__always)
    static func changes(_ entry: UInt32, _ value: UInt32) -> Bool {
        switch entry >> kindShift {
        case keep, filler: return entry & 0x1F_FFFF != value
        case expansion: return true
        default: return false
        }
    }

    /// Every scalar whose folded form holds `target` (kept or as a filler): `target` itself unless folding
    /// changes it, and everything folding turns into it, alone or inside an expansion (`︻` → `【`). A
    /// folded view holds `target` only where the original holds one of these.
    ///
    /// Scalars kept as themselves hold only themselves, so only `target` and the scalars that fold or
    /// expand (``changedScalars``, a few thousand) are looked at, not the whole table (30 M instructions
    /// of start-up for the shipped packs' few hundred calls).
    func preimages(of target: UInt32) -> [UInt32] {
        func holds(_ entry: UInt32) -> Bool {
            switch entry >> NormalizationTables.kindShift {
            case NormalizationTables.keep, NormalizationTables.filler: return entry & 0x1F_FFFF == target
            case NormalizationTables.expansion:
                let count = Int(entry >> 21 & 0xFF), offset = Int(entry & 0x1F_FFFF)
                return expansions[offset..<offset + count].contains { $0 >> NormalizationTables.kindShift <= NormalizationTables.filler && $0 & 0x1F_FFFF == target }
            default: return false
            }
        }
        var result = changedScalars.filter { holds(flat[Int($0)]) }
        if target < NormalizationTables.flatLimit, holds(flat[Int(target)]), !NormalizationTables.changes(flat[Int(target)], target) {
            result.insert(target, at: result.firstIndex { $0 > target } ?? result.endIndex)
        }
        result += high.filter { holds($0.value) }.map { $0.key }.sorted()
        if target >= NormalizationTables.flatLimit && high[target] == nil { result.append(target) }
        return result
    }
}

/// How many scalars count as decimal digits (``NormalizationTables/digits``) in a message read scalar by
/// scalar, in all and in the longest run; ignorable characters are not noted (they neither count nor end
/// a run).
struct DigitRunCounter {
    private(set) var longest: Int32 = 0
    private(set) var total: Int32 = 0
    private var current: Int32 = 0

    /// Original scalar `value`, `weight` characters once folded, continues or ends the current run.
    @inline(__always)
    mutating func note(_ value: UInt32, weight: Int32 = 1, in tables: NormalizationTables) {
        if tables.countsAsDigit(value) { add(weight) } else { current = 0 }
    }

    /// Out of line: digits are rare next to everything else, and the hot loops keep their registers.
    @inline(never)
    private mutating func add(_ weight: Int32) {
        current += weight
        total += weight
        longest = max(longest, current)
    }

    /// A scalar known not to count ends the current run.
    @inline(__always)
    mutating func end() { current = 0 }
}
