import Foundation
import Testing

/// #12.9: a dangling policy.yaml symlink was taken as "no policy" (the built-in one used silently), and
/// `version: 2` was accepted.
@Suite struct PolicyFileTests {
    @Test func danglingPolicySymlinkIsAnError() throws {
        let rules = CLI.rulesWithoutPolicy()
        try FileManager.default.createSymbolicLink(atPath: rules + "/policy.yaml", withDestinationPath: rules + "/missing-policy.yaml")
        let check = try CLI.run(["check", "--rules", rules])
        #expect(check.status == 2)
        #expect(check.stderr.contains("policy.yaml"), "\(check.stderr)")
        let filter = try CLI.run(["filter", "--rules", rules, "--queue", CLI.temporaryDirectory() + "/q.sqlite3"], stdin: Array("您好\n".utf8))
        #expect(filter.status == 2 && filter.stdout.isEmpty)
    }

    @Test func unknownPolicyVersionIsAnError() throws {
        let rules = CLI.rulesWithoutPolicy()
        try "version: 2\n".write(toFile: rules + "/policy.yaml", atomically: true, encoding: .utf8)
        let check = try CLI.run(["check", "--rules", rules])
        #expect(check.status == 2)
        #expect(check.stderr.contains("policy.yaml:1:") && check.stderr.contains("version"), "\(check.stderr)")
        try "version: 1\n".write(toFile: rules + "/policy.yaml", atomically: true, encoding: .utf8)
        #expect(try CLI.run(["check", "--rules", rules]).status == 0)
    }
}
