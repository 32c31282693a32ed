import Foundation

/// Splits a byte stream into lines, however it is chunked: a line ends at `\n`; one `\r` before it is
/// dropped (CRLF); a last line without `\n` is delivered by ``finish()``. Lines are raw bytes (they may
/// hold invalid UTF-8 or NUL). Memory is bounded by the longest line.
public struct LineFramer {
    private var pending: [UInt8] = []

    public init() {}

    /// Feeds a chunk; calls `line` for each complete line in it, in order.
    public mutating func feed(_ chunk: UnsafeBufferPointer<UInt8>, _ line: (UnsafeBufferPointer<UInt8>) -> Void) {
        guard let base = chunk.baseAddress else { return }
        var start = 0
        while start < chunk.count {
            guard let found = memchr(base + start, 0x0A, chunk.count - start) else {
                pending.append(contentsOf: chunk[start...])
                return
            }
            let newline = base.distance(to: found.assumingMemoryBound(to: UInt8.self))
            if pending.isEmpty {
                var end = newline
                if end > start && chunk[end - 1] == 0x0D { end -= 1 }
                line(UnsafeBufferPointer(rebasing: chunk[start..<end]))
            } else {
                pending.append(contentsOf: chunk[start..<newline])
                if pending.last == 0x0D { pending.removeLast() }
                pending.withUnsafeBufferPointer(line)
                pending.removeAll(keepingCapacity: pending.count < 1 << 20)
            }
            start = newline + 1
        }
    }

    /// Delivers a last line that had no terminating `\n`, if any.
    public mutating func finish(_ line: (UnsafeBufferPointer<UInt8>) -> Void) {
        guard !pending.isEmpty else { return }
        if pending.last == 0x0D { pending.removeLast() }
        pending.withUnsafeBufferPointer(line)
        pending.removeAll()
    }
}

/// Reads a file descriptor in fixed-size chunks and hands each line to a callback.
public enum LineReader {
    /// Reads `fd` to the end; `line(bytes, lineNumber)` is called for every line (1-based numbers).
    /// Throws when a read fails.
    public static func forEachLine(fd: Int32, chunkSize: Int = 1 << 20,
                                   _ line: (UnsafeBufferPointer<UInt8>, Int) -> Void) throws {
        var framer = LineFramer()
        var number = 0
        let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: chunkSize)
        defer { buffer.deallocate() }
        while true {
            let n = read(fd, buffer.baseAddress, chunkSize)
            if n < 0 {
                if errno == EINTR { continue }
                throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
            }
            if n == 0 { break }
            framer.feed(UnsafeBufferPointer(rebasing: buffer[0..<n])) { number += 1; line($0, number) }
        }
        framer.finish { number += 1; line($0, number) }
    }
}
