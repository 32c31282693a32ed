import CPCRE2

/// Limits applied to every match; PCRE2 gives up with an error instead of running away.
public struct PCRE2Limits: Sendable, Equatable {
    /// `pcre2_set_match_limit`: how many times the matcher may backtrack/call itself.
    public var matchLimit: UInt32
    /// `pcre2_set_depth_limit`: nesting depth of backtracking (interpreter only; JIT uses its stack).
    public var depthLimit: UInt32
    /// Largest JIT stack, in bytes.
    public var jitStackBytes: Int

    public init(matchLimit: UInt32 = 1_000_000, depthLimit: UInt32 = 10_000, jitStackBytes: Int = 1 << 20) {
        self.matchLimit = matchLimit
        self.depthLimit = depthLimit
        self.jitStackBytes = jitStackBytes
    }
}

/// A match that PCRE2 could not finish: a limit was hit or the subject was unusable.
public struct PCRE2MatchError: Error, Sendable, Equatable, CustomStringConvertible {
    public let code: Int32
    public let message: String
    /// True when the error is one of PCRE2's resource limits (match, depth, heap, JIT stack).
    public var isLimit: Bool {
        [PCRE2_ERROR_MATCHLIMIT, PCRE2_ERROR_DEPTHLIMIT, PCRE2_ERROR_HEAPLIMIT, PCRE2_ERROR_JIT_STACKLIMIT]
            .contains(code)
    }
    public var description: String { message }
}

/// Per-thread matching state: one match-data block, one match context with the limits, one JIT stack.
///
/// Create one per thread and reuse it for every pattern and subject; never share one between threads.
public final class PCRE2Matcher {
    public let limits: PCRE2Limits
    private let matchData: OpaquePointer
    private let context: OpaquePointer
    private let jitStack: OpaquePointer?

    public init(limits: PCRE2Limits = PCRE2Limits()) {
        self.limits = limits
        matchData = pcre2_match_data_create_8(1, nil)
        context = pcre2_match_context_create_8(nil)
        pcre2_set_match_limit_8(context, limits.matchLimit)
        pcre2_set_depth_limit_8(context, limits.depthLimit)
        jitStack = pcre2_jit_stack_create_8(32 * 1024, max(32 * 1024, limits.jitStackBytes), nil)
        if let jitStack { pcre2_jit_stack_assign_8(context, nil, UnsafeMutableRawPointer(jitStack)) }
    }

    deinit {
        pcre2_match_data_free_8(matchData)
        pcre2_match_context_free_8(context)
        if let jitStack { pcre2_jit_stack_free_8(jitStack) }
    }

    /// Calls `body` with the UTF-8 byte range of each successive non-overlapping match of `pattern` in
    /// `subject`, left to right, until `body` returns false or no match is left.
    ///
    /// The subject may contain invalid UTF-8 (those bytes never match). After an empty match the search
    /// resumes one code point later. Throws when PCRE2 fails, e.g. a match limit is hit: callers must
    /// treat that as "unknown", never as "no match".
    public func forEachMatch(of pattern: PCRE2Pattern, in subject: UnsafeBufferPointer<UInt8>,
                             _ body: (Range<Int>) -> Bool) throws(PCRE2MatchError) {
        let base = subject.baseAddress ?? PCRE2Subject.emptyBase
        let length = subject.count
        var start = 0
        pattern.prepareForMatching()
        while start <= length {
            let rc = pcre2_match_8(pattern.code, base, length, start, 0, matchData, context)
            if rc == PCRE2_ERROR_NOMATCH { return }
            if rc < 0 { throw PCRE2MatchError(code: rc, message: PCRE2Pattern.message(for: rc)) }
            let ovector = pcre2_get_ovector_pointer_8(matchData)!
            let span = try PCRE2Matcher.span(ovector[0], ovector[1], length: length)
            let (lower, upper) = (span.lowerBound, span.upperBound)
            if !body(span) { return }
            if upper > lower {
                start = upper
            } else {
                start = upper + 1
                while start < length, subject[start] & 0xC0 == 0x80 { start += 1 }
            }
        }
    }

    /// The error code of a match whose reported span is out of order or outside the subject.
    public static let badSpanCode: Int32 = -10_000

    /// The match's byte range, or an error when PCRE2 reported one that is out of order or outside the
    /// subject (`\K` inside a lookaround can do that where it is allowed). Never "no match": a caller
    /// treats the error like any other match error, escalating the message (fail closed).
    static func span(_ lower: Int, _ upper: Int, length: Int) throws(PCRE2MatchError) -> Range<Int> {
        guard lower <= upper, upper <= length else {
            throw PCRE2MatchError(code: badSpanCode, message: "the pattern reported a match from byte \(lower) to \(upper) of a \(length)-byte subject, which is not a span of it")
        }
        return lower..<upper
    }

    /// Where a match of `pattern` could begin once more text is appended to `subject`: the byte offset
    /// of the first complete match, or of the first *partial* match (one that reaches the end of
    /// `subject` and may complete or change with what follows), whichever PCRE2 meets first trying start
    /// positions left to right (`PCRE2_PARTIAL_HARD`; `\z`, `$`, `\b` and lookaheads at the end count as
    /// partial). Nil: no match of any longer text begins before the end of `subject`.
    ///
    /// Why that holds: matching `subject` and matching a longer text that begins with it take the same
    /// steps until one of them reads past the end of `subject`, which hard partial matching reports at
    /// once. So the longer text's first match either is found here too, or begins at or after the
    /// partial match reported. (A complete match reports its `\K` start, as the longer text's would; a
    /// partial one its first character, `\K` or not.) Only starts at or after byte `from` are tried
    /// (lookbehinds still read before it). Throws when PCRE2 fails (a limit): unknown, never "no match".
    public func earliestPossibleStart(of pattern: PCRE2Pattern, in subject: UnsafeBufferPointer<UInt8>, from: Int = 0) throws(PCRE2MatchError) -> Int? {
        let base = subject.baseAddress ?? PCRE2Subject.emptyBase
        guard from <= subject.count else { return nil }
        pattern.prepareForMatching()
        let rc = pcre2_match_8(pattern.code, base, subject.count, from, UInt32(PCRE2_PARTIAL_HARD), matchData, context)
        if rc == PCRE2_ERROR_NOMATCH { return nil }
        if rc < 0 && rc != PCRE2_ERROR_PARTIAL { throw PCRE2MatchError(code: rc, message: PCRE2Pattern.message(for: rc)) }
        let ovector = pcre2_get_ovector_pointer_8(matchData)!
        return try PCRE2Matcher.span(ovector[0], max(ovector[0], ovector[1]), length: subject.count).lowerBound
    }

    /// True when `pattern` matches anywhere in `subject`.
    public func matches(_ pattern: PCRE2Pattern, in subject: UnsafeBufferPointer<UInt8>) throws(PCRE2MatchError) -> Bool {
        var found = false
        try forEachMatch(of: pattern, in: subject) { _ in found = true; return false }
        return found
    }
}
