import Foundation
import ReplyGuard

/// Buffered writes to a file descriptor; EPIPE (reader went away) ends the process quietly.
/// `@unchecked Sendable`: every access to the buffer holds `lock` (scan's writer thread and the main
/// thread may both write to standard error).
final class Terminal: @unchecked Sendable {
    static let standardOutput = Terminal(fd: 1)
    static let standardError = Terminal(fd: 2, bufferLimit: 0)
    static let errorStyle = Style(enabled: ColorChoice.auto.enabled(fd: 2), code: "1;31")

    let fd: Int32
    private var buffer: [UInt8] = []
    private let bufferLimit: Int
    private let lock = NSLock()
    /// The exit status when this output cannot be written, and what to do first (wrap: 125, and stop
    /// the bot). Guarded by `lock`.
    private var failureStatus: Int32 = 2
    private var beforeExit: @Sendable () -> Void = {}

    init(fd: Int32, bufferLimit: Int = 1 << 16) {
        self.fd = fd
        self.bufferLimit = bufferLimit
        signal(SIGPIPE, SIG_IGN)
    }

    func write(_ text: String) {
        lock.lock()
        defer { lock.unlock() }
        buffer.append(contentsOf: text.utf8)
        if buffer.count > bufferLimit { flushLocked() }
    }

    func write(_ bytes: [UInt8]) {
        lock.lock()
        defer { lock.unlock() }
        if bytes.count >= bufferLimit {
            // A large piece (a batch of scan records) goes out as it is, after what is buffered.
            flushLocked()
            bytes.withUnsafeBytes(writeAll)
            return
        }
        buffer.append(contentsOf: bytes)
        if buffer.count > bufferLimit { flushLocked() }
    }

    /// Sets the exit status used when a write fails (or the reader goes away: `beforeExit` only), and
    /// what to run before exiting.
    func onWriteFailure(exitStatus: Int32, beforeExit: @escaping @Sendable () -> Void) {
        lock.lock()
        defer { lock.unlock() }
        failureStatus = exitStatus
        self.beforeExit = beforeExit
    }

    func flush() {
        lock.lock()
        defer { lock.unlock() }
        flushLocked()
    }

    private func flushLocked() {
        buffer.withUnsafeBytes(writeAll)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Writes all of `bytes`. EPIPE on standard output ends the process quietly; any other error on it
    /// (a full disk, /dev/full) is fatal: what was not written must not count as published.
    private func writeAll(_ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < bytes.count {
            let n = Foundation.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EPIPE {
                    // The reader went away: stop quietly (and stop a wrapped bot with us).
                    beforeExit()
                    exit(0)
                }
                guard fd == 1 else { return }
                let reason = String(cString: strerror(errno))
                beforeExit()
                let message = "Error: cannot write to standard output (\(reason)); stopped, nothing more is published\n"
                _ = message.withCString { Foundation.write(2, $0, strlen($0)) }
                exit(failureStatus)
            }
            offset += n
        }
    }

    deinit { flushLocked() }
}

