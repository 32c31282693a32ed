/// Web addresses, e-mail addresses, @handles and hashes in the original text: a word with a Latin letter
/// or digit never matches inside one (`cn` + `/` + `m` in `www.gov.cn/m/` is not the initials `cnm`).
///
/// A *token* is a maximal run of printable ASCII other than space and `"<>{}|\^` backtick. It is a link
/// token when it contains `://`, starts with `www.`, `@` (a handle) or `mailto:`, holds an e-mail address
/// (`x@y.z`), starts with a host name whose last label is 2–6 letters (`t.cn/…`, `gov.cn`), or is a
/// hash-like run of 16 or more letters and digits with both kinds.
enum LinkToken {
    /// True when original scalars `first...last` all lie inside one link token.
    static func contains(_ scalars: UnsafeBufferPointer<UInt32>, first: Int, last: Int) -> Bool {
        guard first <= last, last < scalars.count else { return false }
        for i in first...last where !isTokenScalar(scalars[i]) { return false }
        var start = first, end = last + 1
        while start > 0 && isTokenScalar(scalars[start - 1]) { start -= 1 }
        while end < scalars.count && isTokenScalar(scalars[end]) { end += 1 }
        return isLink(Array(scalars[start..<end]).map { UInt8(truncatingIfNeeded: $0) })
    }

    @inline(__always)
    static func isTokenScalar(_ v: UInt32) -> Bool {
        switch v {
        case 0x21...0x7E: return v != 0x22 && v != 0x3C && v != 0x3E && v != 0x7B && v != 0x7D && v != 0x7C && v != 0x5C && v != 0x5E && v != 0x60
        default: return false
        }
    }

    /// Whether an ASCII token is a link token (see the type's summary).
    static func isLink(_ token: [UInt8]) -> Bool {
        let lower = token.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }
        func starts(_ prefix: String) -> Bool { lower.starts(with: Array(prefix.utf8)) }
        if starts("www.") || starts("@") || starts("mailto:") { return true }
        if lower.count >= 3 && (0...(lower.count - 3)).contains(where: { lower[$0] == 0x3A && lower[$0 + 1] == 0x2F && lower[$0 + 2] == 0x2F }) { return true }
        func isLetter(_ b: UInt8) -> Bool { b >= 0x61 && b <= 0x7A }
        func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
        if let at = lower.firstIndex(of: 0x40), at > 0, lower[(at + 1)...].contains(0x2E) { return true }
        // A leading host name: labels of letters, digits and '-', separated by dots, up to '/', ':', '?' or the end.
        let hostEnd = lower.firstIndex { $0 == 0x2F || $0 == 0x3A || $0 == 0x3F } ?? lower.count
        let host = lower[..<hostEnd]
        if host.contains(0x2E), host.allSatisfy({ isLetter($0) || isDigit($0) || $0 == 0x2D || $0 == 0x2E }) {
            let labels = host.split(separator: 0x2E, omittingEmptySubsequences: false)
            if labels.count >= 2, labels.allSatisfy({ !$0.isEmpty }), let tld = labels.last,
               (2...6).contains(tld.count), tld.allSatisfy(isLetter) { return true }
        }
        if lower.count >= 16, lower.allSatisfy({ isLetter($0) || isDigit($0) }),
           lower.contains(where: isLetter), lower.contains(where: isDigit) { return true }
        return false
    }
}
