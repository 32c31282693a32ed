/// How far behind a streamed reply the released text must stay for a rule set, derived from its rules
/// (``StreamingDecider``).
///
/// The bound counts *units*: the original characters that normalization keeps (fillers, blanks, tags
/// and ignorable characters are no units), a run of one Latin letter repeated counting once. A match
/// of any rule's word, or of a regex whose witness (``RegexWitness``) is no longer than the longest
/// word, holds at most ``units`` − 1 units (the one more is a margin: the last character of a prefix may
/// still change with what follows, a combining mark say). Every other regex — no witness, or a longer
/// one — is held exactly instead, from the earliest start of its pending partial match
/// (``partialRules``). A model pack scores whole texts and has no bound at all, so text is then released
/// only at sentence ends (``Mode/sentence``).
public struct HoldBound: Sendable, Equatable, CustomStringConvertible {
    /// How a streamed reply is held.
    public enum Mode: String, Sendable {
        /// Up to ``HoldBound/units`` behind the end (and before any pending match).
        case bounded
        /// As `bounded`, and only up to a sentence end whose prefix the full engine, models included, allows.
        case sentence
        /// Nothing before the reply is complete (strict mode, or a reply not streamed).
        case whole
    }

    /// Units held back behind the end of the text so far.
    public let units: Int
    /// The rule that sets ``units`` (the longest match).
    public let rule: String?
    /// Rules with a regex held from the earliest start of a pending partial match of it (it has no
    /// witness, or one longer than the longest word).
    public let partialRules: [String]
    /// Why text goes out a sentence at a time (a model pack), nil when it need not.
    public let sentenceReason: String?

    public var mode: Mode { sentenceReason == nil ? .bounded : .sentence }

    public var description: String {
        var text = "\(units) characters (longest match: \(rule ?? "none"))"
        if !partialRules.isEmpty {
            let named = partialRules.prefix(3).joined(separator: ", ") + (partialRules.count > 3 ? ", …" : "")
            text += "; the regexes of \(partialRules.count) rule\(partialRules.count == 1 ? "" : "s") (\(named)) held from their pending partial matches"
        }
        if let sentenceReason { text = "to a sentence end at least \(text); \(sentenceReason)" }
        return text
    }
}

/// Bounds on how many units (see ``HoldBound``) a match of a regex needs before it is found.
///
/// Reads the compiled pattern (``RegexSpec/pattern``, `\F` written out) and gives the most units a
/// *witness* can hold: a match's shortest prefix that is itself a match at the same start. Most items
/// count their longest length; an unbounded repeat counts its minimum when nothing but zero-width
/// assertions other than positive lookaheads follows it (a longer run only extends a match already
/// found: `\d{11,}` needs 11); anywhere else it has no bound. Items that only match blanks (`\s`, `\h`,
/// `\R`, a space) count 0 however often they repeat (blanks are never units); the filler class counts
/// `max_filler`. A positive lookahead adds its own length (the text it reads must have arrived);
/// negative lookarounds, lookbehinds and anchors count 0 (a prefix can only make them match more
/// often, which holds more, never less). Backreferences and subroutine calls have no bound.
enum RegexWitness {
    /// The units of the longest witness of `pattern`, or nil when there is no bound.
    static func units(_ pattern: String, maxFiller: Int) -> Int? {
        let filler = RegexFillers.inlineClass(maxFiller: maxFiller)
        let marked = pattern.replacingOccurrences(of: RegexFillers.definition(maxFiller: maxFiller), with: "")
            .replacingOccurrences(of: filler, with: "\u{E000}")
            .replacingOccurrences(of: RegexFillers.call, with: "\u{E000}")
        var parser = Parser(scalars: Array(marked.unicodeScalars), maxFiller: maxFiller)
        guard let need = parser.alternatives(), parser.index == parser.scalars.count else { return nil }
        return need.tail
    }

