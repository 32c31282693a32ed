import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// An `http://` or `https://` URL the outbound client can call.
public struct OutboundURL: Sendable, Equatable, CustomStringConvertible {
    public let secure: Bool
    public let host: String
    public let port: Int
    /// The path with its query, always starting with `/`.
    public let path: String

    /// Parses `url`; nil when it is not an absolute `http` or `https` URL with a host.
    public init?(_ url: String) {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty,
              components.user == nil, components.password == nil
        else { return nil }
        secure = scheme == "https"
        self.host = host
        port = components.port ?? (secure ? 443 : 80)
        let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        self.path = path + (components.percentEncodedQuery.map { "?" + $0 } ?? "")
    }

    private init(secure: Bool, host: String, port: Int, path: String) {
        self.secure = secure
        self.host = host
        self.port = port
        self.path = path
    }

    /// This URL with `suffix` appended to its path (`https://api.deepseek.com/v1` + `/chat/completions`).
    public func appending(path suffix: String) -> OutboundURL {
        let base = path.hasSuffix("/") ? String(path.dropLast()) : path
        return OutboundURL(secure: secure, host: host, port: port, path: base + suffix)
    }

    /// `Host` header value.
    var hostHeader: String {
        let name = host.contains(":") ? "[\(host)]" : host
        return (secure && port == 443) || (!secure && port == 80) ? name : "\(name):\(port)"
    }

    public var description: String { "\(secure ? "https" : "http")://\(hostHeader)\(path)" }
}

/// Limits on one outbound call.
public struct OutboundTimeouts: Sendable, Equatable {
    /// To open the TCP connection (and finish the TLS handshake).
    public var connect: TimeAmount
    /// From sending the request to the response head.
    public var response: TimeAmount
    /// Longest silence between two reads of the response body.
    public var idle: TimeAmount
    /// The whole call, first byte to last.
    public var total: TimeAmount

    public init(connect: TimeAmount = .seconds(10), response: TimeAmount = .seconds(60), idle: TimeAmount = .seconds(60), total: TimeAmount = .seconds(600)) {
        self.connect = connect
        self.response = response
        self.idle = idle
        self.total = total
    }
}

/// One request to send.
public struct OutboundRequest: Sendable {
    public var url: OutboundURL
    public var method: HTTPMethod
    /// Sent as given; `Host`, `Content-Length` and `Connection: close` are added.
    public var headers: [(String, String)]
    public var body: [UInt8]
    public var timeouts: OutboundTimeouts

    public init(url: OutboundURL, method: HTTPMethod = .POST, headers: [(String, String)] = [], body: [UInt8] = [], timeouts: OutboundTimeouts = OutboundTimeouts()) {
        self.url = url
        self.method = method
        self.headers = headers
        self.body = body
        self.timeouts = timeouts
    }
}

/// Why an outbound call ended without its whole response.
///
/// ``connect(_:)``, ``tls(_:)`` and ``notSent(_:)`` mean the server surely did not get the whole request
/// (``requestNotSent``); after the request's last byte was written every failure — a timeout, a closed
/// connection, a TLS or socket error — is another case: the server may have acted on it.
public enum OutboundError: Error, Sendable, Equatable, CustomStringConvertible {
    case connect(String)
    /// No TLS session: the handshake failed (the request was not sent).
    case tls(String)
    /// The connection failed (timed out, closed, an error) before the whole request was written.
    case notSent(String)
    case timedOut(String)
    /// The connection closed before the response ended.
    case closed
    case cancelled
    /// ``OutboundHTTPClient/fetch(_:limit:)``: the body was longer than the limit.
    case tooLarge(Int)
    case other(String)

    public var description: String {
        switch self {
        case .connect(let why): return "cannot connect: \(why)"
        case .tls(let why): return "TLS failed: \(why)"
        case .notSent(let why): return "\(why) before the request was sent"
        case .timedOut(let what): return "timed out waiting for \(what)"
        case .closed: return "the connection closed before the response ended"
        case .cancelled: return "cancelled"
        case .tooLarge(let limit): return "the response is longer than \(limit) bytes"
        case .other(let why): return why
        }
    }

    /// True when the server surely did not get the whole request, so it cannot have acted on it (no
    /// connection, no TLS session, or a failure before the request's last byte was written). False when
    /// it may have: sending it again could make it happen twice.
    public var requestNotSent: Bool {
        switch self {
        case .connect, .tls, .notSent: return true
        case .timedOut, .closed, .cancelled, .tooLarge, .other: return false
        }
    }
}

