/// One message after normalization, with the maps back to the original text.
///
/// Terms: the *original* is the message's bytes as given (UTF-8, possibly invalid; each invalid byte counts
/// as one scalar U+FFFD). *Kept* scalars are what literal words are matched against: folded (NFKC width,
/// case, diacritics, Traditional → Simplified), with fillers and ignorable characters removed. `gaps[i]`
/// says how many fillers stood between kept scalar `i - 1` and `i`. A snapshot with its own arrays (for
/// `explain` and tests); matching keeps the same data in a per-scanner ``NormalizationWorkspace``.
public struct NormalizedText: Sendable {
    /// Byte offset of each original scalar in the input, plus one entry for the end (count + 1 entries).
    public internal(set) var scalarByteOffsets: [Int32] = []
    /// The original scalars (U+FFFD for each invalid byte).
    public internal(set) var scalars: [UInt32] = []
    /// The kept (folded, filler-free) scalars.
    public internal(set) var kept: [UInt32] = []
    /// For each kept scalar, the index of the original scalar it came from (non-decreasing).
    public internal(set) var keptOrigin: [Int32] = []
    /// For each kept scalar, how many fillers preceded it since the previous kept scalar (saturating).
    public internal(set) var gaps: [UInt8] = []
    /// Number of invalid UTF-8 sequences that were read as U+FFFD.
    public internal(set) var invalidUTF8Count = 0
    /// True when folding changed nothing (no scalar mapped, dropped or expanded, all UTF-8 valid): the
    /// folded view is then byte-for-byte the original and need not be built.
    public internal(set) var foldingIsIdentity = true
    /// Which ASCII bytes occur in the folded view (bit b of word b / 64).
    public internal(set) var foldedASCII: (UInt64, UInt64) = (0, 0)

    public init() {}

    /// Number of scalars in the original text.
    public var originalScalarCount: Int { scalarByteOffsets.count - 1 }

    /// The kept text as a String (what `explain` shows as "normalized").
    public var keptString: String {
        var s = String.UnicodeScalarView()
        for v in kept { if let u = Unicode.Scalar(v) { s.append(u) } }
        return String(s)
    }
}

/// Normalizes messages (SPEC §4) in one table-driven pass over their Unicode scalars.
public struct Normalizer: Sendable {
    /// How many filler characters may stand between two characters of a word before it stops matching.
    public var maxFiller: Int
    let tables: NormalizationTables

    public init(maxFiller: Int = 4, tables: NormalizationTables = .shared) {
        self.maxFiller = maxFiller
        self.tables = tables
    }

    /// Normalizes `text` into `output` (a snapshot with its own arrays; for tests and one-off use).
    package func normalize(_ text: UnsafeBufferPointer<UInt8>, into output: inout NormalizedText) {
        let workspace = NormalizationWorkspace()
        normalize(text, into: workspace)
        output = workspace.snapshot()
    }

