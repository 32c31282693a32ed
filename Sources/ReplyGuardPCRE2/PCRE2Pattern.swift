import CPCRE2

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A PCRE2 compile failure: PCRE2's own message and the byte offset in the pattern where it stopped.
public struct PCRE2CompileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// PCRE2's error code (positive for compile errors).
    public let code: Int32
    /// PCRE2's message, e.g. "missing closing parenthesis".
    public let message: String
    /// UTF-8 byte offset into the pattern at which PCRE2 gave up.
    public let offset: Int

    public var description: String { "\(message) at byte \(offset)" }
}

/// A compiled PCRE2 pattern, JIT-compiled when the platform supports it — on first use: a rule set
/// compiles hundreds of patterns at start-up and one message reaches few of them (JIT compiling them
/// all was 7 % of `explain`'s start-up), so ``PCRE2Matcher`` JIT-compiles a pattern before its first
/// match, once, under a lock; until then no thread matches it.
///
/// Patterns are compiled with `PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_UCP`, so they match Unicode
/// scalars, `\w`/`\d`/`\b` follow Unicode properties, and a subject containing invalid UTF-8 is searched
/// (invalid bytes never match) instead of being rejected. `\C` is refused because it can split a scalar.
///
/// Immutable after `init` but for the JIT step, which runs once under `jitLock` before any match
/// (PCRE2 code objects are safe to share between threads once JIT-compiled), hence `@unchecked
/// Sendable`. Matching state lives in ``PCRE2Matcher``, one per thread.
public final class PCRE2Pattern: @unchecked Sendable {
    /// The source text of the pattern.
    public let pattern: String
    /// True when PCRE2's JIT compiled the pattern (compiling it now if no match has yet); false means
    /// the interpreter runs it (same results).
    public var isJITCompiled: Bool {
        prepareForMatching()
        return jitState.pointee == 1
    }
    /// 0 until the JIT step has run, then 1 (compiled) or 2 (not available); read with acquire
    /// ordering, written with release ordering under `jitLock`.
    private let jitState: UnsafeMutablePointer<Int32>
    private let jitLock: UnsafeMutablePointer<pthread_mutex_t>
    /// A byte every match must contain, when PCRE2 can name one (`PCRE2_INFO_LASTCODEUNIT` or the
    /// first code unit). Used as a prefilter: a subject without this byte cannot match.
    public let requiredByte: UInt8?
    /// When every match must start with an ASCII byte from a known set (PCRE2's start bitmap), that
    /// set as a 128-bit mask (bit b of word b / 64). A subject without any of these bytes cannot match.
    public let asciiFirstBytes: (UInt64, UInt64)?
    let code: OpaquePointer

    public convenience init(_ pattern: String) throws(PCRE2CompileError) {
        var errorCode: Int32 = 0
        var errorOffset = 0
        let options = UInt32(PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_UCP | PCRE2_NEVER_BACKSLASH_C)
        let compiled: OpaquePointer? = pattern.utf8.withContiguousStorageIfAvailable { bytes in
            pcre2_compile_8(bytes.baseAddress ?? PCRE2Subject.emptyBase, bytes.count, options,
                            &errorCode, &errorOffset, nil)
        } ?? {
            let bytes = Array(pattern.utf8)
            return bytes.withUnsafeBufferPointer {
                pcre2_compile_8($0.baseAddress ?? PCRE2Subject.emptyBase, $0.count, options,
                                &errorCode, &errorOffset, nil)
            }
        }()
        guard let compiled else {
            throw PCRE2CompileError(code: errorCode, message: PCRE2Pattern.message(for: errorCode), offset: errorOffset)
        }
        self.init(pattern: pattern, compiled: compiled)
    }

    /// Takes ownership of `compiled`, the code of `pattern`.
    private init(pattern: String, compiled: OpaquePointer) {
        self.pattern = pattern
        code = compiled
        jitState = .allocate(capacity: 1)
        jitState.initialize(to: 0)
        jitLock = .allocate(capacity: 1)
        pthread_mutex_init(jitLock, nil)
        requiredByte = PCRE2Pattern.requiredByte(of: compiled, pattern: pattern)
        asciiFirstBytes = PCRE2Pattern.asciiFirstBytes(of: compiled)
    }

    /// The compiled code of `patterns` in PCRE2's serialized form (`pcre2_serialize_encode`: the
    /// interpreter's code, not the JIT's), for the compiled-set cache; nil if PCRE2 cannot encode them.
    public static func serialized(_ patterns: [PCRE2Pattern]) -> [UInt8]? {
        guard !patterns.isEmpty else { return [] }
        var codes: [OpaquePointer?] = patterns.map { $0.code }
        var bytes: UnsafeMutablePointer<UInt8>?
        var size = 0
        let count = codes.withUnsafeMutableBufferPointer {
            pcre2_serialize_encode_8($0.baseAddress, Int32(patterns.count), &bytes, &size, nil)
        }
        guard count == Int32(patterns.count), let bytes else { return nil }
        defer { pcre2_serialize_free_8(bytes) }
        return Array(UnsafeBufferPointer(start: bytes, count: size))
    }

