import Foundation
import ReplyGuardPCRE2

/// Fillers in a rule's regex: where a regex lets fillers stand, as they may between the characters of a
/// word (`闭 嘴`, `去*死`, `138 1234 5678`).
///
/// Two ways to say it, both expanded by the loader into the filler class (see ``expand(_:maxFiller:literals:inline:)``):
/// - `\F` anywhere outside a character class and a lookbehind: "fillers may stand here". PCRE2 has no
///   `\F` (it refuses it as an unsupported escape), so the construct cannot mean anything else.
/// - `fillers: literals` next to the regex: between every two consecutive letters or digits the pattern
///   spells out literally (`讨厌|看不起` reads as `讨\F厌|看\F不\F起`), except inside lookbehinds; the
///   places between groups, classes and escapes still take an explicit `\F` (`国\F(?:男|女)`).
///
/// The class allows up to `max_filler` fillers as normalization counts them (a run of blanks is one
/// filler, an HTML tag is one), but not a clause break.
enum RegexFillers {
    /// The name of the group that holds the filler class in a pattern expanded with `inline: false`.
    static let groupName = "__filler"

    /// A filler slot of a pattern expanded with `inline: false`: a call of the class as a subroutine.
    static let call = "(?&\(groupName))"

    /// The filler class for a `max_filler` of `maxFiller`, as written out at a slot. Greedy but not
    /// possessive, so what follows may still match a filler (`网友\F[:：]` matches `网友：`); each filler
    /// matches one way but for `<` (a tag, or the symbol), so backtracking stays linear.
    ///
    /// A filler here is a run of blanks (spaces, tabs, line breaks, the braille blank), a tag (`<a href=…>`;
    /// no `<`, `>` or line break inside: the folded view keeps a tag that carries a link as written), or
    /// one other character that is neither a letter nor a digit — symbols, emoji, `* · . / - _ # ~` —
    /// except what breaks a clause: brackets, quotation marks and `，。、；：！？ , ; : ! ? " '`. Words allow
    /// those too, but a regex is usually a guarded word, and across a clause break it would join two
    /// clauses (`男的渣，女的`, `等死，鬼子`, `材料（主要）`) far more often than it would catch an evasion.
    /// Private-use and unassigned characters, which normalization keeps, are no fillers either: whatever
    /// the class matches is dropped from the kept text, so the prefilter may read `闭\F嘴` as needing 闭嘴.
    static func inlineClass(maxFiller: Int) -> String {
        let blanks = #"\t-\r\x20\x{85}\x{2800}"#
        let tag = #"<[a-zA-Z!?/][^<>\n]*+>"#
        let breaks = #"\p{Ps}\p{Pe}\p{Pi}\p{Pf}\p{Co}\p{Cn}，。、；：！？,;:!?"'"#
        return #"(?:[\#(blanks)]++|\#(tag)|[^\p{L}\p{N}\#(breaks)\#(blanks)]){0,\#(maxFiller)}"#
    }

    /// The filler class defined once, at the end of a pattern expanded with `inline: false` (`(?(DEFINE)…)`
    /// matches nothing where it stands; PCRE2 backtracks into subroutine calls).
    static func definition(maxFiller: Int) -> String {
        "(?(DEFINE)(?<\(groupName)>\(inlineClass(maxFiller: maxFiller))))"
    }

    /// Compiles `expanded` (the expansion of `source` with `count` slots); when PCRE2 finds the class written
    /// out at each slot too large, compiles the expansion that calls it instead.
    static func compile(_ source: String, expanded: String, count: Int, maxFiller: Int, literals: Bool) throws(PCRE2CompileError) -> PCRE2Pattern {
        do throws(PCRE2CompileError) {
            return try PCRE2Pattern(expanded)
        } catch {
            guard count > 0, case .success(let called) = expand(source, maxFiller: maxFiller, literals: literals, inline: false),
                  called.pattern != expanded else { throw error }
            return try PCRE2Pattern(called.pattern)
        }
    }

    /// Why a pattern's fillers could not be expanded, at a Unicode-scalar offset of the pattern as written.
    struct SyntaxError: Error {
        let scalarOffset: Int
        let message: String
    }

