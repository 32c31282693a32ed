import CZlib
import Foundation

/// A file or standard input read in chunks; `*.gz` files are decompressed on the fly.
public final class InputSource {
    public let name: String
    /// Size in bytes on disk when known (for progress), nil for standard input.
    public let size: Int?
    private let fd: Int32
    private let gz: gzFile?

    /// Opens `path` (`-` for standard input). Throws with the system's reason when it cannot.
    public init(path: String) throws {
        if path == "-" {
            name = "<stdin>"
            fd = 0
            gz = nil
            size = nil
            return
        }
        name = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        var info = stat()
        size = fstat(fd, &info) == 0 ? Int(info.st_size) : nil
        if path.hasSuffix(".gz") {
            guard let handle = gzdopen(dup(fd), "rb") else { close(fd); throw POSIXError(.EIO) }
            gzbuffer(handle, 1 << 17)
            gz = handle
        } else {
            gz = nil
        }
    }

    deinit {
        if let gz { gzclose(gz) }
        if fd != 0 { close(fd) }
    }

    /// The name of the file without a `.gz` suffix (for choosing the format).
    public var logicalName: String { name.hasSuffix(".gz") ? String(name.dropLast(3)) : name }

    /// Reads up to `buffer.count` bytes; 0 at the end. Throws on a read or decompression error.
    package func read(into buffer: UnsafeMutableBufferPointer<UInt8>) throws -> Int {
        if let gz {
            let n = gzread(gz, buffer.baseAddress, UInt32(buffer.count))
            if n < 0 {
                var code: Int32 = 0
                throw InputError(message: "\(name): " + (gzerror(gz, &code).map { String(cString: $0) } ?? "gzip error"))
            }
            if n == 0 {
                // zlib ends a stream cut short quietly and only notes Z_BUF_ERROR: the rest is missing.
                var code: Int32 = 0
                _ = gzerror(gz, &code)
                if code == Z_BUF_ERROR {
                    throw InputError(message: "truncated gzip file (unexpected end of file); the rest of it was not scanned")
                }
            }
            return Int(n)
        }
        while true {
            let n = Foundation.read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno != EINTR { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        }
    }

    /// Bytes of the underlying file consumed so far (compressed bytes for gzip), for progress.
    public var consumed: Int {
        if let gz { return Int(gzoffset(gz)) }
        return fd == 0 ? 0 : Int(lseek(fd, 0, SEEK_CUR))
    }
}

public struct InputError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
