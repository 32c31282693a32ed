import Foundation
import ReplyGuardPCRE2

/// A compiled rule set kept on disk between runs, so that a one-shot command (`explain`, `filter`, a
/// pre-commit hook's `scan`) does not parse the packs, expand their evasions, compile their regexes,
/// read the model and build the automaton at every start: the ``Engine`` (with its ``RuleSet``) and the
/// normalization tables in binary form, read back in a few milliseconds.
///
/// A cache file is used only when all of these hold, else the set is compiled from source as without a
/// cache (and the file rewritten when the directory allows):
/// - its key is this one: the cache format, the engine's build (``engineIdentity``: the version and the
///   running executable's device, inode, size and modification time), the rules directory and policy
///   file as given (and the working directory when either is on disk: diagnostics name files relative
///   to it), and the ``EngineOptions`` (an exception's expiry is checked against today's date);
/// - every question the loader asked of the files (which packs the directory lists, whether
///   `policy.yaml` exists, each file it read) gets the same answer now: a file read from disk must have
///   the same SHA-256, a file of an embedded set with a ``EmbeddedRuleSet/contentIdentity`` the same
///   identity;
/// - a checksum over the whole file holds (a file cut short or with one byte changed is refused), and
///   every length and index in it fits.
///
/// Files are written to a temporary name and renamed into place, so a reader sees a whole file or the
/// old one; two processes writing at once each rename a whole file. A damaged, unreadable or foreign
/// file costs one warning and a compile from source, never a different verdict. The checksum detects
/// damage, not forgery: whoever can write the cache directory can change what a cached engine decides,
/// as whoever can write the rules directory can; the directory is made private to the user (0700).
public struct CompiledSetCache: Sendable {
    /// The directory holding the cache files.
    public let directory: String
    /// Called with a one-line warning when a cache file exists but cannot be used (damaged, unreadable).
    public let warn: @Sendable (String) -> Void

    public init(directory: String, warn: @escaping @Sendable (String) -> Void = { _ in }) {
        self.directory = directory
        self.warn = warn
    }