    /// The pattern with every `\F` expanded (and, with `literals`, a filler class between consecutive
    /// literal letters and digits), and how many filler classes it holds; or why it cannot be expanded.
    /// The pattern is read as PCRE2 reads it: escapes (`\\F` is a backslash and an F), `\Q…\E` quoting,
    /// character classes, quantifiers in braces, group openings (`(?<name>`, `(?i:`), comments, verbs.
    ///
    /// The class is written out at each slot (``inlineClass(maxFiller:)``): PCRE2 keeps its start-of-match
    /// optimizations for such a pattern (a subroutine call turns them off, and the pattern is then tried
    /// at every position of a message). With `inline: false` — for a pattern PCRE2 finds too large written
    /// out — each slot calls the class defined once at the end (``definition(maxFiller:)``).
    static func expand(_ pattern: String, maxFiller: Int, literals: Bool = false, inline: Bool = true) -> Result<(pattern: String, count: Int), SyntaxError> {
        // Inline, the class is written at each slot as the scanner goes. A pattern that spells out the call
        // itself keeps the older way (slots written as calls, then every call replaced by the class).
        let direct = inline && !pattern.contains(call)
        var scanner = Scanner(p: Array(pattern.unicodeScalars), filler: Array((direct ? inlineClass(maxFiller: maxFiller) : call).unicodeScalars),
                              literals: literals)
        if let error = scanner.run() { return .failure(error) }
        if inline && scanner.count > 0 {
            let text = Scanner.text(scanner.out)
            return .success((direct ? text : text.replacingOccurrences(of: call, with: inlineClass(maxFiller: maxFiller)), scanner.count))
        }
        if scanner.count > 0 { scanner.out.append(contentsOf: definition(maxFiller: maxFiller).unicodeScalars) }
        return .success((Scanner.text(scanner.out), scanner.count))
    }

    private struct Scanner {
        let p: [Unicode.Scalar]
        let filler: [Unicode.Scalar]
        let literals: Bool
        /// The expanded pattern (an array: appending to a `String.UnicodeScalarView` scalar by scalar
        /// cost 44 M instructions over the shipped packs' regexes at every start).
        var out: [Unicode.Scalar] = []
        var count = 0
        var i = 0
        /// For each open group: whether it is a lookbehind (or inside one).
        var groups: [Bool] = []
        /// The previous atom was a literal letter or digit (a filler class may go before the next one).
        var afterLiteral = false

        init(p: [Unicode.Scalar], filler: [Unicode.Scalar], literals: Bool) {
            self.p = p
            self.filler = filler
            self.literals = literals
            out.reserveCapacity(p.count * 2)
        }

        /// The scalars as a String, encoded straight to UTF-8.
        static func text(_ scalars: [Unicode.Scalar]) -> String {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(scalars.count * 3)
            for scalar in scalars { UTF8.encode(scalar) { bytes.append($0) } }
            return String(decoding: bytes, as: UTF8.self)
        }

        var inLookbehind: Bool { groups.last ?? false }

        func peek(_ k: Int = 0) -> Unicode.Scalar? { i + k < p.count ? p[i + k] : nil }

        mutating func copy(_ n: Int) {
            let end = min(i + n, p.count)
            out.append(contentsOf: p[i..<end])
            i = end
        }

        /// Copies up to and including the first `close` (or to the end).
        mutating func copy(through close: Unicode.Scalar) {
            var j = i
            while j < p.count && p[j] != close { j += 1 }
            copy(j + 1 - i)
        }

        mutating func insertFiller() {
            out.append(contentsOf: filler)
            count += 1
        }

        mutating func run() -> SyntaxError? {
            if literals, let x = find("(?x") ?? find("(?xx") {
                return SyntaxError(scalarOffset: x, message: "fillers: literals cannot read a pattern in extended mode ((?x)); write \\F instead")
            }
            while i < p.count {
                let c = p[i]
                // Whether what was just read continues "after a literal": a literal letter or digit, or a
                // quantifier of one (`你们?扯` reads as `你\F们?\F扯`).
                var literal = false
                switch c {
                case "\\":
                    if let error = escape() { return error }
                case "[":
                    if let error = characterClass() { return error }
                case "(":
                    group()
                case ")":
                    if !groups.isEmpty { groups.removeLast() }
                    copy(1)
                case "{":
                    // A quantifier ({2}, {2,}, {2,4}, {,4}); PCRE2 reads anything else as a literal brace.
                    var j = i + 1
                    while j < p.count, ("0"..."9").contains(p[j]) || p[j] == "," { j += 1 }
                    let quantifier = quantifierStarts(at: i)
                    literal = quantifier && afterLiteral
                    copy(quantifier ? j + 1 - i : 1)
                case "?", "*", "+":
                    literal = afterLiteral
                    copy(1)
                case "|", ".", "^", "$", "]", "}":
                    copy(1)
                default:
                    // (Only `fillers: literals` reads it: no Unicode property lookups otherwise.)
                    literal = literals && (c.properties.isAlphabetic || c.properties.numericType != nil)
                    if literal && literals && afterLiteral && !inLookbehind {
                        if quantifierStarts(at: i + 1) {
                            // `你们?` reads as `你(?:\F们)?`: no fillers taken when 们 is not there.
                            out.append(contentsOf: "(?:".unicodeScalars)
                            insertFiller()
                            copy(1)
                            out.append(")")
                            break
                        }
                        insertFiller()
                    }
                    copy(1)
                }
                afterLiteral = literal
            }
            return nil
        }

