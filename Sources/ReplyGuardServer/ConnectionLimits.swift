import Foundation
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// The first handler of a connection: a request must arrive whole — head and body — within `timeout`
/// of its first byte, however slowly the bytes trickle in (the idle timeout alone is reset by every
/// read, so one byte a minute would hold a connection for ever). When time is up the client gets a
/// 408 and the connection is closed. The clock starts at the first byte read after the previous
/// request ended, so time a keep-alive connection spends idle between requests is not counted (the
/// idle timeout bounds that); a request whose first bytes came in the same read as the end of the one
/// before starts its clock at its next read.
final class RequestDeadline: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let timeout: TimeAmount
    private let expired: () -> Void
    private var timer: Scheduled<Void>?
    private var context: ChannelHandlerContext?

    /// - Parameter expired: called when a request ran out of time (for metrics).
    init(timeout: TimeAmount, expired: @escaping () -> Void) {
        self.timeout = timeout
        self.expired = expired
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        requestEnded()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if timer == nil {
            timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in self?.expire() }
        }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        requestEnded()
        context.fireChannelInactive()
    }

    /// The request in progress was read whole (or answered early): stop its clock.
    func requestEnded() {
        timer?.cancel()
        timer = nil
    }

    private func expire() {
        timer = nil
        guard let context, context.channel.isActive else { return }
        expired()
        let body = #"{"error":"the request did not arrive whole within the time allowed (--request-timeout)"}"# + "\n"
        let head = "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n"
        let channel = context.channel
        // Written below the HTTP encoder: raw bytes, after any answer already queued.
        context.writeAndFlush(wrapInboundOut(context.channel.allocator.buffer(string: head + body))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }
}

/// Counts open connections; past the cap, a new connection is answered 503 and closed.
final class ConnectionCount: @unchecked Sendable { // `open` is only touched under `lock`
    let limit: Int
    private var open = 0
    private let lock = NSLock()

    init(limit: Int) { self.limit = limit }

    /// Takes a place for a new connection; false when all are taken.
    func enter() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard open < limit else { return false }
        open += 1
        return true
    }

    func leave() {
        lock.lock()
        open -= 1
        lock.unlock()
    }
}

/// The whole pipeline of a connection over the cap: a 503, then the connection is closed (at once
/// when the client closes, else after a second; what it sends meanwhile is dropped).
final class OverCapacity: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelActive(context: ChannelHandlerContext) {
        let body = #"{"error":"too many open connections (--max-connections); try again later"}"# + "\n"
        let head = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: head + body))).whenComplete { _ in
            channel.close(mode: .output, promise: nil)
        }
        context.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

extension SocketAddress {
    /// True for 127.0.0.0/8, `::1` and IPv4-mapped 127.x addresses — read from the address bytes, not
    /// from a host name (a name such as `127.0.0.1.example.com` may resolve to any address).
    var isLoopback: Bool {
        switch self {
        case .v4(let address):
            return UInt32(bigEndian: address.address.sin_addr.s_addr) >> 24 == 127
        case .v6(let address):
            var bytes = address.address.sin6_addr
            return withUnsafeBytes(of: &bytes) { raw in
                let b = Array(raw)
                if b[0..<15].allSatisfy({ $0 == 0 }) && b[15] == 1 { return true }
                return b[0..<10].allSatisfy { $0 == 0 } && b[10] == 0xFF && b[11] == 0xFF && b[12] == 127
            }
        default:
            return false
        }
    }
}