/// What an outbound call reports, in order, on its connection's event loop: ``head`` once, ``body`` for
/// each read of the body as it arrives (any split: a UTF-8 character or an SSE line may straddle two),
/// then ``end`` exactly once — `.success` after the whole response, or why it stopped (after which
/// nothing else is reported). `end` without `head` means no response came.
public struct OutboundEvents: Sendable {
    public var head: @Sendable (_ status: Int, _ headers: [(String, String)]) -> Void
    public var body: @Sendable (_ bytes: [UInt8]) -> Void
    public var end: @Sendable (_ result: Result<Void, OutboundError>) -> Void

    public init(head: @escaping @Sendable (Int, [(String, String)]) -> Void, body: @escaping @Sendable ([UInt8]) -> Void,
                end: @escaping @Sendable (Result<Void, OutboundError>) -> Void) {
        self.head = head
        self.body = body
        self.end = end
    }
}

/// A call in flight; ``cancel()`` closes its connection (its ``OutboundEvents/end`` reports `.cancelled`
/// unless it had ended already).
public final class OutboundCall: Sendable {
    private let state = NIOLockedValueBox<(channel: Channel?, cancelled: Bool)>((nil, false))
    let finish: @Sendable (Result<Void, OutboundError>) -> Void

    init(finish: @escaping @Sendable (Result<Void, OutboundError>) -> Void) { self.finish = finish }

    func attach(_ channel: Channel) -> Bool {
        state.withLockedValue { state in
            state.channel = channel
            return !state.cancelled
        }
    }

    /// Stops the call from any thread: the connection is closed and `end` reports `.cancelled`.
    public func cancel() {
        let channel: Channel? = state.withLockedValue { state in
            state.cancelled = true
            return state.channel
        }
        finish(.failure(.cancelled))
        channel?.close(promise: nil)
    }
}

/// A small HTTP/1.1 client over SwiftNIO for the proxies' upstreams: one connection per call
/// (`Connection: close`, no pool), `https` through swift-nio-ssl with the system's trust roots and the
/// host name checked, the response body reported as it arrives (``OutboundEvents``), the
/// ``OutboundTimeouts`` enforced, cancellable from any thread (``OutboundCall/cancel()``).
///
/// Redirects are not followed and `1xx` heads are skipped. Thread-safe.
public final class OutboundHTTPClient: Sendable {
    private let group: EventLoopGroup
    private let tls: NIOLockedValueBox<NIOSSLContext?>
    private let trustRoots: NIOSSLTrustRoots

    /// - Parameters:
    ///   - group: the event loops calls run on (the server's).
    ///   - caFile: a PEM file of roots to trust instead of the system's (a private upstream).
    public init(group: EventLoopGroup, caFile: String? = nil) {
        self.group = group
        tls = NIOLockedValueBox(nil)
        trustRoots = caFile.map { .file($0) } ?? .default
    }

    private func tlsContext() throws -> NIOSSLContext {
        try tls.withLockedValue { context in
            if let context { return context }
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.trustRoots = trustRoots
            configuration.applicationProtocols = ["http/1.1"]
            let made = try NIOSSLContext(configuration: configuration)
            context = made
            return made
        }
    }

    /// Sends `request`; `events` report the response as it arrives (see ``OutboundEvents``).
    @discardableResult
    public func execute(_ request: OutboundRequest, events: OutboundEvents) -> OutboundCall {
        let ended = NIOLockedValueBox(false)
        let finish: @Sendable (Result<Void, OutboundError>) -> Void = { result in
            let first = ended.withLockedValue { ended in
                defer { ended = true }
                return !ended
            }
            if first { events.end(result) }
        }
        let guarded = OutboundEvents(
            head: { status, headers in if !ended.withLockedValue({ $0 }) { events.head(status, headers) } },
            body: { bytes in if !ended.withLockedValue({ $0 }) { events.body(bytes) } },
            end: finish)
        let call = OutboundCall(finish: finish)
        let context: NIOSSLContext?
        do { context = request.url.secure ? try tlsContext() : nil } catch {
            finish(.failure(.tls("\(error)")))
            return call
        }
        let host = request.url.host
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(request.timeouts.connect)
            .channelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let context {
                        let serverName = host.first(where: { $0 == ":" }) == nil && Int(host.split(separator: ".").last ?? "") == nil ? host : nil
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: serverName))
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(OutboundResponseHandler(request: request, events: guarded))
                }
            }
        bootstrap.connect(host: host, port: request.url.port).whenComplete { result in
            switch result {
            case .failure(let error):
                finish(.failure(.connect(OutboundHTTPClient.describe(error))))
            case .success(let channel):
                if !call.attach(channel) { channel.close(promise: nil) }
            }
        }
        return call
    }

    static func describe(_ error: Error) -> String {
        if let error = error as? IOError { return error.description }
        return "\(error)"
    }

    /// A whole response, read into memory.
    public struct Response: Sendable {
        public var status: Int
        public var headers: [(String, String)]
        public var body: [UInt8]

        public func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    }

    /// Sends `request` and collects the whole response (at most `limit` body bytes, else ``OutboundError/tooLarge(_:)``).
    public func fetch(_ request: OutboundRequest, limit: Int = 8 << 20) -> EventLoopFuture<Response> {
        let promise = group.next().makePromise(of: Response.self)
        let collected = NIOLockedValueBox(Response(status: 0, headers: [], body: []))
        let callBox = NIOLockedValueBox<OutboundCall?>(nil)
        let call = execute(request, events: OutboundEvents(
            head: { status, headers in collected.withLockedValue { $0.status = status; $0.headers = headers } },
            body: { bytes in
                let over = collected.withLockedValue { response in
                    response.body += bytes
                    return response.body.count > limit
                }
                if over { promise.fail(OutboundError.tooLarge(limit)); callBox.withLockedValue { $0 }?.cancel() }
            },
            end: { result in
                switch result {
                case .success: promise.succeed(collected.withLockedValue { $0 })
                case .failure(let error): promise.fail(error)
                }
            }))
        callBox.withLockedValue { $0 = call }
        return promise.futureResult
    }
}

