import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A Python fixture of Tests/Fixtures (a fake upstream) that prints its port on its first line, then
/// serves. It is killed when the value is dropped — a rig whose `serve` fails to start drops it as its
/// init throws — and it exits by itself when its standard input closes (`--exit-when-stdin-closes`),
/// that is when the test process ends however it ends, so no fixture outlives a test run.
final class FixtureProcess {
    let process: Process
    /// The ports the script printed on its first line (its server's first).
    let ports: [Int]
    var port: Int { ports[0] }
    private let input: Pipe

    init(_ script: String) throws {
        let process = Process()
        let input = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", CLI.root + "/Tests/Fixtures/" + script, "--exit-when-stdin-closes"]
        let out = Pipe()
        process.standardOutput = out
        process.standardInput = input
        try process.run()
        var bytes = Data() // the first line, however the pipe splits it
        while !bytes.contains(UInt8(ascii: "\n")) {
            let more = out.fileHandleForReading.availableData
            if more.isEmpty { break }
            bytes += more
        }
        let line = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let ports = line.split(separator: " ").compactMap { Int($0) }
        guard !ports.isEmpty else {
            kill(process.processIdentifier, SIGKILL) // (SIGTERM may be blocked in the test process, and so in its children)
            process.waitUntilExit()
            throw ServeTestError("\(script) did not start: \(line)")
        }
        self.process = process
        self.input = input
        self.ports = ports
    }

    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { stop() }
}

/// A `replyguard serve` process on an ephemeral loopback port, stopped (SIGTERM, then SIGKILL) by
/// ``stop()`` or when the value is dropped.
final class ServeProcess {
    let process: Process
    let directory: String
    let port: Int
    let token: String?
    let stderrPath: String
    let queuePath: String
    let auditPath: String

    /// Starts the server; throws with its standard error when it does not print its port within 60 s.
    /// `sharing`: a server whose queue and audit log this one uses (a restart).
    init(arguments: [String] = [], token: String? = "test-token-\(UUID().uuidString)", useTokenFile: Bool = false,
         rules: String = CLI.root + "/rules", sharing earlier: ServeProcess? = nil) throws {
        let directory = CLI.temporaryDirectory()
        let stderrPath = directory + "/stderr"
        let process = Process()
        self.directory = directory
        self.stderrPath = stderrPath
        let queuePath = earlier?.queuePath ?? directory + "/queue.sqlite3"
        let auditPath = earlier?.auditPath ?? directory + "/audit.jsonl"
        self.queuePath = queuePath
        self.auditPath = auditPath
        self.token = token
        self.process = process
        FileManager.default.createFile(atPath: stderrPath, contents: nil)
        var environment = ProcessInfo.processInfo.environment
        environment["REPLYGUARD_TOKEN"] = nil
        var tokenArguments: [String] = []
        if let token {
            if useTokenFile {
                try (token + "\n").write(toFile: directory + "/token", atomically: true, encoding: .utf8)
                chmod(directory + "/token", 0o600) // serve refuses a token file others can read
                tokenArguments = ["--token-file", directory + "/token"]
            } else {
                environment["REPLYGUARD_TOKEN"] = token
            }
        }
        process.executableURL = URL(fileURLWithPath: CLI.binary)
        process.arguments = ["serve", "--listen", "127.0.0.1:0", "--rules", rules, "--queue", queuePath, "--audit", auditPath] + tokenArguments + arguments
        process.environment = environment
        process.currentDirectoryURL = URL(fileURLWithPath: CLI.root)
        process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        var found: Int?
        while found == nil, Date() < deadline, process.isRunning {
            if let text = try? String(contentsOfFile: stderrPath, encoding: .utf8),
               let range = text.range(of: #"listening on http://127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                found = Int(text[range].split(separator: ":").last!)
            } else {
                usleep(20_000)
            }
        }
        guard let found else {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            throw ServeTestError("serve did not start: \((try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "")")
        }
        port = found
    }

    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Sends SIGTERM and waits (SIGKILL after 10 s); returns the exit status.
    @discardableResult
    func stop() -> Int32 {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            let deadline = Date().addingTimeInterval(10)
            while process.isRunning, Date() < deadline { usleep(20_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() } }

    var authorization: [(String, String)] { token.map { [("Authorization", "Bearer \($0)")] } ?? [] }

    func request(_ method: String, _ path: String, body: [UInt8]? = nil, headers: [(String, String)]? = nil,
                 contentType: String = "application/json") throws -> HTTPReply {
        try HTTPClient.send(port: port, method: method, path: path, headers: (headers ?? authorization) + (body == nil ? [] : [("Content-Type", contentType)]), body: body)
    }

    func post(_ path: String, json: String, headers: [(String, String)]? = nil) throws -> HTTPReply {
        try request("POST", path, body: Array(json.utf8), headers: headers)
    }
}

struct ServeTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

struct HTTPReply {
    let status: Int
    let headers: [(String, String)]
    let body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }
    func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    func json() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else { throw ServeTestError("not a JSON object: \(text)") }
        return object
    }
    func results() throws -> [[String: Any]] { try json()["results"] as? [[String: Any]] ?? [] }
}

