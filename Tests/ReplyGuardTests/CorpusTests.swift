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
}
