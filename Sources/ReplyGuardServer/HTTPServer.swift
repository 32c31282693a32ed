import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import ReplyGuard

/// A whole request, as the routes see it.
struct HTTPRequest {
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

struct HTTPResponse {
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

/// Reads one request (head, body up to the limit, end), hands it to the app, writes the response.
/// A body over the limit is not kept: the rest is read and dropped, and the answer is 413; a declared
/// `Content-Length` over the limit is answered 413 at once and the connection closed. Tells `deadline`
/// when a request has been read whole.
final class HTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let app: ServerApp
    private let deadline: RequestDeadline?
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var tooLarge = false
    private var rejectedEarly = false

    init(app: ServerApp, deadline: RequestDeadline? = nil) {
        self.app = app
        self.deadline = deadline
    }

    /// A connection that sends nothing for the idle timeout (a slow or stalled client) is closed.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
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
            let (endpoint, response) = tooLarge ? ("too-large", app.tooLarge(declared: nil)) : app.respond(request)
            write(response, keepAlive: requestHead.isKeepAlive && !response.close, headOnly: requestHead.method == .HEAD, context: context)
            app.metrics.record(endpoint: endpoint, status: response.status,
                               seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
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
                    try channel.pipeline.syncOperations.addHandler(HTTPHandler(app: app, deadline: deadline))
                }
            }
        do {
            channel = try bootstrap.bind(to: address).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
        if loopbackOnly, channel.localAddress?.isLoopback != true {
            // Not reached when the resolved address was loopback; checked again on what was bound.
            channel.close(promise: nil)
            try? group.syncShutdownGracefully()
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
