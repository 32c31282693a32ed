import Foundation

/// A rule set held in memory (the packs built into the binary), read by the loader through the same code
/// path as files on disk: it is mounted at ``root`` (`<embedded>`), so its packs, policy, profiles, word
/// lists and models have paths such as `<embedded>/insult.yaml` and `<embedded>/profiles/../policy.yaml`,
/// and every diagnostic names them that way.
public struct EmbeddedRuleSet: Sendable {
    /// Where the set is mounted: the rules directory to pass to ``RuleLoader``.
    public static let root = "<embedded>"

    /// What the set is, for output: e.g. `embedded (replyguard 0.1.0)`.
    public let label: String
    /// Whether these are the files the binary was built with, whose content checks (every regex rule's
    /// examples with fillers inserted, each model file's `end` checksum) the tests run on this very
    /// content (`replyguard check` on the embedded set, default policy and every profile, must pass):
    /// ``RuleLoader`` then skips those checks at start-up unless asked to run them. Never true for
    /// files an operator supplies.
    public let verifiedAtBuild: Bool
    /// A name for the set's content that changes whenever any file's bytes do (nil: none): the
    /// compiled-set cache then takes its files as unchanged without reading them. The binary's own set
    /// passes one that names the build only, since the cache's key holds the build too.
    public var contentIdentity: String?
    private let files: [String: (size: Int, bytes: @Sendable () -> [UInt8])]

    /// - Parameter files: (path relative to the rules directory, e.g. `profiles/posts.yaml`; its size in
    ///   bytes; a function returning the file's bytes, called only when the file is read).
    /// - Parameter verifiedAtBuild: see ``verifiedAtBuild``; only the set compiled into the binary.
    public init(label: String, files: [(path: String, size: Int, bytes: @Sendable () -> [UInt8])], verifiedAtBuild: Bool = false,
                contentIdentity: String? = nil) {
        self.label = label
        self.contentIdentity = contentIdentity
        self.verifiedAtBuild = verifiedAtBuild
        var map: [String: (size: Int, bytes: @Sendable () -> [UInt8])] = [:]
        for file in files { map[file.path] = (file.size, file.bytes) }
        self.files = map
    }

    /// Relative paths of every file, sorted.
    public var paths: [String] { files.keys.sorted() }

    /// The bytes of the file at `relativePath` (e.g. `models/offensive.model`), nil when there is none.
    public func contents(of relativePath: String) -> [UInt8]? { files[relativePath]?.bytes() }

    /// The size of the file at `relativePath` without reading it.
    public func size(of relativePath: String) -> Int? { files[relativePath]?.size }

    func isDirectory(_ relativePath: String) -> Bool {
        relativePath.isEmpty || files.keys.contains { $0.hasPrefix(relativePath + "/") }
    }

    /// Names of the files and directories directly in the directory `relativePath` ("" is the root).
    func entries(of relativePath: String) -> [String] {
        let prefix = relativePath.isEmpty ? "" : relativePath + "/"
        var names = Set<String>()
        for path in files.keys where path.hasPrefix(prefix) {
            if let name = path.dropFirst(prefix.count).split(separator: "/").first { names.insert(String(name)) }
        }
        return names.sorted()
    }
}

/// Where the rule loader reads its files: the file system, with an ``EmbeddedRuleSet`` optionally mounted
/// at ``EmbeddedRuleSet/root``. A path under the mount reads the embedded set (never the disk, even if a
/// directory named `<embedded>` exists); any other path — an absolute `words_file:`, a `--policy` file
/// next to embedded packs — reads the disk.
public struct RuleFiles: Sendable {
    /// Only the file system.
    public static let disk = RuleFiles(embedded: nil)

    public let embedded: EmbeddedRuleSet?
    /// When set, every question asked of the files and its answer is recorded (the compiled-set cache
    /// keeps them with the engine, and uses the engine only while the answers stay the same).
    var log: FileQueryLog?

    public init(embedded: EmbeddedRuleSet?) { self.embedded = embedded }

    /// The embedded set's content identity when `path` is one of its files and it has one.
    func embeddedIdentity(_ path: String) -> String? {
        guard let embedded, let identity = embedded.contentIdentity, let relative = embeddedPath(path), relative != "..",
              embedded.size(of: relative) != nil else { return nil }
        return identity + " " + relative
    }

    /// What is at a path (symlinks followed).
    enum Kind: Equatable {
        case missing(reason: String)
        case regular(size: Int)
        case directory
        case other
    }

    /// The path of the embedded file `path` names (relative to the mount, `.` and `..` resolved), or nil
    /// when `path` is not under the mount. A path that climbs out of the mount resolves to "..", which is
    /// no embedded file.
    func embeddedPath(_ path: String) -> String? {
        guard embedded != nil else { return nil }
        let root = EmbeddedRuleSet.root
        guard path == root || path.hasPrefix(root + "/") else { return nil }
        var parts: [Substring] = []
        for part in path.dropFirst(root.count).split(separator: "/") {
            switch part {
            case ".": continue
            case "..": if parts.isEmpty { return ".." } else { parts.removeLast() }
            default: parts.append(part)
            }
        }
        return parts.joined(separator: "/")
    }