    /// The most characters (scalars of the view the regex runs on) a subject can have for `pattern` to
    /// match it at all, or nil when the pattern does not say. Read from one shape: `\A`, then items of
    /// bounded length (P characters at most), then a positive lookahead of bounded length ending in `\z`
    /// (L characters at most), then anything, with no `|` outside groups: every match starts the
    /// lookahead at most P characters in, and the subject ends at most L after that. (The shipped headline
    /// shape, `\A[^\p{L}\p{N}]{0,8}\K(?=[^\n]{1,40}\z)…`: 48.) Characters here count every scalar an
    /// item can match (blanks included); a filler slot or `\X` has no bound.
    static func subjectCap(_ pattern: String, maxFiller: Int) -> Int? {
        let filler = RegexFillers.inlineClass(maxFiller: maxFiller)
        let marked = pattern.replacingOccurrences(of: RegexFillers.definition(maxFiller: maxFiller), with: "")
            .replacingOccurrences(of: filler, with: "\u{E000}")
            .replacingOccurrences(of: RegexFillers.call, with: "\u{E000}")
        var parser = Parser(scalars: Array(marked.unicodeScalars), maxFiller: maxFiller, characters: true)
        guard parser.scalars.starts(with: "\\A".unicodeScalars) else { return nil }
        parser.index = 2
        var before = 0
        var cap: Int?
        while !parser.atEnd {
            if parser.current == "|" || parser.current == ")" { return nil }
            if cap == nil, parser.current == "(", parser.peek(1) == "?", parser.peek(2) == "=" {
                // The lookahead: its body must be one sequence ending in `\z` (no `|` in it).
                parser.index += 3
                let bodyStart = parser.index
                guard let body = parser.sequence(), !parser.atEnd, parser.current == ")" else { return nil }
                let end = parser.index
                guard end - bodyStart >= 2, parser.scalars[end - 2] == "\\", parser.scalars[end - 1] == "z",
                      end - bodyStart == 2 || parser.scalars[end - 3] != "\\", let length = body.inner else { return nil }
                parser.index += 1
                guard let (low, high) = parser.quantifier(), low == 1, high == 1 else { return nil }
                cap = before + length
                continue
            }
            guard let item = parser.atom(), let (_, high) = parser.quantifier() else { return nil }
            if cap == nil {
                guard let high, let inner = item.need.inner else { return nil }
                before += inner * high
            }
        }
        return cap
    }

    /// `f(a, b)`, or nil when either is nil (no bound).
    static func both(_ a: Int?, _ b: Int?, _ f: (Int, Int) -> Int) -> Int? {
        guard let a, let b else { return nil }
        return f(a, b)
    }

    /// A recursive-descent reading of the PCRE2 syntax the packs use; nil anywhere means no bound.
    struct Parser {
        let scalars: [Unicode.Scalar]
        let maxFiller: Int
        /// Counts characters rather than units (``RegexWitness/subjectCap(_:maxFiller:)``): blanks count,
        /// a filler slot and `\X` have no bound, `\R` counts 2.
        let characters: Bool
        var index = 0

        init(scalars: [Unicode.Scalar], maxFiller: Int, characters: Bool = false) {
            self.scalars = scalars
            self.maxFiller = maxFiller
            self.characters = characters
        }

        /// A blank item: 0 units (any repeat of it too), or 1 character (`length`: 2 for `\R`).
        func blank(_ length: Int = 1) -> Item {
            characters ? Item(units: length) : Item(units: 0, blanksOnly: true)
        }

        var atEnd: Bool { index >= scalars.count }
        var current: Unicode.Scalar { scalars[index] }

        func peek(_ offset: Int = 0) -> Unicode.Scalar? {
            index + offset < scalars.count ? scalars[index + offset] : nil
        }

        /// What a piece of pattern needs, in units: `tail` when nothing but harmless assertions follows it
        /// up to the end of the pattern, `inner` anywhere else (nil: no bound).
        struct Need {
            var tail: Int?
            var inner: Int?
        }

        /// `a|b|c` up to `)` or the end: the longest alternative.
        mutating func alternatives() -> Need? {
            var best = Need(tail: 0, inner: 0)
            while true {
                guard let need = sequence() else { return nil }
                best.tail = RegexWitness.both(best.tail, need.tail, max)
                best.inner = RegexWitness.both(best.inner, need.inner, max)
                if !atEnd, current == "|" {
                    index += 1
                    continue
                }
                return best
            }
        }

        /// One item read, before its quantifier.
        struct Item {
            var need: Need
            /// Matches only blanks (never a unit), so any repeat of it counts 0.
            var blanksOnly = false
            /// Zero-width and never a positive lookahead (may follow a tail repeat).
            var harmlessAssertion = false

