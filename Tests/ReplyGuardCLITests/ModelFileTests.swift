import Foundation
import Testing

/// Model files through the binary (#17 R6): a shipped model cut short at a line boundary is a load error
/// at its `file:line` (it used to load and stop flagging), format-1 files are refused with the way to
/// convert them, and `rules seal` converts a complete one byte for byte.
@Suite struct ModelFileTests {
    /// The README's own example of an offensive.model hit.
    static let offensive = "黑人犯罪率高是黑人的基因，黑人热衷偷抢而不是努力工作"

    /// A copy of the shipped rules and the path of its offensive.model.
    static func copiedRules() -> (rules: String, model: String) {
        let rules = CLI.temporaryDirectory() + "/rules"
        try! FileManager.default.copyItem(atPath: CLI.root + "/rules", toPath: rules)
        return (rules, rules + "/models/offensive.model")
    }

    static func lines(_ path: String) -> [String] {
        String(decoding: FileManager.default.contents(atPath: path)!, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    @Test func aShippedModelCutAtALineBoundaryIsALoadErrorAtItsLine() throws {
        let shipped = Self.lines(CLI.root + "/rules/models/offensive.model")
        let weights = shipped.filter { $0.hasPrefix("w ") }.count
        let header = shipped.firstIndex { $0.hasPrefix("w ") }!
        for keep in [header, header + weights / 2, shipped.count - 1] {
            let (rules, model) = Self.copiedRules()
            try (shipped.prefix(keep).joined(separator: "\n") + "\n").write(toFile: model, atomically: true, encoding: .utf8)
            let check = try CLI.run(["check", "--rules", rules])
            #expect(check.status == 2, "kept \(keep) lines: \(check.stdout)")
            #expect(check.stderr.contains("/models/offensive.model:\(keep): the file ends at this line without its 'end COUNT sha256:HEX' line"),
                    "\(check.stderr)")
            let explain = try CLI.run(["explain", "--rules", rules, Self.offensive])
            #expect(explain.status == 2 && !explain.stdout.contains("verdict"), "\(explain.stdout)")
        }
        // The whole file loads and flags the example.
        let explain = try CLI.run(["explain", "--rules", CLI.root + "/rules", Self.offensive])
        #expect(explain.status == 1 && explain.stdout.contains("offensive.model [insult] score"), "\(explain.stdout)\(explain.stderr)")
    }

    @Test func aFormat1ModelIsRefusedUntilSealed() throws {
        let (rules, model) = Self.copiedRules()
        let sealed = try #require(FileManager.default.contents(atPath: model))
        var lines = Self.lines(model)
        lines.removeLast()
        lines[0] = "replyguard-model 1"
        let version1 = lines.joined(separator: "\n") + "\n"
        try version1.write(toFile: model, atomically: true, encoding: .utf8)
        let refused = try CLI.run(["check", "--rules", rules])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("offensive.model:1: model format version 1 has no 'end' line") && refused.stderr.contains("replyguard rules seal"),
                "\(refused.stderr)")

        let seal = try CLI.run(["rules", "seal", model])
        #expect(seal.status == 0 && seal.stdout.contains("sealed (\(lines.filter { $0.hasPrefix("w ") }.count) weight lines"), "\(seal.stdout)\(seal.stderr)")
        #expect(FileManager.default.contents(atPath: model) == sealed)
        #expect(try CLI.run(["check", "--rules", rules]).status == 0)
        let again = try CLI.run(["rules", "seal", model])
        #expect(again.status == 0 && again.stdout.contains("already sealed"))
        #expect(FileManager.default.contents(atPath: model) == sealed)

        // A format-1 file that cannot be whole (its last line has no line break) is refused and left as it is.
        let cut = String(version1.dropLast(3))
        try cut.write(toFile: model, atomically: true, encoding: .utf8)
        let refusedSeal = try CLI.run(["rules", "seal", model])
        #expect(refusedSeal.status == 2 && refusedSeal.stderr.contains("no line break") && refusedSeal.stderr.contains("not sealed"), "\(refusedSeal.stderr)")
        #expect(FileManager.default.contents(atPath: model) == Data(cut.utf8))
    }
}
