import Foundation
import Testing

/// The binary works anywhere: the shipped rules/ are built in and used when neither --rules,
/// $REPLYGUARD_RULES nor ./rules exists; `rules export` writes them out; file errors are plain.
@Suite struct EmbeddedRulesTests {
    /// The test process's environment without REPLYGUARD_RULES (and with `extra`).
    static func environment(_ extra: [String: String] = [:]) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["REPLYGUARD_RULES"] = nil
        env["NO_COLOR"] = "1"
        for (key, value) in extra { env[key] = value }
        return env
    }

    /// The built binary copied alone into a fresh directory, and an empty working directory elsewhere.
    static func copiedBinary() throws -> (binary: String, cwd: String) {
        let base = CLI.temporaryDirectory()
        try FileManager.default.createDirectory(atPath: base + "/bin", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: base + "/work", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: CLI.binary, toPath: base + "/bin/replyguard")
        return (base + "/bin/replyguard", base + "/work")
    }

    static func run(_ arguments: [String], _ copy: (binary: String, cwd: String), stdin: [UInt8] = [], env: [String: String] = [:],
                    cwd: String? = nil) throws -> CLI.Output {
        try CLI.runBounded(arguments, stdin: stdin, cwd: cwd ?? copy.cwd, executable: copy.binary, timeout: 600,
                           environment: environment(env)).output
    }

    static func digest(_ output: CLI.Output) -> String? {
        guard let line = output.lines.first(where: { $0.hasPrefix("rules: ") }), let range = line.range(of: "policy sha256:") else { return nil }
        return String(line[range.lowerBound...].dropFirst("policy ".count))
    }

    @Test func aCopiedBinaryExplainsFromAnyDirectoryOnTheEmbeddedPacks() throws {
        let copy = try Self.copiedBinary()
        #expect(!FileManager.default.fileExists(atPath: copy.cwd + "/rules"))
        let json = try Self.run(["explain", "--json", "你不说话没人把你当哑巴"], copy)
        #expect(json.status == 1, "\(json.stderr)")
        let record = try json.records()[0]
        #expect(record["verdict"] as? String == "block")
        #expect((record["hits"] as? [[String: Any]])?.contains { $0["rule"] as? String == "insult.mute-mockery" } == true)
        let text = try Self.run(["explain"], copy, stdin: Array("你不说话没人把你当哑巴\n".utf8))
        #expect(text.status == 1 && text.stdout.contains("verdict:    BLOCK"), "\(text.stdout)\(text.stderr)")
        #expect(text.stdout.contains("(rules: embedded (replyguard "), "\(text.stdout)")
        let clean = try Self.run(["explain", "办事大厅周一至周五开放"], copy)
        #expect(clean.status == 0 && clean.stdout.contains("ALLOW"))
    }

    @Test func checkOnTheEmbeddedPacksSaysSoAndPasses() throws {
        let copy = try Self.copiedBinary()
        let check = try Self.run(["check"], copy)
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        #expect(check.lines.first?.hasPrefix("rules: embedded (replyguard ") == true, "\(check.stdout)")
        #expect(check.stdout.contains("<embedded>/insult.yaml") && check.stdout.contains("all passed"))
        let json = try Self.run(["check", "--json"], copy)
        let document = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as! [String: Any]
        let rules = document["rules"] as? [String: Any]
        #expect(rules?["embedded"] as? Bool == true && (rules?["source"] as? String)?.hasPrefix("embedded") == true, "\(json.stdout.prefix(300))")
        // The profiles are built in too, and --policy may name a file on disk next to the embedded packs.
        // `check` runs the content checks that start-up skips for the embedded set (the filler check,
        // model checksums): passing here, for the policy and every profile, is what vouches for them.
        let profiles = try FileManager.default.contentsOfDirectory(atPath: CLI.root + "/rules/profiles")
            .filter { $0.hasSuffix(".yaml") }.map { String($0.dropLast(5)) }
        #expect(profiles.contains("posts"))
        for profile in profiles {
            let checked = try Self.run(["check", "--profile", profile], copy)
            #expect(checked.status == 0 && checked.stdout.contains("all passed"), "\(profile): \(checked.stdout)\(checked.stderr)")
        }
        let unknown = try Self.run(["check", "--profile", "nope"], copy)
        #expect(unknown.status == 2 && unknown.stderr.contains("<embedded>/profiles/nope.yaml") && unknown.stderr.contains("profiles: posts"), "\(unknown.stderr)")
        let policy = CLI.temporaryFile("p.yaml", "version: 1\npacks: [insult]\n")
        let own = try Self.run(["explain", "--policy", policy, "你不说话没人把你当哑巴"], copy)
        #expect(own.status == 1 && own.stdout.contains("insult.mute-mockery"), "\(own.stdout)\(own.stderr)")
    }

    @Test func theEmbeddedSetIsRulesByteForByteWithTheSameDigest() throws {
        let copy = try Self.copiedBinary()
        let out = CLI.temporaryDirectory() + "/exported/rules"
        let export = try Self.run(["rules", "export", out], copy)
        #expect(export.status == 0, "\(export.stderr)")
        // Every file of rules/ is built in, unchanged, and nothing else (the staleness check).
        func files(_ dir: String) -> [String] {
            (FileManager.default.enumerator(atPath: dir)?.allObjects as? [String] ?? [])
                .filter { !$0.split(separator: "/").contains { $0.hasPrefix(".") } }
                .filter { var d: ObjCBool = false; return FileManager.default.fileExists(atPath: dir + "/" + $0, isDirectory: &d) && !d.boolValue }
                .sorted()
        }
        let shipped = files(CLI.root + "/rules")
        #expect(shipped.contains("policy.yaml") && shipped.contains("profiles/posts.yaml") && shipped.contains { $0.hasPrefix("models/") })
        // ... and the package's LICENSE and NOTICE (the models' data attributions) beside them.
        #expect(files(out) == (shipped + ["LICENSE", "NOTICE"]).sorted())
        for file in shipped {
            #expect(FileManager.default.contents(atPath: out + "/" + file) == FileManager.default.contents(atPath: CLI.root + "/rules/" + file), "\(file) differs")
        }
        for file in ["LICENSE", "NOTICE"] {
            #expect(FileManager.default.contents(atPath: out + "/" + file) == FileManager.default.contents(atPath: CLI.root + "/" + file), "\(file) differs")
        }
        // Same digest: embedded, the repository's rules/ (as ./rules and by absolute path), and the export.
        let embedded = Self.digest(try Self.run(["check"], copy))
        let dotRules = Self.digest(try Self.run(["check"], copy, cwd: CLI.root))
        let absolute = Self.digest(try Self.run(["check", "--rules", CLI.root + "/rules"], copy))
        let exported = try Self.run(["check", "--rules", out], copy)
        #expect(exported.status == 0 && exported.lines.first?.hasPrefix("rules: \(out)  policy") == true, "\(exported.stdout)")
        #expect(embedded != nil && embedded == dotRules && embedded == absolute && embedded == Self.digest(exported))
        let postsEmbedded = Self.digest(try Self.run(["check", "--profile", "posts"], copy))
        let postsDisk = Self.digest(try Self.run(["check", "--profile", "posts", "--rules", out], copy))
        #expect(postsEmbedded != nil && postsEmbedded == postsDisk && postsEmbedded != embedded)
        // An edited export is a different rule set.
        let policy = out + "/policy.yaml"
        try (String(contentsOfFile: policy, encoding: .utf8) + "# edited\n").write(toFile: policy, atomically: true, encoding: .utf8)
        #expect(Self.digest(try Self.run(["check", "--rules", out], copy)) != embedded)
    }

    @Test func exportRefusesToOverwriteUnlessForced() throws {
        let copy = try Self.copiedBinary()
        let out = CLI.temporaryDirectory() + "/mine"
        #expect(try Self.run(["rules", "export", out], copy).status == 0)
        try "edited\n".write(toFile: out + "/insult.yaml", atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: out + "/spam.yaml")
        let again = try Self.run(["rules", "export", out], copy)
        #expect(again.status == 2 && again.stderr.contains("replyguard: \(out)/insult.yaml: file exists"), "\(again.stderr)")
        // Nothing was written: the edit stays, the removed file is not back.
        #expect(try String(contentsOfFile: out + "/insult.yaml", encoding: .utf8) == "edited\n")
        #expect(!FileManager.default.fileExists(atPath: out + "/spam.yaml"))
        let forced = try Self.run(["rules", "export", "--force", out], copy)
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(try String(contentsOfFile: out + "/insult.yaml", encoding: .utf8).hasPrefix("pack: insult"))
        #expect(try Self.run(["check", "--rules", out], copy).status == 0)
        // A directory that cannot be created is a plain error.
        let blocked = try Self.run(["rules", "export", "/etc/passwd/rules"], copy)
        #expect(blocked.status == 2 && blocked.stderr.hasPrefix("replyguard: /etc/passwd") && blocked.stderr.contains("Not a directory"), "\(blocked.stderr)")
        let list = try Self.run(["rules", "list"], copy)
        #expect(list.status == 0 && list.stdout.contains("<embedded>/policy.yaml") && list.stdout.contains("commands here use: embedded"), "\(list.stdout)")
    }

    @Test func aNamedRulesDirectoryThatIsMissingIsAnErrorNeverTheEmbeddedSet() throws {
        let copy = try Self.copiedBinary()
        let option = try Self.run(["explain", "--rules", "nosuch", "你不说话没人把你当哑巴"], copy)
        #expect(option.status == 2 && option.stdout.isEmpty, "\(option.stdout)")
        #expect(option.stderr == "replyguard: nosuch: No such file or directory (--rules)\n", "\(option.stderr)")
        let variable = try Self.run(["check"], copy, env: ["REPLYGUARD_RULES": "/nonexistent-rg-rules"])
        #expect(variable.status == 2 && variable.stderr.contains("/nonexistent-rg-rules: No such file or directory ($REPLYGUARD_RULES)"), "\(variable.stderr)")
        // $REPLYGUARD_RULES is used when set; --rules wins over it.
        let viaVariable = try Self.run(["check"], copy, env: ["REPLYGUARD_RULES": CLI.root + "/rules"])
        #expect(viaVariable.status == 0 && viaVariable.lines.first?.hasPrefix("rules: \(CLI.root)/rules ($REPLYGUARD_RULES)") == true, "\(viaVariable.stdout)")
        let both = try Self.run(["check", "--rules", "nosuch"], copy, env: ["REPLYGUARD_RULES": CLI.root + "/rules"])
        #expect(both.status == 2 && both.stderr.contains("nosuch: No such file or directory (--rules)"))
        // A ./rules that is broken (here: a file) is reported, not skipped in favour of the built-in set.
        let dir = CLI.temporaryDirectory()
        try "not a directory\n".write(toFile: dir + "/rules", atomically: true, encoding: .utf8)
        let broken = try Self.run(["explain", "hi"], copy, cwd: dir)
        #expect(broken.status == 2 && broken.stderr.contains("rules: rules directory is not a directory"), "\(broken.stderr)")
        // ./rules is used before the built-in set.
        let local = try Self.run(["check"], copy, cwd: CLI.root)
        #expect(local.lines.first?.hasPrefix("rules: ./rules  policy") == true, "\(local.stdout)")
    }

    @Test func fileErrorsNameTheFileAndTheReasonInPlainWords() throws {
        let copy = try Self.copiedBinary()
        func plain(_ output: CLI.Output, _ expected: String, status: Int32 = 2, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(output.status == status, "\(output.stderr)", sourceLocation: sourceLocation)
            #expect(output.stderr.contains(expected), "\(output.stderr)", sourceLocation: sourceLocation)
            for leak in ["Domain=", "NSCocoaErrorDomain", "NSPOSIXErrorDomain", "POSIXError", "UserInfo", "couldn’t", "The operation could not"] {
                #expect(!output.stderr.contains(leak), "\(output.stderr)", sourceLocation: sourceLocation)
            }
        }
        plain(try Self.run(["scan", "nosuch"], copy), "replyguard: nosuch: No such file or directory\n")
        plain(try Self.run(["scan", "/proc/self/mem"], copy), "/proc/self/mem: Input/output error\n")
        let escalating = Array("为爱豆打ＣＡＬＬ\n".utf8)
        let queue = try Self.run(["filter", "--queue", "/etc/passwd/q"], copy, stdin: escalating)
        plain(queue, "replyguard: /etc/passwd/q: cannot open the review queue: Not a directory (/etc/passwd is a file)")
        let audit = try Self.run(["filter", "--queue", CLI.temporaryDirectory() + "/q", "--audit", "/etc/passwd/a.log"], copy, stdin: escalating)
        plain(audit, "replyguard: /etc/passwd/a.log: cannot open the audit log: Not a directory (/etc/passwd is a file)")
        plain(try Self.run(["review", "list", "--queue", "/etc/passwd/q"], copy), "replyguard: /etc/passwd/q: cannot open the review queue: Not a directory")
        plain(try Self.run(["learn", "--category", "insult", "--out", CLI.temporaryDirectory() + "/m.model", "nosuch.jsonl"], copy),
              "replyguard: nosuch.jsonl: No such file or directory\n")
        let corpus = ["clean", "evasions", "incidents", "mission", "news"].map { CLI.root + "/corpus/\($0).jsonl" }
        let learnOut = try Self.run(["learn", "--category", "insult", "--out", "/etc/passwd/m.model"] + corpus, copy)
        plain(learnOut, "replyguard: /etc/passwd/m.model: Not a directory (/etc/passwd is a file)\n")
        plain(try Self.run(["learn", "--category", "insult", "--out", CLI.temporaryDirectory() + "/m.model", CLI.root + "/corpus"], copy),
              "replyguard: \(CLI.root)/corpus: ")
        plain(try Self.run(["check", "--corpus", "nosuch"], copy), "nosuch: No such file or directory")
        plain(try Self.run(["explain", "--policy", "nosuch.yaml", "hi"], copy), "nosuch.yaml: cannot read file: No such file or directory")
    }
}