    /// Normalizes `text` into `workspace`, reusing its buffers (the matching hot path).
    ///
    /// Three steps, each over the previous one's output: decode the UTF-8 scalars (kept for the folded
    /// view and for mapping spans back); when the message holds HTML, decode its tags and character
    /// references into the stream a page shows (``NormalizationWorkspace/stream``); then fold that
    /// stream. Every later step reads the decoded stream, never the raw text, so the steps compose:
    /// an annotation after a character written as a reference, or with a tag inside, is an annotation.
    /// A run of blanks (spaces, tabs, line breaks) counts as one filler; a tag is one filler.
    /// A pinyin annotation in parentheses right after a Chinese character — `當(dāng)`, a conversion
    /// artifact in reposted text and an evasion — is dropped like a zero-width character (see
    /// ``annotationEnd(_:_:)``).
    ///
    /// With an `automaton`, each kept scalar also steps it as it is written, and every pattern ending
    /// there lands in `workspace.matches` (the literal search costs no pass of its own); its
    /// ``PlainSymbolTable`` entries give scalars kept as themselves a shorter path.
    func normalize(_ text: UnsafeBufferPointer<UInt8>, into workspace: NormalizationWorkspace, automaton: LiteralAutomaton? = nil,
                   plainSymbols: UnsafeMutablePointer<UInt16>? = nil, otherMarks: OtherCharacterMarks? = nil) {
        let byteCount = text.count
        workspace.offsets.reserve(byteCount + 1)
        workspace.scalars.reserve(byteCount)
        let offsets = workspace.offsets.base, scalars = workspace.scalars.base
        var scalarCount = 0
        var invalid = 0
        var mayHoldMarkup = false
        UTF8Scanner.forEachScalar(in: text) { value, byteOffset, valid in
            offsets[scalarCount] = Int32(truncatingIfNeeded: byteOffset)
            scalars[scalarCount] = value
            scalarCount += 1
            if !valid { invalid += 1 }
            if value == 0x26 || value == 0x3C || value == 0x5C { mayHoldMarkup = true }
        }
        offsets[scalarCount] = Int32(truncatingIfNeeded: byteCount)
        workspace.offsets.count = scalarCount + 1
        workspace.scalars.count = scalarCount
        workspace.invalidUTF8Count = invalid

        // HTML: a tag is one filler, a character reference the character it names (bots publish to web
        // pages); a JSON string escape the character it stands for (a reply that is JSON is read with a
        // JSON parser). The original scalars still mark their clauses (regexes `on: original` see them).
        workspace.markup.count = 0
        let decoded = mayHoldMarkup && Normalizer.decodeMarkup(workspace)
        workspace.streamDecoded = decoded
        let input = decoded ? workspace.stream.buffer : UnsafeBufferPointer(start: scalars, count: scalarCount)
        let origins: UnsafeMutablePointer<Int32>? = decoded ? workspace.streamOrigins.base : nil
        let count = input.count

        // Each element keeps at most one character unless it expands; expansions reserve their extra room.
        workspace.reserveKept(count)
        workspace.matches.count = 0
        var pass = FoldPass(workspace, identity: invalid == 0 && !decoded)
        var otherSeen: UInt64 = 0
        let flat = tables.flat
        var i = 0
        while i < count {
            let value = input[i]
            var origin = i
            // A tag or reference: more than one original scalar.
            var isMarkup = false
            if let origins {
                origin = Int(origins[i])
                isMarkup = Int(origins[i + 1]) - origin > 1
            }
            // A scalar kept as itself whose symbol the table gives (most Chinese text) skips the rest.
            var symbol: Int32 = -1
            if let plainSymbols, value < 0x10000, !isMarkup {
                let entry = plainSymbols[Int(value)]
                if entry != PlainSymbolTable.general { symbol = Int32(entry) }
            }
            if symbol < 0, value == 0x28 || value == 0xFF08, let end = annotationEnd(input, i) {
                pass.identity = false
                pass.digitRuns.end()
                if let origins {
                    // The folded view keeps the tags inside as a page shows them: note what they may hold.
                    for k in i + 1..<end where input[k] == Normalizer.tag {
                        for j in Int(origins[k])..<Int(origins[k + 1]) {
                            Normalizer.noteFoldedASCII(scalars[j], tables, &pass.low, &pass.high)
                            if let otherMarks { otherSeen |= otherMarks.bit(scalars[j]) }
                        }
                    }
                }
                i = end
                continue
            }
            if isMarkup {
                let end = Int(origins![i + 1])
                if let otherMarks { for k in origin..<end { otherSeen |= otherMarks.bit(scalars[k]) } }
                if value == Normalizer.tag {
                    // The folded view keeps the tag as written (regexes see links in attributes).
                    for k in origin..<end { Normalizer.noteFoldedASCII(scalars[k], tables, &pass.low, &pass.high) }
                    pass.digitRuns.end()
                    if pass.count != pass.blankCount || pass.pendingGap != pass.blankGap { pass.pendingGap += 1 }
                    i += 1
                    continue
                }
            }
            if symbol < 0, let otherMarks { otherSeen |= otherMarks.bit(value) }
            let entry = symbol >= 0 || tables.isPlainKeep(value) ? value
                : value < NormalizationTables.flatLimit ? flat[Int(value)] : tables.entry(value)
            let kind = entry >> NormalizationTables.kindShift
            if kind == NormalizationTables.keep {
                let folded = entry & 0x1F_FFFF
                if folded != value { pass.identity = false }
                pass.noteASCII(folded)
                if symbol >= 0 { pass.digitRuns.end() } else { pass.digitRuns.note(value, in: tables) }
                pass.keep(folded, from: origin, symbol: symbol, automaton: automaton, workspace)
            } else if kind == NormalizationTables.filler {
                let folded = entry & 0x1F_FFFF
                if folded != value { pass.identity = false }
                pass.noteASCII(folded)
                pass.digitRuns.note(value, in: tables)
                // A run of blanks is one filler (ignorable characters inside the run do not end it).
                // (Nothing kept and no other filler since the last blank: the same count and gap.)
                if Normalizer.isBlank(folded) {
                    if pass.count != pass.blankCount || pass.pendingGap != pass.blankGap { pass.pendingGap += 1 }
                    pass.blankCount = pass.count
                    pass.blankGap = pass.pendingGap
                } else {
                    pass.pendingGap += 1
                }
            } else if kind == NormalizationTables.expansion {
                pass.identity = false
                let expansionCount = Int(entry >> 21 & 0xFF), offset = Int(entry & 0x1F_FFFF)
                pass.digitRuns.note(value, weight: Int32(expansionCount), in: tables)
                if pass.count + expansionCount + (count - i) > pass.capacity {
                    workspace.setKeptCount(pass.count)
                    workspace.reserveKept(pass.count + expansionCount + (count - i))
                    pass.reload(workspace)
                }
                for element in tables.expansions[offset..<offset + expansionCount] {
                    let folded = element & 0x1F_FFFF
                    switch element >> NormalizationTables.kindShift {
                    case NormalizationTables.keep:
                        pass.noteASCII(folded)
                        pass.keep(folded, from: origin, symbol: -1, automaton: automaton, workspace)
                    case NormalizationTables.filler:
                        pass.noteASCII(folded)
                        pass.pendingGap += 1
                    default: break
                    }
                }
            } else {
                pass.identity = false
            }
            i += 1
        }
        workspace.setKeptCount(pass.count)
        workspace.foldingIsIdentity = pass.identity
        workspace.foldedASCII = (pass.low, pass.high)
        workspace.otherSeen = otherSeen
        workspace.longestDigitRun = pass.digitRuns.longest
        workspace.digitCount = pass.digitRuns.total
        if workspace.markup.count > 0 {
            // The two views count digits differently there (`&#49;`: 4 and 9, or 1): no digit prefilter.
            workspace.longestDigitRun = .max
            workspace.digitCount = .max
        }
        workspace.foldedViewReady = false
    }

