import Foundation
import ReplyGuard
import Testing

@Suite struct CorpusTests {
    static let loaded = try! CorpusLoader.load(directory: Repo.root + "/corpus")

    @Test func shippedPacksMeetTheCorpusFloors() {
        let report = CorpusReport(records: CorpusTests.loaded.0, floors: CorpusTests.loaded.1, engine: Engine(ruleSet: Repo.shipped))
        #expect(report.failures.isEmpty, "\(report.failures)")
        let clean = report.rows.first { $0.category == CorpusLoader.cleanCategory }
        #expect((clean?.records ?? 0) >= 200)
        let news = report.rows.first { $0.category == CorpusLoader.newsCategory }
        #expect(news?.blockedAny == 0)
    }

    @Test func corpusCoversEveryMissionCategory() {
        let categories = Set(CorpusTests.loaded.0.map(\.category))
        for pack in Repo.shipped.packs { #expect(categories.contains(pack.category), "\(pack.category)") }
    }

    @Test func brokenCorpusLinesAreReportedWithFileAndLine() {
        let dir = makeRulesDirectory(["a.jsonl": """
        {"id":"x","text":"好","expect":"allow","category":"clean","source":"s"}
        {"id":"x","text":"好","expect":"allow","category":"clean","source":"s"}
        {"id":"y","text":"好","expect":"maybe","category":"clean","source":"s"}
        not json
        {"id":"z","text":"好","expect":"allow","category":"clean","source":"s","extra":1}
        """, "floors.yaml": "default: {recall: 2}\n"])
        do {
            _ = try CorpusLoader.load(directory: dir)
            Issue.record("expected problems")
        } catch {
            let lines = error.problems.map { "\($0.file.split(separator: "/").last!):\($0.line ?? 0): \($0.message)" }
            #expect(lines.contains { $0.hasPrefix("a.jsonl:2: duplicate id 'x'") })
            #expect(lines.contains { $0.hasPrefix("a.jsonl:3: 'expect'") })
            #expect(lines.contains { $0.hasPrefix("a.jsonl:4: not a JSON object") })
            #expect(lines.contains { $0.hasPrefix("a.jsonl:5: unknown field(s) extra") })
            #expect(lines.contains { $0.hasPrefix("floors.yaml:1: recall must be a number from 0 to 1") })
        }
    }

    @Test func reportCountsMissesAndFalseAlarms() throws {
        let records = [
            ("a", "你不说话没人把你当哑巴", Verdict.block, "insult"), ("b", "你好", .block, "insult"),
            ("c", "办事大厅开放", .allow, "clean"), ("d", "为爱豆打call", .allow, "clean"),
        ].map { CorpusRecord(id: $0.0, text: $0.1, expect: $0.2, category: $0.3, source: "t",
                             location: ReplyGuard.SourceLocation(file: "t", line: 1, column: 1)) }
        let report = CorpusReport(records: records, floors: CorpusFloors(), engine: Engine(ruleSet: Repo.shipped))
        #expect(report.mismatches.map(\.record.id) == ["b", "d"])
        #expect(report.mismatches.map(\.isMiss) == [true, false])
        #expect(report.failures.count == 3) // insult recall, insult block recall, clean rate 50 %
    }

    @Test func perFileRowsCountFalseAlarmsAndTheRulesBehindThem() throws {
        let dir = makeRulesDirectory([
            "a.jsonl": """
            {"id":"a1","text":"你不说话没人把你当哑巴","expect":"escalate","category":"insult","source":"s"}
            {"id":"a2","text":"您好","expect":"escalate","category":"insult","source":"s"}
            {"id":"a3","text":"闭嘴","expect":"allow","category":"clean","source":"s"}
            """,
            "b.jsonl": """
            {"id":"b1","text":"办事大厅开放","expect":"allow","category":"clean","source":"s"}
            """,
            "floors.yaml": """
            default: {recall: 0, block_recall: 0}
            clean: {max_flagged_rate: 1}
            files:
              a.jsonl:
                insult: {recall: 0.6}
                clean: {max_flagged_rate: 0.5, max_blocked: 0}
              b.jsonl:
                clean: {max_flagged_rate: 0}
              c.jsonl:
                clean: {max_flagged_rate: 0}
            """])
        let (records, floors) = try CorpusLoader.load(directory: dir)
        let report = CorpusReport(records: records, floors: floors, engine: Engine(ruleSet: Repo.shipped))
        let rows = Dictionary(uniqueKeysWithValues: report.fileRows.map { ("\($0.file!) \($0.category)", $0) })
        #expect(rows.keys.sorted() == ["a.jsonl clean", "a.jsonl insult", "b.jsonl clean"])
        #expect(rows["a.jsonl insult"]?.caught == 1 && rows["a.jsonl insult"]?.recall == 0.5)
        #expect(rows["a.jsonl clean"]?.falseAlarms == 1 && rows["a.jsonl clean"]?.falseAlarmRate == 1)
        #expect(rows["a.jsonl clean"]?.topFalseAlarmRules(3).map(\.rule) == ["insult.shut-up-go-away"])
        #expect(rows["b.jsonl clean"]?.falseAlarms == 0)
        #expect(report.rows.first { $0.category == "clean" }?.falseAlarms == 1)
        #expect(report.failures == [
            "c.jsonl clean: floors name this file and category, but the corpus has no such records",
            "a.jsonl clean: 1 of 1 flagged (100.0%), floor allows 50.0%",
            "a.jsonl clean: 1 blocked, floor allows 0",
            "a.jsonl insult: recall 50.0% (1/2) below floor 60.0%",
        ])
        #expect(report.mismatches.filter(\.isFalseAlarm).map(\.record.id) == ["a3"])
    }

    @Test func aFloorsFileElsewhereIsUsedAndMustExist() throws {
        let dir = makeRulesDirectory(["a.jsonl": #"{"id":"a","text":"您好","expect":"allow","category":"clean","source":"s"}"# + "\n"])
        let floorsFile = makeRulesDirectory(["f.yaml": "files: {a.jsonl: {clean: {max_flagged_rate: 0.5, recall: 2}}}\n"]) + "/f.yaml"
        do {
            _ = try CorpusLoader.load(directory: dir, floorsFile: floorsFile)
            Issue.record("expected a problem")
        } catch {
            #expect(error.problems.map(\.message) == ["files.a.jsonl.clean.recall must be a number from 0 to 1"])
        }
        #expect(throws: RuleLoadFailure.self) { try CorpusLoader.load(directory: dir, floorsFile: dir + "/missing.yaml") }
    }
}
