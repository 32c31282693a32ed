import Foundation
import Testing
@testable import ReplyGuard

/// The loader reads an in-memory rule set mounted at `<embedded>` through the same code path as a
/// directory: packs, word lists, models, policy, profiles with `extends`, and diagnostics with paths.
@Suite struct EmbeddedRuleSetTests {
    static func embedded(_ files: [String: String]) -> RuleFiles {
        RuleFiles(embedded: EmbeddedRuleSet(label: "test", files: files.map { entry in
            let bytes = Array(entry.value.utf8)
            return (entry.key, bytes.count, { bytes })
        }))
    }

    static let valid: [String: String] = [
        "t.yaml": pack(match: "words_file: lists/core.txt"),
        "lists/core.txt": "# core words\n傻瓜蛋\n",
        "policy.yaml": "version: 1\npacks: [t]\nfallback_reply: 抱歉\n",
        "profiles/p.yaml": "version: 1\nextends: ../policy.yaml\nfallback_reply: 另一个\n",
    ]

    @Test func anEmbeddedSetLoadsLikeTheSameFilesOnDiskWithTheSameDigest() throws {
        let files = Self.embedded(Self.valid)
        let fromMemory = try RuleLoader.load(rulesDirectory: EmbeddedRuleSet.root, files: files)
        let dir = makeRulesDirectory(Self.valid)
        let fromDisk = try RuleLoader.load(rulesDirectory: dir)
        #expect(fromMemory.packs.map(\.file) == ["<embedded>/t.yaml"])
        #expect(fromMemory.policy.publishing.fallbackReply == "抱歉")
        #expect(fromMemory.digest == fromDisk.digest)
        #expect(Engine(ruleSet: fromMemory).decide("你这个傻瓜蛋").verdict == .block)
        // A profile extends ../policy.yaml inside the embedded set.
        let profile = try RuleLoader.load(rulesDirectory: EmbeddedRuleSet.root, policyFile: files.resolve("profiles/p.yaml", in: EmbeddedRuleSet.root), files: files)
        let profileOnDisk = try RuleLoader.load(rulesDirectory: dir, policyFile: dir + "/profiles/p.yaml")
        #expect(profile.policy.publishing.fallbackReply == "另一个" && profile.policy.packs == ["t"])
        #expect(profile.digest == profileOnDisk.digest && profile.digest != fromMemory.digest)
        // A word list's content is in the digest.
        var edited = Self.valid
        edited["lists/core.txt"] = "傻瓜蛋\n笨蛋\n"
        #expect(try RuleLoader.load(rulesDirectory: EmbeddedRuleSet.root, files: Self.embedded(edited)).digest != fromMemory.digest)
    }

    @Test func problemsInEmbeddedFilesNameTheirEmbeddedPaths() {
        var files = Self.valid
        files["lists/core.txt"] = "好词\n，。！\n"
        files["u.yaml"] = pack("u", match: "regex: 'ab(c'")
        files["m.yaml"] = "pack: m\nversion: 1\ncategory: m\ndescription: d\nmodel: models/none.model\n"
        files["v.yaml"] = pack("v", match: "words_file: ../../../etc/hostname")
        do {
            _ = try RuleLoader.load(rulesDirectory: EmbeddedRuleSet.root, files: Self.embedded(files))
            Issue.record("expected problems")
        } catch {
            let lines = error.problems.map(\.description)
            #expect(lines.contains { $0.hasPrefix("<embedded>/lists/core.txt:2:") && $0.contains("normalizes to nothing") }, "\(lines)")
            #expect(lines.contains { $0.hasPrefix("<embedded>/u.yaml:") && $0.contains("regex") }, "\(lines)")
            #expect(lines.contains { $0.hasPrefix("<embedded>/m.yaml:5:") && $0.contains("looked for <embedded>/models/none.model") }, "\(lines)")
            // A path that climbs out of the embedded set is not read from the disk.
            #expect(lines.contains { $0.hasPrefix("<embedded>/v.yaml:") && $0.contains("words_file '../../../etc/hostname' not found") }, "\(lines)")
        }
        // A missing profile or rules directory in the set is a plain "No such file or directory".
        do {
            _ = try RuleLoader.load(rulesDirectory: EmbeddedRuleSet.root + "/nope", files: Self.embedded(Self.valid))
            Issue.record("expected a problem")
        } catch {
            #expect(error.problems.map(\.description) == ["<embedded>/nope: rules directory not found: No such file or directory"])
        }
    }

