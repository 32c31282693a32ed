import ReplyGuard
import Testing

@Suite struct ValidatorTests {
    func accepts(_ v: Validator, _ s: String) -> Bool { v.accepts(Array(s.utf8)) }

    @Test func residentIDChecksBirthDateAndCheckCharacter() {
        #expect(accepts(.cnResidentID, "11010519491231002X"))
        #expect(accepts(.cnResidentID, "11010519491231002x"))
        #expect(accepts(.cnResidentID, "510108198506152013"))
        #expect(!accepts(.cnResidentID, "510108198506152014")) // wrong check digit
        #expect(!accepts(.cnResidentID, "510108198502302013")) // 30 February
        #expect(!accepts(.cnResidentID, "010108198506152013")) // region cannot start with 0
        #expect(!accepts(.cnResidentID, "51010819850615201"))  // too short
    }

    @Test func luhnAndMobile() {
        #expect(accepts(.luhn, "6222 0212 3456 7890 128"))
        #expect(!accepts(.luhn, "6222021234567890129"))
        #expect(!accepts(.luhn, "0000000000000000"))
        #expect(accepts(.cnMobile, "138-1234-5678"))
        #expect(accepts(.cnMobile, "+86 139 1234 5678"))
        #expect(!accepts(.cnMobile, "12345678901"))
    }

    @Test func privacyRulesUseTheValidators() {
        let engine = Engine(ruleSet: Repo.shipped)
        #expect(engine.decide("身份证号11010519491231002X").verdict == .escalate)
        #expect(engine.decide("身份证号11010519491231002Y").verdict == .allow)
        #expect(engine.decide("请拨打12345或0571-88881234").verdict == .allow)
        #expect(engine.decide("卡号6222021234567890128").hits.map(\.rule) == ["privacy.bank-card"])
    }
}

@Suite struct ReportedSpeechTests {
    let shipped = Engine(ruleSet: Repo.shipped)

    @Test func quotedInsultWithAReportingCueEscalatesInsteadOfBlocking() {
        let decision = shipped.decide("网友留言后，却收到了“你不说话没人把你当哑巴”的雷人回复")
        #expect(decision.verdict == .escalate)
        #expect(decision.hits.allSatisfy { $0.reported })
    }

    @Test func aReplyQuotingTheCitizensComplaintEscalatesInsteadOfBlocking() {
        for reply in ["您反映的“保安骂业主是猪脑子”问题，我们已转交物业核实处理。",
                      "关于您来信提到的“你是不是傻”这句话，我们已对该工作人员批评教育。",
                      "您在留言中所说的“滚出去”一事，街道已约谈当事人。",
                      "市民投诉窗口人员说“你不说话没人把你当哑巴”，我局高度重视。"] {
            let decision = shipped.decide(reply)
            #expect(decision.verdict == .escalate, "\(reply)")
            #expect(decision.hits.allSatisfy { $0.reported }, "\(reply)")
        }
        // said to the reader, no quotation: still blocked
        #expect(shipped.decide("你反映什么反映，你不说话没人把你当哑巴").verdict == .block)
    }

    @Test func wordsAThirdPersonSaidAfterACueAndAColonAreReported() {
        for news in ["该工作人员竟回复：你不说话没人把你当哑巴。", "事后，涉事民警对当事人说了一句“滚”，视频在网上疯传。",
                     "面对追问，那名客服回复称：你不说话没人把你当哑巴"] {
            let decision = shipped.decide(news)
            #expect(decision.verdict == .escalate, "\(news)")
            #expect(decision.hits.contains { $0.reported }, "\(news)")
        }
        // the first or second person, no third person, or a sentence between the colon and the line: still blocked
        #expect(shipped.decide("我回复：你不说话没人把你当哑巴").verdict == .block)
        #expect(shipped.decide("工作人员回复：已受理。你不说话没人把你当哑巴").verdict == .block)
        #expect(shipped.decide("备注：你不说话没人把你当哑巴").verdict == .block)
    }

    @Test func quotesAloneOrACueAloneDoNotDowngrade() {
        #expect(shipped.decide("“你不说话没人把你当哑巴”").verdict == .block)
        #expect(shipped.decide("回复：你不说话没人把你当哑巴").verdict == .block)
        #expect(shipped.decide("他说“好的”，你不说话没人把你当哑巴").verdict == .block)
    }

    @Test func policyCanTurnItOff() throws {
        let e = try engine(["t.yaml": pack(match: "words: [哑巴]"), "policy.yaml": "reported_speech: off"])
        #expect(e.decide("回复称“哑巴”").verdict == .block)
        let on = try engine(["t.yaml": pack(match: "words: [哑巴]")])
        #expect(on.decide("回复称“哑巴”").verdict == .escalate)
    }
}

@Suite struct EvasionTests {
    @Test func pinyinInitialsAreDerivedAndMatchAsWholeWords() throws {
        let e = try engine(["t.yaml": pack(match: "words: [你妈死了]", extra: "    evasions: [pinyin-initials]\n")])
        #expect(e.decide("nmsl").verdict == .block)
        #expect(e.decide("Ｎ Ｍ Ｓ Ｌ").verdict == .block)
        #expect(e.decide("nmslx").verdict == .allow)
        let plain = try engine(["t.yaml": pack(match: "words: [你妈死了]")])
        #expect(plain.decide("nmsl").verdict == .allow)
    }

    @Test func unknownEvasionIsALoadError() {
        let problems = loadProblems(["t.yaml": pack(match: "words: [x]", extra: "    evasions: [homophone]\n")])
        #expect(problems.first?.message.contains("unknown evasion 'homophone'") == true)
        #expect(problems.first?.message.contains("stretched-letters, homophones") == true)
        #expect(loadProblems(["t.yaml": pack(match: "words: [x]", extra: "    evasions: [homophones]\n")]).isEmpty)
    }

    @Test func pinyinAnnotationsAfterCharactersAreSkipped() {
        let normalizer = Normalizer()
        #expect(normalizer.normalize("把你當(dāng)啞（yǎ）巴").keptString == "把你当哑巴")
        #expect(normalizer.normalize("北京(beijing)").keptString == "北京beijing") // 7 letters: not an annotation
        #expect(normalizer.normalize("(ab)").keptString == "ab")                    // no character before it
        let hit = Engine(ruleSet: Repo.shipped).decide("沒人把你當(dāng)啞巴").hits[0]
        #expect(hit.match == "沒人把你當(dāng)啞巴")
    }
}
