import Testing
@testable import ReplyGuardPCRE2

@Suite struct PCRE2Tests {
    func ranges(_ pattern: String, _ subject: [UInt8], limits: PCRE2Limits = PCRE2Limits()) throws -> [Range<Int>] {
        let compiled = try PCRE2Pattern(pattern)
        let matcher = PCRE2Matcher(limits: limits)
        var found: [Range<Int>] = []
        try subject.withUnsafeBufferPointer { buffer in
            try matcher.forEachMatch(of: compiled, in: buffer) { found.append($0); return true }
        }
        return found
    }

    @Test func compileErrorCarriesMessageAndByteOffset() {
        do {
            _ = try PCRE2Pattern("哑巴(abc")
            Issue.record("expected a compile error")
        } catch {
            #expect(error.message.contains("missing closing parenthesis"))
            #expect(error.offset == 10) // 6 bytes of 哑巴 + "(abc"
        }
    }

    @Test func jitIsOn() throws {
        #expect(try PCRE2Pattern("哑巴").isJITCompiled)
    }

    /// The JIT step runs on a pattern's first match (start-up compiles hundreds of patterns a message
    /// never reaches): threads that match a fresh pattern at once all find the same spans, and the
    /// pattern is JIT-compiled afterwards.
    @Test func patternsMatchedFirstFromManyThreadsAtOnceAgree() async throws {
        let subject = Array(String(repeating: "你这个哑巴，闭嘴 ", count: 200).utf8)
        let expected = try ranges("哑\\s*巴|闭.嘴", subject)
        #expect(expected.count == 200)
        for _ in 0..<20 {
            let pattern = try PCRE2Pattern("哑\\s*巴|闭.嘴")
            let found = await withTaskGroup(of: [Range<Int>].self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        let matcher = PCRE2Matcher(limits: PCRE2Limits())
                        var spans: [Range<Int>] = []
                        subject.withUnsafeBufferPointer { buffer in
                            try? matcher.forEachMatch(of: pattern, in: buffer) { spans.append($0); return true }
                        }
                        return spans
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            #expect(found.count == 8 && found.allSatisfy { $0 == expected })
            #expect(pattern.isJITCompiled)
        }
    }

    @Test func offsetsAreUTF8Bytes() throws {
        let subject = Array("😀你不说话哑巴".utf8)
        #expect(try ranges("哑巴", subject) == [16..<22])
    }

    @Test func catastrophicPatternHitsTheLimitInsteadOfHanging() throws {
        let subject = Array(String(repeating: "a", count: 40_000).utf8) + Array("b".utf8)
        do {
            _ = try ranges("(a+)+$", subject, limits: PCRE2Limits(matchLimit: 100_000))
            Issue.record("expected a limit error")
        } catch let error as PCRE2MatchError {
            #expect(error.isLimit, "\(error)")
        }
    }

    @Test func invalidUTF8SubjectIsSearchedNotRejected() throws {
        let subject: [UInt8] = [0xFF, 0xFE] + Array("哑巴".utf8) + [0xC3] + Array("x".utf8) + [0x00]
        #expect(try ranges("哑巴", subject) == [2..<8])
        #expect(try ranges("x", subject) == [9..<10])
        #expect(try ranges(".", [0xE4, 0xBD]) == [])
    }

    @Test func emptyMatchesAdvanceByWholeCodePoints() throws {
        #expect(try ranges("(?=哑)|$", Array("a哑".utf8)) == [1..<1, 4..<4])
        #expect(try ranges("x*", []) == [0..<0])
    }

    @Test func asciiFirstByteSetComesFromPCRE2sStartBitmap() throws {
        let digits = try PCRE2Pattern(#"(?<![0-9])[1-9]\d{5}"#).asciiFirstBytes
        #expect(digits?.0 == (0x3FE << 48) && digits?.1 == 0) // bits for "1"..."9"
        #expect(try PCRE2Pattern("加|x").asciiFirstBytes == nil) // a non-ASCII start byte
        #expect(try PCRE2Pattern("x*").asciiFirstBytes == nil)   // can match empty: no start bitmap
    }

    @Test func requiredByteIsOnlyOfferedWhenSafe() throws {
        #expect(try PCRE2Pattern("abc\\d+").requiredByte == UInt8(ascii: "c"))
        #expect(try PCRE2Pattern("(?i)abc").requiredByte == nil)
        #expect(try PCRE2Pattern("a|b").requiredByte == nil)
    }

    /// A match whose span is out of order or past the subject's end is an error (the message is escalated),
    /// never silently "no match"; `\K` in a lookaround, the way to produce one, is refused at compile time.
    @Test func anOutOfRangeMatchSpanIsAnErrorNotNoMatch() throws {
        #expect(try PCRE2Matcher.span(2, 5, length: 5) == 2..<5)
        #expect(throws: PCRE2MatchError.self) { try PCRE2Matcher.span(3, 2, length: 5) }
        #expect(throws: PCRE2MatchError.self) { try PCRE2Matcher.span(0, 6, length: 5) }
        #expect(throws: PCRE2CompileError.self) { try PCRE2Pattern("(?=ab\\K)") }
    }
}