            init(units: Int, blanksOnly: Bool = false, harmlessAssertion: Bool = false) {
                need = Need(tail: units, inner: units)
                self.blanksOnly = blanksOnly
                self.harmlessAssertion = harmlessAssertion
            }

            init(need: Need) { self.need = need }
        }

        /// Items up to `|`, `)` or the end.
        mutating func sequence() -> Need? {
            var items: [(item: Item, min: Int, max: Int?)] = []
            while !atEnd, current != "|", current != ")" {
                guard let item = atom(), let (low, high) = quantifier() else { return nil }
                items.append((item, low, high))
            }
            var lastReal = items.count - 1
            while lastReal >= 0, items[lastReal].item.harmlessAssertion { lastReal -= 1 }
            func repeated(_ entry: (item: Item, min: Int, max: Int?), tail: Bool) -> Int? {
                if entry.item.blanksOnly || entry.item.harmlessAssertion { return 0 }
                guard let inner = entry.item.need.inner else {
                    // Unbounded inside: only a single tail repetition can use its tail need.
                    return tail && entry.max == 1 ? entry.item.need.tail : nil
                }
                if inner == 0 && entry.item.need.tail == 0 { return 0 }
                if let high = entry.max {
                    guard high > 0 else { return 0 }
                    guard tail, let last = entry.item.need.tail else { return inner * high }
                    return inner * (high - 1) + last
                }
                guard tail, let last = entry.item.need.tail else { return nil }
                return inner * max(entry.min - 1, 0) + last
            }
            var tail: Int? = 0, inner: Int? = 0
            for (k, entry) in items.enumerated() {
                let asInner = repeated(entry, tail: false)
                inner = RegexWitness.both(inner, asInner, +)
                tail = RegexWitness.both(tail, k == lastReal ? repeated(entry, tail: true) : asInner, +)
            }
            return Need(tail: tail, inner: inner)
        }

        /// `?`, `*`, `+`, `{n}`, `{n,}`, `{n,m}`, `{,m}`, each maybe followed by `?` or `+`.
        /// Returns (min, max) with max nil for no bound; (1, 1) when there is none.
        mutating func quantifier() -> (Int, Int?)? {
            guard !atEnd else { return (1, 1) }
            var result: (Int, Int?)
            switch current {
            case "?": result = (0, 1); index += 1
            case "*": result = (0, nil); index += 1
            case "+": result = (1, nil); index += 1
            case "{":
                var j = index + 1, low = "", high = "", comma = false
                while j < scalars.count, scalars[j] != "}" {
                    let c = scalars[j]
                    if c == "," { if comma { return (1, 1) }; comma = true } else if c.properties.numericType != nil, c.isASCII {
                        if comma { high.unicodeScalars.append(c) } else { low.unicodeScalars.append(c) }
                    } else if c == " " {
                    } else { return (1, 1) } // a literal `{`
                    j += 1
                }
                guard j < scalars.count, !(low.isEmpty && high.isEmpty) else { return (1, 1) }
                index = j + 1
                let lo = Int(low) ?? 0
                result = comma ? (lo, high.isEmpty ? nil : Int(high)) : (lo, lo)
            default:
                return (1, 1)
            }
            if !atEnd, current == "?" || current == "+" { index += 1 }
            return result
        }

        /// One atom: a character, class, escape, group or assertion.
        mutating func atom() -> Item? {
            let c = current
            index += 1
            switch c {
            case "\u{E000}": return characters ? Item(need: Need(tail: nil, inner: nil)) : Item(units: maxFiller)
            case ".": return Item(units: 1)
            case "^", "$": return Item(units: 0, harmlessAssertion: true)
            case " ": return blank()
            case "[": return characterClass()
            case "(": return group()
            case "\\": return escape()
            default: return Item(units: 1)
            }
        }

