/// What every match of a regex must contain, read from the pattern's text: a conjunction of clauses,
/// each satisfied when the subject contains any one of its items — ASCII characters, and Chinese
/// characters or runs of them that the pattern spells out literally (`(?:讨厌|看不起)` needs 讨厌 or
/// 看不起, not merely 讨, 厌, 看, 不 or 起, which are in most messages) —
/// and how many decimal digits every match holds, in all and in one run (`1[3-9]\d(?:[ -]?\d{4}){2}`
/// holds 11 digits, 4 in a row: a message with fewer — times, dates, hotlines — cannot match a phone
/// number).
///
/// This is a prefilter in the manner of ripgrep's and Hyperscan's literal extraction: a message whose
/// folded view fails a clause cannot match, so the regex need not run. The reading is deliberately
/// partial and errs one way only: whatever it does not understand (escapes such as `\d`, `.`, classes
/// with ranges outside ASCII, optional parts) adds no clause, and constructs that change how the rest
/// reads (`\Q`, inline options, verbs, comments) give no requirement at all.
struct RegexRequirement: Equatable {
    struct Clause: Equatable {
        /// Chinese characters (U+3400–U+9FFF and the other Han blocks) and runs of them that every match
        /// spells out contiguously, any of which satisfies the clause.
        var han: [[UInt32]] = []
        /// ASCII bytes (bit b of word b / 64), any of which satisfies the clause.
        var ascii: (UInt64, UInt64) = (0, 0)
        /// Other characters (punctuation such as 【, symbols, emoji), any of which satisfies the clause.
        var other: [UInt32] = []

        static func == (a: Clause, b: Clause) -> Bool { a.han == b.han && a.ascii == b.ascii && a.other == b.other }

        mutating func insert(ascii b: UInt32) {
            if b < 64 { ascii.0 |= 1 << UInt64(b) } else { ascii.1 |= 1 << UInt64(b - 64) }
        }

        /// How rarely a message meets the clause, roughly: a clause of Chinese characters only ranks by its
        /// shortest run, doubled (a single character such as 转 is in many messages, 转自 in few); one of
        /// ASCII letters only ranks 3 (Latin letters are rarer in Chinese text than most characters);
        /// anything else — digits, punctuation, other characters — 0.
        var selectivity: Int {
            if han.isEmpty && other.isEmpty && ascii != (0, 0) {
                let letters: UInt64 = 0x07FF_FFFE_07FF_FFFE // A-Z, a-z in the upper 64 ASCII values
                return ascii.0 == 0 && ascii.1 & ~letters == 0 ? 3 : 0
            }
            guard ascii == (0, 0), other.isEmpty, let shortest = han.map { $0.count }.min() else { return 0 }
            return 2 * shortest
        }

        mutating func formUnion(_ other: Clause) {
            han += other.han.filter { !han.contains($0) }
            self.other += other.other.filter { !self.other.contains($0) }
            ascii.0 |= other.ascii.0
            ascii.1 |= other.ascii.1
        }
    }

    var clauses: [Clause]
    /// Most runs a clause of Chinese characters may hold (each becomes an automaton pattern).
    static let maxRuns = 64
    /// Every match contains this many consecutive decimal digits (general category Nd, what `\d`
    /// matches with PCRE2_UCP); 0 when nothing is known.
    var digitRun = 0
    /// Every match contains this many decimal digits in all; 0 when nothing is known.
    var digitCount = 0

    /// The requirement of `pattern`, or nil when nothing useful is known.
    static func of(_ pattern: String) -> RegexRequirement? {
        var parser = Parser(RegexRequirement.scalarValues(pattern))
        guard let reading = parser.alternation(), parser.index == parser.p.count,
              !reading.clauses.isEmpty || reading.digitCount > 0 else { return nil }
        return RegexRequirement(clauses: reading.clauses, digitRun: reading.digitRun, digitCount: reading.digitCount)
    }