    /// The cache the environment asks for: `REPLYGUARD_CACHE=off` (or `0`, `no`, `false`) none; any other
    /// non-empty value is the directory; unset, `$XDG_CACHE_HOME/replyguard`, else
    /// `$HOME/.cache/replyguard` (none when neither is set).
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment,
                                       warn: @escaping @Sendable (String) -> Void = { _ in }) -> CompiledSetCache? {
        if let setting = environment["REPLYGUARD_CACHE"], !setting.isEmpty {
            if ["off", "0", "no", "false"].contains(setting.lowercased()) { return nil }
            return CompiledSetCache(directory: setting, warn: warn)
        }
        if let xdg = environment["XDG_CACHE_HOME"], xdg.hasPrefix("/") { return CompiledSetCache(directory: xdg + "/replyguard", warn: warn) }
        if let home = environment["HOME"], !home.isEmpty { return CompiledSetCache(directory: home + "/.cache/replyguard", warn: warn) }
        return nil
    }

    /// Version of the file layout; part of every key.
    static let formatVersion = 1
    static let magic = Array("RGCSET01".utf8)

    /// The running binary: its version and the executable file's identity (device, inode, size,
    /// modification time), which change with every build and install.
    public static let engineIdentity: String = {
        #if os(Linux)
        let executable = "/proc/self/exe"
        #else
        let executable = CommandLine.arguments.first ?? "?"
        #endif
        var info = stat()
        guard stat(executable, &info) == 0 else { return "\(ReplyGuardVersion.string) \(executable) unknown \(getpid())" }
        #if os(Linux)
        let modified = info.st_mtim
        #else
        let modified = info.st_mtimespec
        #endif
        return "\(ReplyGuardVersion.string) \(info.st_dev):\(info.st_ino):\(info.st_size):\(modified.tv_sec).\(modified.tv_nsec)"
    }()

    /// The engine for the rule set in `rulesDirectory` (see ``RuleLoader/load(rulesDirectory:policyFile:files:normalizer:verifyEmbedded:)``),
    /// compiled with `options`: from the cache file when it is valid for them, else loaded and compiled
    /// (load problems throw as from the loader) and written to the cache.
    public func engine(rulesDirectory: String, policyFile: String? = nil, files: RuleFiles = .disk,
                       options: EngineOptions = EngineOptions()) throws(RuleLoadFailure) -> Engine {
        // Files on disk are named in diagnostics relative to the working directory when they lie under it.
        let onDisk = files.embeddedPath(rulesDirectory) == nil || policyFile.map { files.embeddedPath($0) == nil } == true
        let place = onDisk ? FileManager.default.currentDirectoryPath : "-"
        let key = CompiledSetCache.key(rulesDirectory: rulesDirectory, policyFile: policyFile, workingDirectory: place, options: options)
        let path = directory + "/" + CompiledSetCache.fileName(rulesDirectory: rulesDirectory, policyFile: policyFile, workingDirectory: place, options: options)
        if let engine = cached(path: path, key: key, files: files, options: options) { return engine }
        let log = FileQueryLog()
        var recording = files
        recording.log = log
        let ruleSet = try RuleLoader.load(rulesDirectory: rulesDirectory, policyFile: policyFile, files: recording)
        let engine = Engine(ruleSet: ruleSet, options: options)
        store(engine, key: key, queries: log.queries, to: path)
        return engine
    }

    // MARK: Key and file name

    static func key(rulesDirectory: String, policyFile: String?, workingDirectory: String, options: EngineOptions) -> String {
        ["replyguard compiled set \(formatVersion)", engineIdentity, rulesDirectory, policyFile ?? "-", workingDirectory,
         "disabled-packs=\(options.includeDisabledPacks) exceptions=\(options.applyExceptions) prefilter=\(options.prefilter) models=\(options.includeModels)"]
            .joined(separator: "\n")
    }

    /// One file per rules directory, policy and options (not per build: a new build overwrites it).
    static func fileName(rulesDirectory: String, policyFile: String?, workingDirectory: String, options: EngineOptions) -> String {
        let name = [rulesDirectory, policyFile ?? "-", workingDirectory, "\(options.includeDisabledPacks) \(options.applyExceptions) \(options.prefilter) \(options.includeModels)"]
            .joined(separator: "\n")
        let hash = Array(name.utf8).withUnsafeBytes { CompiledSetCache.checksum($0) }
        return "set-" + String(hash, radix: 16) + ".bin"
    }

    // MARK: Reading

    private func cached(path: String, key: String, files: RuleFiles, options: EngineOptions) -> Engine? {
        let bytes: [UInt8]
        switch CompiledSetCache.contents(of: path) {
        case .success(let read): bytes = read
        case .failure(let error):
            // No file (or no directory for it): nothing to warn about; anything else is a file that is there but unusable.
            if error.code != ENOENT && error.code != ENOTDIR { warn("compiled-set cache \(path) not used (\(String(cString: strerror(error.code)))); compiling the rules from source") }
            return nil
        }
        do {
            return try CompiledSetCache.decode(bytes, key: key, files: files, options: options)
        } catch let error as CacheFormatError {
            warn("compiled-set cache \(path) not used (\(error.description)); compiling the rules from source")
        } catch {
            // Stale: another build, other files or options, an expired exception. Rewritten below.
        }
        return nil
    }

    struct ReadError: Error { let code: Int32 }

    /// The bytes of the file at `path` (a regular file; anything else is EISDIR or EINVAL).
    static func contents(of path: String) -> Result<[UInt8], ReadError> {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return .failure(ReadError(code: errno)) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return .failure(ReadError(code: errno)) }
        guard info.st_mode & S_IFMT == S_IFREG else { return .failure(ReadError(code: info.st_mode & S_IFMT == S_IFDIR ? EISDIR : EINVAL)) }
        let size = Int(info.st_size)
        var failure: Int32 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            count = 0
            while count < size {
                let n = read(fd, buffer.baseAddress! + count, size - count)
                if n < 0 && errno == EINTR { continue }
                if n < 0 { failure = errno; break }
                if n == 0 { break }
                count += n
            }
        }
        return failure != 0 ? .failure(ReadError(code: failure)) : .success(bytes)
    }

    /// The reason a valid file does not fit this run (not damage: nothing to warn about).
    struct Stale: Error {}

    /// Decodes a cache file's bytes for `key`. Throws ``CacheFormatError`` for a damaged file,
    /// ``Stale`` for a whole file written for other files, options or another build.
    static func decode(_ bytes: [UInt8], key: String, files: RuleFiles, options: EngineOptions) throws -> Engine {
        try bytes.withUnsafeBytes { buffer throws -> Engine in
            guard buffer.count >= magic.count + 8, Array(buffer[0..<magic.count]) == magic else { throw CacheFormatError("not a replyguard cache file") }
            let body = UnsafeRawBufferPointer(rebasing: buffer[(magic.count + 8)...])
            guard buffer.loadUnaligned(fromByteOffset: magic.count, as: UInt64.self) == checksum(body) else {
                throw CacheFormatError("checksum mismatch")
            }
            return try decodeBody(body, key: key, files: files, options: options, compileSources: false)
        }
    }

    /// Decodes the part of a file after its checksum. With `key` and `files` nil, any key and file
    /// answers are accepted; with `compileSources`, the regexes are compiled from their source texts
    /// instead of decoded by PCRE2 (whose decoder trusts its input: the checksum guards it) — what the
    /// fuzz target runs, so that every byte it changes reaches a decoder that checks it.
    static func decodeBody(_ body: UnsafeRawBufferPointer, key: String?, files: RuleFiles?, options: EngineOptions,
                           compileSources: Bool) throws -> Engine {
        var reader = try CacheReader(body)
        let writtenKey = try reader.string()
        if let key, writtenKey != key { throw Stale() }
        let queries = try reader.list { r throws(CacheFormatError) in FileQuery(kind: try r.byte(), path: try r.string(), answer: try r.string()) }
        if let files { for query in queries where query.answer != query.ask(files) { throw Stale() } }
        let tables = try NormalizationTables(reading: &reader)
        let sources = try reader.strings()
        let compiled: [UInt8] = try reader.raw()
        let patterns: [PCRE2Pattern]
        if compileSources {
            patterns = try sources.map { source throws(CacheFormatError) in
                do { return try PCRE2Pattern(source) } catch { throw CacheFormatError("regex does not compile") }
            }
        } else {
            guard let decoded = PCRE2Pattern.deserialized(compiled, sources: sources) else { throw CacheFormatError("PCRE2 refused the compiled patterns") }
            patterns = decoded
        }
        let ruleSet = try reader.ruleSet(patterns)
        if NormalizationTables.preloaded == nil && !compileSources { NormalizationTables.preloaded = tables }
        let engine = try Engine(ruleSet: ruleSet, options: options, reading: &reader, patterns: patterns)
        guard reader.isAtEnd else { throw CacheFormatError("trailing bytes") }
        return engine
    }

    /// For the fuzz target and tests: the engine in a cache file's body (the bytes after its 16-byte
    /// header), whatever its key and recorded files, regexes compiled from source; nil when the bytes
    /// are refused. Never traps, whatever the bytes.
    public static func engine(fromBody body: [UInt8], options: EngineOptions = EngineOptions()) -> Engine? {
        body.withUnsafeBytes { try? decodeBody($0, key: nil, files: nil, options: options, compileSources: true) }
    }

    // MARK: Writing

    /// For the fuzz target and tests: what ``engine(fromBody:options:)`` reads back as `engine`.
    public static func body(of engine: Engine) -> [UInt8]? { encodeBody(engine, key: "", queries: []) }

    /// The file's bytes for `engine` (see ``decode(_:key:files:options:)``).
    static func encode(_ engine: Engine, key: String, queries: [FileQuery]) -> [UInt8]? {
        guard let body = encodeBody(engine, key: key, queries: queries) else { return nil }
        var file = magic
        withUnsafeBytes(of: body.withUnsafeBytes { checksum($0) }) { file += $0 }
        return file + body
    }

    static func encodeBody(_ engine: Engine, key: String, queries: [FileQuery]) -> [UInt8]? {
        // A first pass numbers every pattern (the reader needs them before the expressions that use them).
        var patterns = PatternTable()
        var scratch = CacheWriter()
        scratch.ruleSet(engine.ruleSet, &patterns)
        engine.write(to: &scratch, patterns: &patterns)
        guard let compiled = PCRE2Pattern.serialized(patterns.patterns) else { return nil }
        var writer = CacheWriter()
        writer.string(key)
        writer.list(queries) { w, query in
            w.byte(query.kind)
            w.string(query.path)
            w.string(query.answer)
        }
        NormalizationTables.shared.write(to: &writer)
        writer.strings(patterns.patterns.map { $0.pattern })
        writer.raw(compiled)
        writer.ruleSet(engine.ruleSet, &patterns)
        engine.write(to: &writer, patterns: &patterns)
        return writer.finished()
    }

    /// Writes the file under a temporary name, then renames it into place; failures leave no file
    /// behind and are not reported (a read-only or missing home directory just means no cache).
    private func store(_ engine: Engine, key: String, queries: [FileQuery], to path: String) {
        guard let bytes = CompiledSetCache.encode(engine, key: key, queries: queries) else { return }
        _ = try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                     attributes: [.posixPermissions: 0o700])
        let temporary = "\(path).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { return }
        var written = 0
        let complete = bytes.withUnsafeBytes { buffer -> Bool in
            while written < buffer.count {
                let count = write(fd, buffer.baseAddress! + written, buffer.count - written)
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { return false }
                written += count
            }
            return true
        }
        if close(fd) != 0 || !complete || rename(temporary, path) != 0 {
            unlink(temporary)
            return
        }
        prune()
    }

    /// How many cache files a directory keeps (one per rules directory, policy and options in use).
    static let fileLimit = 8

    /// Removes the least recently written cache files beyond ``fileLimit`` (each rules directory a
    /// command is run on adds one; a removed file is rebuilt when its set is used again), and
    /// temporary files over an hour old (a writer that was killed).
    private func prune() {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasPrefix("set-") }
        let dated = names.map { name -> (path: String, modified: Date) in
            let path = directory + "/" + name
            return (path, (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? .distantPast)
        }
        for file in dated where file.path.hasSuffix(".tmp") && file.modified < Date(timeIntervalSinceNow: -3600) { unlink(file.path) }
        let complete = dated.filter { $0.path.hasSuffix(".bin") }.sorted { $0.modified > $1.modified }
        for file in complete.dropFirst(CompiledSetCache.fileLimit) { unlink(file.path) }
    }

    // MARK: Checksum

    /// A 64-bit checksum of `bytes` (four multiply-rotate lanes over 8-byte words, then a final mix):
    /// fast enough to run over the whole file at every start, and any change of a byte or the length
    /// changes it but for a chance of 2^-64. Not a cryptographic hash.
    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        let p1: UInt64 = 0x9E37_79B1_85EB_CA87, p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F, p3: UInt64 = 0x1656_67B1_9E37_79F9
        @inline(__always) func round(_ lane: UInt64, _ word: UInt64) -> UInt64 {
            let mixed = lane &+ word &* p2
            return (mixed << 31 | mixed >> 33) &* p1
        }
        var lanes: (UInt64, UInt64, UInt64, UInt64) = (p1 &+ p2, p2, 0, 0 &- p1)
        let count = bytes.count
        var i = 0
        while i + 32 <= count {
            lanes.0 = round(lanes.0, bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            lanes.1 = round(lanes.1, bytes.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self))
            lanes.2 = round(lanes.2, bytes.loadUnaligned(fromByteOffset: i + 16, as: UInt64.self))
            lanes.3 = round(lanes.3, bytes.loadUnaligned(fromByteOffset: i + 24, as: UInt64.self))
            i += 32
        }
        var h = UInt64(count) &* p3
        for lane in [lanes.0, lanes.1, lanes.2, lanes.3] { h = round(h ^ round(0, lane), p3) }
        while i < count {
            h = round(h, UInt64(bytes[i]) &+ 1)
            i += 1
        }
        h ^= h >> 33
        h = h &* p2
        h ^= h >> 29
        h = h &* p3
        return h ^ h >> 32
    }
}