    /// Decodes the HTML tags, character references and JSON string escapes of the message in `workspace`
    /// into its stream (see ``NormalizationWorkspace/stream``) and notes them in `markup`; false (and no
    /// stream) when there are none. A reference is decoded once: `&amp;#x54d1;` is the text `&#x54d1;`,
    /// `&lt;b&gt;` the text `<b>`, not a tag, and `\\u54d1` the text `\u54d1`.
    static func decodeMarkup(_ workspace: NormalizationWorkspace) -> Bool {
        let scalars = workspace.scalars.buffer, n = scalars.count
        var i = 0
        while i < n, !(scalars[i] == 0x26 || scalars[i] == 0x3C || scalars[i] == 0x5C) || markup(scalars, i) == nil { i += 1 }
        guard i < n else { return false }
        workspace.stream.reserve(n)
        workspace.streamOrigins.reserve(n + 1)
        let out = workspace.stream.base, outOrigins = workspace.streamOrigins.base
        for k in 0..<i {
            out[k] = scalars[k]
            outOrigins[k] = Int32(truncatingIfNeeded: k)
        }
        var count = i
        while i < n {
            let v = scalars[i]
            if v == 0x26 || v == 0x3C || v == 0x5C, let (end, value) = markup(scalars, i) {
                workspace.markup.append(UInt64(i) << 32 | UInt64(end))
                out[count] = value
                outOrigins[count] = Int32(truncatingIfNeeded: i)
                count += 1
                i = end
                continue
            }
            out[count] = v
            outOrigins[count] = Int32(truncatingIfNeeded: i)
            count += 1
            i += 1
        }
        outOrigins[count] = Int32(truncatingIfNeeded: n)
        workspace.stream.count = count
        workspace.streamOrigins.count = count + 1
        return true
    }