    /// `path` (from a pack, a policy's `extends`, a `words_file`) resolved against `directory`: absolute
    /// paths as they are, relative ones joined; under the embedded mount `.` and `..` are resolved too, so
    /// diagnostics name `<embedded>/policy.yaml`, not `<embedded>/profiles/../policy.yaml`.
    /// The directory part of `path` (trailing slashes ignored): "" for a single relative component,
    /// "/" for one under the root. Use it instead of NSString's `deletingLastPathComponent`, which traps
    /// (SIGILL) on a one-character relative path such as `p` in swift-corelibs-foundation: `--policy p`
    /// and `learn --out q/m.model` crashed.
    public static func directory(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "" }
        if slash == trimmed.startIndex { return "/" }
        return String(trimmed[..<slash])
    }

    public func resolve(_ path: String, in directory: String) -> String {
        if path.hasPrefix("/") { return path }
        let joined = (directory as NSString).appendingPathComponent(path)
        if let relative = embeddedPath(joined), relative != ".." {
            return relative.isEmpty ? EmbeddedRuleSet.root : EmbeddedRuleSet.root + "/" + relative
        }
        return joined
    }

    func kind(_ path: String) -> Kind {
        let kind = unloggedKind(path)
        log?.record(FileQuery.kind, path, FileQuery.describe(kind))
        return kind
    }

    private func unloggedKind(_ path: String) -> Kind {
        if let relative = embeddedPath(path), let embedded {
            if let size = embedded.size(of: relative) { return .regular(size: size) }
            return embedded.isDirectory(relative) && relative != ".." ? .directory : .missing(reason: String(cString: strerror(ENOENT)))
        }
        var info = stat()
        guard stat(path, &info) == 0 else {
            let code = errno
            var link = stat()
            let dangling = lstat(path, &link) == 0 ? " (a symlink to a missing file)" : ""
            return .missing(reason: String(cString: strerror(code)) + dangling)
        }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return .regular(size: Int(info.st_size))
        case S_IFDIR: return .directory
        default: return .other
        }
    }

    /// Whether anything is at `path`: a dangling symlink or a path that cannot be looked at counts (only
    /// "no such file" does not).
    public func exists(_ path: String) -> Bool {
        let exists = unloggedExists(path)
        log?.record(FileQuery.exists, path, exists ? "yes" : "no")
        return exists
    }

    private func unloggedExists(_ path: String) -> Bool {
        if let relative = embeddedPath(path), let embedded {
            return embedded.size(of: relative) != nil || (relative != ".." && embedded.isDirectory(relative))
        }
        var info = stat()
        return lstat(path, &info) == 0 || errno != ENOENT
    }

    /// The file's bytes, or the reason it cannot be read in plain words (`No such file or directory`).
    func bytes(at path: String) -> Result<[UInt8], ReadFailure> {
        let result = unloggedBytes(at: path)
        if let log {
            log.record(FileQuery.bytes, path, embeddedIdentity(path).map { "embedded " + $0 } ?? FileQuery.fingerprint(result))
        }
        return result
    }

    private func unloggedBytes(at path: String) -> Result<[UInt8], ReadFailure> {
        if let relative = embeddedPath(path), let embedded {
            if let bytes = embedded.contents(of: relative) { return .success(bytes) }
            return .failure(ReadFailure(reason: embedded.isDirectory(relative) && relative != ".." ? "is a directory" : String(cString: strerror(ENOENT))))
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK) // O_NONBLOCK: a FIFO is refused below, not waited on
        guard fd >= 0 else {
            let code = errno
            var link = stat()
            let dangling = code == ENOENT && lstat(path, &link) == 0 ? " (a symlink to a missing file)" : ""
            return .failure(ReadFailure(reason: String(cString: strerror(code)) + dangling))
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return .failure(ReadFailure(reason: String(cString: strerror(errno)))) }
        guard info.st_mode & S_IFMT == S_IFREG else {
            return .failure(ReadFailure(reason: info.st_mode & S_IFMT == S_IFDIR ? "is a directory" : "not a regular file"))
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(info.st_size))
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return .failure(ReadFailure(reason: String(cString: strerror(errno))))
            }
            if count == 0 { break }
            bytes += buffer[0..<count]
        }
        return .success(bytes)
    }

    /// Names in the directory `path` (none when it cannot be listed).
    public func names(in path: String) -> [String] { entries(path) ?? [] }

    /// Names in the directory `path` (nil when it cannot be listed).
    func entries(_ path: String) -> [String]? {
        let entries = unloggedEntries(path)
        log?.record(FileQuery.entries, path, FileQuery.describe(entries))
        return entries
    }

    private func unloggedEntries(_ path: String) -> [String]? {
        if let relative = embeddedPath(path), let embedded {
            return relative != ".." && embedded.isDirectory(relative) ? embedded.entries(of: relative) : nil
        }
        return try? FileManager.default.contentsOfDirectory(atPath: path)
    }

    struct ReadFailure: Error { let reason: String }

    /// Whether `path` is a file of an embedded set that was verified at build time (see
    /// ``EmbeddedRuleSet/verifiedAtBuild``).
    func isVerifiedAtBuild(_ path: String) -> Bool {
        guard let embedded, embedded.verifiedAtBuild, let relative = embeddedPath(path) else { return false }
        return relative != ".." && embedded.size(of: relative) != nil
    }

    /// An error from reading a file in plain words: the C library's text for its errno
    /// (`Input/output error`), never a Foundation error domain and code.
    public static func plainReason(_ error: Error) -> String {
        if let posix = error as? POSIXError { return String(cString: strerror(posix.code.rawValue)) }
        var ns = error as NSError
        while ns.domain != NSPOSIXErrorDomain, let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError { ns = underlying }
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        return ns.domain == NSCocoaErrorDomain ? ns.localizedDescription : "\(error)"
    }
}