    /// Start-up (issue 19): the checks that depend only on the files' content — the filler check on a
    /// regex rule's examples, a model file's `end` checksum — are skipped only for an embedded set marked
    /// verified at build (the binary's own, which the tests check with `replyguard check`). The same
    /// bytes on disk, in an unmarked embedded set, or loaded with `verifyEmbedded` (what `check` does)
    /// are refused; a policy read from disk brings the filler check back (its `max_filler` and
    /// exceptions change what the examples match).
    @Test func contentChecksAreSkippedOnlyForTheBuildVerifiedEmbeddedSet() throws {
        var model = NGramModel(category: "m", buckets: 1024)
        model.weights[5] = 0.5
        model.weights[77] = -0.25
        let sealed = model.serialized()
        #expect(sealed.contains("\nw 5 0.5000\n"))
        let regexPack = "pack: p\nversion: 1.0.0\ncategory: p\ndescription: d\nrules:\n  - id: p.r\n    title: t\n    description: d\n"
            + "    action: block\n    match: {regex: '闭嘴'}\n    examples: {match: [\"他说⟦闭嘴⟧\"], no_match: [\"张嘴\"]}\n"
        let modelPack = "pack: m\nversion: 1.0.0\ncategory: m\ndescription: d\nmodel: models/m.model\n"
        // One weight changed after sealing: the end line's checksum no longer holds.
        let damagedModel = sealed.replacingOccurrences(of: "\nw 5 0.5000\n", with: "\nw 5 0.7000\n")
        let cases: [(files: [String: String], problem: String, decides: String?)] = [
            (["p.yaml": regexPack], "p.r: match example holds as written but not with", "他说闭嘴"),
            (["m.yaml": modelPack, "models/m.model": damagedModel], "checksum mismatch", nil),
        ]
        func problems(_ load: () throws(RuleLoadFailure) -> RuleSet) -> [String] {
            do {
                _ = try load()
                return []
            } catch {
                return error.problems.map(\.description)
            }
        }
        let root = EmbeddedRuleSet.root
        let policyOnDisk = makeRulesDirectory(["policy.yaml": "version: 1\n"]) + "/policy.yaml"
        for (files, problem, decides) in cases {
            func mounted(verified: Bool) -> RuleFiles {
                RuleFiles(embedded: EmbeddedRuleSet(label: "test", files: files.map { entry in
                    let bytes = Array(entry.value.utf8)
                    return (entry.key, bytes.count, { bytes })
                }, verifiedAtBuild: verified))
            }
            let trusted = try RuleLoader.load(rulesDirectory: root, files: mounted(verified: true))
            #expect(trusted.contentChecks == .verifiedAtBuild)
            if let decides { #expect(Engine(ruleSet: trusted).decide(decides).verdict == .block) }
            let dir = makeRulesDirectory(files)
            let refused: [(String, [String])] = [
                ("unmarked embedded set", problems { () throws(RuleLoadFailure) in try RuleLoader.load(rulesDirectory: root, files: mounted(verified: false)) }),
                ("verifyEmbedded", problems { () throws(RuleLoadFailure) in
                    try RuleLoader.load(rulesDirectory: root, files: mounted(verified: true), verifyEmbedded: true)
                }),
                ("the same files on disk", problems { () throws(RuleLoadFailure) in try RuleLoader.load(rulesDirectory: dir) }),
            ]
            for (what, found) in refused {
                #expect(found.contains { $0.contains(problem) }, "\(what): \(found)")
            }
            // A policy from disk: the filler check runs (the model file is still the verified one).
            let withPolicy = problems { () throws(RuleLoadFailure) in
                try RuleLoader.load(rulesDirectory: root, policyFile: policyOnDisk, files: mounted(verified: true))
            }
            #expect(withPolicy.contains { $0.contains(problem) } == (decides != nil), "\(withPolicy)")
        }
    }

    /// A derived word's text is built from its scalar values straight as UTF-8 (start-up, issue 19):
    /// the same String the scalar view gave, surrogates and other non-scalars left out.
    @Test func derivedWordTextIsTheScalarViewsString() {
        let cases: [[UInt32]] = [[], [0x50BB, 0x74DC], [0x61, 0xE9, 0x4E2D, 0x1F600, 0x10FFFF],
                                 [0x61, 0xD800, 0x62, 0x110000, 0x7F, 0x80, 0x7FF, 0x800, 0xFFFF, 0x10000]]
        for values in cases {
            #expect(Word.text(of: values) == String(String.UnicodeScalarView(values.compactMap(Unicode.Scalar.init))), "\(values)")
        }
    }

    /// `preimages(of:)` looks only at the scalars that fold or expand (start-up, issue 19): the same
    /// answer as scanning the whole table, for ASCII, fullwidth forms, CJK punctuation and ideographs,
    /// digits, emoji, an ignorable and targets above the flat table.
    @Test func preimagesMatchAScanOfTheWholeTable() {
        let tables = NormalizationTables.shared
        func scanned(_ target: UInt32) -> [UInt32] {
            func holds(_ entry: UInt32) -> Bool {
                switch entry >> NormalizationTables.kindShift {
                case NormalizationTables.keep, NormalizationTables.filler: return entry & 0x1F_FFFF == target
                case NormalizationTables.expansion:
                    let count = Int(entry >> 21 & 0xFF), offset = Int(entry & 0x1F_FFFF)
                    return tables.expansions[offset..<offset + count].contains {
                        $0 >> NormalizationTables.kindShift <= NormalizationTables.filler && $0 & 0x1F_FFFF == target
                    }
                default: return false
                }
            }
            var result = (0..<UInt32(NormalizationTables.flatLimit)).filter { holds(tables.flat[Int($0)]) }
            result += tables.high.filter { holds($0.value) }.map(\.key).sorted()
            if target >= NormalizationTables.flatLimit && tables.high[target] == nil { result.append(target) }
            return result
        }
        let targets: [UInt32] = Array(0x20...0x7E) + [0x00, 0xA0, 0xE9, 0x200B, 0x3000, 0x3001, 0x3002, 0x3010, 0x3011, 0xFF01, 0xFF21, 0xFF41,
                                                   0x4E00, 0x50BB, 0x74DC, 0x6C35, 0x6C14, 0x2460, 0x1F600, 0x20000, 0xE0041, 0x10FFFF]
        var folding = 0
        for target in targets {
            let found = tables.preimages(of: target)
            #expect(found == scanned(target), "U+\(String(target, radix: 16))")
            if found.count > 1 { folding += 1 }
        }
        #expect(folding > 40) // most ASCII letters and digits have fullwidth and other forms folding into them
    }

    @Test func withoutAMountAPathNamedEmbeddedIsAnOrdinaryPath() {
        #expect(RuleFiles.disk.resolve("x.yaml", in: "<embedded>") == "<embedded>/x.yaml")
        #expect(!RuleFiles.disk.exists("<embedded>/policy.yaml"))
        #expect(Self.embedded(Self.valid).resolve("../policy.yaml", in: "<embedded>/profiles") == "<embedded>/policy.yaml")
        #expect(Self.embedded(Self.valid).resolve("/etc/hostname", in: "<embedded>") == "/etc/hostname")
    }
}