    /// What the folding half of ``normalize(_:into:automaton:plainSymbols:)`` has written and learned so far.
    /// A struct with mutating methods rather than local functions: variables that local functions capture
    /// can end up boxed on the heap, one allocation per message.
    private struct FoldPass {
        var kept: UnsafeMutablePointer<UInt32>, origin: UnsafeMutablePointer<Int32>, gaps: UnsafeMutablePointer<UInt8>
        var capacity: Int
        var count = 0
        var pendingGap = 0
        /// `count` and `pendingGap` just after the last blank filler (a blank run continues while both hold).
        var blankCount = -1, blankGap = -1
        var identity: Bool
        var low: UInt64 = 0, high: UInt64 = 0
        var digitRuns = DigitRunCounter()
        var state: Int32 = 0

        init(_ workspace: NormalizationWorkspace, identity: Bool) {
            kept = workspace.kept.base; origin = workspace.keptOrigin.base; gaps = workspace.gaps.base
            capacity = workspace.kept.capacity
            self.identity = identity
        }

        /// After the workspace's kept buffers grew.
        mutating func reload(_ workspace: NormalizationWorkspace) {
            kept = workspace.kept.base; origin = workspace.keptOrigin.base; gaps = workspace.gaps.base
            capacity = workspace.kept.capacity
        }

        @inline(__always)
        mutating func noteASCII(_ v: UInt32) {
            if v < 64 { low |= 1 << UInt64(v) } else if v < 128 { high |= 1 << UInt64(v - 64) }
        }

        /// Keeps `v` from original scalar `i`, stepping the automaton with `symbol` (-1: look it up).
        @inline(__always)
        mutating func keep(_ v: UInt32, from i: Int, symbol: Int32, automaton: LiteralAutomaton?, _ workspace: NormalizationWorkspace) {
            kept[count] = v
            origin[count] = Int32(truncatingIfNeeded: i)
            gaps[count] = UInt8(truncatingIfNeeded: min(pendingGap, 255))
            if let automaton {
                let reporting = automaton.step(&state, symbol: symbol >= 0 ? symbol : automaton.symbol(v))
                if reporting > 0 { FoldPass.record(reporting, end: count, automaton, workspace) }
            }
            count += 1
            pendingGap = 0
        }

        /// Notes the patterns ending at kept scalar `end` (kept out of line: most steps report nothing).
        @inline(never)
        static func record(_ reporting: Int32, end: Int, _ automaton: LiteralAutomaton, _ workspace: NormalizationWorkspace) {
            automaton.forEachPattern(reportedBy: reporting) { workspace.matches.append(UInt64($0) << 32 | UInt64(end)) }
        }
    }

    /// When `stream[i]` (an opening parenthesis, `(` or `（`) opens a pinyin annotation right after a
    /// Chinese character, the index just past its closing parenthesis. An annotation spells one toneless
    /// Mandarin syllable (`dāng`, `DANG`, `ｄａｎｇ`, `lǜ`/`lv`), optionally with a tone digit (`dang1`);
    /// `(sb)` or `(cnm)` are not syllables and stay text. Looked through, as a page shows them: ignorable
    /// scalars (zero-width characters, combining marks: `da\u{0304}ng` in NFD form), blanks and tags,
    /// between the character and the parenthesis and inside the parentheses. The character may be one that
    /// folds to a Chinese character (a compatibility ideograph). `stream` is the decoded stream, so a
    /// reference (`&#x7576;(dāng)`, `當&#x28;dāng&#x29;`, `d&#257;ng`) is already the character it names.
    @inline(__always)
    func annotationEnd(_ stream: UnsafeBufferPointer<UInt32>, _ i: Int) -> Int? {
        var k = i - 1
        while k >= 0 && i - k <= 32 && isSeeThrough(stream[k]) { k -= 1 }
        guard k >= 0, precedesAnnotation(stream[k]) else { return nil }
        return annotationBody(stream, i)
    }

