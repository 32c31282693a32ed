import Foundation
import ReplyGuard
import Testing

/// The evasion families of issue 12, each on the seed lines: what the shipped packs catch by default and
/// what a rule's opt-in `evasions` add. Each test fails without the change it names.
@Suite struct EvasionFamilyTests {
    let shipped = Engine(ruleSet: Repo.shipped)
    static let seedLines = ["你不说话没人把你当哑巴", "我仿佛听见了一群蚊子在嗡嗡嗡", "面子是别人给的，脸是自己丢的。", "你最好永远别来！有你不多无你不少！"]

    func spread(_ text: String, _ filler: (Int) -> String) -> String {
        text.enumerated().map { String($0.element) + ($0.offset == text.count - 1 ? "" : filler($0.offset)) }.joined()
    }

    /// A run of blanks is one filler: five spaces (or tabs, line breaks, ideographic spaces) between every
    /// character stretch a word no further than one.
    @Test func aRunOfBlanksIsOneFiller() throws {
        for line in Self.seedLines {
            let text = spread(line) { ["     ", " \t \n ", "\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}", "\u{2800}\u{2800}  \u{2800} "][$0 % 4] }
            #expect(shipped.decide(text).verdict == .block, "\(text)")
        }
        let e = try engine(["t.yaml": pack(match: "words: [哑巴]")])
        #expect(e.decide("哑          巴").verdict == .block)
        #expect(e.decide("哑   .   巴").verdict == .block)          // blank run, dot, blank run: 3 fillers
        #expect(e.decide("哑  .  .  巴").verdict == .allow)         // three runs and two dots: 5
        #expect(e.decide("哑.-.-.巴").verdict == .allow)            // 5 punctuation marks: 5 fillers
        // The hit spans the blanks, back to the original characters.
        let hit = try #require(e.decide("x哑     巴y").hits.first)
        #expect(hit.start == 1 && hit.end == 8)
    }

    /// Default-ignorable code points are dropped whatever their category: five zero-width characters of
    /// any kind (U+200B, U+2060, U+FEFF, the Hangul fillers U+3164, U+115F, U+FFA0, U+180E) between every
    /// character.
    @Test func fiveZeroWidthCharactersOfAnyKind() {
        let zeroWidth = ["\u{200B}", "\u{200C}", "\u{200D}", "\u{2060}", "\u{FEFF}", "\u{180E}", "\u{3164}", "\u{00AD}",
                         "\u{115F}", "\u{1160}", "\u{FFA0}", "\u{034F}", "\u{17B4}"]
        for (k, line) in Self.seedLines.enumerated() {
            let text = spread(line) { n in (0..<5).map { zeroWidth[(k + n + $0 * 3) % zeroWidth.count] }.joined() }
            #expect(shipped.decide(text).verdict == .block, "\(text.unicodeScalars.map { String($0.value, radix: 16) })")
        }
    }

