import Foundation
import Testing

/// #12.5: a truncated gzip (or one with only a header) ended the scan early with exit 0.
@Suite struct GzipTruncationTests {
    @Test func truncatedAndHeaderOnlyGzipAreErrors() throws {
        let dir = CLI.temporaryDirectory()
        let plain = dir + "/r.txt"
        try String(repeating: "您好，办事大厅周一至周五开放。\n", count: 20_000).write(toFile: plain, atomically: true, encoding: .utf8)
        let gzip = try CLI.run(["-c", "gzip -c '\(plain)' > '\(plain).gz'"], executable: "/bin/bash")
        #expect(gzip.status == 0)
        let whole = try Data(contentsOf: URL(fileURLWithPath: plain + ".gz"))
        #expect(try CLI.run(["scan", "--format", "summary", plain + ".gz"]).status == 0)
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: dir + "/cut.txt.gz"))
        let cut = try CLI.run(["scan", "--format", "summary", dir + "/cut.txt.gz"])
        #expect(cut.status == 2)
        #expect(cut.stderr.contains("cut.txt.gz") && cut.stderr.contains("truncated"), "\(cut.stderr)")
        try whole.prefix(10).write(to: URL(fileURLWithPath: dir + "/header.txt.gz"))
        let header = try CLI.run(["scan", "--format", "summary", dir + "/header.txt.gz"])
        #expect(header.status == 2)
        #expect(header.stderr.contains("truncated"), "\(header.stderr)")
    }
}
