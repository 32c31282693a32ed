import Foundation
import ReplyGuard
import Testing

@Suite struct EngineTests {
    let shipped = Engine(ruleSet: Repo.shipped)

    @Test func seedLinesAreCaughtInEveryDisguise() {
        let variants = [
            "你不说话没人把你当哑巴", "你不說話沒人把你當啞巴", "你 不 说 话 没 人 把 你 当 哑 巴",
            "你.不.说.话.没.人.把.你.当.哑.巴", "你\u{200B}不\u{200C}说\u{200D}话没人把你\u{FEFF}当哑巴",
            "😡你不说话😡没人把你当哑巴", "你不說話 沒人把你當啞巴！",
        ]
        for text in variants {
            let decision = shipped.decide(text)
            #expect(decision.verdict == .block, "\(text)")
            #expect(decision.hits.first?.rule == "insult.mute-mockery", "\(text)")
            let scalars = Array(text.unicodeScalars)
            let hit = decision.hits.first!
            #expect(scalars[hit.start] == "你" && ["巴"].contains(scalars[hit.end - 1]), "\(text)")
        }
        #expect(shipped.decide("我仿佛聽見了一群蚊子在嗡嗡嗡").verdict == .block)
        #expect(shipped.decide("面子是別人給的，臉是自己丟的").verdict == .block)
        #expect(shipped.decide("你最好永遠別來！有你不多無你不少！").verdict == .block)
        #expect(shipped.decide("Ｓ Ｂ").verdict == .block)
    }

    @Test func fillerBoundLimitsHowFarWordsStretch() throws {
        let e = try engine(["t.yaml": pack(match: "words: [哑巴]"), "policy.yaml": "normalization: {max_filler: 2}"])
        #expect(e.decide("哑..巴").verdict == .block)
        #expect(e.decide("哑...巴").verdict == .allow)
    }

    @Test func latinWordsNeverMatchInsideLinksAddressesHandlesOrHashes() throws {
        let e = try engine(["t.yaml": pack(match: "words: [cnm, sb, tmd, 250]", extra: "")])
        for text in ["详情见 www.gov.cn/m/index.html", "详情见www.gov.cn/m/index.html。", "请访问 https://example.org/cn/m/sb",
                     "来信请寄 sb2024@qq.com", "转发 @tmd_official 的微博", "官网 gov.cn/m/ 查询", "短链 t.cn/A6sb250x",
                     "校验码 9f2c4e1a7b3d5c6e8f0a1b2c3d4e5f6a sb"] {
            let verdict = e.decide(text).verdict
            #expect(verdict == (text.hasSuffix(" sb") ? .block : .allow), "\(text)")
        }
        // www. makes a link even where no host name follows (a last label with a digit).
        #expect(e.decide("见 www.cnm-9 详情").verdict == .allow)
        for text in ["cnm", "c/n/m", "你个sb。", "tmd.", "sb@", "说你呢 sb,快走"] {
            #expect(e.decide(text).verdict == .block, "\(text)")
        }
        #expect(shipped.decide("详情见 www.gov.cn/m/index.html").verdict == .allow)
    }

    @Test func latinWordsNeedWordBoundaries() {
        #expect(shipped.decide("请使用USB接口").verdict == .allow)
        #expect(shipped.decide("jobs build").verdict == .allow)
        #expect(shipped.decide("你个sb").verdict == .block)
        #expect(shipped.decide("s b!").verdict == .block)
    }

    @Test func hitsCarryScalarAndByteOffsetsOfTheOriginal() {
        let text = "😀👍 你就是个傻逼"
        let hit = shipped.decide(text).hits[0]
        #expect(hit.match == "傻逼")
        #expect(hit.start == 7 && hit.end == 9)
        #expect(hit.byteStart == Array(text.utf8).count - 6 && hit.byteEnd == Array(text.utf8).count)
    }

    @Test func catastrophicRegexEscalatesInsteadOfPassing() throws {
        let e = try engine(["t.yaml": pack(action: "block", match: "regex: '(a+)+$'"),
                            "policy.yaml": "limits: {match_limit: 10000}"])
        let decision = e.decide(String(repeating: "a", count: 5000) + "b")
        #expect(decision.verdict == .escalate)
        #expect(decision.errors.first?.rule == "t.rule")
        #expect(decision.errors.first?.message.contains("limit") == true)
    }

