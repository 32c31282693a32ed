import Foundation
import Testing

/// The CI check for an operator's repository (examples/pack-repo): pre-commit with the example's own hook
/// and with this repository's .pre-commit-hooks.yaml, and the GitHub Action's check step, fail with the
/// pack's file and line when a rule is broken and pass when it is fixed.
@Suite(.serialized) struct CICheckTests {
    static let preCommit: String? = {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let path = "\(dir)/pre-commit"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }()
    static let skipReason: Comment = "pre-commit not found (pip install pre-commit; .ci/run installs it): the hook test needs it"

    /// The environment: the built replyguard first on PATH, pre-commit's cache in `home`, no colour.
    static func environment(home: String) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["PATH"] = (CLI.binary as NSString).deletingLastPathComponent + ":" + (env["PATH"] ?? "/usr/bin:/bin")
        env["PRE_COMMIT_HOME"] = home + "/pre-commit-home"
        env["PRE_COMMIT_COLOR"] = "never"
        env["NO_COLOR"] = "1"
        env["REPLYGUARD_RULES"] = nil
        env["GIT_AUTHOR_NAME"] = "test"
        env["GIT_AUTHOR_EMAIL"] = "test@example.org"
        env["GIT_COMMITTER_NAME"] = "test"
        env["GIT_COMMITTER_EMAIL"] = "test@example.org"
        return env
    }

    static func run(_ command: String, in dir: String, home: String) throws -> CLI.Output {
        try CLI.runBounded(["-c", command], cwd: dir, executable: "/bin/bash", timeout: 300, environment: environment(home: home)).output
    }

    /// examples/pack-repo copied into a fresh git repository; returns its path and the scratch home.
    static func exampleRepository() throws -> (repo: String, home: String) {
        let home = CLI.temporaryDirectory()
        let repo = home + "/pack-repo"
        try FileManager.default.copyItem(atPath: CLI.root + "/examples/pack-repo", toPath: repo)
        let setup = try run("git init -q && git add -A && git commit -q -m example", in: repo, home: home)
        #expect(setup.status == 0, "\(setup.stderr)")
        return (repo, home)
    }

    static func edit(_ file: String, _ change: (String) -> String) throws {
        let text = try String(contentsOfFile: file, encoding: .utf8)
        let changed = change(text)
        #expect(changed != text, "the edit of \(file) changed nothing")
        try changed.write(toFile: file, atomically: true, encoding: .utf8)
    }

    /// The line (1-based) of the first line of `file` containing `text`.
    static func line(of text: String, in file: String) throws -> Int {
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        return try #require(lines.firstIndex { $0.contains(text) }) + 1
    }

    @Test(.enabled(if: preCommit != nil, skipReason)) func preCommitFailsAtTheBrokenRulesLineAndPassesWhenFixed() throws {
        let (repo, home) = try Self.exampleRepository()
        let pack = repo + "/rules/internal.yaml"
        let passing = try Self.run("pre-commit run --all-files", in: repo, home: home)
        #expect(passing.status == 0 && passing.stdout.contains("Passed"), "\(passing.stdout)\(passing.stderr)")

        // A match example that the rule no longer matches: reported at the example's line.
        let exampleLine = try Self.line(of: "⟦内部通报⟧", in: pack)
        try Self.edit(pack) { $0.replacingOccurrences(of: "⟦内部通报⟧", with: "⟦内部通知⟧") }
        let broken = try Self.run("pre-commit run --all-files", in: repo, home: home)
        #expect(broken.status == 1 && broken.stdout.contains("Failed"), "\(broken.stdout)\(broken.stderr)")
        #expect(broken.stdout.contains("rules/internal.yaml:\(exampleLine):11: match example: expected ⟦内部通知⟧"), "\(broken.stdout)")
        try Self.edit(pack) { $0.replacingOccurrences(of: "⟦内部通知⟧", with: "⟦内部通报⟧") }

        // A pack that does not load (an unknown key): reported at the key's line, exit 2.
        let titleLine = try Self.line(of: "title: A staff phone extension", in: pack)
        try Self.edit(pack) { $0.replacingOccurrences(of: "    title: A staff phone extension\n", with: "    title: A staff phone extension\n    severity: high\n") }
        let unloadable = try Self.run("pre-commit run --all-files", in: repo, home: home)
        #expect(unloadable.status == 1 && unloadable.stdout.contains("exit code: 2"), "\(unloadable.stdout)")
        #expect(unloadable.stdout.contains("rules/internal.yaml:\(titleLine + 1):5:"), "\(unloadable.stdout)")
        try Self.edit(pack) { $0.replacingOccurrences(of: "    severity: high\n", with: "") }

        // A word list entry gone: the corpus floor fails at the floors file, and the record is named.
        try Self.edit(repo + "/rules/lists/internal-terms.txt") { $0.replacingOccurrences(of: "值班内线\n", with: "") }
        let floor = try Self.run("pre-commit run --all-files", in: repo, home: home)
        #expect(floor.status == 1 && floor.stdout.contains("internal: recall 83.3% (5/6) below floor 100.0%")
                && floor.stdout.contains("corpus/internal.jsonl:6"), "\(floor.stdout)")
        try Self.edit(repo + "/rules/lists/internal-terms.txt") { $0 + "值班内线\n" }

        let fixed = try Self.run("pre-commit run --all-files", in: repo, home: home)
        #expect(fixed.status == 0 && fixed.stdout.contains("Passed"), "\(fixed.stdout)\(fixed.stderr)")
    }

    /// This repository's .pre-commit-hooks.yaml, as an operator's config names it (`pre-commit try-repo`
    /// runs a hook from a local clone of it, uncommitted changes included).
    @Test(.enabled(if: preCommit != nil, skipReason)) func thePublishedHookFailsWithFileAndLine() throws {
        let (repo, home) = try Self.exampleRepository()
        let pack = repo + "/rules/internal.yaml"
        let exampleLine = try Self.line(of: "⟦工作群⟧", in: pack)
        let passing = try Self.run("pre-commit try-repo '\(CLI.root)' replyguard-check --all-files", in: repo, home: home)
        #expect(passing.status == 0 && passing.stdout.contains("Passed"), "\(passing.stdout)\(passing.stderr)")
        try Self.edit(pack) { $0.replacingOccurrences(of: "⟦工作群⟧", with: "⟦工作组⟧") }
        #expect(try Self.run("git add -A", in: repo, home: home).status == 0)
        let broken = try Self.run("pre-commit try-repo '\(CLI.root)' replyguard-check --all-files", in: repo, home: home)
        #expect(broken.status == 1 && broken.stdout.contains("rules/internal.yaml:\(exampleLine):11: match example"), "\(broken.stdout)\(broken.stderr)")
    }

    /// action.yml's check step, run as a GitHub runner runs it (bash, its env, GITHUB_OUTPUT): annotations
    /// at the pack's line and a SARIF file; exit 1 when broken, 0 when fixed.
    @Test func theActionsCheckStepAnnotatesAndWritesSARIF() throws {
        let (repo, home) = try Self.exampleRepository()
        // The step's script, taken from action.yml (the block under `run: |` of the step with id: check).
        let action = try String(contentsOfFile: CLI.root + "/action.yml", encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        let stepStart = try #require(action.firstIndex { $0.trimmingCharacters(in: .whitespaces) == "- id: check" })
        let runStart = try #require(action[stepStart...].firstIndex { $0.trimmingCharacters(in: .whitespaces) == "run: |" })
        let script = action[(runStart + 1)...].prefix { $0.hasPrefix("        ") || $0.isEmpty }.map { $0.dropFirst(min(8, $0.count)) }.joined(separator: "\n")
        try script.write(toFile: home + "/check-step.sh", atomically: true, encoding: .utf8)
        let env = "GITHUB_OUTPUT=\(home)/output RULES=rules CORPUS=corpus FLOORS= ARGS='--list 3' SARIF=\(home)/report.sarif"
        let passing = try Self.run("\(env) bash \(home)/check-step.sh", in: repo, home: home)
        #expect(passing.status == 0 && passing.stdout.contains("floors: all met") && !passing.stdout.contains("::error"), "\(passing.stdout)\(passing.stderr)")
        #expect(try String(contentsOfFile: home + "/output", encoding: .utf8).hasPrefix("version="))
        let pack = repo + "/rules/internal.yaml"
        let exampleLine = try Self.line(of: "请拨打⟦内线8012⟧转接", in: pack)
        try Self.edit(pack) { $0.replacingOccurrences(of: "请拨打⟦内线8012⟧转接", with: "请拨打⟦内线801⟧转接") }
        let broken = try Self.run("\(env) bash \(home)/check-step.sh", in: repo, home: home)
        #expect(broken.status == 1, "\(broken.stdout)\(broken.stderr)")
        #expect(broken.stdout.contains("::error file=rules/internal.yaml,line=\(exampleLine),col=11,title=replyguard check%3A internal.extension::"), "\(broken.stdout)")
        let sarif = try String(contentsOfFile: home + "/report.sarif", encoding: .utf8)
        #expect(sarif.contains("\"uri\":\"rules/internal.yaml\"") && sarif.contains("\"startLine\":\(exampleLine)"), "\(sarif)")
    }
}