/// A deliberately small HTTP/1.1 client on a raw socket (`Connection: close`, read to end of stream),
/// so tests can send exactly the bytes they mean: invalid UTF-8, a lying Content-Length, chunks.
enum HTTPClient {
    static func send(port: Int, method: String, path: String, headers: [(String, String)], body: [UInt8]?,
                     rawHead: String? = nil, chunks: [[UInt8]]? = nil) throws -> HTTPReply {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        var bytes: [UInt8]
        if let rawHead {
            bytes = Array(rawHead.utf8)
        } else if let chunks {
            head += "Transfer-Encoding: chunked\r\n\r\n"
            bytes = Array(head.utf8)
            for chunk in chunks { bytes += Array("\(String(chunk.count, radix: 16))\r\n".utf8) + chunk + Array("\r\n".utf8) }
            bytes += Array("0\r\n\r\n".utf8)
        } else {
            if let body { head += "Content-Length: \(body.count)\r\n" }
            bytes = Array((head + "\r\n").utf8) + (body ?? [])
        }
        return try exchange(port: port, bytes)
    }

    /// A TCP socket connected to the server on 127.0.0.1, reads timing out after `receiveTimeout` seconds.
    static func connectedSocket(port: Int, receiveTimeout: Int = 30) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ServeTestError("socket: \(errno)") }
        var timeout = timeval(tv_sec: receiveTimeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { close(fd); throw ServeTestError("connect to port \(port): errno \(errno)") }
        return fd
    }

    static func exchange(port: Int, _ bytes: [UInt8]) throws -> HTTPReply {
        let fd = try connectedSocket(port: port, receiveTimeout: 60)
        defer { close(fd) }
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break } // the server may answer (413) and close before reading everything
            offset += n
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            response += buffer[0..<n]
        }
        return try parse(response)
    }

    static func parse(_ response: [UInt8]) throws -> HTTPReply {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = (0..<max(0, response.count - 3)).first(where: { Array(response[$0..<$0 + 4]) == separator }) else {
            throw ServeTestError("no HTTP response head in \(response.count) bytes: \(String(decoding: response, as: UTF8.self))")
        }
        let lines = String(decoding: response[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let status = Int(lines[0].split(separator: " ")[1]) ?? 0
        let headers = lines.dropFirst().compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        return HTTPReply(status: status, headers: headers, body: Array(response[(end + 4)...]))
    }
}

/// A counter several threads add to.
final class NSLockedCounter: @unchecked Sendable { // `count` is only touched under `lock`
    private let lock = NSLock()
    private var count = 0
    func add() { lock.lock(); count += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}
