import Foundation
import Testing

/// `rules export` is all or nothing (#17): it used to write the packs one by one, so a subdirectory that
/// could not be created (or a full disk) left a partial rule set that `--rules` would then load.
@Suite struct RulesExportTests {
    /// Every entry under `dir`, hidden ones included (relative paths, sorted).
    static func entries(_ dir: String) -> [String] {
        (FileManager.default.enumerator(atPath: dir)?.allObjects as? [String] ?? []).sorted()
    }

    /// Runs `rules export ARGS…` with a file-size limit of 1000 blocks (512,000 bytes: above every pack, below the model) and SIGXFSZ ignored,
    /// so writing the 2 MB model file fails part way (EFBIG, "File too large") after the packs are written.
    static func exportWithSmallFileLimit(_ arguments: [String]) throws -> CLI.Output {
        try CLI.runBounded(["-c", "ulimit -f 1000; trap '' XFSZ; exec \"$0\" rules export \"$@\"", CLI.binary] + arguments,
                           executable: "/bin/sh").output
    }

    @Test func aSubdirectoryThatCannotBeCreatedLeavesNothingBehind() throws {
        let dir = CLI.temporaryDirectory() + "/mine"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "in the way\n".write(toFile: dir + "/models", atomically: true, encoding: .utf8)
        let export = try CLI.run(["rules", "export", dir])
        #expect(export.status == 2)
        #expect(export.stderr.contains("replyguard: \(dir)/models/offensive.model: Not a directory (\(dir)/models is a file)"), "\(export.stderr)")
        #expect(export.stderr.hasSuffix("replyguard: nothing written\n"))
        #expect(Self.entries(dir) == ["models"])
        let forced = try CLI.run(["rules", "export", "--force", dir])
        #expect(forced.status == 2 && Self.entries(dir) == ["models"], "\(forced.stderr)")
    }

    @Test func aWriteThatFailsPartWayLeavesNothingBehind() throws {
        // A new directory (and its missing parent): built aside, never renamed into place.
        let parent = CLI.temporaryDirectory()
        let fresh = try Self.exportWithSmallFileLimit([parent + "/new/rules"])
        #expect(fresh.status == 2 && fresh.stderr.contains("\(parent)/new/rules/models/offensive.model: File too large"), "\(fresh.stderr)")
        #expect(Self.entries(parent).isEmpty, "\(Self.entries(parent))")
        // An existing, empty directory.
        let empty = CLI.temporaryDirectory()
        let intoEmpty = try Self.exportWithSmallFileLimit([empty])
        #expect(intoEmpty.status == 2 && intoEmpty.stderr.contains("File too large"), "\(intoEmpty.stderr)")
        #expect(Self.entries(empty).isEmpty, "\(Self.entries(empty))")
        // --force over an earlier export with an edit: the edit and every other file stay as they were.
        let mine = CLI.temporaryDirectory() + "/mine"
        #expect(try CLI.run(["rules", "export", mine]).status == 0)
        try "edited\n".write(toFile: mine + "/insult.yaml", atomically: true, encoding: .utf8)
        let before = Self.entries(mine)
        let forced = try Self.exportWithSmallFileLimit(["--force", mine])
        #expect(forced.status == 2 && forced.stderr.contains("File too large"), "\(forced.stderr)")
        #expect(Self.entries(mine) == before)
        #expect(try String(contentsOfFile: mine + "/insult.yaml", encoding: .utf8) == "edited\n")
    }

    @Test func anExportLeavesNoTemporariesAndKeepsOtherFiles() throws {
        let parent = CLI.temporaryDirectory()
        let out = parent + "/a/rules"
        let export = try CLI.run(["rules", "export", out])
        #expect(export.status == 0, "\(export.stderr)")
        #expect(Self.entries(parent).allSatisfy { !$0.contains(".rg-export") } && Self.entries(parent).contains("a/rules/models/offensive.model"))
        let mode = try FileManager.default.attributesOfItem(atPath: out)[.posixPermissions] as? Int
        #expect(mode == 0o755 || mode == 0o775, "\(String(mode ?? 0, radix: 8))")
        try "mine\n".write(toFile: out + "/mine.txt", atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: out + "/models")
        let again = try CLI.run(["rules", "export", "--force", out])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try String(contentsOfFile: out + "/mine.txt", encoding: .utf8) == "mine\n")
        #expect(FileManager.default.fileExists(atPath: out + "/models/offensive.model"))
        #expect(Self.entries(parent).allSatisfy { !$0.contains(".rg-export") })
        #expect(try CLI.run(["check", "--rules", out]).status == 0)
    }

    /// NSString's deletingLastPathComponent traps on a one-character relative path: `--policy p`,
    /// `learn --out q/m.model` and `rules export d` crashed (SIGILL) instead of working or saying why not.
    @Test func oneCharacterRelativePathsWork() throws {
        let dir = CLI.temporaryDirectory()
        try "version: 1\npacks: [insult]\n".write(toFile: dir + "/p", atomically: true, encoding: .utf8)
        let policy = try CLI.run(["explain", "--rules", CLI.root + "/rules", "--policy", "p", "你不说话没人把你当哑巴"], cwd: dir)
        #expect(policy.status == 1 && policy.stdout.contains("insult.mute-mockery"), "\(policy.stdout)\(policy.stderr)")
        try LearnTests.corpusLines().write(toFile: dir + "/t.jsonl", atomically: true, encoding: .utf8)
        let learn = try CLI.run(["learn", "--category", "insult", "--buckets", "4096", "--max-false-alarm", "0.05", "--out", "q/m.model", "t.jsonl"], cwd: dir)
        #expect(learn.status == 2 && learn.stderr.contains("replyguard: q/m.model: No such file or directory"), "\(learn.stderr)")
        let export = try CLI.run(["rules", "export", "d"], cwd: dir)
        #expect(export.status == 0 && FileManager.default.fileExists(atPath: dir + "/d/policy.yaml"), "\(export.stderr)")
    }
}