        /// True when a quantifier (`?`, `*`, `+`, `{2}`, `{2,4}`, `{,4}`) starts at `k`.
        func quantifierStarts(at k: Int) -> Bool {
            guard k < p.count else { return false }
            if p[k] == "?" || p[k] == "*" || p[k] == "+" { return true }
            guard p[k] == "{" else { return false }
            var j = k + 1
            while j < p.count, ("0"..."9").contains(p[j]) || p[j] == "," { j += 1 }
            return j < p.count && p[j] == "}" && j > k + 1
        }

        func find(_ text: String) -> Int? {
            let t = Array(text.unicodeScalars)
            guard p.count >= t.count else { return nil }
            return (0...(p.count - t.count)).first { Array(p[$0..<$0 + t.count]) == t }
        }

        mutating func escape() -> SyntaxError? {
            guard let e = peek(1) else { copy(1); return nil }
            switch e {
            case "F":
                if inLookbehind {
                    return SyntaxError(scalarOffset: i, message: "\\F cannot stand inside a lookbehind (PCRE2 needs a bounded length there)")
                }
                insertFiller()
                i += 2
            case "Q":
                // Literal text up to \E (or the end).
                var j = i + 2
                while j < p.count && !(p[j] == "\\" && j + 1 < p.count && p[j + 1] == "E") { j += 1 }
                copy(min(j + 2, p.count) - i)
            case "p", "P", "x", "o", "g", "k", "N":
                copy(2)
                if let open = peek(), open == "{" || open == "<" || open == "'" {
                    copy(through: open == "{" ? "}" : open == "<" ? ">" : "'")
                } else if e == "p" || e == "P" || e == "x" {
                    copy(e == "x" ? 2 : 1) // \pL, \x41
                }
            default:
                copy(2)
            }
            return nil
        }

        mutating func characterClass() -> SyntaxError? {
            copy(1)
            if peek() == "^" { copy(1) }
            if peek() == "]" { copy(1) } // a ']' first is a member
            while let c = peek(), c != "]" {
                if c == "\\" {
                    if peek(1) == "F" {
                        return SyntaxError(scalarOffset: i, message: "\\F cannot stand inside a character class (it allows several characters); write it outside the brackets")
                    }
                    let e = peek(1)
                    copy(2)
                    if peek() == "{", let e, "pPxoN".unicodeScalars.contains(e) { copy(through: "}") }
                } else if c == "[", let kind = peek(1), kind == ":" || kind == "." || kind == "=" {
                    var j = i + 2
                    while j + 1 < p.count && !(p[j] == kind && p[j + 1] == "]") { j += 1 }
                    copy(min(j + 2, p.count) - i)
                } else {
                    copy(1)
                }
            }
            copy(1)
            return nil
        }

        mutating func group() {
            let outer = inLookbehind
            guard peek(1) == "?" || peek(1) == "*" else {
                copy(1)
                groups.append(outer)
                return
            }
            if peek(1) == "*" { // (*VERB) or (*atomic: …)
                var j = i + 2
                while j < p.count && p[j] != ")" && p[j] != ":" { j += 1 }
                if j < p.count && p[j] == ":" {
                    copy(j + 1 - i)
                    groups.append(outer)
                } else {
                    copy(through: ")")
                }
                return
            }
            switch peek(2) {
            case "#":
                copy(through: ")")
            case "<" where peek(3) == "=" || peek(3) == "!":
                copy(4)
                groups.append(true)
            case "<", "'":
                let close: Unicode.Scalar = peek(2) == "<" ? ">" : "'"
                copy(3)
                copy(through: close)
                groups.append(outer)
            case "P" where peek(3) == "<":
                copy(4)
                copy(through: ">")
                groups.append(outer)
            case ":", "=", "!", ">", "|":
                copy(3)
                groups.append(outer)
            default:
                // Options ((?i), (?i:), recursion, conditions: copied as written up to ':' or ')'.
                var j = i + 2
                while j < p.count && p[j] != ")" && p[j] != ":" && p[j] != "(" { j += 1 }
                if j < p.count && p[j] == ":" {
                    copy(j + 1 - i)
                    groups.append(outer)
                } else if j < p.count && p[j] == "(" { // (?(condition)…
                    copy(j - i)
                    groups.append(outer)
                } else {
                    copy(through: ")")
                }
            }
        }
    }
}
