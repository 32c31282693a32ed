import Foundation

extension CLI {
    /// Like ``run(_:stdin:cwd:executable:)``, but standard output goes to `stdoutPath` when given (e.g.
    /// `/dev/full`), and a run that takes longer than `timeout` seconds is killed (`timedOut` is then true),
    /// so a test of a hang fails instead of hanging the suite.
    static func runBounded(_ arguments: [String], stdin: [UInt8] = [], stdoutPath: String? = nil, cwd: String = root,
                           executable: String = binary, timeout: Double = 60,
                           environment: [String: String]? = nil) throws -> (output: Output, timedOut: Bool) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rgrun-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(atPath: dir + "/in", contents: Data(stdin))
        FileManager.default.createFile(atPath: dir + "/out", contents: nil)
        FileManager.default.createFile(atPath: dir + "/err", contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: cwd)
        // The compiled-set cache stays off unless a test asks for it (CompiledSetCacheTests): nothing is
        // written to the home directory, and every other test compiles its rules as a user without one.
        var environment = environment ?? ProcessInfo.processInfo.environment
        if environment["REPLYGUARD_CACHE"] == nil { environment["REPLYGUARD_CACHE"] = "off" }
        process.environment = environment
        process.standardInput = FileHandle(forReadingAtPath: dir + "/in")
        process.standardOutput = FileHandle(forWritingAtPath: stdoutPath ?? dir + "/out")
        process.standardError = FileHandle(forWritingAtPath: dir + "/err")
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        while process.isRunning {
            if Date() > deadline { kill(process.processIdentifier, SIGKILL); timedOut = true; break }
            usleep(20_000)
        }
        process.waitUntilExit()
        let output = Output(status: process.terminationStatus,
                            stdout: String(decoding: FileManager.default.contents(atPath: dir + "/out") ?? Data(), as: UTF8.self),
                            stderr: String(decoding: FileManager.default.contents(atPath: dir + "/err") ?? Data(), as: UTF8.self))
        return (output, timedOut)
    }

    /// A fresh temporary directory.
    static func temporaryDirectory() -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rgfc-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A copy of the shipped packs without their policy, to put a test policy beside.
    static func rulesWithoutPolicy() -> String {
        let dir = temporaryDirectory() + "/rules"
        try! FileManager.default.copyItem(atPath: root + "/rules", toPath: dir)
        try? FileManager.default.removeItem(atPath: dir + "/policy.yaml")
        return dir
    }
}