    /// The Unicode scalar values of `text`, decoded from its UTF-8 (always valid in a String): an
    /// expanded pattern holds the filler class at each slot, and mapping its `unicodeScalars` cost 28 M
    /// instructions over the shipped packs' regexes at start-up.
    static func scalarValues(_ text: String) -> [UInt32] {
        var text = text
        return text.withUTF8 { bytes in
            var values: [UInt32] = []
            values.reserveCapacity(bytes.count)
            var i = 0
            while i < bytes.count {
                let lead = UInt32(bytes[i])
                switch lead {
                case ..<0x80:
                    values.append(lead)
                    i += 1
                case ..<0xE0:
                    values.append((lead & 0x1F) << 6 | UInt32(bytes[i + 1] & 0x3F))
                    i += 2
                case ..<0xF0:
                    values.append((lead & 0x0F) << 12 | UInt32(bytes[i + 1] & 0x3F) << 6 | UInt32(bytes[i + 2] & 0x3F))
                    i += 3
                default:
                    values.append((lead & 0x07) << 18 | UInt32(bytes[i + 1] & 0x3F) << 12 | UInt32(bytes[i + 2] & 0x3F) << 6
                                  | UInt32(bytes[i + 3] & 0x3F))
                    i += 4
                }
            }
            return values
        }
    }

    /// What the parser knows of a piece of the pattern.
    private struct Reading {
        var clauses: [Clause] = []
        /// When every match of the piece is decimal digits only (`\d`, `[0-9]`, `7`, or nothing): how many at least.
        var digits: Int?
        /// The longest run of digits every match of the piece holds.
        var digitRun = 0
        /// How many digits every match of the piece holds in all.
        var digitCount = 0
        /// The piece matches no characters (anchors, lookarounds): digits on either side stay adjacent.
        var zeroWidth = false
        /// The piece is a call of the filler class `\F` expands to (``RegexFillers``): it matches only what
        /// normalization drops from the kept text (fillers, tags, ignorable characters), so Chinese
        /// characters on either side are next to each other there (`闭\F嘴` needs the run 闭嘴), while a run
        /// of digits, counted on the text as written, ends at it.
        var fillers = false
        /// When every match of the piece is one of these runs of Chinese characters (`说`, `[一二]`,
        /// `(?:资金|料)`, `[收找]料`): the runs, so that a sequence can join them into longer ones.
        var exact: [[UInt32]]?

        static let zeroWidth = Reading(zeroWidth: true)
        static func character(_ clause: Clause?, digit: Bool) -> Reading {
            var reading = Reading(clauses: clause.map { [$0] } ?? [], digits: digit ? 1 : nil, digitRun: digit ? 1 : 0, digitCount: digit ? 1 : 0)
            if let clause, clause.ascii == (0, 0), clause.other.isEmpty, !clause.han.isEmpty, clause.han.allSatisfy({ $0.count == 1 }) {
                reading.exact = clause.han
            }
            return reading
        }
    }

    private struct Parser {
        let p: [UInt32]
        var index = 0
        init(_ p: [UInt32]) { self.p = p }

        var atEnd: Bool { index >= p.count }
        func peek(_ offset: Int = 0) -> UInt32? { index + offset < p.count ? p[index + offset] : nil }

        /// Alternatives up to `)` or the end. Nil: give up on the whole pattern.
        mutating func alternation() -> Reading? {
            var alternatives: [Reading] = []
            while true {
                guard let sequence = sequence() else { return nil }
                alternatives.append(sequence)
                if peek() == 0x7C { index += 1; continue } // |
                break
            }
            if alternatives.count == 1 { return alternatives[0] }
            var reading = Reading()
            // Each alternative implies each of its clauses, so the alternation implies the union of one
            // clause from each: the most selective one (see ``Clause/selectivity``).
            if alternatives.allSatisfy({ !$0.clauses.isEmpty }) {
                var union = Clause()
                for alternative in alternatives {
                    union.formUnion(alternative.clauses.max { $0.selectivity < $1.selectivity }!)
                }
                reading.clauses = [union]
            }
            if alternatives.allSatisfy({ $0.exact != nil }) {
                var union: [[UInt32]] = []
                for alternative in alternatives { union += alternative.exact!.filter { !union.contains($0) } }
                if union.count <= RegexRequirement.maxRuns { reading.exact = union }
            }
            let digits = alternatives.compactMap { $0.digits }
            reading.digits = digits.count == alternatives.count ? digits.min() : nil
            reading.digitRun = alternatives.map { $0.digitRun }.min() ?? 0
            reading.digitCount = alternatives.map { $0.digitCount }.min() ?? 0
            return reading
        }