    @Test func invalidUTF8AndNULNeverCrashAndEscalate() {
        let bytes: [UInt8] = [0xFF] + Array("傻".utf8) + [0x00] + Array("逼".utf8) + [0xC3]
        let decision = bytes.withUnsafeBufferPointer { shipped.makeScanner().decide($0, id: .string("x")) }
        #expect(decision.verdict == .block)
        #expect(decision.errors.first?.message.contains("not valid UTF-8") == true)
        #expect(shipped.decide("").verdict == .allow)
        #expect(shipped.decide("\u{0}\u{0}").verdict == .allow)
    }

    @Test func hugeMessagesAreDecided() {
        let text = String(repeating: "办事大厅周一至周五开放。", count: 200_000) + "傻逼"
        let decision = shipped.decide(text)
        #expect(decision.verdict == .block)
        #expect(decision.hits.count == 1 && decision.hits[0].start == 2_400_000)
    }

    @Test func allWithinAndNot() throws {
        let match = """
        all:
          - words: [网传]
          - words: [停水]
          - not: {words: [辟谣]}
        within: 6
        """
        let e = try engine(["t.yaml": pack(action: "escalate", match: match)])
        #expect(e.decide("网传明天停水").verdict == .escalate)
        #expect(e.decide("网传 。。 明天停水").verdict == .escalate) // fillers do not count toward within
        #expect(e.decide("网传明天下午三点到五点停水").verdict == .allow)
        #expect(e.decide("网传明天会停水").verdict == .allow) // 7 characters: one past the window
        #expect(e.decide("网传明天停水，特此辟谣").verdict == .allow)
        #expect(e.decide("停水").verdict == .allow)
        let hit = e.decide("网传明天停水").hits
        #expect(hit.map { $0.start..<$0.end } == [0..<6])
    }

    @Test func regexGatedByWordsRunsOnlyWithTheWord() throws {
        let match = """
        all:
          - words: [身份证]
          - regex: '\\d{6}'
        """
        let e = try engine(["t.yaml": pack(action: "escalate", match: match)])
        #expect(e.decide("身份证号 123456").verdict == .escalate)
        #expect(e.decide("编号 123456").verdict == .allow)
    }

    @Test func foldedAndOriginalRegexViews() throws {
        let folded = try engine(["t.yaml": pack(match: "regex: 'call'")])
        #expect(folded.decide("打ＣＡＬＬ").hits.map(\.match) == ["ＣＡＬＬ"])
        let original = try engine(["t.yaml": pack(match: "regex: 'call'\non: original")])
        #expect(original.decide("打ＣＡＬＬ").verdict == .allow)
        #expect(original.decide("打call").hits.map { $0.start..<$0.end } == [1..<5])
    }

    @Test func scoresAndThresholds() throws {
        let e = Engine(ruleSet: Repo.shipped)
        let one = e.decide("震惊！")
        #expect(one.verdict == .allow && one.scores == ["rumour": 2])
        let both = e.decide("震惊！看到请紧急扩散")
        #expect(both.verdict == .escalate && both.scores["rumour"]! >= 4)
    }

    @Test func exceptionsSuppressAndExpire() throws {
        let policy = """
        exceptions:
          - rules: [t.*]
            match: {words: [慈善]}
            scope: message
            reason: charity events are announced with performers
          - rules: [t.rule]
            match: {words: [过期]}
            reason: old
            expires: 2000-01-01
        """
        let e = try engine(["t.yaml": pack(action: "escalate", match: "words: [明星]"), "policy.yaml": policy])
        #expect(e.decide("明星慈善演唱会").verdict == .allow)
        #expect(e.decide("明星慈善演唱会").suppressed.map(\.reason) == ["charity events are announced with performers"])
        #expect(e.decide("明星过期").verdict == .escalate)
        #expect(e.decide("明星").verdict == .escalate)
    }

