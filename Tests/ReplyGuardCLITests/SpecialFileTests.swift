import Foundation
import Testing

/// #12.7: `scan DIR` opened special files: a FIFO named *.txt hung, a *.txt symlink to /dev/zero grew
/// without end. Directories yield regular files only; skipped ones are named on standard error.
@Suite struct SpecialFileTests {
    @Test func scanOfADirectorySkipsFIFOsAndDevices() throws {
        let dir = CLI.temporaryDirectory()
        #expect(mkfifo(dir + "/a.txt", 0o600) == 0)
        try FileManager.default.createSymbolicLink(atPath: dir + "/b.txt", withDestinationPath: "/dev/zero")
        try "傻逼\n".write(toFile: dir + "/c.txt", atomically: true, encoding: .utf8)
        try "您好\n".write(toFile: dir + "/real.txt", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: dir + "/d.txt", withDestinationPath: dir + "/real.txt")
        let (result, timedOut) = try CLI.runBounded(["scan", dir], timeout: 20)
        #expect(!timedOut)
        #expect(result.status == 1)
        #expect(try result.records().count == 3) // c.txt, real.txt, and d.txt (a symlink to a regular file)
        #expect(result.stderr.contains("a.txt") && result.stderr.contains("b.txt") && result.stderr.contains("not a regular file"), "\(result.stderr)")
    }
}