    /// The part of ``annotationEnd(_:_:)`` after the opening parenthesis (kept out of line: rare).
    @inline(never)
    private func annotationBody(_ stream: UnsafeBufferPointer<UInt32>, _ i: Int) -> Int? {
        var j = i + 1, letters = 0, packed: UInt32 = 0, tone = false
        while j < stream.count && j - i <= 64 {
            let v = stream[j]
            j += 1
            if v == 0x29 || v == 0xFF09 { return letters > 0 && tables.isPinyinSyllable(packed) ? j : nil }
            if isSeeThrough(v) { continue }
            let entry = tables.entry(v)
            let letter = entry & 0x1F_FFFF
            guard entry >> NormalizationTables.kindShift == NormalizationTables.keep, !tone else { return nil }
            if letter >= 0x61 && letter <= 0x7A && letters < 6 {
                letters += 1
                packed = packed << 5 | (letter - 0x60)
            } else if letter >= 0x30 && letter <= 0x35 && letters > 0 {
                tone = true
            } else {
                return nil
            }
        }
        return nil
    }

    /// True for what an annotation looks through (see ``annotationEnd(_:_:)``): a tag of the decoded
    /// stream, an ignorable scalar, a blank.
    @inline(__always)
    func isSeeThrough(_ v: UInt32) -> Bool {
        if v == Normalizer.tag { return true }
        let entry = tables.entry(v)
        switch entry >> NormalizationTables.kindShift {
        case NormalizationTables.ignorable: return true
        case NormalizationTables.filler: return Normalizer.isBlank(entry & 0x1F_FFFF)
        default: return false
        }
    }

    /// True for a scalar an annotation may follow: a Chinese character, or one that folds to one.
    @inline(__always)
    func precedesAnnotation(_ v: UInt32) -> Bool {
        if Normalizer.isHan(v) { return true }
        guard v != Normalizer.tag else { return false }
        let entry = tables.entry(v)
        return entry >> NormalizationTables.kindShift == NormalizationTables.keep && Normalizer.isHan(entry & 0x1F_FFFF)
    }

    /// True for a folded filler that shows as blank space (spaces, tabs, line breaks, the braille blank):
    /// a run of them counts as one filler, so `你     不` is one filler apart like `你 不`.
    @inline(__always)
    static func isBlank(_ folded: UInt32) -> Bool {
        folded == 0x20 || (folded >= 0x09 && folded <= 0x0D) || folded == 0x85 || folded == 0x2800
    }

    /// Notes the ASCII bytes scalar `v` folds to (for a tag the folded view keeps as written).
    static func noteFoldedASCII(_ v: UInt32, _ tables: NormalizationTables, _ low: inout UInt64, _ high: inout UInt64) {
        let entry = tables.entry(v)
        func note(_ f: UInt32) { if f < 64 { low |= 1 << UInt64(f) } else if f < 128 { high |= 1 << UInt64(f - 64) } }
        switch entry >> NormalizationTables.kindShift {
        case NormalizationTables.keep, NormalizationTables.filler: note(entry & 0x1F_FFFF)
        case NormalizationTables.expansion:
            let count = Int(entry >> 21 & 0xFF), offset = Int(entry & 0x1F_FFFF)
            for e in tables.expansions[offset..<offset + count] { note(e & 0x1F_FFFF) }
        default: break
        }
    }

    /// How the folded view writes a tag.
    enum FoldedTag { case asWritten, lineBreak, nothing }

    /// Block-level tag names (a page starts a new line there).
    static let blockTags: Set<String> = ["br", "p", "div", "li", "ul", "ol", "tr", "td", "th", "table", "h1", "h2", "h3", "h4", "h5", "h6",
                                         "hr", "blockquote", "pre", "section", "article", "header", "footer", "dl", "dt", "dd"]

    /// Attributes and text that make a tag stay as written in the folded view: links, and the attributes
    /// a reader sees (a tooltip, an image's text, a field's value).
    static let visibleTagMarkers = ["href", "src", "action", "://", "www.", "title", "alt", "value", "placeholder", "label", "content"]

