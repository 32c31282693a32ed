import Foundation
import ReplyGuard

/// Writes a set of files into a directory all or nothing: a failure part way (a subdirectory that cannot
/// be created, a full disk, a file too large) leaves no file and no directory of ours behind.
///
/// - A directory that does not exist yet is built whole in a temporary sibling (`.rg-export-XXXXXX`,
///   next to it) and renamed into place in one step; missing parents are created first and removed
///   again on failure.
/// - Into a directory that exists, every file is first written to a temporary file beside its target
///   (`.NAME.rg-export-XXXXXX`, same directory, so the rename cannot cross file systems), the missing
///   subdirectories created; only when all of that worked is each renamed over its target. On failure
///   the temporary files and the subdirectories created are removed.
struct AtomicExport {
    /// A failure: the path it concerns (as the user named it) and the system's error.
    struct Failure: Error {
        let path: String
        let error: Error
    }

    /// (path relative to the directory, contents).
    let files: [(relative: String, bytes: [UInt8])]

    /// Permission bits new files and directories get (0666 / 0777 less the umask), as `open` and `mkdir` give.
    private static let umaskBits: mode_t = {
        let mask = umask(0)
        umask(mask)
        return mask
    }()

    /// Writes `files` into `directory` (see the type). Throws ``Failure`` with nothing left behind.
    func write(into directory: String) throws(Failure) {
        var info = stat()
        if stat(directory, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else { throw Failure(path: directory, error: POSIXError(.ENOTDIR)) }
            try merge(into: directory)
        } else if errno == ENOENT {
            try create(directory)
        } else {
            throw Failure(path: directory, error: POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO))
        }
    }

    private static func posix(_ path: String) -> Failure {
        Failure(path: path, error: POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO))
    }

    /// Creates `path` and every missing parent; returns those it created, outermost first.
    private static func makeDirectories(_ path: String) throws(Failure) -> [String] {
        var missing: [String] = []
        var current = path
        var info = stat()
        while !current.isEmpty && current != "/" && current != "." && stat(current, &info) != 0 {
            guard errno == ENOENT else { throw posix(current) }
            missing.append(current)
            current = RuleFiles.directory(of: current)
        }
        var created: [String] = []
        for directory in missing.reversed() {
            if mkdir(directory, 0o777) != 0 {
                let failure = posix(directory)
                removeDirectories(created)
                throw failure
            }
            created.append(directory)
        }
        return created
    }

    /// Removes directories created by ``makeDirectories(_:)`` (innermost first).
    private static func removeDirectories(_ created: [String]) {
        for directory in created.reversed() { rmdir(directory) }
    }

    /// Writes `bytes` to a new file at `path` (which must not exist), or throws with it removed.
    private static func writeNewFile(_ path: String, _ bytes: [UInt8]) throws(Failure) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
        guard fd >= 0 else { throw posix(path) }
        try writeAll(fd, bytes, path)
    }

    /// Writes `bytes` to `fd` and closes it; on failure `path` is unlinked.
    private static func writeAll(_ fd: Int32, _ bytes: [UInt8], _ path: String) throws(Failure) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                let failure = posix(path)
                close(fd)
                unlink(path)
                throw failure
            }
            offset += n
        }
        if close(fd) != 0 && errno != EINTR {
            let failure = posix(path)
            unlink(path)
            throw failure
        }
    }

    /// A new directory: built in a temporary sibling, then renamed into place.
    private func create(_ directory: String) throws(Failure) {
        var trimmed = directory
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        let parent = RuleFiles.directory(of: trimmed)
        let createdParents = try Self.makeDirectories(parent)
        var template = Array(((parent.isEmpty ? "." : parent) + "/.rg-export-XXXXXX").utf8CString)
        guard let temporary = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }).map({ String(cString: $0) }) else {
            let failure = Self.posix(trimmed)
            Self.removeDirectories(createdParents)
            throw failure
        }
        do throws(Failure) {
            // mkdtemp makes it 0700; the exported directory gets what mkdir would give it.
            guard chmod(temporary, 0o777 & ~Self.umaskBits) == 0 else { throw Self.posix(trimmed) }
            for file in files {
                let subdirectory = RuleFiles.directory(of: file.relative)
                if !subdirectory.isEmpty {
                    do { _ = try Self.makeDirectories(temporary + "/" + subdirectory) } catch {
                        throw Failure(path: trimmed + "/" + subdirectory, error: error.error)
                    }
                }
                do { try Self.writeNewFile(temporary + "/" + file.relative, file.bytes) } catch {
                    throw Failure(path: trimmed + "/" + file.relative, error: error.error)
                }
            }
            guard rename(temporary, trimmed) == 0 else { throw Self.posix(trimmed) }
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            Self.removeDirectories(createdParents)
            throw error
        }
    }

    /// An existing directory: every file staged beside its target, then all renamed into place.
    private func merge(into directory: String) throws(Failure) {
        var createdDirectories: [String] = []
        var staged: [(temporary: String, target: String, existed: Bool)] = []
        func rollBack() {
            for file in staged { unlink(file.temporary) }
            Self.removeDirectories(createdDirectories)
        }
        for file in files {
            let target = (directory as NSString).appendingPathComponent(file.relative)
            let parent = RuleFiles.directory(of: target)
            do { createdDirectories += try Self.makeDirectories(parent) } catch {
                rollBack()
                // mkdir over a file says "File exists"; FileErrors names the file in the way.
                throw Failure(path: target, error: error.error)
            }
            var info = stat()
            let existed = lstat(target, &info) == 0
            if existed && info.st_mode & S_IFMT == S_IFDIR {
                rollBack()
                throw Failure(path: target, error: POSIXError(.EISDIR))
            }
            var template = Array((parent + "/." + (target as NSString).lastPathComponent + ".rg-export-XXXXXX").utf8CString)
            let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
            guard fd >= 0 else {
                let failure = Self.posix(target)
                rollBack()
                throw failure
            }
            let temporary = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            // mkstemp makes it 0600; the file gets what open would give it.
            fchmod(fd, 0o666 & ~Self.umaskBits)
            do { try Self.writeAll(fd, file.bytes, temporary) } catch {
                rollBack()
                throw Failure(path: target, error: error.error)
            }
            staged.append((temporary, target, existed))
        }
        // Everything is written: a rename within one directory does not run out of space. Should one
        // fail all the same, the files this export created are removed again (a file it replaced,
        // with --force, stays replaced).
        for (index, file) in staged.enumerated() where rename(file.temporary, file.target) != 0 {
            let failure = Self.posix(file.target)
            for done in staged[..<index] where !done.existed { unlink(done.target) }
            for rest in staged[index...] { unlink(rest.temporary) }
            Self.removeDirectories(createdDirectories)
            throw failure
        }
    }
}