    @Test func exceptionsCoverOnlyTheHitsTheirOwnMatchCoversUnlessScopedToTheMessage() throws {
        let rules = ["t.yaml": pack(match: "words: [黄片, 操你妈]")]
        let hitScope = try engine(rules.merging(["policy.yaml": """
            exceptions:
              - {rules: [t.rule], match: {words: [三黄片]}, reason: a medicine}
              - {rules: [t.rule], match: {words: [操]}, reason: a one-character entry}
            """]) { $1 })
        #expect(hitScope.decide("三黄片").verdict == .allow)
        #expect(hitScope.decide("三黄片").suppressed.map(\.reason) == ["a medicine"])
        let both = hitScope.decide("三黄片黄片")
        #expect(both.verdict == .block && both.hits.map(\.start) == [3])
        #expect(hitScope.decide("操你妈").verdict == .block)
        #expect(hitScope.decide("操场上的三黄片").verdict == .allow)
        let messageScope = try engine(rules.merging(["policy.yaml": """
            exceptions:
              - {rules: [t.rule], match: {words: [三黄片]}, scope: message, reason: a medicine}
            """]) { $1 })
        #expect(messageScope.decide("三黄片黄片").verdict == .allow)
        #expect(messageScope.decide("黄片").verdict == .block)
        #expect(loadProblems(rules.merging(["policy.yaml": "exceptions: [{rules: [t.rule], scope: message, reason: r}]"]) { $1 })
            .map(\.message) == ["'scope' only goes with 'match' (without match an exception covers the whole message)"])
    }

    @Test func maskSitsBetweenAllowAndEscalateAndStarsOnlyItsOwnSpans() throws {
        let files = ["t.yaml": pack(action: "mask", match: "words: [他妈的]"), "u.yaml": pack("u", action: "escalate", match: "words: [网传]"),
                     "v.yaml": pack("v", action: "escalate", match: "words: [明星]", extra: "    score: 1\n"),
                     "policy.yaml": "mask_with: \"*\""]
        let e = try engine(files)
        #expect(Verdict.allCases == [.allow, .mask, .escalate, .block])
        let mild = e.decide("这他妈的也太难了")
        #expect(mild.verdict == .mask)
        #expect(mild.masked(Array("这他妈的也太难了".utf8), with: "*") == "这***也太难了")
        #expect(e.decide("网传他妈的").verdict == .escalate)
        let spaced = "😀他 妈 的, 明星"
        #expect(e.decide(spaced).masked(Array(spaced.utf8), with: "＊") == "😀＊＊＊＊＊, 明星")
        #expect(loadProblems(["t.yaml": pack(action: "star", match: "words: [x]")]).map(\.message)
            == ["action must be 'block', 'escalate' or 'mask', not 'star'"])
        #expect(loadProblems(files.merging(["policy.yaml": "mask_with: \"a\\nb\""]) { $1 }).map(\.message) == ["mask_with must not contain a line break"])
    }

    /// Scalars at and above U+20000 go through the table too: tag characters and variation selectors
    /// are dropped, compatibility ideographs fold (U+2F804 is 你).
    @Test func supplementaryPlaneScalarsAreFoldedOrDropped() throws {
        let e = try engine(["t.yaml": pack(match: "words: [傻逼, 你去死]")])
        for text in ["傻\u{E0020}逼", "傻\u{E0100}逼", "傻\u{E007F}\u{E01EF}逼", "\u{2F804}去死"] {
            #expect(e.decide(text).verdict == .block, "\(text.unicodeScalars.map { String($0.value, radix: 16) })")
        }
    }

    @Test func anExceptionStillAppliesOnItsExpiryDayAndNotTheDayAfter() throws {
        let files = ["t.yaml": pack(action: "escalate", match: "words: [明星]"),
                     "policy.yaml": "exceptions: [{rules: [t.rule], reason: r, expires: 2026-06-30}]"]
        var options = EngineOptions()
        options.today = "2026-06-30"
        #expect(try engine(files, options: options).decide("明星").verdict == .allow)
        options.today = "2026-07-01"
        #expect(try engine(files, options: options).decide("明星").verdict == .escalate)
    }

    @Test func aReportingCueCountsOnlyWithinItsWindow() throws {
        let files = ["t.yaml": pack(match: "words: [哑巴]"), "policy.yaml": "reported_speech: {window: 5, cues: [回复]}"]
        let e = try engine(files)
        // The cue must lie wholly within five characters of the quote. 回复 plus three characters before
        // the quote: inside.
        let inside = e.decide("回复说了吧“哑巴”")
        #expect(inside.verdict == .escalate && inside.hits.first?.reported == true)
        // One character more: outside, and the quoted line is the account's own.
        #expect(e.decide("回复他说了吧“哑巴”").verdict == .block)
        // After the quote the same: within five characters, or not.
        #expect(e.decide("“哑巴”他说了回复").verdict == .escalate)
        #expect(e.decide("“哑巴”他说了吧回复").verdict == .block)
    }

    @Test func disabledPacksAreNotUsed() throws {
        let e = try engine(["t.yaml": pack(match: "words: [哑巴]"), "u.yaml": pack("u", match: "words: [蚊子]"),
                            "policy.yaml": "packs: [u]"])
        #expect(e.decide("哑巴").verdict == .allow)
        #expect(e.decide("蚊子").verdict == .block)
    }
}


