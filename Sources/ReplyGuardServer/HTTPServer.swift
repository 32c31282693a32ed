import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import ReplyGuard

/// A whole request, as the routes see it.
struct HTTPRequest: Sendable {
    let method: String
    let path: String
    let query: [String: String]
    let headers: [(String, String)]
    let body: [UInt8]
    /// The peer's IP address (nil when unknown).
    let peer: String?

    init(method: String, uri: String, headers: [(String, String)], body: [UInt8], peer: String? = nil) {
        self.method = method
        self.peer = peer
        self.headers = headers
        self.body = body
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        path = String(parts[0])
        query = parts.count > 1 ? FormBody.fields(Array(parts[1].utf8)) : [:]
    }

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name }?.1
    }

    func cookie(_ name: String) -> String? {
        for header in headers where header.0.lowercased() == "cookie" {
            for pair in header.1.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == name { return String(parts[1]).trimmingCharacters(in: .whitespaces) }
            }
        }
        return nil
    }
}

struct HTTPResponse: Sendable {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]
    /// Close the connection after this response (the request was not read whole).
    var close = false

    init(status: Int, contentType: String, body: [UInt8], headers: [(String, String)] = []) {
        self.status = status
        self.body = body
        self.headers = [("Content-Type", contentType)] + headers
    }

    static func json(_ status: Int, _ text: String, headers: [(String, String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, contentType: "application/json; charset=utf-8", body: Array((text + "\n").utf8), headers: headers)
    }

    static func error(_ status: Int, _ message: String, headers: [(String, String)] = []) -> HTTPResponse {
        json(status, "{\"error\":\(jsonString(message))}", headers: headers)
    }

    static func html(_ status: Int, _ text: String, headers: [(String, String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, contentType: "text/html; charset=utf-8", body: Array(text.utf8),
                     headers: headers + [("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"),
                                         ("X-Content-Type-Options", "nosniff"), ("Cache-Control", "no-store"), ("Referrer-Policy", "no-referrer")])
    }

    static func redirect(_ location: String, headers: [(String, String)] = []) -> HTTPResponse {
        HTTPResponse(status: 303, contentType: "text/plain; charset=utf-8", body: Array("see \(location)\n".utf8), headers: [("Location", location)] + headers)
    }
}

/// How a route answers a request (``ServerApp/route(_:)``).
///
/// The event loops only move bytes: a route whose work may block — the reply gate, the review queue, the
/// audit log, a reload — answers ``offLoop(_:)``, run on the server's `NIOThreadPool` and written back on
/// the connection's loop; a route that answers in parts over time (server-sent events) answers
/// ``streamed(_:)``. While an answer is outstanding the connection reads no further request (HTTP/1.1
/// pipelining keeps the order) and its idle timeout does not fire.
enum Answer: Sendable {
    /// Cheap work, done on the event loop: written at once.
    case now(HTTPResponse)
    /// Blocking work, done on the thread pool; its response (and the endpoint name metrics count it
    /// under) is written when it returns.
    case offLoop(@Sendable () -> (endpoint: String, response: HTTPResponse))
    /// Work that completes later without blocking a thread (an outbound call): started on the
    /// connection's event loop, written when the future completes (a failed future answers 502).
    case later(@Sendable (EventLoop) -> EventLoopFuture<HTTPResponse>)
    /// Started on the event loop with a ``ResponseWriter`` that any thread then writes the response through.
    case streamed(@Sendable (ResponseWriter) -> Void)
}

/// A response written in parts, from any thread: ``start(status:headers:)`` once, ``write(_:)`` any number
/// of times, ``end()`` once (each a no-op after the client went away or the response ended). The body
/// goes out with chunked transfer encoding, each write flushed at once (server-sent events).
///
/// ``whenCancelled(_:)`` registers what to stop when the client goes away before ``end()`` (an upstream
/// request): it runs once, on the connection's event loop, or at once when registered after the fact.
/// A writer that is never ended keeps its connection open until the client leaves: every path must end it.
public final class ResponseWriter: Sendable {
    private struct State {
        var started = false
        var ended = false
        var cancelled = false
        var onCancel: [@Sendable () -> Void] = []
        var status = 0
    }

    private let channel: Channel
    private let keepAlive: Bool
    private let headOnly: Bool
    private let finished: @Sendable (_ status: Int) -> Void
    private let state = NIOLockedValueBox(State())

    /// The connection's event loop (the writer may be used from any thread all the same).
    public var eventLoop: EventLoop { channel.eventLoop }

    /// - Parameter finished: called once on the event loop when the response has ended or the client
    ///   went away, with the status sent (0 when none was).
    init(channel: Channel, keepAlive: Bool, headOnly: Bool, finished: @escaping @Sendable (_ status: Int) -> Void) {
        self.channel = channel
        self.keepAlive = keepAlive
        self.headOnly = headOnly
        self.finished = finished
        channel.closeFuture.whenComplete { [state] _ in
            let handlers: [@Sendable () -> Void] = state.withLockedValue { state in
                guard !state.ended, !state.cancelled else { return [] }
                state.cancelled = true
                defer { state.onCancel = [] }
                return state.onCancel
            }
            let wasOpen = state.withLockedValue { !$0.ended }
            for handler in handlers { handler() }
            if wasOpen { finished(state.withLockedValue { $0.status }) }
        }
    }

    /// True once the client has gone away before the response ended.
    public var isCancelled: Bool { state.withLockedValue { $0.cancelled } }

    /// Runs `body` when the client goes away before the response ends (at once if it already has).
    public func whenCancelled(_ body: @escaping @Sendable () -> Void) {
        let now: Bool = state.withLockedValue { state in
            if state.cancelled { return true }
            if !state.ended { state.onCancel.append(body) }
            return false
        }
        if now { body() }
    }

    /// Sends the status line and headers (`Transfer-Encoding: chunked`; `Content-Length` is dropped).
    public func start(status: Int, headers: [(String, String)]) {
        let go: Bool = state.withLockedValue { state in
            guard !state.started, !state.ended, !state.cancelled else { return false }
            state.started = true
            state.status = status
            return true
        }
        guard go else { return }
        var fields = HTTPHeaders(headers.filter { $0.0.lowercased() != "content-length" })
        fields.replaceOrAdd(name: "Transfer-Encoding", value: "chunked")
        fields.replaceOrAdd(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: fields)
        channel.writeAndFlush(HTTPServerResponsePart.head(head), promise: nil)
    }

    /// Sends `bytes` at once (nothing when the response has not started, has ended or was cancelled).
    public func write(_ bytes: [UInt8]) {
        guard !bytes.isEmpty, state.withLockedValue({ $0.started && !$0.ended && !$0.cancelled }), !headOnly else { return }
        channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: bytes))), promise: nil)
    }

    /// Ends the response (a response never started is answered 500 first); the connection stays open for
    /// the next request when the client asked for keep-alive.
    public func end() {
        let (go, wasStarted): (Bool, Bool) = state.withLockedValue { state in
            guard !state.ended, !state.cancelled else { return (false, state.started) }
            return (true, state.started)
        }
        guard go else { return }
        if !wasStarted { start(status: 500, headers: [("Content-Type", "application/json; charset=utf-8")]) }
        let status: Int = state.withLockedValue { state in
            state.ended = true
            state.onCancel = []
            return state.status
        }
        let done = channel.writeAndFlush(HTTPServerResponsePart.end(nil))
        let channel = self.channel
        let keepAlive = self.keepAlive
        let finished = self.finished
        done.whenComplete { _ in
            if !keepAlive { channel.close(promise: nil) }
            finished(status)
        }
    }
}

