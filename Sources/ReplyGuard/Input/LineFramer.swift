import Foundation

/// The default maximum message size of `filter` and `wrap` (bytes).
public let defaultMaxMessageBytes = 1 << 20

/// One line's bytes accumulated up to a limit: bytes past `limit` (+1, for a `\r` before the `\n`) are
/// counted, not kept, so memory stays bounded however long the line is.
struct BoundedLine {
    let limit: Int
    private(set) var bytes: [UInt8] = []
    private var dropped = 0
    private var lastByte: UInt8 = 0

    init(limit: Int) { self.limit = limit }

    var isEmpty: Bool { bytes.isEmpty && dropped == 0 }

    mutating func append(_ slice: UnsafeBufferPointer<UInt8>) {
        guard let last = slice.last else { return }
        let room = max(0, (limit == .max ? .max : limit + 1) - bytes.count)
        if slice.count <= room {
            bytes.append(contentsOf: slice)
        } else {
            bytes.append(contentsOf: slice[slice.startIndex..<slice.startIndex + room])
            dropped += slice.count - room
        }
        lastByte = last
    }

    /// Hands over the line without one final `\r` — `(bytes, nil)`, or, when it is longer than the limit,
    /// `(its first limit bytes, its whole length)` — and starts a new one.
    mutating func deliver(_ body: (UnsafeBufferPointer<UInt8>, Int?) -> Void) {
        var length = bytes.count + dropped
        if lastByte == 0x0D { length -= 1; if dropped == 0 { bytes.removeLast() } }
        if length > limit {
            bytes.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[..<min(limit, $0.count)]), length) }
        } else {
            bytes.withUnsafeBufferPointer { body($0, nil) }
        }
        bytes.removeAll(keepingCapacity: bytes.count < 1 << 20)
        dropped = 0
        lastByte = 0
    }
}

/// Splits a byte stream into lines, however it is chunked: a line ends at `\n`; one `\r` before it is
/// dropped (CRLF); a last line without `\n` is delivered by ``finish()``. Lines are raw bytes (they may
/// hold invalid UTF-8 or NUL). A line longer than `maxLength` is delivered as its first `maxLength`
/// bytes with its whole length; memory is bounded by `maxLength`.
public struct LineFramer {
    private var pending: BoundedLine
    public var maxLength: Int { pending.limit }

    public init(maxLength: Int = .max) {
        pending = BoundedLine(limit: maxLength)
    }

    /// Feeds a chunk; calls `line` for each complete line in it, in order (only for framers without a
    /// limit: an over-long line would arrive cut short; see ``feed(_:lineOrOverlong:)``).
    package mutating func feed(_ chunk: UnsafeBufferPointer<UInt8>, _ line: (UnsafeBufferPointer<UInt8>) -> Void) {
        feed(chunk, lineOrOverlong: { bytes, _ in line(bytes) })
    }

    /// Feeds a chunk; calls `line(bytes, nil)` for each complete line in it, in order, or `line(prefix,
    /// length)` for a line longer than ``maxLength``.
    package mutating func feed(_ chunk: UnsafeBufferPointer<UInt8>, lineOrOverlong line: (UnsafeBufferPointer<UInt8>, Int?) -> Void) {
        guard let base = chunk.baseAddress else { return }
        var start = 0
        while start < chunk.count {
            guard let found = memchr(base + start, 0x0A, chunk.count - start) else {
                pending.append(UnsafeBufferPointer(rebasing: chunk[start...]))
                return
            }
            let newline = base.distance(to: found.assumingMemoryBound(to: UInt8.self))
            if pending.isEmpty {
                var end = newline
                if end > start && chunk[end - 1] == 0x0D { end -= 1 }
                if end - start > pending.limit {
                    line(UnsafeBufferPointer(rebasing: chunk[start..<start + pending.limit]), end - start)
                } else {
                    line(UnsafeBufferPointer(rebasing: chunk[start..<end]), nil)
                }
            } else {
                pending.append(UnsafeBufferPointer(rebasing: chunk[start..<newline]))
                pending.deliver(line)
            }
            start = newline + 1
        }
    }

    /// Delivers a last line that had no terminating `\n`, if any.
    package mutating func finishLines(_ line: (UnsafeBufferPointer<UInt8>) -> Void) {
        finish(lineOrOverlong: { bytes, _ in line(bytes) })
    }

    /// Delivers a last line that had no terminating `\n`, if any (with its length when over-long).
    package mutating func finish(lineOrOverlong line: (UnsafeBufferPointer<UInt8>, Int?) -> Void) {
        guard !pending.isEmpty else { return }
        pending.deliver(line)
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
        framer.finishLines { number += 1; line($0, number) }
    }
}