    /// The folded view shows a tag as a page does — a formatting tag (`<b>`, `<span style="…">`) as
    /// nothing, a block-level one (`<br>`, `<p>`, `</div>`) as a line break — except a tag that carries a
    /// link or text a reader sees (``visibleTagMarkers``), which stays as written so regexes see it.
    /// Regexes thus count a styled character as one character (`你再投诉<span style="color:red">一次</span>试试`).
    static func foldedTag(_ tag: UnsafeBufferPointer<UInt32>) -> FoldedTag {
        var text = ""
        text.unicodeScalars.append(contentsOf: tag.compactMap { Unicode.Scalar($0) })
        let lower = text.lowercased()
        for marker in visibleTagMarkers where lower.contains(marker) { return .asWritten }
        let name = lower.dropFirst(lower.hasPrefix("</") ? 2 : 1).prefix { $0.isLetter || $0.isNumber }
        return blockTags.contains(String(name)) ? .lineBreak : .nothing
    }

    /// What ``markup(_:_:)`` returns for a tag.
    static let tag: UInt32 = 0xFFFF_FFFF

    /// When `scalars[i]` (`<`, `&` or `\`) starts an HTML tag, character reference or JSON string escape,
    /// the index just past it and the scalar it names (``tag`` for a tag). A tag is `<`, a letter, `/`, `!`
    /// or `?`, then up to 400 characters (quoted attribute values may hold `>`) with no `<` or line break,
    /// then `>`. A reference is `&#` 1–7 digits `;`, `&#x` 1–6 hex digits `;` (a valid scalar other than
    /// NUL and surrogates) or one of the common named ones (`&amp;`, `&nbsp;`, `&lt;` …) with its `;`. An
    /// escape is one of JSON's (see ``jsonEscape(_:_:)``).
    static func markup(_ scalars: UnsafeBufferPointer<UInt32>, _ i: Int) -> (end: Int, value: UInt32)? {
        let count = scalars.count
        if scalars[i] == 0x5C { return jsonEscape(scalars, i) }
        guard i + 2 < count else { return nil }
        func isLetter(_ v: UInt32) -> Bool { (v | 0x20) >= 0x61 && (v | 0x20) <= 0x7A }
        if scalars[i] == 0x3C {
            let first = scalars[i + 1]
            guard isLetter(first) || first == 0x21 || first == 0x3F || (first == 0x2F && isLetter(scalars[i + 2])) else { return nil }
            var j = i + 2, quote: UInt32 = 0
            while j < count && j - i <= 400 {
                let v = scalars[j]
                if quote != 0 { if v == quote { quote = 0 } else if v == 0x0A { return nil } }
                else if v == 0x3E { return (j + 1, tag) }
                else if v == 0x22 || v == 0x27 { quote = v }
                else if v == 0x3C || v == 0x0A { return nil }
                j += 1
            }
            return nil
        }
        guard scalars[i] == 0x26 else { return nil }
        if scalars[i + 1] == 0x23 {
            let hex = scalars[i + 2] | 0x20 == 0x78
            var j = i + (hex ? 3 : 2), value: UInt32 = 0, digits = 0
            while j < count && digits <= 7 {
                let v = scalars[j]
                if v == 0x3B { break }
                let d: UInt32
                if v >= 0x30 && v <= 0x39 { d = v - 0x30 } else if hex && (v | 0x20) >= 0x61 && (v | 0x20) <= 0x66 { d = (v | 0x20) - 0x61 + 10 } else { return nil }
                value = value * (hex ? 16 : 10) + d
                digits += 1
                j += 1
            }
            guard j < count, scalars[j] == 0x3B, digits > 0, digits <= (hex ? 6 : 7), value > 0, value <= 0x10FFFF,
                  !(0xD800...0xDFFF).contains(value) else { return nil }
            return (j + 1, value)
        }
        var j = i + 1, name: UInt64 = 0
        while j < count && j - i <= 8 && isLetter(scalars[j]) {
            name = name << 8 | UInt64(scalars[j])
            j += 1
        }
        guard j < count, scalars[j] == 0x3B, let value = namedReferences[name] else { return nil }
        return (j + 1, value)
    }