/// The prefilters (a regex's ASCII start bytes, required bytes and the clauses read from its text; the
/// one-pass prescreen) skip work only where it cannot change a decision: the same with them on and off.
@Suite struct RegexPrefilterTests {
    static let patterns = [
        #"\d+(?:元|万元|亿元)"#, #"\d{4}年\d{1,2}月\d{1,2}日"#, #"第[一二三四五六七八九十百]+[章条款]"#,
        #"(?:加|\+)\s*(?:微信|v|vx|qq)\s*[a-z0-9_-]{5,}"#, #"(?<![乐笑])呵呵(?![大一]笑)"#, #"不转不是\p{Han}{1,6}"#,
        #"哑?巴"#, #"(?:哑|聋)*子"#, #"(?<name>说)话{0}"#, #"(?P<x>骂)人|滚"#, #"[^哑]巴"#, #"[哑聋a-c]+了"#,
        #"a\.b"#, #"(?i)SB"#, #"\Q哑巴\E"#, #"[[:alpha:]]{2}蛋"#, #"(哑|)巴"#, #"(?:你|您)(?:好|坏){1,}"#,
        #"傻[\x{903C}b]"#, #"(?=.*元)\d"#, #"說話"#, #"[說说]话"#, #"x{2,}|y+"#, #"\\d哑"#, #"①\d"#,
        #"(?<![不没])(?:讨厌|看不起(?!你))(?:死|那些)?(?:黑人|(?:河南|外地)人|gay)"#, #"跑分|(?<!用)卡商(?![户场])|料主|[一二]类卡"#,
        #"说(?=话)话了|不转(?:不是)?中国人"#, #"哑哑?巴{2}|说{2}话"#,
    ]
    /// Fragments that match the patterns above, so random messages reach the regexes' full matches.
    static let fragments = ["3元", "12万元", "2018年1月2日", "第三章", "加微信abcde1", "+ vx abc_12", "不转不是中国人",
                            "a.b", "ab蛋", "xx", "y", "\\d哑", "①1", "①１", "說話", "哑巴", "乐呵呵", "呵呵大笑", "骂人",
                            "當(dāng)", "㈱", "哑\u{200B}巴", "S B", "(x)", "讨厌黑人", "看不起外地人", "讨，厌河南人", "不讨厌gay",
                            "跑分", "卡商户", "料主", "一类卡", "说话了", "不转中国人", "哑巴巴", "说说话"]
    static let palette = Array("元万亿年月日第一二三章条款加+微信vxq abc_-0123456789乐笑呵大不转是哑聋巴子说話话骂人滚了.你您好坏傻逼b說SBsb①１２，、 \u{3000}😀（讨厌看起黑河南外地gy跑分卡商户场料主类中国没用")

    @Test func prefilterNeverChangesDecisions() throws {
        var yaml = regexPack(Self.patterns.map { ($0, "folded") })
        // Words too, so the prescreen (one pass, no tables) meets word ends, fillers, annotations, expansions.
        yaml += "  - id: p.words\n    title: t\n    description: d\n    action: escalate\n    match: {words: [哑巴, 当, sb, 株式]}\n"
        yaml += "    examples: {match: [\"⟦哑巴⟧\"], no_match: [\"y\"]}\n"
        let decisions = try decideWithAndWithoutPrefilters(["p.yaml": yaml], fragments: Self.fragments, palette: Self.palette,
                                                           maxNoise: 6, seed: 2018)
        let matched = Set(decisions.flatMap { $0.hits.map(\.rule) })
        // The messages reach every rule that can match (the comparison is not vacuous); `說話` and `①\d`
        // cannot, as folding rewrites those characters in the view the regexes see.
        #expect(matched.count == Self.patterns.count - 1, "\(matched.sorted())")
    }