/// Reads one request (head, body up to the limit, end), hands it to the app, writes the response.
/// A body over the limit is not kept: the rest is read and dropped, and the answer is 413; a declared
/// `Content-Length` over the limit is answered 413 at once and the connection closed. Tells `deadline`
/// when a request has been read whole. An ``Answer/offLoop(_:)`` answer runs on `pool`; while any
/// answer is outstanding the idle timeout does not close the connection.
final class HTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let app: ServerApp
    private let deadline: RequestDeadline?
    private let pool: NIOThreadPool?
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var tooLarge = false
    private var rejectedEarly = false
    /// Answers begun and not yet written whole.
    private var outstanding = 0

    init(app: ServerApp, deadline: RequestDeadline? = nil, pool: NIOThreadPool? = nil) {
        self.app = app
        self.deadline = deadline
        self.pool = pool
    }

    /// A connection that sends nothing for the idle timeout (a slow or stalled client) is closed — unless
    /// it is waiting for an answer.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            if outstanding == 0 { context.close(promise: nil) }
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let requestHead):
            head = requestHead
            body = []
            tooLarge = false
            rejectedEarly = false
            if let declared = requestHead.headers.first(name: "content-length").flatMap({ Int($0) }), declared > app.maxBodyBytes {
                rejectedEarly = true
                deadline?.requestEnded()
                var response = app.tooLarge(declared: declared)
                response.close = true
                write(response, keepAlive: false, context: context)
            }
        case .body(let chunk):
            guard !rejectedEarly, !tooLarge else { return }
            if body.count + chunk.readableBytes > app.maxBodyBytes {
                tooLarge = true
                body = []
            } else {
                body.append(contentsOf: chunk.readableBytesView)
            }
        case .end:
            deadline?.requestEnded()
            guard let requestHead = head, !rejectedEarly else { return }
            head = nil
            let started = DispatchTime.now().uptimeNanoseconds
            let request = HTTPRequest(method: requestHead.method.rawValue, uri: requestHead.uri,
                                      headers: requestHead.headers.map { ($0.name, $0.value) }, body: body,
                                      peer: context.channel.remoteAddress?.ipAddress)
            body = []
            let (endpoint, answer) = tooLarge ? ("too-large", .now(app.tooLarge(declared: nil))) : app.route(request)
            let keepAlive = requestHead.isKeepAlive
            let headOnly = requestHead.method == .HEAD
            let metrics = app.metrics
            @Sendable func record(_ status: Int, as name: String = endpoint) {
                metrics.record(endpoint: name, status: status, seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
            }
            switch answer {
            case .now(let response):
                write(response, keepAlive: keepAlive && !response.close, headOnly: headOnly, context: context)
                record(response.status)
            case .offLoop(let work):
                outstanding += 1
                let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                let done: EventLoopFuture<(endpoint: String, response: HTTPResponse)>
                if let pool {
                    done = pool.runIfActive(eventLoop: context.eventLoop, work)
                } else {
                    done = context.eventLoop.makeSucceededFuture(work())
                }
                done.whenComplete { result in
                    let (handler, context) = bound.value
                    handler.outstanding -= 1
                    let (name, response) = (try? result.get()) ?? (endpoint, .error(503, "the server is shutting down"))
                    handler.write(response, keepAlive: keepAlive && !response.close, headOnly: headOnly, context: context)
                    record(response.status, as: name)
                }
            case .later(let start):
                outstanding += 1
                let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                start(context.eventLoop).hop(to: context.eventLoop).whenComplete { result in
                    let (handler, context) = bound.value
                    handler.outstanding -= 1
                    let response: HTTPResponse
                    switch result {
                    case .success(let answer): response = answer
                    case .failure(let error): response = .error(502, "\(error)")
                    }
                    handler.write(response, keepAlive: keepAlive && !response.close, headOnly: headOnly, context: context)
                    record(response.status)
                }
            case .streamed(let start):
                outstanding += 1
                let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
                let loop = context.eventLoop
                let writer = ResponseWriter(channel: context.channel, keepAlive: keepAlive, headOnly: headOnly) { status in
                    loop.execute { bound.value.outstanding -= 1 }
                    record(status)
                }
                start(writer)
            }
        }
    }

    /// - Parameter headOnly: a HEAD request: the headers (Content-Length included) without the body.
    private func write(_ response: HTTPResponse, keepAlive: Bool, headOnly: Bool = false, context: ChannelHandlerContext) {
        var headers = HTTPHeaders(response.headers)
        headers.replaceOrAdd(name: "Content-Length", value: String(response.body.count))
        headers.replaceOrAdd(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if !headOnly {
            var buffer = context.channel.allocator.buffer(capacity: response.body.count)
            buffer.writeBytes(response.body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}

/// The listening server: SwiftNIO event loops (one per core), HTTP/1.1 with keep-alive and pipelining.
public final class HTTPServer: Sendable {
    private let group: MultiThreadedEventLoopGroup
    /// Where blocking gate work runs (``Answer/offLoop(_:)``), never on an event loop.
    private let pool: NIOThreadPool
    private let channel: Channel
    public let app: ServerApp

    /// Binds `host:port` (port 0: an ephemeral port; see ``port``).
    /// - Parameters:
    ///   - idleTimeout: seconds a connection may stay silent (between or within requests) before it is closed.
    ///   - requestTimeout: seconds a request may take to arrive whole, from its first byte (408 after).
    ///   - maxConnections: open connections at most; a connection past them is answered 503 and closed.
    ///   - loopbackOnly: refuse to listen unless the address `host` resolves to, and the address actually
    ///     bound, are loopback addresses (``LoopbackRequired``): the server then has no token.
    public init(host: String, port: Int, app: ServerApp, idleTimeout: Int64 = 60, requestTimeout: Int64 = 30,
                maxConnections: Int = 512, loopbackOnly: Bool = false) throws {
        self.app = app
        let address = try SocketAddress.makeAddressResolvingHost(host, port: port)
        if loopbackOnly, !address.isLoopback { throw LoopbackRequired(host: host, address: address) }
        group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let pool = NIOThreadPool(numberOfThreads: max(2, System.coreCount))
        pool.start()
        self.pool = pool
        app.attach(eventLoops: group, pool: pool)
        let connections = ConnectionCount(limit: maxConnections)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            // TCP_NODELAY at the TCP level: socketOption(.tcp_nodelay) would set SOL_SOCKET option 1,
            // SO_DEBUG, which needs CAP_NET_ADMIN and made every connection fail for a non-root server.
            .childChannelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard connections.enter() else {
                        app.metrics.record(endpoint: "over-capacity", status: 503, seconds: 0)
                        try channel.pipeline.syncOperations.addHandler(OverCapacity())
                        return
                    }
                    channel.closeFuture.whenComplete { _ in connections.leave() }
                    let deadline = RequestDeadline(timeout: .seconds(requestTimeout)) {
                        app.metrics.record(endpoint: "timeout", status: 408, seconds: Double(requestTimeout))
                    }
                    try channel.pipeline.syncOperations.addHandler(deadline)
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: .seconds(idleTimeout)))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(HTTPHandler(app: app, deadline: deadline, pool: pool))
                }
            }
        do {
            channel = try bootstrap.bind(to: address).wait()
        } catch {
            try? group.syncShutdownGracefully()
            try? pool.syncShutdownGracefully()
            throw error
        }
        if loopbackOnly, channel.localAddress?.isLoopback != true {
            // Not reached when the resolved address was loopback; checked again on what was bound.
            channel.close(promise: nil)
            try? group.syncShutdownGracefully()
            try? pool.syncShutdownGracefully()
            throw LoopbackRequired(host: host, address: channel.localAddress ?? address)
        }
    }

    public var port: Int { channel.localAddress?.port ?? 0 }

    /// Blocks until the server is closed.
    public func wait() throws { try channel.closeFuture.wait() }

    public func close() {
        channel.close(promise: nil)
    }

    /// Runs `body` on an event loop every `seconds` (review expiry).
    public func every(_ seconds: Int64, _ body: @escaping @Sendable () -> Void) {
        group.next().scheduleRepeatedTask(initialDelay: .seconds(seconds), delay: .seconds(seconds)) { _ in body() }
    }
}

/// `--insecure-local` on an address that is not loopback.
public struct LoopbackRequired: Error, CustomStringConvertible {
    public let host: String
    public let address: String

    init(host: String, address: SocketAddress) {
        self.host = host
        self.address = address.ipAddress ?? "\(address)"
    }

    public var description: String {
        "\(host) resolves to \(address), which is not a loopback address (127.0.0.0/8, ::1)"
    }
}

func jsonString(_ text: String) -> String { JSONWriter.string(text) }