/// Writes the request when the connection is up, reports the response, enforces the timeouts.
private final class OutboundResponseHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let request: OutboundRequest
    private let events: OutboundEvents
    private var sawHead = false
    private var done = false
    /// The request's last byte has been handed to the connection (until then a failure is ``OutboundError/notSent(_:)``).
    private var written = false
    private var idleTimer: Scheduled<Void>?
    private var totalTimer: Scheduled<Void>?

    init(request: OutboundRequest, events: OutboundEvents) {
        self.request = request
        self.events = events
    }

    func channelActive(context: ChannelHandlerContext) {
        var headers = HTTPHeaders(request.headers.filter { !["host", "content-length", "connection", "transfer-encoding"].contains($0.0.lowercased()) })
        headers.add(name: "Host", value: request.url.hostHeader)
        headers.add(name: "Content-Length", value: String(request.body.count))
        headers.add(name: "Connection", value: "close")
        let head = HTTPRequestHead(version: .http1_1, method: request.method, uri: request.url.path, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if !request.body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: request.body)))), promise: nil)
        }
        // Completed once the last byte is written (behind a TLS handler: after the handshake).
        let sent = context.eventLoop.makePromise(of: Void.self)
        let marker = NIOLoopBound(self, eventLoop: context.eventLoop)
        sent.futureResult.whenSuccess { marker.value.written = true }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: sent)
        arm(context, request.timeouts.response, "the response head")
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        totalTimer = context.eventLoop.scheduleTask(in: request.timeouts.total) {
            let (handler, context) = bound.value
            handler.fail(.timedOut("the whole response"), context: context)
        }
        context.fireChannelActive()
    }

    private func arm(_ context: ChannelHandlerContext, _ amount: TimeAmount, _ what: String) {
        idleTimer?.cancel()
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        idleTimer = context.eventLoop.scheduleTask(in: amount) {
            let (handler, context) = bound.value
            handler.fail(.timedOut(what), context: context)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            if head.status.code < 200 { return }
            sawHead = true
            arm(context, request.timeouts.idle, "the response body")
            events.head(Int(head.status.code), head.headers.map { ($0.name, $0.value) })
        case .body(let buffer):
            arm(context, request.timeouts.idle, "the response body")
            events.body(Array(buffer.readableBytesView))
        case .end:
            finishUp(.success(()), context: context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if error is NIOSSLError || error is BoringSSLError {
            // A TLS error once the request is out (an unclean shutdown…) leaves its outcome unknown.
            fail(written ? .other("TLS failed after the request was sent: \(error)") : .tls("\(error)"), context: context)
        } else {
            fail(.other(OutboundHTTPClient.describe(error)), context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finishUp(.failure(.closed), context: context)
        context.fireChannelInactive()
    }

    private func fail(_ error: OutboundError, context: ChannelHandlerContext) {
        finishUp(.failure(error), context: context)
    }

    private func finishUp(_ result: Result<Void, OutboundError>, context: ChannelHandlerContext) {
        guard !done else { return }
        done = true
        var result = result
        if !written, case .failure(let error) = result, !error.requestNotSent {
            switch error {
            case .closed: result = .failure(.notSent("the connection closed"))
            case .timedOut: result = .failure(.notSent("timed out"))
            default: result = .failure(.notSent(error.description))
            }
        }
        idleTimer?.cancel()
        totalTimer?.cancel()
        events.end(result)
        context.close(promise: nil)
    }
}
