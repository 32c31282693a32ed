import Foundation
import Testing

/// The operator's own data, end to end through the binary (#21): an account's archive goes through the
/// review queue, the reviewers' decisions and the account's published replies train a model, the model
/// becomes a pack in the operator's own rules directory, and `check --corpus` on replies nobody reviewed
/// shows the gain over the shipped packs.
@Suite struct OperatorLoopTests {
    static let places = LearnTests.places
    static let fish = ["鲫鱼", "草鱼", "鲤鱼", "鲢鱼"]
    /// Off-topic fishing banter no shipped rule flags (the account's own failure mode; the shipped packs
    /// flag lottery banter since their fifth round, so the test needs a hobby they do not know).
    static func banter(_ i: Int, _ place: String) -> String {
        "哈哈今晚小编又去\(place)水库钓鱼了，钓了\(i + 3)条\(fish[i % 4])，周末请大家喝鱼汤"
    }
    static func reply(_ i: Int, _ place: String) -> String {
        "您好，您反映的\(place)道路积水问题已转交住建部门处理，预计\(i % 5 + 2)个工作日内答复"
    }

    @Test func reviewedArchiveTrainsAPackInTheOperatorsRulesDirectory() throws {
        let dir = CLI.temporaryDirectory(), queue = dir + "/q.sqlite3"
        // 1. The archive (14 places) is held for review; reviewers reject the banter, approve the rest.
        let archive = Self.places.prefix(14).enumerated().map { "\(Self.banter($0, $1))\n\(Self.reply($0, $1))\n" }.joined()
        let filter = try CLI.run(["filter", "--queue", queue, "--hold-all"], stdin: Array(archive.utf8))
        #expect(filter.status == 0, "\(filter.stderr)")
        for item in try CLI.run(["review", "list", "--queue", queue, "--json"]).records() {
            let id = "\(item["review"] as! Int)", text = item["text"] as! String
            let decided = try CLI.run(["review", text.contains("钓鱼") ? "reject" : "approve", id, "--queue", queue, "--reviewer", "editor"])
            #expect(decided.status == 0, "\(decided.stderr)")
        }
        // 2. Export: held without a hit, the rejected replies take the operator's category.
        let export = try CLI.run(["review", "export", "--queue", queue, "--category", "offtopic"])
        #expect(export.status == 0, "\(export.stderr)")
        let reviews = dir + "/reviews.jsonl"
        try export.stdout.write(toFile: reviews, atomically: true, encoding: .utf8)
        #expect(try export.records().filter { $0["category"] as? String == "offtopic" }.count == 14)
        // 3. The account's published replies are negatives too (its own voice).
        let published = dir + "/published.jsonl"
        try Self.places.enumerated().map { #"{"id":"pub-\#($0)","text":"感谢关注，\#($1)政务服务中心周末照常办理社保业务，请携带身份证"}"# }
            .joined(separator: "\n").appending("\n").write(toFile: published, atomically: true, encoding: .utf8)
        // 4. The operator's rules directory: the shipped set exported, plus the new pack in the policy.
        let rules = dir + "/rules"
        let exported = try CLI.run(["rules", "export", rules])
        #expect(exported.status == 0, "\(exported.stderr)")
        let learn = try CLI.run(["learn", "--category", "offtopic", "--out", rules + "/models/offtopic.model", "--buckets", "4096",
                                 "--max-false-alarm", "0.1", reviews, "--negative", published])
        #expect(learn.status == 0, "\(learn.stderr)")
        #expect(learn.stderr.contains("14 positives, 14 negatives") && learn.stderr.contains("20 negatives (--negative)"), "\(learn.stderr)")
        try "pack: offtopic\nversion: 1.0.0\ncategory: offtopic\ndescription: Fishing banter from our own archive\nmodel: models/offtopic.model\n"
            .write(toFile: rules + "/offtopic.yaml", atomically: true, encoding: .utf8)
        let policyPath = rules + "/policy.yaml"
        let policy = try String(contentsOfFile: policyPath, encoding: .utf8)
        let packs = try #require(policy.range(of: "packs: [")?.upperBound)
        try (String(policy[..<packs]) + "offtopic, " + String(policy[packs...])).write(toFile: policyPath, atomically: true, encoding: .utf8)
        // 5. Replies nobody reviewed (the other 6 places): the shipped packs miss the banter; the
        //    operator's set catches it and leaves the ordinary replies alone.
        let corpus = dir + "/corpus"
        try FileManager.default.createDirectory(atPath: corpus, withIntermediateDirectories: true)
        var test = ""
        for (i, place) in Self.places.enumerated().dropFirst(14) {
            test += #"{"id":"t-b\#(i)","text":"\#(Self.banter(i, place))","expect":"escalate","category":"offtopic","source":"test"}"# + "\n"
            test += #"{"id":"t-g\#(i)","text":"\#(Self.reply(i, place))","expect":"allow","category":"clean","source":"test"}"# + "\n"
        }
        try test.write(toFile: corpus + "/unseen.jsonl", atomically: true, encoding: .utf8)
        func figures(_ extra: [String]) throws -> (recall: Double, falseAlarms: Int) {
            let run = try CLI.run(["check", "--corpus", corpus, "--json", "--list", "0"] + extra)
            let json = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], "\(run.stderr)")
            let files = try #require((json["corpus"] as? [String: Any])?["files"] as? [[String: Any]])
            let banter = try #require(files.first { $0["category"] as? String == "offtopic" })
            let clean = try #require(files.first { $0["category"] as? String == "clean" })
            return (banter["recall"] as! Double, clean["falseAlarms"] as! Int)
        }
        let shipped = try figures([]), own = try figures(["--rules", rules])
        #expect(shipped.recall == 0 && shipped.falseAlarms == 0)
        #expect(own.recall >= 0.8 && own.falseAlarms == 0, "\(own)")
    }
}