        /// Atoms up to `|`, `)` or the end: the conjunction of what each required atom needs, and the
        /// longest digit run: digit-only atoms add to the current run (optional ones and zero-width ones
        /// leave it be), anything else ends it.
        mutating func sequence() -> Reading? {
            var reading = Reading(digits: 0)
            var run = 0
            // Consecutive required pieces that each match one of a few runs of Chinese characters join
            // into longer runs (`[一二三]道(?:资金|料)` needs one of 一道资金 … 三道料, not merely 一, 二 or
            // 三); lookarounds between them do not count.
            var runs: [[UInt32]]?
            var onlyRuns = true
            func endRuns() {
                if let runs { reading.clauses.append(Clause(han: runs)) }
                runs = nil
            }
            while let c = peek(), c != 0x7C, c != 0x29 {
                guard let atom = atom() else { return nil }
                guard let (minimum, plain) = quantifier() else { return nil }
                if atom.zeroWidth { continue }
                if atom.fillers {
                    // Transparent to runs of Chinese characters; ends a run of digits (fillers count there).
                    run = 0
                    reading.digits = nil
                    continue
                }
                if let exact = atom.exact, minimum >= 1 {
                    let joined = (runs ?? [[]]).flatMap { head in exact.map { head + $0 } }
                    if joined.count <= RegexRequirement.maxRuns {
                        runs = joined
                    } else {
                        endRuns()
                        runs = exact
                        onlyRuns = false
                    }
                    // `x{2,}` still spells one x here, but what follows is not next to it.
                    if !plain { endRuns(); onlyRuns = false }
                } else {
                    endRuns()
                    onlyRuns = false
                    if minimum > 0 { reading.clauses += atom.clauses }
                }
                reading.digitCount = min(reading.digitCount + atom.digitCount * minimum, 1000)
                if let digits = atom.digits {
                    run = min(run + digits * minimum, 1000)
                    reading.digits = reading.digits.map { min($0 + digits * minimum, 1000) }
                } else {
                    reading.digits = nil
                    run = 0
                    if minimum > 0 { reading.digitRun = max(reading.digitRun, atom.digitRun) }
                }
                reading.digitRun = max(reading.digitRun, run)
            }
            if onlyRuns, let runs, !runs.contains(where: { $0.isEmpty }) { reading.exact = runs }
            endRuns()
            return reading
        }

        /// Skips a quantifier after an atom; the least number of repetitions it allows (1 without one),
        /// and whether there was none. Nil: give up.
        mutating func quantifier() -> (minimum: Int, plain: Bool)? {
            guard let c = peek() else { return (1, true) }
            var minimum: Int
            switch c {
            case 0x3F, 0x2A: minimum = 0; index += 1 // ? *
            case 0x2B: minimum = 1; index += 1 // +
            case 0x7B: // {n}, {n,}, {n,m}; anything else is a literal brace, which we do not try to read
                var j = index + 1
                minimum = 0
                var digitCount = 0
                while j < p.count, p[j] >= 0x30, p[j] <= 0x39 { minimum = min(minimum * 10 + Int(p[j] - 0x30), 1000); digitCount += 1; j += 1 }
                guard digitCount > 0 else { return nil }
                while j < p.count, p[j] == 0x2C || (p[j] >= 0x30 && p[j] <= 0x39) { j += 1 }
                guard j < p.count, p[j] == 0x7D else { return nil }
                index = j + 1
            default: return (1, true)
            }
            if let next = peek(), next == 0x3F || next == 0x2B { index += 1 } // lazy, possessive
            if let next = peek(), [0x3F, 0x2A, 0x2B, 0x7B].contains(next) { return nil } // stacked: unusual
            return (minimum, false)
        }