        mutating func escape() -> Item? {
            guard !atEnd else { return nil }
            let c = current
            index += 1
            switch c {
            case "s", "h", "v", "R", "n", "t", "r", "f": return blank(c == "R" ? 2 : 1)
            case "X" where characters: return Item(need: Need(tail: nil, inner: nil))
            case "b", "B", "A", "z", "Z", "G", "K": return Item(units: 0, harmlessAssertion: true)
            case "d", "D", "w", "W", "S", "H", "V", "N", "X", "C", "e", "a": return Item(units: 1)
            case "p", "P":
                if !atEnd, current == "{" { while !atEnd, current != "}" { index += 1 }; index += 1 } else { index += 1 }
                return Item(units: 1)
            case "x":
                if !atEnd, current == "{" { while !atEnd, current != "}" { index += 1 }; index += 1 } else { index = min(index + 2, scalars.count) }
                return Item(units: 1)
            case "o":
                if !atEnd, current == "{" { while !atEnd, current != "}" { index += 1 }; index += 1 }
                return Item(units: 1)
            case "Q":
                var units = 0
                while !atEnd, !(current == "\\" && peek(1) == "E") { units += 1; index += 1 }
                if !atEnd { index += 2 }
                return Item(units: units)
            case "E": return Item(units: 0, harmlessAssertion: true)
            case "g", "k": return nil // a backreference or a call
            case "1"..."9": return nil // a backreference
            case "0": return Item(units: 1)
            default: return Item(units: 1)
            }
        }

        /// `[...]`: one character (0 when it holds only blanks).
        mutating func characterClass() -> Item? {
            var blanks = true
            var first = true
            if !atEnd, current == "^" { index += 1; blanks = false }
            while !atEnd {
                let c = current
                if c == "]" && !first { index += 1; return blanks ? blank() : Item(units: 1) }
                first = false
                if c == "[", peek(1) == ":" {
                    blanks = false
                    index += 2
                    while !atEnd, !(current == ":" && peek(1) == "]") { index += 1 }
                    index += 2
                    continue
                }
                if c == "\\" {
                    index += 1
                    guard !atEnd else { return nil }
                    let e = current
                    index += 1
                    if !["s", "h", "v", "n", "t", "r", "f"].contains(e) { blanks = false }
                    if e == "p" || e == "P" || e == "x" || e == "o", !atEnd, current == "{" {
                        while !atEnd, current != "}" { index += 1 }
                        index += 1
                    } else if e == "Q" {
                        while !atEnd, !(current == "\\" && peek(1) == "E") { index += 1 }
                        index += 2
                    }
                    continue
                }
                if c != " " && c != "\t" && c != "\n" && c != "\u{3000}" { blanks = false }
                index += 1
            }
            return nil
        }

        /// `(...)` in its many forms.
        mutating func group() -> Item? {
            var kind = "plain"
            if !atEnd, current == "*" {
                // (*VERB)
                while !atEnd, current != ")" { index += 1 }
                index += 1
                return Item(units: 0, harmlessAssertion: true)
            }
            if !atEnd, current == "?" {
                index += 1
                guard !atEnd else { return nil }
                switch current {
                case ":", ">", "|": index += 1
                case "=": index += 1; kind = "lookahead"
                case "!": index += 1; kind = "negative"
                case "#":
                    while !atEnd, current != ")" { index += 1 }
                    index += 1
                    return Item(units: 0, harmlessAssertion: true)
                case "<":
                    if peek(1) == "=" || peek(1) == "!" { index += 2; kind = "negative" } // lookbehinds read the past
                    else {
                        while !atEnd, current != ">" { index += 1 }
                        index += 1
                    }
                case "P":
                    if peek(1) == "<" {
                        while !atEnd, current != ">" { index += 1 }
                        index += 1
                    } else { return nil } // (?P=name), (?P>name)
                case "'":
                    index += 1
                    while !atEnd, current != "'" { index += 1 }
                    index += 1
                case "(":
                    if scalars[index...].starts(with: "(DEFINE)".unicodeScalars) { return nil }
                    return nil // a condition
                case "&", "R", "0"..."9":
                    return nil // a call
                case "+", "-" where peek(1).map({ $0.properties.numericType != nil }) ?? false:
                    return nil // a relative call
                default:
                    // Inline options: (?i) or (?i:...)
                    while !atEnd, current != ")", current != ":" { index += 1 }
                    guard !atEnd else { return nil }
                    if current == ")" { index += 1; return Item(units: 0, harmlessAssertion: true) }
                    index += 1
                }
            }
            guard let inner = alternatives(), !atEnd, current == ")" else { return nil }
            index += 1
            switch kind {
            case "lookahead":
                // The text a positive lookahead reads must have arrived: its shortest witness, wherever it stands.
                return Item(need: Need(tail: inner.tail, inner: inner.tail))
            case "negative": return Item(units: 0, harmlessAssertion: true)
            default: return Item(need: inner)
            }
        }
    }
}
