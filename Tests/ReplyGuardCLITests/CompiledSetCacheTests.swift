import Foundation
import Testing

/// The compiled-set cache (`$REPLYGUARD_CACHE`): the same verdicts cold, warm and off; a damaged,
/// foreign or unusable file falls back to compiling from source with at most a warning; a changed pack
/// is never served from the old file; two writers at once leave a valid file.
@Suite struct CompiledSetCacheTests {
    /// `scan` over corpus/ with the embedded set (a copied binary in an empty directory).
    static func scan(_ copy: (binary: String, cwd: String), cache: String, rules: String? = nil) throws -> CLI.Output {
        var arguments = ["scan", "-j", "1", "--no-progress", CLI.root + "/corpus"]
        if let rules { arguments += ["--rules", rules] }
        return try EmbeddedRulesTests.run(arguments, copy, env: ["REPLYGUARD_CACHE": cache])
    }

    /// The warnings a run printed (scan also prints its summary line on stderr).
    static func warnings(_ output: CLI.Output) -> [Substring] {
        output.stderr.split(separator: "\n").filter { $0.contains("warning") }
    }

    /// The one cache file in `directory`.
    static func cacheFile(_ directory: String) throws -> String {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".bin") }
        try #require(names.count == 1, "cache files: \(names)")
        return directory + "/" + names[0]
    }

    /// The file's inode: a run that used the file leaves it; a run that rewrote it renamed a new one in.
    static func inode(_ path: String) throws -> UInt64 {
        try #require((try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? NSNumber)?.uint64Value)
    }

    @Test func coldWarmAndOffGiveByteIdenticalScanOutput() throws {
        let copy = try EmbeddedRulesTests.copiedBinary()
        let directory = CLI.temporaryDirectory() + "/cache"
        let off = try Self.scan(copy, cache: "off")
        #expect(off.status == 0 || off.status == 1, "\(off.stderr)")
        #expect(!FileManager.default.fileExists(atPath: directory))
        let cold = try Self.scan(copy, cache: directory)
        let file = try Self.cacheFile(directory)
        let written = try Self.inode(file)
        let warm = try Self.scan(copy, cache: directory)
        #expect(try Self.inode(file) == written, "the warm run rewrote the cache instead of using it")
        #expect(cold.stdout == off.stdout && warm.stdout == off.stdout)
        #expect(cold.status == off.status && warm.status == off.status)
        #expect(Self.warnings(cold).isEmpty && Self.warnings(warm).isEmpty, "\(cold.stderr)\(warm.stderr)")
        #expect(off.lines.count > 100)
        // explain (text and JSON) the same from the warm cache as without one.
        for arguments in [["explain", "你不说话没人把你当哑巴"], ["explain", "--json", "傻逼玩意儿，加微信1234567看片"]] {
            let cached = try EmbeddedRulesTests.run(arguments, copy, env: ["REPLYGUARD_CACHE": directory])
            let plain = try EmbeddedRulesTests.run(arguments, copy, env: ["REPLYGUARD_CACHE": "off"])
            #expect(cached.stdout == plain.stdout && cached.status == plain.status && cached.stderr.isEmpty, "\(cached.stderr)")
        }
        #expect(try Self.inode(file) == written)
    }

    @Test func aDamagedOrUnusableFileFallsBackWithTheSameVerdicts() throws {
        let copy = try EmbeddedRulesTests.copiedBinary()
        let reference = try Self.scan(copy, cache: "off")
        let directory = CLI.temporaryDirectory() + "/cache"
        _ = try Self.scan(copy, cache: directory)
        let file = try Self.cacheFile(directory)
        let good = try Data(contentsOf: URL(fileURLWithPath: file))
        func damaged(_ name: String, warns: Bool, _ damage: () throws -> Void) throws {
            try? FileManager.default.removeItem(atPath: file)
            try good.write(to: URL(fileURLWithPath: file))
            try damage()
            let run = try Self.scan(copy, cache: directory)
            #expect(run.stdout == reference.stdout && run.status == reference.status, "\(name): \(run.stderr)")
            let lines = Self.warnings(run)
            if warns {
                #expect(lines.count == 1 && lines[0].hasPrefix("replyguard: warning: compiled-set cache "), "\(name): \(run.stderr)")
            } else {
                #expect(lines.isEmpty, "\(name): \(run.stderr)")
            }
        }
        try damaged("truncated", warns: true) { try good.prefix(good.count / 2).write(to: URL(fileURLWithPath: file)) }
        // The damaged file was replaced by a good one: the next run uses it.
        let rewritten = try Self.inode(file)
        _ = try Self.scan(copy, cache: directory)
        #expect(try Self.inode(file) == rewritten)
        try damaged("one byte flipped", warns: true) {
            var bytes = good
            bytes[bytes.count * 2 / 3] ^= 0x10
            try bytes.write(to: URL(fileURLWithPath: file))
        }
        try damaged("cut to its header", warns: true) { try good.prefix(12).write(to: URL(fileURLWithPath: file)) }
        try damaged("another format version", warns: true) {
            var bytes = good
            bytes[7] = UInt8(ascii: "9")
            try bytes.write(to: URL(fileURLWithPath: file))
        }
        try damaged("a directory", warns: true) {
            try FileManager.default.removeItem(atPath: file)
            try FileManager.default.createDirectory(atPath: file, withIntermediateDirectories: false)
        }
        try damaged("a FIFO", warns: true) {
            try FileManager.default.removeItem(atPath: file)
            #expect(mkfifo(file, 0o600) == 0)
        }
        // No usable directory at all (a file where it should be): no cache, no warning.
        let blocked = CLI.temporaryDirectory() + "/file"
        FileManager.default.createFile(atPath: blocked, contents: Data("x".utf8))
        let unwritable = try Self.scan(copy, cache: blocked + "/cache")
        #expect(unwritable.stdout == reference.stdout && unwritable.status == reference.status && Self.warnings(unwritable).isEmpty, "\(unwritable.stderr)")
    }

    @Test func aChangedPackIsNeverServedFromTheOldFile() throws {
        let copy = try EmbeddedRulesTests.copiedBinary()
        let rules = CLI.temporaryDirectory() + "/rules"
        try FileManager.default.copyItem(atPath: CLI.root + "/rules", toPath: rules)
        let directory = CLI.temporaryDirectory() + "/cache"
        let text = "今天的会议改到周三下午"
        func explain(_ cache: String) throws -> CLI.Output {
            try EmbeddedRulesTests.run(["explain", "--json", "--rules", rules, text], copy, env: ["REPLYGUARD_CACHE": cache])
        }
        let before = try explain(directory)
        #expect(before.status == 0, "\(before.stdout)\(before.stderr)")
        #expect(try explain(directory).stdout == before.stdout)
        // A new pack file, the policy enabling it, the pack changed: each run gives what compiling from
        // source gives.
        try """
        pack: meeting
        version: 1
        category: meeting
        description: test pack
        rules:
          - id: meeting.moved
            title: moved meetings
            description: d
            action: block
            match:
              words: [会议改到]
            examples:
              match: ["⟦会议改到⟧明天"]
              no_match: ["x"]
        """.write(toFile: rules + "/meeting.yaml", atomically: true, encoding: .utf8)
        let added = try explain(directory), addedFresh = try explain("off")
        #expect(added.status == 0 && added.stdout == addedFresh.stdout, "\(added.stdout)\(added.stderr)")
        let policy = try String(contentsOfFile: rules + "/policy.yaml", encoding: .utf8)
        try policy.replacingOccurrences(of: "packs: [insult,", with: "packs: [meeting, insult,")
            .write(toFile: rules + "/policy.yaml", atomically: true, encoding: .utf8)
        let enabled = try explain(directory), enabledFresh = try explain("off")
        #expect(enabled.status == 1 && enabled.stdout.contains("meeting.moved"), "\(enabled.stdout)\(enabled.stderr)")
        #expect(enabled.stdout == enabledFresh.stdout)
        let pack = try String(contentsOfFile: rules + "/meeting.yaml", encoding: .utf8)
        try pack.replacingOccurrences(of: "会议改到", with: "会议取消").write(toFile: rules + "/meeting.yaml", atomically: true, encoding: .utf8)
        let changed = try explain(directory), changedFresh = try explain("off")
        #expect(changed.status == 0 && !changed.stdout.contains("meeting.moved"), "\(changed.stdout)\(changed.stderr)")
        #expect(changed.stdout == changedFresh.stdout)
    }

    @Test func twoWritersAtOnceLeaveAValidFile() throws {
        let copy = try EmbeddedRulesTests.copiedBinary()
        let reference = try Self.scan(copy, cache: "off")
        let directory = CLI.temporaryDirectory() + "/cache"
        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var outputs: [CLI.Output?] = [nil, nil]
        }
        let results = Results()
        DispatchQueue.concurrentPerform(iterations: 2) { index in
            let output = try? Self.scan(copy, cache: directory)
            results.lock.withLock { results.outputs[index] = output }
        }
        let outputs = results.outputs
        for output in outputs {
            #expect(output?.stdout == reference.stdout && output.map(Self.warnings)?.isEmpty == true, "\(output?.stderr ?? "no run")")
        }
        let file = try Self.cacheFile(directory)
        let written = try Self.inode(file)
        let warm = try Self.scan(copy, cache: directory)
        #expect(warm.stdout == reference.stdout && Self.warnings(warm).isEmpty, "\(warm.stderr)")
        #expect(try Self.inode(file) == written, "the file two writers left was not used")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).count == 1, "temporary files left behind")
    }
}