    /// When `scalars[i]` is `\` and starts a JSON string escape, the index just past it and the scalar it
    /// stands for: `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`, or `\u` and 4 hex digits (a UTF-16 high
    /// surrogate followed by a `\u` low surrogate is one scalar; a lone surrogate is U+FFFD, as a client
    /// shows it).
    /// A reply whose content is JSON (structured output, a tool's result) is shown by a client that parses
    /// it: `\u72d7` is then the character 狗.
    static func jsonEscape(_ scalars: UnsafeBufferPointer<UInt32>, _ i: Int) -> (end: Int, value: UInt32)? {
        let count = scalars.count
        guard i + 1 < count else { return nil }
        switch scalars[i + 1] {
        case 0x22, 0x5C, 0x2F: return (i + 2, scalars[i + 1])
        case 0x62: return (i + 2, 0x08)
        case 0x66: return (i + 2, 0x0C)
        case 0x6E: return (i + 2, 0x0A)
        case 0x72: return (i + 2, 0x0D)
        case 0x74: return (i + 2, 0x09)
        case 0x75:
            /// The UTF-16 code unit written as 4 hex digits at `j`.
            func unit(at j: Int) -> UInt32? {
                guard j + 4 <= count else { return nil }
                var value: UInt32 = 0
                for k in j..<j + 4 {
                    let v = scalars[k]
                    if v >= 0x30 && v <= 0x39 { value = value << 4 | (v - 0x30) }
                    else if (v | 0x20) >= 0x61 && (v | 0x20) <= 0x66 { value = value << 4 | ((v | 0x20) - 0x61 + 10) }
                    else { return nil }
                }
                return value
            }
            guard let high = unit(at: i + 2) else { return nil }
            if (0xD800...0xDBFF).contains(high), i + 7 < count, scalars[i + 6] == 0x5C, scalars[i + 7] == 0x75,
               let low = unit(at: i + 8), (0xDC00...0xDFFF).contains(low) {
                return (i + 12, 0x10000 + ((high - 0xD800) << 10 | (low - 0xDC00)))
            }
            // A lone surrogate: what a client shows for it (U+FFFD), as JSONStringDecoder reads it.
            return (i + 6, (0xD800...0xDFFF).contains(high) ? 0xFFFD : high)
        default: return nil
        }
    }

    /// Named references replyguard decodes (names packed 8 bits a letter, as ``markup(_:_:)`` reads them).
    static let namedReferences: [UInt64: UInt32] = {
        let names: [(String, UInt32)] = [
            ("amp", 0x26), ("lt", 0x3C), ("gt", 0x3E), ("quot", 0x22), ("apos", 0x27), ("nbsp", 0xA0), ("ensp", 0x2002),
            ("emsp", 0x2003), ("thinsp", 0x2009), ("zwsp", 0x200B), ("zwnj", 0x200C), ("zwj", 0x200D), ("shy", 0xAD),
            ("middot", 0xB7), ("hellip", 0x2026), ("mdash", 0x2014), ("ndash", 0x2013), ("ldquo", 0x201C),
            ("rdquo", 0x201D), ("lsquo", 0x2018), ("rsquo", 0x2019), ("times", 0xD7), ("divide", 0xF7), ("copy", 0xA9),
            ("reg", 0xAE), ("trade", 0x2122), ("bull", 0x2022), ("yen", 0xA5), ("laquo", 0xAB), ("raquo", 0xBB),
        ]
        var table: [UInt64: UInt32] = [:]
        for (name, value) in names { table[name.utf8.reduce(0) { $0 << 8 | UInt64($1) }] = value }
        return table
    }()

    static func isHan(_ v: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(v) || (0x3400...0x4DBF).contains(v) || (0xF900...0xFAFF).contains(v) || (0x20000...0x3FFFF).contains(v)
    }

    /// The kept scalars of `text`, normalized in `workspace` (reused: rule loading normalizes every word).
    func keptScalars(of text: String, in workspace: NormalizationWorkspace) -> [UInt32] {
        var copy = text
        return copy.withUTF8 { bytes in
            normalize(bytes, into: workspace)
            return workspace.kept.array
        }
    }

