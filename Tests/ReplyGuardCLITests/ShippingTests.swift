import Foundation
import ReplyGuard
import Testing

#if canImport(FoundationXML)
import FoundationXML
#endif

/// Shipping: the version baked in from git, the decision record's engine version, the licence and the
/// notices the shipped model's data requires, and `check`'s reports for an operator's CI.
@Suite struct ShippingTests {
    /// Runs a shell command in the repository; its standard output without the trailing newline.
    static func shell(_ command: String, cwd: String = CLI.root) throws -> (status: Int32, output: String) {
        let result = try CLI.runBounded(["-c", command], cwd: cwd, executable: "/bin/sh", timeout: 120).output
        return (result.status, result.stdout.trimmingCharacters(in: .newlines) + result.stderr)
    }

    // MARK: Versions

    @Test func versionIsGitDescribeAndEveryDecisionCarriesIt() throws {
        let expected = try Self.shell("Scripts/version")
        #expect(expected.status == 0 && !expected.output.isEmpty)
        let version = try CLI.run(["--version"])
        let built = version.stdout.trimmingCharacters(in: .newlines)
        #expect(version.status == 0 && built == expected.output,
                "--version says \(built), Scripts/version \(expected.output): the binary must be rebuilt after a commit (swift build runs Scripts/version)")
        // Built from a git checkout, it names the commit (never the bare base version of the VERSION file).
        #expect(built.contains("-g") || !built.contains("-"), "\(built)")
        #expect(built != ReplyGuardVersion.base + "-nogit")
        let explain = try CLI.run(["explain", "--json", "你不说话没人把你当哑巴"])
        let records = try explain.records()
        #expect(records.count == 1 && records[0]["engine"] as? String == built, "\(explain.stdout)")
        #expect((records[0]["policy"] as? String)?.hasPrefix("sha256:") == true)
        // The typed record reads it back; a record written before the field existed reads as "".
        let decision = try explain.decisions()[0]
        #expect(decision.engine == built)
        let old = explain.lines[0].replacingOccurrences(of: ",\"engine\":\"\(built)\"", with: "")
        #expect(old != explain.lines[0])
        #expect(try JSONDecoder().decode(Decision.self, from: Data(old.utf8)).engine == "")
        // SARIF's tool version is the same.
        let text = CLI.temporaryFile("m.txt", "你不说话没人把你当哑巴\n")
        let sarif = try CLI.run(["scan", "--format", "sarif", text])
        #expect(sarif.stdout.contains("\"name\":\"replyguard\",\"version\":\"\(built)\""), "\(sarif.stdout.prefix(200))")
    }

    @Test func versionScriptFallsBackOutsideGitAndMapsToDebianVersions() throws {
        let dir = CLI.temporaryDirectory()
        try "0.3.0\n".write(toFile: dir + "/VERSION", atomically: true, encoding: .utf8)
        let script = CLI.root + "/Scripts/version"
        #expect(try Self.shell("\(script) \(dir)").output == "0.3.0-nogit")
        #expect(try Self.shell("\(script) --debian \(dir)").output == "0.3.0~nogit")
        #expect(try Self.shell("REPLYGUARD_VERSION=0.3.0-dev-12-gabc1234-dirty \(script) --debian \(dir)").output == "0.3.0~dev12.gabc1234.dirty")
        #expect(try Self.shell("REPLYGUARD_VERSION=0.3.0-4-gabc1234 \(script) --debian \(dir)").output == "0.3.0+4.gabc1234")
        #expect(try Self.shell("REPLYGUARD_VERSION=0.3.0 \(script) --debian \(dir)").output == "0.3.0")
        #expect(try Self.shell("REPLYGUARD_VERSION='0.3 x' \(script) \(dir)").status != 0)
        // dpkg orders them: a development build before its release, a later build after it.
        let dpkg = try Self.shell("command -v dpkg >/dev/null || exit 0; dpkg --compare-versions 0.3.0~dev12.gabc1234 lt 0.3.0 && dpkg --compare-versions 0.3.0+4.gabc1234 gt 0.3.0")
        #expect(dpkg.status == 0, "\(dpkg.output)")
        // The library's base version is the VERSION file's.
        let base = try String(contentsOfFile: CLI.root + "/VERSION", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(ReplyGuardVersion.base == base)
    }

    // MARK: The service as its own user

    /// `serve` as an unprivileged user (the Debian package's service runs as `replyguard`) answers: its
    /// connections used to be closed at once because setting TCP_NODELAY at the socket level is SO_DEBUG,
    /// which only root may set.
    @Test(.enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"), "needs root and setpriv to run serve as nobody"))
    func serveAnswersWhenRunAsAnUnprivilegedUser() throws {
        let dir = CLI.temporaryDirectory()
        #expect(chmod(dir, 0o1777) == 0)
        let stderrPath = dir + "/stderr"
        FileManager.default.createFile(atPath: stderrPath, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", CLI.binary, "serve", "--listen", "127.0.0.1:0", "--insecure-local",
                             "--queue", dir + "/queue.sqlite3"]
        process.currentDirectoryURL = URL(fileURLWithPath: dir)
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        try process.run()
        defer {
            if process.isRunning { kill(process.processIdentifier, SIGTERM) }
            process.waitUntilExit()
        }
        var port: Int?
        let deadline = Date().addingTimeInterval(60)
        while port == nil, Date() < deadline, process.isRunning {
            let text = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
            if let range = text.range(of: #"listening on http://127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                port = Int(text[range].split(separator: ":").last!)
            } else {
                usleep(20_000)
            }
        }
        let listening = try #require(port, "serve did not start: \((try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "")")
        let reply = try HTTPClient.send(port: listening, method: "GET", path: "/healthz", headers: [], body: nil)
        #expect(reply.status == 200, "\(reply)")
        let check = try HTTPClient.send(port: listening, method: "POST", path: "/v1/check", headers: [("Content-Type", "application/json")],
                                        body: Array("{\"messages\":[{\"id\":\"1\",\"text\":\"你不说话没人把你当哑巴\"}]}".utf8))
        let verdict = try check.results().first?["verdict"] as? String
        #expect(check.status == 200 && verdict == "block", "\(check)")
    }

    // MARK: Licence and notices

    @Test func noticeCarriesEveryLineTheShippedPacksName() throws {
        let ruleSet = try RuleLoader.load(rulesDirectory: CLI.root + "/rules")
        let notice = try String(contentsOfFile: CLI.root + "/NOTICE", encoding: .utf8)
        let license = try String(contentsOfFile: CLI.root + "/LICENSE", encoding: .utf8)
        #expect(license.contains("Apache License") && license.contains("Version 2.0, January 2004"))
        let offensive = try #require(ruleSet.packs.first { $0.id == "offensive" })
        #expect(offensive.notice.count == 3 && offensive.notice.contains { $0.contains("COLD") } && offensive.notice.contains { $0.contains("CrossWOZ") }
                && offensive.notice.contains { $0.contains("LCCC") && $0.contains("MIT") })
        for pack in ruleSet.enabledPacks {
            if pack.model != nil { #expect(!pack.notice.isEmpty, "model pack \(pack.id) names no notice") }
            for line in pack.notice { #expect(notice.contains(line), "NOTICE lacks \(line)") }
        }
        // check on the shipped set (embedded, with its NOTICE) warns about nothing of the kind.
        let check = try CLI.run(["check"], cwd: CLI.temporaryDirectory())
        #expect(check.status == 0 && !check.stdout.contains("notice"), "\(check.stdout)")
    }

    /// The celebrity pack's KdConv star names (issue 21) ship inside the binary, credited in NOTICE: a
    /// listed name next to a work escalates, the same name alone in a reply does not.
    @Test func shippedBinaryKnowsTheKdConvStarNamesAndCreditsKdConv() throws {
        let ruleSet = try RuleLoader.load(rulesDirectory: CLI.root + "/rules")
        let celebrity = try #require(ruleSet.packs.first { $0.id == "celebrity" })
        #expect(celebrity.notice.contains { $0.contains("KdConv") && $0.contains("Apache License 2.0") })
        let input = "陶喆晒出全家福\n请陶喆先生本周五携带身份证到二号窗口办理\n"
        let records = try CLI.run(["scan", "-"], stdin: Array(input.utf8), cwd: CLI.temporaryDirectory()).decisions()
        #expect(records.count == 2)
        #expect(records.first?.verdict == .escalate, "\(records)")
        #expect(records.last?.verdict == .allow, "\(records)")
    }

    @Test func checkWarnsWhenNoticeLacksAPacksLineOrAModelPackNamesNone() throws {
        let out = CLI.temporaryDirectory() + "/rules"
        #expect(try CLI.run(["rules", "export", out]).status == 0)
        let clean = try CLI.run(["check", "--rules", out])
        #expect(clean.status == 0 && !clean.stdout.contains("notice"), "\(clean.stdout)")
        // A NOTICE without the LCCC line: a warning at the pack (check still passes: a warning).
        let notice = try String(contentsOfFile: out + "/NOTICE", encoding: .utf8)
        try notice.replacingOccurrences(of: "Contains data from LCCC", with: "Contains data from somewhere").write(toFile: out + "/NOTICE", atomically: true, encoding: .utf8)
        let lacking = try CLI.run(["check", "--rules", out])
        #expect(lacking.status == 0 && lacking.stdout.contains("offensive.yaml:1:1: \(out)/NOTICE lacks a line pack offensive names under notice: \"Contains data from LCCC"),
                "\(lacking.stdout)")
        // A model pack with no notice at all.
        let pack = out + "/offensive.yaml"
        let yaml = try String(contentsOfFile: pack, encoding: .utf8)
        let stripped = yaml.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix("notice:") && !$0.hasPrefix("  - \"Contains data") }
        try stripped.joined(separator: "\n").write(toFile: pack, atomically: true, encoding: .utf8)
        let none = try CLI.run(["check", "--rules", out])
        #expect(none.status == 0 && none.stdout.contains("model pack offensive names no notice"), "\(none.stdout)")
    }

    // MARK: check for CI

    /// A copy of the shipped rules in which one match example of insult.mute-mockery no longer matches;
    /// returns the directory and the line of that example in the pack.
    static func rulesWithABrokenExample() throws -> (dir: String, line: Int) {
        let dir = CLI.rulesWithoutPolicy()
        try FileManager.default.copyItem(atPath: CLI.root + "/rules/policy.yaml", toPath: dir + "/policy.yaml")
        let pack = dir + "/insult.yaml"
        var lines = try String(contentsOfFile: pack, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let index = try #require(lines.firstIndex { $0.contains("\"⟦你不说话没人把你当哑巴⟧\"") })
        lines[index] = lines[index].replacingOccurrences(of: "⟦你不说话没人把你当哑巴⟧", with: "⟦今天天气很好⟧")
        try lines.joined(separator: "\n").write(toFile: pack, atomically: true, encoding: .utf8)
        return (dir, index + 1)
    }

    @Test func checkReportsAFailingExampleAtItsLineAsSARIFJUnitAndGitHubAnnotations() throws {
        let (dir, line) = try Self.rulesWithABrokenExample()
        let sarif = try CLI.run(["check", "--rules", dir, "--format", "sarif"])
        #expect(sarif.status == 1, "\(sarif.stderr)")
        let log = try #require(try JSONSerialization.jsonObject(with: Data(sarif.stdout.utf8)) as? [String: Any])
        let run = try #require((log["runs"] as? [[String: Any]])?.first)
        let results = try #require(run["results"] as? [[String: Any]])
        let failing = results.filter { $0["ruleId"] as? String == "insult.mute-mockery" }
        #expect(!failing.isEmpty && failing.allSatisfy { $0["level"] as? String == "error" }, "\(results)")
        let location = (failing.first?["locations"] as? [[String: Any]])?.first?["physicalLocation"] as? [String: Any]
        #expect((location?["artifactLocation"] as? [String: Any])?["uri"] as? String == "file://" + dir + "/insult.yaml")
        #expect((location?["region"] as? [String: Any])?["startLine"] as? Int == line, "\(String(describing: location))")
        let rules = ((run["tool"] as? [String: Any])?["driver"] as? [String: Any])?["rules"] as? [[String: Any]] ?? []
        #expect(rules.contains { $0["id"] as? String == "insult.mute-mockery" } && rules.contains { $0["id"] as? String == "replyguard.load" })

        let junit = try CLI.run(["check", "--rules", dir, "--format", "junit"])
        #expect(junit.status == 1 && junit.stdout.hasPrefix("<?xml"), "\(junit.stderr)")
        #expect(junit.stdout.contains("name=\"insult.mute-mockery\" file=\"\(dir)/insult.yaml\""), "\(junit.stdout.prefix(600))")
        #expect(junit.stdout.contains("<failure message=\"\(dir)/insult.yaml:\(line):"))
        #expect(junit.stdout.contains("failures=\"1\""))
        let parsed = try XMLDocument(data: Data(junit.stdout.utf8))
        #expect(try parsed.nodes(forXPath: "//testcase").count > 100)

        let github = try CLI.run(["check", "--rules", dir, "--format", "github"])
        #expect(github.status == 1)
        #expect(github.stdout.contains("✗ insult.mute-mockery"), "the text report comes first")
        #expect(github.stdout.contains("::error file=\(dir)/insult.yaml,line=\(line),col="), "\(github.stdout.suffix(800))")
        #expect(github.stdout.contains("title=replyguard check%3A insult.mute-mockery::insult.mute-mockery: match example"))

        // --output: the report to a file, the text to standard output (one run for a CI log and its report).
        let file = CLI.temporaryDirectory() + "/report.xml"
        let both = try CLI.run(["check", "--rules", dir, "--format", "junit", "--output", file])
        #expect(both.status == 1 && both.stdout.contains("✗ insult.mute-mockery") && !both.stdout.contains("<?xml"), "\(both.stdout.suffix(300))")
        #expect(try String(contentsOfFile: file, encoding: .utf8).contains("<failure message=\"\(dir)/insult.yaml:\(line):"))
        let unwritable = try CLI.run(["check", "--rules", dir, "--format", "sarif", "--output", "/nonexistent/dir/report.sarif"])
        #expect(unwritable.status == 2 && unwritable.stderr.contains("replyguard: /nonexistent/dir/report.sarif: "), "\(unwritable.stderr)")
        #expect(try CLI.run(["check", "--output", file]).status == 64)

        // Passing, the reports say so and exit 0.
        let passing = try CLI.run(["check", "--format", "junit"], cwd: CLI.root)
        #expect(passing.status == 0 && passing.stdout.contains("failures=\"0\"") && !passing.stdout.contains("<failure"), "\(passing.stdout.suffix(300))")
        let quiet = try CLI.run(["check", "--format", "github"], cwd: CLI.root)
        #expect(quiet.status == 0 && !quiet.stdout.contains("::error"))
        #expect(try CLI.run(["check", "--json", "--format", "sarif"]).status == 64)
    }

    @Test func checkReportsALoadErrorAtItsLineAndExits2() throws {
        let dir = CLI.rulesWithoutPolicy()
        let pack = dir + "/insult.yaml"
        var lines = try String(contentsOfFile: pack, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let index = try #require(lines.firstIndex { $0.hasPrefix("    title:") })
        lines.insert("    colour: red", at: index + 1)
        try lines.joined(separator: "\n").write(toFile: pack, atomically: true, encoding: .utf8)
        for (format, expected) in [("github", "::error file=\(dir)/insult.yaml,line=\(index + 2),col=5,title=replyguard check%3A replyguard.load::"),
                                   ("junit", "<testcase classname=\"replyguard.load\" name=\"\(dir)/insult.yaml:\(index + 2):5\""),
                                   ("sarif", "\"region\":{\"startLine\":\(index + 2),\"startColumn\":5}")] {
            let output = try CLI.run(["check", "--rules", dir, "--format", format])
            #expect(output.status == 2 && output.stderr.contains("insult.yaml:\(index + 2):5"), "\(output.stderr)")
            #expect(output.stdout.contains(expected), "\(format): \(output.stdout)")
        }
    }

    @Test func checkReportsAFloorAtItsLineInTheFloorsFile() throws {
        let dir = CLI.temporaryDirectory()
        try "{\"id\":\"a\",\"text\":\"今天天气很好\",\"expect\":\"escalate\",\"category\":\"insult\",\"source\":\"test\"}\n"
            .write(toFile: dir + "/insult.jsonl", atomically: true, encoding: .utf8)
        try ("# floors\ndefault: {recall: 0.5, block_recall: 0}\ncategories:\n  spam: {recall: 0.1}\n  insult: {recall: 0.9}\n"
            + "files:\n  other.jsonl:\n    insult: {recall: 0.1}\n  insult.jsonl:\n    clean: {max_flagged_rate: 0.5}\n    insult: {recall: 0.8}\n")
            .write(toFile: dir + "/floors.yaml", atomically: true, encoding: .utf8)
        let github = try CLI.run(["check", "--corpus", dir, "--format", "github"], cwd: CLI.root)
        #expect(github.status == 1, "\(github.stderr)")
        #expect(github.stdout.contains("::error file=\(dir)/floors.yaml,line=5,title=replyguard check%3A replyguard.floor::floor not met: insult: recall 0.0%"), "\(github.stdout.suffix(600))")
        #expect(github.stdout.contains("::error file=\(dir)/floors.yaml,line=11,title=replyguard check%3A replyguard.floor::floor not met: insult.jsonl insult: recall 0.0%"))
        #expect(github.stdout.contains("::error file=\(dir)/floors.yaml,line=8,title=replyguard check%3A replyguard.floor::floor not met: other.jsonl insult: floors name"))
        #expect(github.stdout.contains("::notice file=\(dir)/insult.jsonl,line=1,col=1,title=replyguard check%3A replyguard.miss::a [insult]: expect escalate, got allow"))
    }
}
