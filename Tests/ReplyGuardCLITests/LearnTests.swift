import Foundation
import Testing

/// `replyguard learn`, model packs through the binary, and the review queue as teacher (#10).
@Suite struct LearnTests {
    static let places = ["东城区", "西城区", "南湖区", "北塘区", "新城区", "高新区", "开发区", "老城区", "江北区", "江南区",
                         "河东区", "河西区", "城关镇", "青山区", "白云区", "天河区", "越秀区", "海珠区", "番禺区", "花都区"]

    /// Corpus-format JSON Lines: insults (positives) and ordinary replies (negatives).
    static func corpusLines() -> String {
        let bad = ["你这个蠢货", "滚远点别烦我", "脑子进水了吧", "真是个废物", "闭上你的臭嘴"]
        let plain = ["您好，请携带身份证到办事大厅办理", "感谢您的留言，已转交相关部门", "办事大厅九点开门，请耐心等待", "可拨打热线咨询，祝您生活愉快"]
        var lines: [String] = []
        for (i, place) in places.enumerated() {
            for (j, b) in bad.enumerated() {
                lines.append(#"{"id":"p-\#(i)-\#(j)","text":"\#(place)的\#(b)","expect":"escalate","category":"insult","source":"generated"}"#)
            }
            for (j, p) in plain.enumerated() {
                lines.append(#"{"id":"n-\#(i)-\#(j)","text":"\#(place)：\#(p)","expect":"allow","category":"clean","source":"generated"}"#)
            }
        }
        lines.append(#"{"id":"o-1","text":"别的类别","expect":"escalate","category":"spam","source":"generated"}"#)
        return lines.joined(separator: "\n") + "\n"
    }

    @Test func learnWritesTheSameBytesTwiceAndPrintsTheTable() throws {
        let input = CLI.temporaryFile("train.jsonl", Self.corpusLines())
        let dir = (input as NSString).deletingLastPathComponent
        let first = try CLI.run(["learn", "--category", "insult", "--out", dir + "/a.model", "--buckets", "4096", "--max-false-alarm", "0.05", input])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("<- escalate") && first.stdout.contains("recall"))
        #expect(first.stderr.contains("100 positives, 80 negatives, 1 skipped"), "\(first.stderr)")
        let second = try CLI.run(["learn", "--category", "insult", "--out", dir + "/b.model", "--buckets", "4096", "--max-false-alarm", "0.05", input])
        #expect(second.status == 0)
        let a = try #require(FileManager.default.contents(atPath: dir + "/a.model")), b = try #require(FileManager.default.contents(atPath: dir + "/b.model"))
        #expect(a == b)

        // As a model pack: scan escalates with the model's rule id, explain lists the features.
        let rules = dir + "/rules"
        try FileManager.default.createDirectory(atPath: rules, withIntermediateDirectories: true)
        try "pack: learned\nversion: 1.0.0\ncategory: insult\ndescription: test\nmodel: a.model\n".write(toFile: rules + "/learned.yaml", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: dir + "/a.model", toPath: rules + "/a.model")
        let explain = try CLI.run(["explain", "--rules", rules, "--color", "never", "海淀区的你这个蠢货"])
        #expect(explain.status == 1, "\(explain.stdout)\(explain.stderr)")
        #expect(explain.stdout.contains("learned.model [insult, escalate, score 0."), "\(explain.stdout)")
        #expect(explain.stdout.contains("model:      learned.model [insult] score"))
        #expect(explain.stdout.contains("features for:"))
        let allow = try CLI.run(["explain", "--rules", rules, "--json", "海淀区：感谢您的留言，已转交相关部门"])
        #expect(allow.status == 0, "\(allow.stdout)")
        let check = try CLI.run(["check", "--rules", rules])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
    }

    /// #21: --max-weight and --min-count reach the trainer (the file's weights obey the cap; the
    /// header records both) and out-of-range values are refused before anything is read.
    @Test func maxWeightAndMinCountOptions() throws {
        let input = CLI.temporaryFile("reg.jsonl", Self.corpusLines())
        let dir = (input as NSString).deletingLastPathComponent
        let capped = try CLI.run(["learn", "--category", "insult", "--out", dir + "/c.model", "--buckets", "4096", "--max-weight", "0.5", "--min-count", "2", input])
        #expect(capped.status == 0, "\(capped.stderr)")
        let text = try String(contentsOfFile: dir + "/c.model", encoding: .utf8)
        #expect(text.contains("--max-weight 0.5 --min-count 2"))
        let weights = text.split(separator: "\n").filter { $0.hasPrefix("w ") }.compactMap { Double($0.split(separator: " ")[2]) }
        #expect(!weights.isEmpty && weights.allSatisfy { abs($0) <= 0.5 })
        #expect(weights.contains { abs($0) == 0.5 })
        for bad in [["--max-weight", "-1"], ["--max-weight", "inf"], ["--min-count", "0"]] {
            let refused = try CLI.run(["learn", "--category", "insult", "--out", dir + "/d.model"] + bad + [input])
            #expect(refused.status != 0 && refused.stderr.contains(bad[0]), "\(bad) \(refused.stderr)")
        }
    }

    @Test func learnFailsOnTooFewExamplesAndUnreadableLines() throws {
        let input = CLI.temporaryFile("few.jsonl", #"{"id":"a","text":"x","expect":"allow","category":"clean","source":"s"}"# + "\n")
        let out = (input as NSString).deletingLastPathComponent + "/m.model"
        let few = try CLI.run(["learn", "--category", "insult", "--out", out, input])
        #expect(few.status == 2 && few.stderr.contains("at least 10"))
        let bad = CLI.temporaryFile("bad.jsonl", "{\"text\":\"ok\"}\nnot json\n")
        let malformed = try CLI.run(["learn", "--category", "insult", "--out", out, "--positive", bad])
        #expect(malformed.status == 2 && malformed.stderr.contains("bad.jsonl:2"), "\(malformed.stderr)")
    }

    /// R8 (#17): one 1 GB line aborted `learn` (SIGABRT after 4.2 GB). Lines are read as `scan` reads
    /// them: one longer than --max-message-size (default 4 MB, as scan) is an error at its file:line,
    /// read to its end without being kept.
    @Test func aLineOverTheMessageSizeLimitIsAnErrorAtItsLine() throws {
        let lines = Self.corpusLines()
        let count = lines.split(separator: "\n").count
        // Just over the default limit, in a record learn would skip anyway (another category).
        let huge = #"{"id":"huge","text":""# + String(repeating: "a", count: 4 << 20) + #"","expect":"escalate","category":"spam"}"#
        let input = CLI.temporaryFile("huge.jsonl", lines + huge + "\n" + #"{"id":"after","text":"x","expect":"allow","category":"clean"}"# + "\n")
        let out = (input as NSString).deletingLastPathComponent + "/m.model"
        let result = try CLI.run(["learn", "--category", "insult", "--out", out, "--buckets", "4096", input])
        #expect(result.status == 2, "\(result.stdout)\(result.stderr)")
        #expect(result.stderr.contains("huge.jsonl:\(count + 1): line is \(huge.utf8.count) bytes, longer than --max-message-size (4194304 bytes)"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
        // A lower limit, also for --positive/--negative files.
        let long = #"{"text":""# + String(repeating: "b", count: 2000) + #""}"#
        let small = CLI.temporaryFile("small.jsonl", #"{"text":"ok"}"# + "\n" + long + "\n")
        let ok = CLI.temporaryFile("ok.jsonl", Self.corpusLines())
        let limited = try CLI.run(["learn", "--category", "insult", "--out", out, "--max-message-size", "1K", "--positive", small, ok])
        #expect(limited.status == 2 && limited.stderr.contains("small.jsonl:2: line is \(long.utf8.count) bytes, longer than --max-message-size (1024 bytes)"),
                "\(limited.stderr)")
        let fine = try CLI.run(["learn", "--category", "insult", "--out", out, "--buckets", "4096", "--max-false-alarm", "0.05", "--max-message-size", "1K", ok])
        #expect(fine.status == 0, "\(fine.stderr)")
    }

    /// `learn` read a record with a repeated key by its last value, where scan, filter and serve treat it
    /// as ambiguous: it is an error at its file:line, for every key learn reads.
    @Test func aRecordWithARepeatedKeyIsAnErrorAtItsLine() throws {
        let lines = Self.corpusLines()
        let count = lines.split(separator: "\n").count
        let records = [
            #"{"id":"d1","text":"你这个蠢货","expect":"allow","category":"clean","category":"insult"}"#,
            #"{"id":"d2","text":"你这个蠢货","expect":"allow","expect":"escalate","category":"insult"}"#,
            #"{"id":"d3","text":"您好","text":"你这个蠢货","expect":"escalate","category":"insult"}"#,
            #"{"id":"d4","id":"d5","text":"您好","expect":"allow","category":"clean"}"#,
        ]
        for record in records {
            let input = CLI.temporaryFile("dup.jsonl", lines + record + "\n")
            let out = (input as NSString).deletingLastPathComponent + "/m.model"
            let result = try CLI.run(["learn", "--category", "insult", "--out", out, "--buckets", "4096", "--max-false-alarm", "0.05", input])
            #expect(result.status == 2, "\(record): \(result.stderr)")
            #expect(result.stderr.contains("dup.jsonl:\(count + 1): JSON object has the key '") && result.stderr.contains("more than once"), "\(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out))
        }
        // A label that is not a string is an error too (it used to skip the record silently).
        let input = CLI.temporaryFile("typed.jsonl", lines + #"{"id":"t","text":"x","expect":"allow","category":7}"# + "\n")
        let typed = try CLI.run(["learn", "--category", "insult", "--out", input + ".model", input])
        #expect(typed.status == 2 && typed.stderr.contains("typed.jsonl:\(count + 1): field 'category' is not a string"), "\(typed.stderr)")
    }

    /// hold → decide → export → learn, on a queue the filter wrote.
    @Test func exportedReviewsTrainAModel() throws {
        let dir = CLI.temporaryDirectory()
        let queue = dir + "/q.sqlite3"
        var input = ""
        for place in Self.places {
            input += "网传明天\(place)全面停水，大家赶紧囤水转发一下\n"
            input += "您好，\(place)政务服务中心工作日九点开门\n"
        }
        let filter = try CLI.run(["filter", "--queue", queue, "--hold-all"], stdin: Array(input.utf8))
        #expect(filter.status == 0, "\(filter.stderr)")
        let listed = try CLI.run(["review", "list", "--queue", queue, "--json"])
        let items = try listed.records()
        #expect(items.count == 40)
        for item in items {
            let id = "\(item["review"] as! Int)", text = item["text"] as! String
            let decided = try CLI.run(["review", text.contains("网传") ? "reject" : "approve", id, "--queue", queue])
            #expect(decided.status == 0)
        }
        let export = try CLI.run(["review", "export", "--queue", queue])
        #expect(export.status == 0, "\(export.stderr)")
        let records = try export.records()
        #expect(records.count == 40)
        #expect(records.filter { $0["category"] as? String == "rumour" && $0["expect"] as? String == "escalate" }.count == 20)
        #expect(records.filter { $0["category"] as? String == "clean" && $0["expect"] as? String == "allow" }.count == 20)
        #expect(records.allSatisfy { ($0["id"] as? String)?.hasPrefix("review-") == true && $0["source"] is String })

        let exported = dir + "/reviews.jsonl"
        try export.stdout.write(toFile: exported, atomically: true, encoding: .utf8)
        let learn = try CLI.run(["learn", "--category", "rumour", "--out", dir + "/rumour.model", "--buckets", "4096", "--max-false-alarm", "0.1", exported])
        #expect(learn.status == 0, "\(learn.stderr)")
        #expect(learn.stderr.contains("20 positives, 20 negatives"), "\(learn.stderr)")
        let model = try #require(FileManager.default.contents(atPath: dir + "/rumour.model"))
        #expect(String(decoding: model, as: UTF8.self).contains("category rumour\n"))
        // The exported records are corpus records: check --corpus reads them.
        let corpus = dir + "/corpus"
        try FileManager.default.createDirectory(atPath: corpus, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: exported, toPath: corpus + "/reviews.jsonl")
        let check = try CLI.run(["check", "--corpus", corpus, "--floors", CLI.temporaryFile("floors.yaml", "default: {recall: 0, block_recall: 0}\nclean: {max_flagged_rate: 1}\n"), "--list", "0"])
        #expect(check.stdout.contains("reviews.jsonl"), "\(check.stdout)\(check.stderr)")
    }
}