        /// One atom: what it requires (nothing when unknown). Nil: give up.
        mutating func atom() -> Reading? {
            let c = p[index]
            // The filler class written out (``RegexFillers/inlineClass(maxFiller:)``), quantifier included.
            if c == 0x28, let length = Parser.inlineFillerLength(p, index) {
                index += length
                var reading = Reading()
                reading.fillers = true
                return reading
            }
            switch c {
            case 0x28: return group()
            case 0x5B: return characterClass()
            case 0x5C: return escape()
            case 0x2E: index += 1; return Reading() // .
            case 0x5E, 0x24: index += 1; return .zeroWidth // ^ $
            case 0x3F, 0x2A, 0x2B, 0x7B, 0x7D, 0x5D: return nil // a quantifier or bracket with nothing before it
            default:
                index += 1
                return .character(literal(c), digit: Parser.isASCIIDigit(c))
            }
        }

        static func isASCIIDigit(_ c: UInt32) -> Bool { c >= 0x30 && c <= 0x39 }

        /// The length of the filler class written out at `index` (its `{0,N}` included), or nil.
        static func inlineFillerLength(_ p: [UInt32], _ index: Int) -> Int? {
            let prefix = inlineFillerPrefix
            guard index + prefix.count < p.count, Array(p[index..<index + prefix.count]) == prefix else { return nil }
            var j = index + prefix.count // just past "{0,"
            while j < p.count, p[j] >= 0x30 && p[j] <= 0x39 { j += 1 }
            guard j < p.count, p[j] == 0x7D, j > index + prefix.count else { return nil }
            return j + 1 - index
        }

        /// The filler class written out, up to its bound's digits.
        static let inlineFillerPrefix: [UInt32] = {
            let text = RegexFillers.inlineClass(maxFiller: 0)
            return Array(text.unicodeScalars.dropLast(2).map { $0.value }) // without "0}"
        }()

        /// The name of the filler class's group.
        static let fillerGroup: [UInt32] = Array(RegexFillers.groupName.unicodeScalars.map { $0.value })

        /// `(DEFINE)` after `(?`.
        static let define: [UInt32] = Array("(DEFINE)".unicodeScalars.map { $0.value })

        func literal(_ c: UInt32) -> Clause? {
            var clause = Clause()
            if c < 0x80 { clause.insert(ascii: c); return clause }
            if Normalizer.isHan(c) { clause.han = [[c]]; return clause }
            if c < 0xD800 || c > 0xDFFF { clause.other = [c]; return clause }
            return nil
        }

        mutating func group() -> Reading? {
            index += 1
            var lookaround = false
            if peek() == 0x3F { // (?
                switch peek(1) {
                case 0x3A, 0x7C, 0x3E: index += 2 // (?: (?| (?>
                case 0x3D, 0x21: index += 2; lookaround = true // (?= (?!
                case 0x3C where peek(2) == 0x3D || peek(2) == 0x21: index += 3; lookaround = true // (?<= (?<!
                case 0x3C, 0x27: // (?<name> (?'name'
                    guard skipGroupName(after: 2, close: peek(1) == 0x27 ? 0x27 : 0x3E) else { return nil }
                case 0x50 where peek(2) == 0x3C: // (?P<name>
                    guard skipGroupName(after: 3, close: 0x3E) else { return nil }
                case 0x26: // (?&name): a subroutine call requires nothing; the filler class is transparent to runs
                    let start = index + 2 // (index is at the `?`)
                    guard skipGroupName(after: 2, close: 0x29) else { return nil }
                    var reading = Reading()
                    reading.fillers = Array(p[start..<index - 1]) == Parser.fillerGroup
                    return reading
                case 0x28 where Array(p[min(index + 1, p.count)..<min(index + 9, p.count)]) == Parser.define: // (?(DEFINE)…)
                    index += 9
                    guard alternation() != nil, peek() == 0x29 else { return nil }
                    index += 1
                    return .zeroWidth // defines groups, matches nothing where it stands
                default: return nil // options, comments, recursion, other conditionals
                }
            } else if peek() == 0x2A { // (*VERB)
                return nil
            }
            guard let inner = alternation(), peek() == 0x29 else { return nil }
            index += 1
            return lookaround ? .zeroWidth : inner
        }