    /// HTML: a tag is one filler, character references (hex, decimal, named) are decoded, and hits map
    /// back to the whole reference in the original.
    @Test func htmlTagsAreFillersAndReferencesAreDecoded() throws {
        for line in Self.seedLines {
            let chars = Array(line)
            let half = chars.count / 2
            let tagged = String(chars[..<half]) + "<span style=\"color:#c00\">" + String(chars[half...]) + "</span>"
            let spans = chars.map { "<span>\($0)</span>" }.joined()
            let refs = chars.enumerated().map { $0.offset % 2 == 0 ? "&#x\(String($0.element.unicodeScalars.first!.value, radix: 16));"
                                                                    : "&#\($0.element.unicodeScalars.first!.value);" }.joined()
            for text in [tagged, spans, refs] { #expect(shipped.decide(text).verdict == .block, "\(text)") }
        }
        let e = try engine(["t.yaml": pack(match: "words: [哑巴, a&b]")])
        let hit = try #require(e.decide("x&#x54d1;&#24052;y").hits.first)
        #expect(hit.start == 1 && hit.end == 17 && hit.match == "&#x54d1;&#24052;")
        #expect(e.decide("a&amp;b").verdict == .block)
        #expect(e.decide("<b>哑</b><i>巴</i>").hits.first?.match == "哑</b><i>巴")
        // Not markup (its letters and digits stay): an unknown or unterminated reference, a tag across a
        // line break, a reference to NUL or a surrogate.
        for text in ["哑&foo;巴", "哑&#x54d1巴", "哑<b\n>巴", "哑&#0;巴", "哑&#xD800;巴"] {
            #expect(e.decide(text).verdict == .allow, "\(text)")
        }
        // Folded-view regexes see references decoded and tags as written (a link in href is still there).
        let r = try engine(["p.yaml": regexPack([("哑巴", "folded"), ("t\\.me/\\w+", "folded"), ("&#", "original")])])
        #expect(Set(r.decide("&#x54d1;巴 <a href=\"https://t.me/abc\">点</a>").hits.map(\.rule)) == ["p.r0", "p.r1", "p.r2"])
    }

    /// JSON string escapes (a reply whose content is JSON is shown by a client that parses it): `\uXXXX`
    /// (surrogate pairs as one character) and the one-letter escapes are read as the characters they stand
    /// for, decoded once; hits map back to the whole escape; the prescreen agrees with the full path.
    @Test func jsonEscapesAreDecoded() throws {
        func escaped(_ text: String) -> String { text.unicodeScalars.map { $0.value < 0x80 ? String($0) : String(format: "\\u%04x", $0.value) }.joined() }
        for line in Self.seedLines {
            #expect(shipped.decide(escaped(line)).verdict == .block, "\(escaped(line))")
            #expect(shipped.decide("{\"answer\": \"\(escaped(line))\"}").verdict == .block, "\(line)")
        }
        let e = try engine(["t.yaml": pack(match: "words: [哑巴, 𠮷蛋, sb]")])
        let hit = try #require(e.decide("x\\u54d1\\u5DF4y").hits.first)
        #expect(hit.start == 1 && hit.end == 13 && hit.match == "\\u54d1\\u5DF4")
        #expect(e.decide("\\ud842\\udfb7\\u86cb").verdict == .block)  // a surrogate pair is one character
        for (escape, character) in [("\\t", "\t"), ("\\n", "\n"), ("\\r", "\r"), ("\\\"", "\""), ("\\/", "/")] {
            for (a, b) in [("哑", "巴"), ("s", "b")] {
                #expect(e.decide(a + escape + b).verdict == e.decide(a + character + b).verdict, "\(a + escape + b)")
            }
        }
        // Not escapes (their letters and digits stay): decoded once, too few hex digits, no escape at all.
        for text in ["\\\\u54d1\\\\u5df4", "\\u54d\\u5df4", "哑\\x巴", "\\u\u{15}\u{14}d1\\u5df4"] {
            #expect(e.decide(text).verdict == .allow, "\(text)")
        }
        // NUL and a lone surrogate are what a client shows: nothing, or U+FFFD.
        #expect(e.decide("哑\\u0000巴").verdict == e.decide("哑\u{0}巴").verdict)
        for text in ["哑\\ud800巴", "哑\\uDC00巴"] { #expect(e.decide(text).verdict == e.decide("哑\u{FFFD}巴").verdict && e.decide(text).verdict == .block, "\(text)") }
        let palette = Array("哑巴sb\\u54d15df4ntr\"/ {}:")
        _ = try decideWithAndWithoutPrefilters(["t.yaml": pack(match: "words: [哑巴, sb]")], fragments: ["\\u54d1\\u5df4", "\\u54D1巴", "哑\\n巴", "s\\tb", "\\\\u54d1"],
                                               palette: palette, maxNoise: 5, seed: 21, insert: true, count: 2000)
    }

    /// The prescreen (one pass, no tables) sends markup to the full path: decisions agree with the
    /// prefilters on and off on generated messages with tags, references, blank runs and zero-width runs.
    @Test func prescreenAgreesOnMarkupBlanksAndZeroWidth() throws {
        let yaml = pack(action: "escalate", match: "any:\n  - words: [哑巴, 你不说话, sb]\n  - regex: '(?<!\\d)1[3-9]\\d{9}(?!\\d)'\n  - regex: '<a\\s'\n    on: original")
        let fragments = ["哑巴", "哑&#x5df4;", "&#21713;巴", "<b>哑</b>巴", "哑<span class=\"x\">巴", "哑     巴", "哑\u{3164}\u{3164}\u{3164}\u{3164}\u{3164}巴",
                         "你<i>不</i>说&amp;话", "s&#98;", "&lt;a href&gt;", "<a href=x>", "138&#49;2345678", "13812345678", "1&#51;812345678",
                         "哑\t\n \u{3000}  巴", "s  \u{2800}  b"]
        let palette = Array("哑巴你不说话sb<>/&#;x1358 \u{3000}\u{3164}\u{200B}ampltg=\"ia")
        let decisions = try decideWithAndWithoutPrefilters(["t.yaml": yaml], fragments: fragments, palette: palette,
                                                           maxNoise: 6, seed: 12, insert: true)
        let verdicts = Dictionary(grouping: decisions, by: \.verdict).mapValues(\.count)
        #expect(verdicts[.allow, default: 0] > 500 && verdicts[.escalate, default: 0] > 500, "\(verdicts)")
        // Found by the normalizer fuzz target: Chinese characters inside a tag are not kept (the tag is a
        // filler) but the folded view keeps a tag with text a reader sees (a tooltip) as written, so a regex
        // clause of 加 must not be ruled out by the automaton's reading. A tag nobody sees is nothing there.
        var off = EngineOptions()
        off.prefilter = false
        let shippedOff = Engine(ruleSet: Repo.shipped, options: off)
        for text in ["<spa 加Ｖ：ｓｈｏｅ８８８ span>", "<a title=\"加v:shoe888\">x</a>", "<b 加微信abcdef1>"] {
            let a = shipped.decide(text), b = shippedOff.decide(text)
            #expect(a.hits == b.hits && a.verdict == b.verdict, "\(text)")
            #expect(a.hits.isEmpty == !text.contains("title"), "\(text)")
        }
    }

    /// The opt-in `pinyin` evasion: a word spelled out in toneless pinyin, with or without fillers between
    /// the syllables, as a whole Latin word; the shipped seed-line rules opt in.
    @Test func pinyinSpelledOutInFull() throws {
        for text in ["ni bu shuo hua mei ren ba ni dang ya ba", "NiBuShuoHua, mei-ren-ba-ni-dang-ya-ba", "wo fang fu ting jian le yi qun wen zi zai weng weng weng",
                     "mian zi shi bie ren gei de, lian shi zi ji diu de", "ni zui hao yong yuan bie lai! you ni bu duo wu ni bu shao!"] {
            #expect(shipped.decide(text).verdict == .block, "\(text)")
        }
        let yaml = pack(match: "words: [哑巴, 打call, 当]", extra: "    evasions: [pinyin]\n")
        let e = try engine(["t.yaml": yaml])
        #expect(e.decide("ni shi ya ba").verdict == .block)
        #expect(e.decide("wei ta DA CALL").verdict == .block)
        #expect(e.decide("yabai").verdict == .allow)          // a whole Latin word only
        #expect(e.decide("mayaba").verdict == .allow)
        #expect(e.decide("dang").verdict == .allow)           // one character is not spelled out
        let plain = try engine(["t.yaml": pack(match: "words: [哑巴]")])
        #expect(plain.decide("ni shi ya ba").verdict == .allow)  // opt-in
        #expect(loadProblems(["t.yaml": pack(match: "words: [哑巴]", extra: "    evasions: [pin-yin]\n")]).first?.message.contains("pinyin-initials, pinyin") == true)
        // The prescreen sends spelled-out words to the full path like any other word.
        let palette = Array("yabndgcl 你哑巴,.")
        _ = try decideWithAndWithoutPrefilters(["t.yaml": yaml], fragments: ["ya ba", "yaba", "da call", "dacall", "ya-ba-"], palette: palette,
                                               maxNoise: 5, seed: 3, count: 2000)
    }

    /// Numbers written another way: dingbat and double-circled digits fold to digits by default (as ①
    /// does), for words and regexes; the opt-in `numerals` evasion lets a word's numerals be digits,
    /// Chinese or financial numerals.
    @Test func numeralsWrittenAnotherWay() throws {
        #expect(Normalizer().normalize("❶➀➊⓵⓿⓫❿🄋").keptString == "111101110" + "0")
        for text in ["你就是个2百5", "你个贰佰伍", "多你1个不多，少你1个不少", "你3天2头投诉有意思吗", "亲，莆田鞋❶比❶做工，私聊下单包邮", "高仿耐克鞋壹比壹，加微信下单"] {
            #expect(shipped.decide(text).verdict == .block, "\(text)")
        }
        #expect(shipped.decide("联系人手机❶❸❽❶❷❸❹❺❻❼❽").hits.contains { $0.rule == "privacy.mobile-number" })
        #expect(shipped.decide("电话 ⓵⓷⓽ ⓵⓶⓷⓸ ⓹⓺⓻⓼").hits.contains { $0.rule == "privacy.mobile-number" })
        let yaml = pack(match: "words: [下三滥, 二货, 十三点]", extra: "    evasions: [numerals]\n")
        let e = try engine(["t.yaml": yaml])
        for text in ["下3滥", "下叁滥", "下❸滥", "下㈢滥", "拾叁点", "十3点"] { #expect(e.decide(text).verdict == .block, "\(text)") }
        // A two-character word gets no digit variant (list numbering), and 二 is never written 两.
        for text in ["2、货物已发出", "两货车", "下33滥"] { #expect(e.decide(text).verdict == .allow, "\(text)") }
        let plain = try engine(["t.yaml": pack(match: "words: [下三滥]")])
        #expect(plain.decide("下3滥").verdict == .allow)     // opt-in
        // A word of many numerals (3^45 combinations overflowed an Int and crashed the load; found by
        // fuzzing): only the words that write every numeral one way.
        let long = String(repeating: "三", count: 45)
        let many = try engine(["t.yaml": pack(match: "words: [下\(long)滥]", extra: "    evasions: [numerals]\n")])
        #expect(many.decide("下\(String(repeating: "3", count: 45))滥").verdict == .block)
        #expect(many.decide("下\(String(repeating: "叁", count: 45))滥").verdict == .block)
        #expect(many.decide("下3\(String(repeating: "三", count: 44))滥").verdict == .allow)
        let palette = Array("下三3叁❸㈢滥二2贰货十拾点 、1")
        _ = try decideWithAndWithoutPrefilters(["t.yaml": yaml, "p.yaml": regexPack([(#"(?<!\d)1[3-9]\d{9}(?!\d)"#, "folded"), (#"\d{3}"#, "original")])],
                                               fragments: ["下3滥", "下㈢滥", "拾叁点", "❶❸❽❶❷❸❹❺❻❼❽",
                                                           "⓵⓷⓽⓵⓶⓷⓸⓹⓺⓻⓼", "❿❿❿❿❿❶", "13812345678"],
                                               palette: palette, maxNoise: 5, seed: 5, count: 3000)
    }

    /// The opt-in `stretched-letters` evasion: a run of one Latin letter in the message stands for a run at
    /// least as long in the word; hits cover the whole runs.
    @Test func stretchedLetters() throws {
        for text in ["fuuuuck you", "fuckkkk", "你就是个sbbbbb", "NMSLLLLL", "Fuuuucking 客服"] {
            #expect(shipped.decide(text).verdict == .block, "\(text)")
        }
        #expect(shipped.decide("今晚一起为这位嘻哈歌手打caaaall吧！").verdict == .escalate)
        let yaml = pack(match: "words: [fuck, 打call, good]", extra: "    evasions: [stretched-letters]\n")
        let e = try engine(["t.yaml": yaml])
        let hit = try #require(e.decide("x fuuuckkk y").hits.first)
        #expect(hit.start == 2 && hit.end == 10 && hit.match == "fuuuckkk")
        for text in ["FUUUCK", "fuckkkk!", "打caaall", "打calllll", "goooood", "f\u{200B}uuuck"] { #expect(e.decide(text).verdict == .block, "\(text)") }
        // A run shorter than the word's (cal is not call, god is not good), a word inside a longer one,
        // fillers between the repeats, and letters that are not repeated at all.
        for text in ["打cal", "打caaal", "god", "gooodness", "fuuuckers", "fu u uck", "打 c a l"] {
            #expect(e.decide(text).verdict == .allow, "\(text)")
        }
        let plain = try engine(["t.yaml": pack(match: "words: [fuck]")])
        #expect(plain.decide("fuuuuck").verdict == .allow)  // opt-in
        // The prescreen sends repeated letters to the full path when a rule opts in.
        let palette = Array("fuckgodal打 .\u{200B}ＦＵ")
        _ = try decideWithAndWithoutPrefilters(["t.yaml": yaml], fragments: ["fuuuck", "fuckkk", "goood", "打caaall", "ｆｕｕｕｃｋ", "fuck", "cal"],
                                               palette: palette, maxNoise: 5, seed: 9, insert: true, count: 3000)
    }

    /// The incident lines of insult and hostile (the four seed lines and 自贡's shorter mute line), each
    /// twice with one character swapped for a homophone — where a swap hides the line from the shorter
    /// words, except in 古宣's line, whose two halves are each a word.
    static let homophoneLines = ["你不说话没人把你当雅巴", "你不说话没人把你当哑八", "不说话没人把你当亚巴", "不说话没人把你当哑吧",
                                 "我仿佛听见了一群闻子在嗡嗡嗡", "我仿佛听见了一群文子在嗡嗡嗡", "面子是别人给的，脸是自几丢的。",
                                 "面子是别人给的，连是自己丢的。", "你醉好永远别来！有你不多无你不少！", "你最好永远别来！有你不多吴你不少！"]

    /// The opt-in `homophones` evasion: a word of eight or more characters with one Chinese character
    /// swapped for another of the same toneless reading, found through the word's halves and verified;
    /// the shipped incident-line rules opt in.
    @Test func oneCharacterSwappedForAHomophone() throws {
        for text in Self.homophoneLines { #expect(shipped.decide(text).verdict == .block, "\(text)") }
        let yaml = pack(match: "words: [你不说话没人把你当哑巴, 一群蚊子在嗡嗡嗡]", extra: "    evasions: [homophones]\n")
        let e = try engine(["t.yaml": yaml])
        // Either half may hold the swap, at the word's edges too; fillers, Traditional characters and
        // annotations as for the word itself; the hit maps back to the original text.
        for text in ["泥不说话没人把你当哑巴", "你不说话没人把你当哑八", "你布说话，没人把你当哑巴", "一裙蚊子在嗡嗡嗡", "一群蚊子在嗡嗡翁"] {
            #expect(e.decide(text).verdict == .block, "\(text)")
        }
        let hit = try #require(e.decide("x你不說話沒人把你當(dāng)雅巴y").hits.first)
        #expect(hit.start == 1 && hit.end == 18 && hit.match == "你不說話沒人把你當(dāng)雅巴")
        #expect(e.decide("答：泥不说话没人把你当哑巴。").hits.map(\.match) == ["泥不说话没人把你当哑巴"])
        // Not a homophone (傻 is sha, 虫 chong), two swaps, a letter for a character, a character inserted
        // or left out, more fillers than a word allows.
        for text in ["你不说话没人把你当傻巴", "一群蚊虫在嗡嗡嗡", "你不说话没人把尼当雅巴", "你不说话没人把你当ya巴", "你不说话没人把你当个雅巴",
                     "你不说话没人把你雅巴", "你不说话没人把你当，，，，，雅巴"] {
            #expect(e.decide(text).verdict == .allow, "\(text)")
        }
        // Words shorter than eight characters are left alone.
        let short = try engine(["t.yaml": pack(match: "words: [蚊子在嗡嗡, 没人把你当哑巴]", extra: "    evasions: [homophones]\n")])
        #expect(short.decide("没人把你当哑巴").verdict == .block)
        for text in ["闻子在嗡嗡", "没人把你当雅巴"] { #expect(short.decide(text).verdict == .allow, "\(text)") }
        let plain = try engine(["t.yaml": pack(match: "words: [你不说话没人把你当哑巴]")])
        #expect(plain.decide("你不说话没人把你当雅巴").verdict == .allow)  // opt-in
        // A word shared with a rule that does not opt in: only the rule that opts in hits.
        let both = try engine(["t.yaml": yaml, "u.yaml": pack("u", match: "words: [你不说话没人把你当哑巴]")])
        #expect(both.decide("你不说话没人把你当雅巴").hits.map(\.rule) == ["t.rule"])
        #expect(Set(both.decide("你不说话没人把你当哑巴").hits.map(\.rule)) == ["t.rule", "u.rule"])
        // The prescreen sends a message with either half to the full path.
        let palette = Array("你泥尼不布说话没人把当哑雅亚巴八蚊闻群裙在再嗡翁子 ，傻")
        let decisions = try decideWithAndWithoutPrefilters(["t.yaml": yaml], fragments: ["你不说话没人把你当哑巴", "一群蚊子在嗡嗡嗡"], palette: palette,
                                                           maxNoise: 5, seed: 8, count: 4000)
        #expect(decisions.filter { $0.verdict == .block }.count > 2000)
    }

    /// How a regex skips fillers: the filler class between the characters, bounded like words
    /// (rules/README.md now offers `\F` for it); the shipped phone pattern takes fillers between its groups.
    @Test func regexOptsIntoFillerSkippingByItsPattern() throws {
        let pattern = #"(?<![0-9])1(?:[\s\p{P}\p{S}]{0,4}\d){10}(?![0-9])"#
        let yaml = "pack: p\nversion: 1.0.0\ncategory: p\ndescription: d\nrules:\n  - id: p.phone\n    title: t\n    description: d\n    action: escalate\n"
            + "    match: {regex: '\(pattern)', validate: cn-mobile}\n    examples: {match: [\"⟦13812345678⟧\"], no_match: [\"12345\"]}\n"
        let e = try engine(["p.yaml": yaml])
        for text in ["电话1381234===5678", "138.1234.5678", "1 3 8 1 2 3 4 5 6 7 8", "13812345678"] { #expect(e.decide(text).verdict == .escalate, "\(text)") }
        for text in ["1381234=====5678", "12345", "12812345678"] { #expect(e.decide(text).verdict == .allow, "\(text)") }
        #expect(shipped.decide("电话1381234===5678").hits.contains { $0.rule == "privacy.mobile-number" })
    }

    // MARK: The families of issue 17

    /// Held-out lines, ten per family, written for this test (not the rules' examples): each evades a
    /// shipped word that blocks when written plainly (``familyPlainLines``, same order).
    static let familyLines: [(family: String, lines: [String])] = [
        ("split-characters", ["你个犭句东西，少在这装", "去你女马的，别再发了", "氵衮出去，别在这里碍眼", "真是个贝戋人，懒得说", "你这个犭者脑子能不能想想",
                              "亻尔个废物，啥也干不成", "你这个女表子", "扌喿你女马", "简直是个畜牛生", "春虫虫货，看不懂字吗"]),
        ("emoji", ["你个🐶东西", "草泥🐴", "你是🐷吗，这都不懂", "真是个王八🥚", "去你🐴的", "🐷脑子一个", "你这个🐢儿子", "吃💩去吧", "你🐴死了", "一群🐶腿子"]),
        ("pinyin-mixed", ["赶紧gun蛋", "你怎么不去si啊", "你个sha逼", "cao你妈", "狗dong西", "你ma死了", "你个fei物", "真是个ren渣", "你是zhu吗", "王ba蛋"]),
        ("lookalikes", ["你就是个ѕв", "nмѕl", "ᴄɴᴍ，回个消息这么慢", "fυсκ you", "ᴛᴍᴅ怎么又是你", "ѕнιт", "Іdіοt", "ʙɪᴛᴄʜ", "ЅΒ", "ѕтυріd"]),
        ("sound-alikes", ["真是个王八旦", "这狗冻西又来了", "你怎么不去屎", "你妈似了", "你有柄吧", "草泥吗", "你个废勿", "脑子近水了", "死全佳", "猪脑紫"]),
        ("reversed", ["西东狗", "蛋八王", "了死妈你", "马泥草", "物废个你", "吧死去", "子脑猪", "家全死", "吗猪是你", "子崽兔"]),
    ]
    static let familyPlainLines: [[String]] = [
        ["你个狗东西，少在这装", "去你妈的，别再发了", "滚出去，别在这里碍眼", "真是个贱人，懒得说", "你这个猪脑子能不能想想", "你个废物，啥也干不成",
         "你这个婊子", "操你妈", "简直是个畜牲", "蠢货，看不懂字吗"],
        ["你个狗东西", "草泥马", "你是猪吗，这都不懂", "真是个王八蛋", "去你妈的", "猪脑子一个", "你这个龟儿子", "吃屎去吧", "你妈死了", "一群狗腿子"],
        ["赶紧滚蛋", "你怎么不去死啊", "你个傻逼", "操你妈", "狗东西", "你妈死了", "你个废物", "真是个人渣", "你是猪吗", "王八蛋"],
        ["你就是个sb", "nmsl", "cnm，回个消息这么慢", "fuck you", "tmd怎么又是你", "shit", "idiot", "bitch", "SB", "stupid"],
        ["真是个王八蛋", "这狗东西又来了", "你怎么不去死", "你妈死了", "你有病吧", "草泥马", "你个废物", "脑子进水了", "死全家", "猪脑子"],
        ["狗东西", "王八蛋", "你妈死了", "草泥马", "你个废物", "去死吧", "猪脑子", "死全家", "你是猪吗", "兔崽子"],
    ]

    /// Issue 17: each family of evasion real users use is caught on at least 8 of its 10 held-out lines by
    /// the shipped packs (before: 0 of 10 each), and the plain lines are blocked.
    @Test(arguments: 0..<6) func familyCaughtOnHeldOutLines(_ k: Int) {
        let (family, lines) = Self.familyLines[k]
        let caught = lines.filter { shipped.decide($0).verdict >= .escalate }
        #expect(caught.count >= 8, "\(family): \(caught.count) / 10; missed \(lines.filter { !caught.contains($0) })")
        for line in Self.familyPlainLines[k] { #expect(shipped.decide(line).verdict == .block, "\(line)") }
        // The prefilters never let them through: the same decisions with them off.
        var off = EngineOptions()
        off.prefilter = false
        let shippedOff = Engine(ruleSet: Repo.shipped, options: off)
        for line in lines {
            let a = shipped.decide(line), b = shippedOff.decide(line)
            #expect(a.hits == b.hits && a.verdict == b.verdict, "\(line)")
        }
    }

    /// Latin lookalikes fold to Latin for every rule and regex (UTS #39 skeletons, from ICU's data at
    /// table-generation time): Cyrillic, Greek, small capitals; CJK radical forms fold to the ideograph.
    @Test func lookalikesFoldToLatin() throws {
        #expect(Normalizer().normalize("ѕв nмѕl ᴄɴᴍ ΒΑΝ Іdіοt ⺡⺨⺅").keptString == "sbnmslcnmbanidiot氵犭亻")
        // Chinese, digits and ordinary Latin are untouched; 〇 stays a Chinese zero.
        #expect(Normalizer().normalize("二〇二四年 O0l1I").keptString == "二〇二四年o0l1i")
        let e = try engine(["t.yaml": pack(match: "words: [sb, cnm]"), "p.yaml": regexPack([("\\bnmsl\\b", "folded")])])
        for text in ["ѕв", "ЅΒ", "ᴄɴᴍ", "nмѕl"] { #expect(e.decide(text).verdict == .block, "\(text)") }
        let hit = try #require(e.decide("x ᴄɴᴍ y").hits.first)
        #expect(hit.start == 2 && hit.end == 5)
        // Word boundaries still hold: a lookalike inside a Latin word is a letter of that word.
        #expect(e.decide("uѕв").verdict == .allow)
        _ = try decideWithAndWithoutPrefilters(["t.yaml": pack(match: "words: [sb, cnm]")], fragments: ["ѕв", "ᴄɴᴍ", "sb", "ЅΒ"],
                                               palette: Array("sbcnmѕвᴄɴᴍΒ 你u."), maxNoise: 4, seed: 17, count: 2000)
    }

    /// The opt-in `split-characters` evasion: a word's characters written as their components (拆字).
    @Test func splitCharacters() throws {
        let yaml = pack(match: "words: [狗东西, 操你妈, 婊, 蠢货]", extra: "    evasions: [split-characters]\n")
        let e = try engine(["t.yaml": yaml])
        for text in ["犭句东西", "扌喿你妈", "操你女马", "扌喿你女马", "扌喿 你 女 马", "春虫虫货", "⺨句东西"] { #expect(e.decide(text).verdict == .block, "\(text)") }
        let hit = try #require(e.decide("x犭句东西y").hits.first)
        #expect(hit.start == 1 && hit.end == 5)
        // A one-character word is not split (女表 is in 男女表演), nor is a component alone a character.
        for text in ["男女表演", "句东西", "犭东西"] { #expect(e.decide(text).verdict == .allow, "\(text)") }
        let plain = try engine(["t.yaml": pack(match: "words: [狗东西]")])
        #expect(plain.decide("犭句东西").verdict == .allow)  // opt-in
        _ = try decideWithAndWithoutPrefilters(["t.yaml": yaml], fragments: ["犭句东西", "扌喿你女马", "春虫虫货"],
                                               palette: Array("犭句东西扌喿你女马春虫货 ，"), maxNoise: 4, seed: 21, count: 2000)
    }

    /// The opt-in `emoji` evasion: a character written as an emoji that stands for it or for a character
    /// of the same reading; as written, as a character reference, with fillers around it.
    @Test func emojiStandingForCharacters() throws {
        let yaml = pack(match: "words: [狗东西, 草泥马, 你妈死了, 王八蛋, 狗]", extra: "    evasions: [emoji]\n")
        let e = try engine(["t.yaml": yaml])
        for text in ["🐶东西", "🐕东西", "草泥🐴", "你🐴死了", "王八🥚", "🐶 东 西", "&#x1F436;东西", "&#128054;东西", "<b>🐶</b>东西"] {
            #expect(e.decide(text).verdict == .block, "\(text)")
        }
        let hit = try #require(e.decide("x🐶东西y").hits.first)
        #expect(hit.start == 1 && hit.end == 4 && hit.match == "🐶东西")
        #expect(e.decide("x&#x1F436;东西").hits.first?.match == "&#x1F436;东西")
        // An emoji alone is no word; an emoji of another reading, or too many fillers, is no match.
        for text in ["🐶", "看我家🐶", "🐱东西", "🐶，，，，，东西", "东西🐶"] { #expect(e.decide(text).verdict == .allow, "\(text)") }
        let plain = try engine(["t.yaml": pack(match: "words: [狗东西]")])
        #expect(plain.decide("🐶东西").verdict == .allow)  // opt-in
        _ = try decideWithAndWithoutPrefilters(["t.yaml": yaml], fragments: ["🐶东西", "草泥🐴", "你🐴死了", "&#x1F436;东西", "王八🥚"],
                                               palette: Array("🐶🐴🥚🐱东西草泥马你死了王八蛋 ，&#x;"), maxNoise: 4, seed: 22, count: 3000)
    }

    /// The opt-in `pinyin-mixed` evasion: some Chinese characters of a word spelled in toneless pinyin.
    @Test func pinyinMixedIntoWords() throws {
        let yaml = pack(match: "words: [滚蛋, 去死吧, 你妈死了]", extra: "    evasions: [pinyin-mixed]\n")
        let e = try engine(["t.yaml": yaml])
        for text in ["gun蛋", "滚dan", "去si吧", "qu死ba", "ni妈si了", "你MA死了", "你 ma 死了"] { #expect(e.decide(text).verdict == .block, "\(text)") }
        // Whole Latin words only (begun蛋糕, 去sing吧), and the full spelling is `pinyin`'s.
        for text in ["begun蛋糕", "去sing吧", "gundan", "去sib吧"] { #expect(e.decide(text).verdict == .allow, "\(text)") }
        let plain = try engine(["t.yaml": pack(match: "words: [滚蛋]")])
        #expect(plain.decide("gun蛋").verdict == .allow)  // opt-in
        _ = try decideWithAndWithoutPrefilters(["t.yaml": yaml], fragments: ["gun蛋", "去si吧", "ni妈si了"],
                                               palette: Array("gundasiq滚蛋去死吧你妈了 "), maxNoise: 4, seed: 23, count: 2000)
    }

    /// The opt-in `sound-alikes` evasion: one character of a short word (3–7) swapped for an everyday
    /// character of the same reading, or the same but for a retroflex initial.
    @Test func soundAlikesInShortWords() throws {
        let yaml = pack(match: "words: [狗东西, 你妈死了, 傻逼]", extra: "    evasions: [sound-alikes]\n")
        let e = try engine(["t.yaml": yaml])
        for text in ["狗冬西", "你妈屎了", "你妈似了", "泥妈死了", "狗东西"] { #expect(e.decide(text).verdict == .block, "\(text)") }
        // Two swaps, another reading, a two-character word (沙比 is a timber), a rare character.
        for text in ["狗冬希", "狗南西", "沙比", "你妈籹了"] { #expect(e.decide(text).verdict == .allow, "\(text)") }
        let plain = try engine(["t.yaml": pack(match: "words: [狗东西]")])
        #expect(plain.decide("狗冬西").verdict == .allow)  // opt-in
        _ = try decideWithAndWithoutPrefilters(["t.yaml": yaml], fragments: ["狗冬西", "你妈屎了"],
                                               palette: Array("狗冬东西你妈屎死了泥 "), maxNoise: 4, seed: 24, count: 2000)
    }

    /// The opt-in `reversed` evasion: a word of three or more characters written backwards.
    @Test func wordsWrittenBackwards() throws {
        let yaml = pack(match: "words: [狗东西, 你妈死了, 傻逼]", extra: "    evasions: [reversed]\n")
        let e = try engine(["t.yaml": yaml])
        for text in ["西东狗", "了死妈你", "了 死 妈 你"] { #expect(e.decide(text).verdict == .block, "\(text)") }
        #expect(e.decide("逼傻").verdict == .allow)   // two characters: too many real words read backwards
        let plain = try engine(["t.yaml": pack(match: "words: [狗东西]")])
        #expect(plain.decide("西东狗").verdict == .allow)  // opt-in
    }
}