    /// Clauses of punctuation and emoji (【…】, ⚠) are looked up in the bytes: on the original view always,
    /// on the folded view when folding changed nothing; a character folding changes (！ → !) gives none.
    @Test func punctuationAndEmojiClausesNeverChangeDecisions() throws {
        let yaml = regexPack([("^[^\\p{L}]{0,3}【[^【】]{1,4}】|【[^【】]{1,4}】$", "folded"), ("[⚠🙏]", "original"),
                              ("！{2}|⚠", "folded"), ("【x", "original")])
        let fragments = ["【店】", "【ｘ】x", "【x", "⚠", "🙏", "！！", "!!", "【【", "】【店】"]
        let palette = Array("【】店xｘ⚠🙏！! 你好，。😀\u{200B}")
        let decisions = try decideWithAndWithoutPrefilters(["p.yaml": yaml], fragments: fragments, palette: palette,
                                                           maxNoise: 4, seed: 11)
        #expect(Set(decisions.flatMap { $0.hits.map(\.rule) }).count == 4)
    }

    /// Words with fillers, Traditional forms, annotations, expansions and zero-width characters between
    /// them, and a regex the prescreen can rule out: most messages are settled by the prescreen, the
    /// rest by the full path, and both agree with the full path alone.
    @Test func prescreenAgreesWithTheFullPath() throws {
        let yaml = pack(action: "escalate", match: "any:\n  - words: [哑巴, 当面, sb, 株式会社, 你不说话]\n  - regex: 'https?://\\S+'")
        // Words under `not` cannot make a rule match by themselves: the prescreen settles messages with only those.
        let context = pack("u", action: "block", match: "all:\n  - words: [骗子, 刷单]\n  - not: {words: [警惕, 诈骗]}")
        // Only one child of `all` triggers it (the one with the longer words): 你 alone does not need the full path.
        let pair = pack("v", action: "escalate", match: "all:\n  - words: [你, 您]\n  - words: [刷单]\nwithin: 6")
        // A regex that spells out 姓名 triggers its `all` instead of the shorter words next to it.
        let form = pack("w", action: "escalate", match: "all:\n  - regex: '姓名\\s*[:：]\\s*\\p{Han}{2}'\n  - words: [你, 电话]\nwithin: 12")
        let palette = Array("哑巴啞当當面你您不说說话話没人株式会社㈱sSbB (（)）dāng。，!！😀\u{200B}\u{3000}http:/x警惕诈骗骗子刷单姓名：:电<>&#;\u{3164}")
        let fragments = ["哑巴", "啞 巴", "哑\u{200B}巴", "當(dāng)面", "当（dang）面", "你不說話", "ＳＢ", "s b", "sb", "bsb",
                         "株式会社", "㈱会社", "http://x", "", "面当", "警惕", "诈骗", "骗子", "警惕骗子", "刷单诈骗", "刷 单",
                         "姓名：张三 电话", "姓 名:李四你", "你好姓名",
                         // issue 12: markup, blank runs, default-ignorable runs
                         "哑&#x5df4;", "&#21713;巴", "<b>哑</b>巴", "哑<i class=\"x\">巴", "哑     巴", "哑\u{3164}\u{3164}\u{3164}\u{3164}\u{3164}巴", "s&#98;", "&lt;b&gt;"]
        let decisions = try decideWithAndWithoutPrefilters(["t.yaml": yaml, "u.yaml": context, "v.yaml": pair, "w.yaml": form], fragments: fragments,
                                                           palette: palette, maxNoise: 8, seed: 7, insert: true)
        let verdicts = Dictionary(grouping: decisions, by: \.verdict).mapValues(\.count)
        #expect(verdicts[.allow, default: 0] > 1000 && verdicts[.escalate, default: 0] > 1000 && verdicts[.block, default: 0] > 100,
                "\(verdicts)")
    }
}