        /// Skips `(?` plus `prefix - 1` more characters, a group name and its closing character.
        mutating func skipGroupName(after prefix: Int, close: UInt32) -> Bool {
            index += prefix
            while let c = peek(), c != close {
                guard c == 0x5F || (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) else { return false }
                index += 1
            }
            guard !atEnd else { return false }
            index += 1
            return true
        }

        mutating func escape() -> Reading? {
            guard let c = peek(1) else { return nil }
            index += 2
            if c < 0x80, !(c >= 0x30 && c <= 0x39), !(c >= 0x41 && c <= 0x5A), !(c >= 0x61 && c <= 0x7A) {
                return .character(literal(c), digit: false) // \. \+ \( ...
            }
            switch c {
            case 0x64: return .character(nil, digit: true) // \d
            case 0x44, 0x77, 0x57, 0x73, 0x53, 0x68, 0x48, 0x76, 0x56, 0x52, 0x58, // \D \w \W \s \S \h \H \v \V \R \X
                 0x6E, 0x74, 0x72, 0x66, 0x65, 0x61: // \n \t \r \f \e \a
                return Reading()
            case 0x62, 0x42, 0x41, 0x7A, 0x5A, 0x47, 0x4B: // \b \B \A \z \Z \G \K
                return .zeroWidth
            case 0x70, 0x50: // \p{..} \pL
                if peek() == 0x7B { return skipBraces() ? Reading() : nil }
                index += 1
                return Reading()
            default: return nil // \x \o \c \N \g \k \Q \E back-references: not read
            }
        }

        mutating func skipBraces() -> Bool {
            while let c = peek(), c != 0x7D { index += 1 }
            guard peek() == 0x7D else { return false }
            index += 1
            return true
        }

        /// `[...]`: a clause when every member is a plain ASCII character or range, or a Chinese character;
        /// a digit when every member is an ASCII digit or a range of them.
        mutating func characterClass() -> Reading? {
            index += 1
            var clause = Clause()
            var known = true, digitsOnly = true
            if peek() == 0x5E { known = false; digitsOnly = false; index += 1 } // negated
            var first = true
            while let c = peek(), c != 0x5D || first {
                first = false
                if c == 0x5B, peek(1) == 0x3A { // [:posix:]
                    known = false
                    digitsOnly = false
                    index += 2
                    while let d = peek(), !(d == 0x3A && peek(1) == 0x5D) { index += 1 }
                    guard !atEnd else { return nil }
                    index += 2
                    continue
                }
                var member = c
                if c == 0x5C {
                    guard let e = peek(1) else { return nil }
                    index += 2
                    let punctuation = e < 0x80 && !(e >= 0x30 && e <= 0x39) && !(e >= 0x41 && e <= 0x5A) && !(e >= 0x61 && e <= 0x7A)
                    if !punctuation {
                        known = false
                        digitsOnly = false
                        if (e == 0x70 || e == 0x50 || e == 0x78) && peek() == 0x7B { guard skipBraces() else { return nil } }
                        continue
                    }
                    member = e
                } else {
                    index += 1
                }
                if peek() == 0x2D, let high = peek(1), high != 0x5D { // a range
                    index += 2
                    if high == 0x5C { return nil }
                    if member < 0x80 && high < 0x80 && member <= high {
                        for b in member...high { clause.insert(ascii: b) }
                    } else {
                        known = false
                    }
                    if !(Parser.isASCIIDigit(member) && Parser.isASCIIDigit(high)) { digitsOnly = false }
                    continue
                }
                if let single = literal(member) { clause.formUnion(single) } else { known = false }
                if !Parser.isASCIIDigit(member) { digitsOnly = false }
            }
            guard peek() == 0x5D else { return nil }
            index += 1
            var reading = Reading.character(known ? clause : nil, digit: digitsOnly)
            if reading.exact?.count ?? 0 > RegexRequirement.maxRuns { reading.exact = nil }
            return reading
        }
    }
}