    /// Convenience for one-off use: normalizes a String.
    public func normalize(_ text: String) -> NormalizedText {
        var output = NormalizedText()
        var copy = text
        copy.withUTF8 { normalize($0, into: &output) }
        return output
    }

    /// Builds the folded view (fillers kept, folded; see ``NormalizationWorkspace``) of the message last
    /// normalized into `workspace`, from the same decoded stream as the kept scalars: character
    /// references decoded, pinyin annotations skipped where the kept scalars skip them, tags as a page
    /// shows them (``foldedTag(_:)``) but those that carry a link as written (a link in `href` is still a
    /// link, references inside it too), also inside a skipped annotation.
    func buildFoldedView(_ workspace: NormalizationWorkspace) {
        let scalarCount = workspace.scalars.count
        let original = workspace.scalars.buffer
        let decoded = workspace.streamDecoded
        let input = decoded ? workspace.stream.buffer : original
        let origins: UnsafeMutablePointer<Int32>? = decoded ? workspace.streamOrigins.base : nil
        // Up to 4 bytes per folded scalar; one folded scalar per original unless it expands.
        workspace.reserveFolded(scalars: scalarCount + 1)
        var bytes = workspace.foldedBytes.base, starts = workspace.foldedStarts.base, origins32 = workspace.foldedOrigins.base
        var scalarCapacity = workspace.foldedScalarCapacity
        var byteCount = 0, foldedCount = 0
        @inline(__always) func emit(_ value: UInt32, from origin: Int) {
            if foldedCount + 1 > scalarCapacity {
                workspace.setFoldedCounts(scalars: foldedCount, bytes: byteCount)
                workspace.reserveFolded(scalars: 2 * scalarCapacity + 16)
                bytes = workspace.foldedBytes.base; starts = workspace.foldedStarts.base; origins32 = workspace.foldedOrigins.base
                scalarCapacity = workspace.foldedScalarCapacity
            }
            starts[foldedCount] = Int32(truncatingIfNeeded: byteCount)
            origins32[foldedCount] = Int32(truncatingIfNeeded: origin)
            foldedCount += 1
            byteCount += UTF8Scanner.encode(value, into: bytes + byteCount)
        }
        /// Emits original scalar `k` folded (kept, filler or expanded; ignorable dropped).
        func emitFolded(_ value: UInt32, from origin: Int) {
            let entry = tables.entry(value)
            switch entry >> NormalizationTables.kindShift {
            case NormalizationTables.keep, NormalizationTables.filler: emit(entry & 0x1F_FFFF, from: origin)
            case NormalizationTables.expansion:
                let count = Int(entry >> 21 & 0xFF), offset = Int(entry & 0x1F_FFFF)
                for element in tables.expansions[offset..<offset + count] {
                    switch element >> NormalizationTables.kindShift {
                    case NormalizationTables.keep, NormalizationTables.filler: emit(element & 0x1F_FFFF, from: origin)
                    default: break
                    }
                }
            default: break
            }
        }
        /// Emits the tag at stream element `i` as a page shows it (see ``foldedTag(_:)``).
        func emitTag(_ i: Int) {
            let range = Int(origins![i])..<Int(origins![i + 1])
            switch Normalizer.foldedTag(UnsafeBufferPointer(rebasing: original[range])) {
            case .asWritten: for k in range { emitFolded(original[k], from: k) }
            case .lineBreak: emit(0x0A, from: range.lowerBound)
            case .nothing: break
            }
        }
        var i = 0
        while i < input.count {
            let value = input[i]
            if value == Normalizer.tag {
                emitTag(i)
                i += 1
                continue
            }
            if value == 0x28 || value == 0xFF08, let end = annotationEnd(input, i) {
                if origins != nil { for k in i + 1..<end where input[k] == Normalizer.tag { emitTag(k) } }
                i = end
                continue
            }
            emitFolded(value, from: origins.map { Int($0[i]) } ?? i)
            i += 1
        }
        starts[foldedCount] = Int32(truncatingIfNeeded: byteCount)
        workspace.setFoldedCounts(scalars: foldedCount, bytes: byteCount)
        workspace.foldedViewReady = true
    }
}