/// The digit prefilter (a regex such as `1[3-9]\d{9}` needs 11 digits, in a row; a message with fewer
/// skips it) counts digits the way either view sees them: fullwidth, circled and
/// parenthesized numbers, other scripts' digits (2-, 3- and 4-byte UTF-8), zero-width characters inside a
/// run. Decisions are the same with it on and off.
@Suite struct DigitRunPrefilterTests {
    static let patterns: [(String, String)] = [
        (#"(?<!\d)1[3-9]\d{9}(?!\d)"#, "folded"), (#"(?<!\d)1[3-9]\d{9}(?!\d)"#, "original"),
        (#"\d{3,4}-\d{7,8}"#, "folded"), (#"[a-z]{3,}\d{3,}"#, "folded"),
        (#"(?<![0-9a-z])[1-9]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[0-9x](?![0-9a-z])"#, "folded"),
        (#"(?<![0-9])(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?![0-9])"#, "folded"),
        (#"\d{5}"#, "original"), (#"(?:\d\d|x)\d{3}"#, "folded"), (#"\d(?=\d{3})\d{3}"#, "folded"),
        (#"^\d{4}$"#, "folded"), (#"\b\d{6}\b"#, "original"), (#"[0-9]{4}"#, "original"),
        (#"\d{2}(?:\d|a)\d{2}"#, "folded"), (#"(?:12|3)\d{4}"#, "folded"), (#"\d{10}"#, "original"),
        (#"[1-9][0-9]{10}"#, "folded"), (#"\d{7}"#, "folded"), (#"\d{4,}?"#, "original"), (#"\d{3}\d?\d{3}"#, "folded"),
        (#"(?:\d{2}[ -]){2}\d{3}"#, "folded"), (#"\d{3}(?:x\d)?-\d{3}"#, "original"),
    ]
    static let fragments = ["13812345678", "１３８１２３４５６７８", "138 1234 5678", "+86 138-1234-5678", "110101199003077777",
                            "11010119900307777x", "①②③④⑤⑥⑦⑧⑨⑩⑪", "⑽⑾⑿", "⒈⒉⒊⒋", "٣٤٥٦٧٨٩٠١٢٣", "३४५६७८९०१२३",
                            "𝟏𝟑𝟖𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖", "1\u{200B}3812345678", "1234\u{200D}567", "12:00", "2018年1月2日", "abc12345",
                            "010-12345678", "6222 0212 3456 7890", "當(dāng)1234", "x123", "1a22", "1234", "123456", "3123456", "12 34 567", "12-３４-567",
                            "123-456", "123x4-567", "1 2 3"]
    static let palette = Array("0123456789０１２３４ ：:-+x a b 你好年①⑩⑽٣३𝟏\u{200B}\u{00AD}()（")

    @Test func digitRunsNeverChangeDecisions() throws {
        let yaml = regexPack(Self.patterns)
        let decisions = try decideWithAndWithoutPrefilters(["p.yaml": yaml], fragments: Self.fragments, palette: Self.palette,
                                                           maxNoise: 5, seed: 11)
        let matched = Set(decisions.flatMap { $0.hits.map(\.rule) })
        let allowed = decisions.filter { $0.verdict == .allow }.count
        // Every rule matches somewhere and many messages match none: both sides of the prefilter are met.
        #expect(matched.count == Self.patterns.count, "\(Set(Self.patterns.indices.map { "p.r\($0)" }).subtracting(matched).sorted())")
        #expect(allowed > 500, "\(allowed)")
    }
}

@Suite struct LargeAlphabetTests {
    /// Packs whose words use more than 65,535 distinct characters still match each character as itself
    /// (the automaton's 16-bit symbol table gives way to a 32-bit one).
    @Test func moreThan65535DistinctCharacters() throws {
        // Extension B and the unified block first, so Extension A (another pack, another rule) gets the
        // symbol ids above 65,535.
        func words(_ scalars: [Int]) -> String { scalars.map { String(Unicode.Scalar(UInt32($0))!) }.joined(separator: ", ") }
        let e = try engine(["t1.yaml": pack("t1", action: "escalate", match: "words: [\(words(Array(0x20000...0x2A6DF) + Array(0x4E00...0x9FFF)))]"),
                            "t2.yaml": pack("t2", action: "escalate", match: "words: [\(words(Array(0x3400...0x4DBF)))]")])
        for (probe, rule) in [("\u{3400}", "t2.rule"), ("\u{4DBF}", "t2.rule"), ("x\u{4567}y", "t2.rule"), ("\u{9FFF}", "t1.rule"),
                              ("\u{20000}", "t1.rule"), ("\u{2A6DF}", "t1.rule")] {
            let hits = e.decide(probe).hits
            #expect(hits.map(\.rule) == [rule], "\(probe)")
        }
        #expect(e.decide("abc").hits.isEmpty)
    }
}