/// One question the loader asked of its files, and the answer (see ``CompiledSetCache``).
struct FileQuery: Sendable {
    static let kind: UInt8 = 0, exists: UInt8 = 1, bytes: UInt8 = 2, entries: UInt8 = 3
    let kind: UInt8
    let path: String
    let answer: String

    /// The answer the files give now (never the recording log: `files` is the caller's own).
    func ask(_ files: RuleFiles) -> String {
        switch kind {
        case FileQuery.kind: return FileQuery.describe(files.kind(path))
        case FileQuery.exists: return files.exists(path) ? "yes" : "no"
        case FileQuery.bytes: return FileQuery.fingerprint(files, path)
        case FileQuery.entries: return FileQuery.describe(files.entries(path))
        default: return "\u{0}unknown"
        }
    }

    static func describe(_ kind: RuleFiles.Kind) -> String {
        switch kind {
        case .missing(let reason): return "missing " + reason
        case .regular(let size): return "file \(size)"
        case .directory: return "directory"
        case .other: return "other"
        }
    }

    static func describe(_ entries: [String]?) -> String { entries.map { $0.sorted().joined(separator: "\u{0}") } ?? "\u{0}unlisted" }

    /// What identifies a file's content: the embedded set's identity for its files when it has one,
    /// else the SHA-256 of the bytes (or why they cannot be read).
    static func fingerprint(_ files: RuleFiles, _ path: String) -> String {
        if let identity = files.embeddedIdentity(path) { return "embedded " + identity }
        return fingerprint(files.bytes(at: path))
    }

    static func fingerprint(_ read: Result<[UInt8], RuleFiles.ReadFailure>) -> String {
        switch read {
        case .success(let bytes):
            var hasher = SHA256()
            hasher.update(bytes)
            return "sha256:" + hasher.finalizeHex()
        case .failure(let failure): return "unreadable " + failure.reason
        }
    }
}

/// The questions a load asked of its ``RuleFiles`` (``RuleFiles/log``), in order. Loading runs on one
/// thread; the log is never shared between threads (hence `@unchecked Sendable`).
final class FileQueryLog: @unchecked Sendable {
    private(set) var queries: [FileQuery] = []
    func record(_ kind: UInt8, _ path: String, _ answer: @autoclosure () -> String) {
        queries.append(FileQuery(kind: kind, path: path, answer: answer()))
    }
}