    /// The patterns ``serialized(_:)`` wrote, with their source texts (`sources`, in the same order); nil
    /// when PCRE2 refuses the bytes (another PCRE2 version or build, another count). PCRE2 does not check
    /// the code itself: the caller must know the bytes are what ``serialized(_:)`` wrote (the cache
    /// checks a checksum over them first).
    public static func deserialized(_ bytes: [UInt8], sources: [String]) -> [PCRE2Pattern]? {
        guard !sources.isEmpty else { return bytes.isEmpty ? [] : nil }
        guard bytes.count >= 16 else { return nil }
        return bytes.withUnsafeBufferPointer { buffer -> [PCRE2Pattern]? in
            guard pcre2_serialize_get_number_of_codes_8(buffer.baseAddress) == Int32(sources.count) else { return nil }
            var codes = [OpaquePointer?](repeating: nil, count: sources.count)
            let decoded = codes.withUnsafeMutableBufferPointer {
                pcre2_serialize_decode_8($0.baseAddress, Int32(sources.count), buffer.baseAddress, nil)
            }
            guard decoded == Int32(sources.count) else {
                for code in codes { if let code { pcre2_code_free_8(code) } }
                return nil
            }
            return zip(sources, codes).map { PCRE2Pattern(pattern: $0, compiled: $1!) }
        }
    }

    private static func asciiFirstBytes(of code: OpaquePointer) -> (UInt64, UInt64)? {
        var bitmap: UnsafePointer<UInt8>?
        guard pcre2_pattern_info_8(code, UInt32(PCRE2_INFO_FIRSTBITMAP), &bitmap) == 0, let bitmap else { return nil }
        var low: UInt64 = 0, high: UInt64 = 0
        for byte in 0..<256 where bitmap[byte / 8] & (1 << UInt8(byte % 8)) != 0 {
            if byte >= 128 { return nil } // a non-ASCII start byte: no cheap test
            if byte < 64 { low |= 1 << UInt64(byte) } else { high |= 1 << UInt64(byte - 64) }
        }
        return low == 0 && high == 0 ? nil : (low, high)
    }

    deinit {
        pcre2_code_free_8(code)
        pthread_mutex_destroy(jitLock)
        jitLock.deallocate()
        jitState.deallocate()
    }

    /// JIT-compiles the pattern if that has not run yet; every match calls this first.
    @inline(__always)
    func prepareForMatching() {
        if rg_pcre2_load_acquire(jitState) == 0 { compileJIT() }
    }

    private func compileJIT() {
        pthread_mutex_lock(jitLock)
        defer { pthread_mutex_unlock(jitLock) }
        guard jitState.pointee == 0 else { return }
        let compiled = pcre2_jit_compile_8(code, UInt32(PCRE2_JIT_COMPLETE)) == 0
        rg_pcre2_store_release(jitState, compiled ? 1 : 2)
    }

    /// PCRE2's text for an error code (compile or match).
    public static func message(for errorCode: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        let length = buffer.withUnsafeMutableBufferPointer { pcre2_get_error_message_8(errorCode, $0.baseAddress, $0.count) }
        guard length > 0 else { return "PCRE2 error \(errorCode)" }
        return String(decoding: buffer[0..<Int(length)], as: UTF8.self)
    }

    private static func requiredByte(of code: OpaquePointer, pattern: String) -> UInt8? {
        // PCRE2 reports first/last code units of caseless parts too (matching either case) without
        // saying so through this API, so a pattern that turns on caseless matching gets no prefilter.
        if turnsOnCaseless(pattern) { return nil }
        var type: UInt32 = 0
        var unit: UInt32 = 0
        for (typeInfo, unitInfo) in [(PCRE2_INFO_LASTCODETYPE, PCRE2_INFO_LASTCODEUNIT),
                                     (PCRE2_INFO_FIRSTCODETYPE, PCRE2_INFO_FIRSTCODEUNIT)] {
            _ = pcre2_pattern_info_8(code, UInt32(typeInfo), &type)
            if type == 1 {
                _ = pcre2_pattern_info_8(code, UInt32(unitInfo), &unit)
                return UInt8(truncatingIfNeeded: unit)
            }
        }
        return nil
    }

    /// True when the pattern has an inline option group such as `(?i)`, `(?mi:` or `(?^i)`.
    private static func turnsOnCaseless(_ pattern: String) -> Bool {
        let bytes = Array(pattern.utf8)
        var i = 0
        while i + 1 < bytes.count {
            if bytes[i] == UInt8(ascii: "("), bytes[i + 1] == UInt8(ascii: "?") {
                var j = i + 2
                while j < bytes.count, bytes[j] == UInt8(ascii: "^") || bytes[j] == UInt8(ascii: "-")
                        || (bytes[j] | 0x20 >= UInt8(ascii: "a") && bytes[j] | 0x20 <= UInt8(ascii: "z")) {
                    if bytes[j] == UInt8(ascii: "i") { return true }
                    j += 1
                }
            }
            i += 1
        }
        return false
    }
}

enum PCRE2Subject {
    /// PCRE2 needs a non-null pointer even for a zero-length subject or pattern.
    nonisolated(unsafe) static let emptyBase: UnsafePointer<UInt8> = {
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
        p.initialize(to: 0)
        return UnsafePointer(p)
    }()
}
