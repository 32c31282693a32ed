import ArgumentParser
import Foundation
import ReplyGuard

/// Errors about files, for people: `replyguard: PATH: No such file or directory` — the path and the
/// reason in the C library's words (strerror), never a Foundation error domain, code or user-info dump.
enum FileErrors {
    /// The reason `error` (from FileManager, FileHandle, Data or POSIX calls on `path`) happened, in plain
    /// words. When a parent of `path` is a file rather than a directory — the real problem behind "File
    /// exists" from creating `/etc/passwd/q`'s directory — that is the reason given.
    static func reason(_ error: Error, path: String? = nil) -> String {
        let code = errnoCode(of: error)
        if let path, code == nil || [EEXIST, ENOTDIR, ENOENT].contains(code!), let file = fileAncestor(of: path) {
            return "\(String(cString: strerror(ENOTDIR))) (\(file) is a file)"
        }
        if let code { return String(cString: strerror(code)) }
        let ns = error as NSError
        if ns.domain == NSCocoaErrorDomain || ns.domain == NSPOSIXErrorDomain { return ns.localizedFailureReason ?? ns.localizedDescription }
        return "\(error)" // our own errors (SQLite's message, …) describe themselves
    }

    /// The errno behind `error`: POSIXError, an NSError in the POSIX domain, or a Cocoa file error's
    /// underlying POSIX error (else its code mapped: no such file, permission, exists, read-only volume,
    /// no space).
    static func errnoCode(of error: Error) -> Int32? {
        if let posix = error as? POSIXError { return posix.code.rawValue }
        let ns = error as NSError
        if ns.domain == NSPOSIXErrorDomain { return Int32(ns.code) }
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? Error, let code = errnoCode(of: underlying) { return code }
        guard ns.domain == NSCocoaErrorDomain else { return nil }
        switch CocoaError.Code(rawValue: ns.code) {
        case .fileNoSuchFile, .fileReadNoSuchFile: return ENOENT
        case .fileReadNoPermission, .fileWriteNoPermission: return EACCES
        case .fileWriteFileExists: return EEXIST
        case .fileWriteVolumeReadOnly: return EROFS
        case .fileWriteOutOfSpace: return ENOSPC
        default: return nil
        }
    }

    /// The nearest ancestor of `path` that exists and is not a directory, if any.
    static func fileAncestor(of path: String) -> String? {
        var current = RuleFiles.directory(of: path)
        while !current.isEmpty && current != "/" && current != "." {
            var info = stat()
            if stat(current, &info) == 0 { return info.st_mode & S_IFMT == S_IFDIR ? nil : current }
            current = RuleFiles.directory(of: current)
        }
        return nil
    }

    /// `replyguard: PATH: reason`, or `replyguard: PATH: what: reason` (what: e.g. `cannot open the review queue`).
    static func line(_ path: String, _ error: Error, what: String? = nil) -> String {
        "replyguard: \(path): \(what.map { "\($0): " } ?? "")\(reason(error, path: path))\n"
    }
}

/// Prints ``FileErrors/line(_:_:what:)`` to standard error and returns exit code 2 to throw.
func fileFailure(_ path: String, _ error: Error, what: String? = nil) -> ExitCode {
    Terminal.standardError.write(FileErrors.line(path, error, what: what))
    return ExitCode(2)
}
