import ArgumentParser
import Foundation
import ReplyGuard
import ReplyGuardGate
import ReplyGuardServer

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the filter over HTTP: /v1/check, /v1/filter, /v1/reviews/ID, a reviewer's page at /review, /healthz, /metrics.",
        discussion: """
        The API and the page need the access token (Authorization: Bearer TOKEN; the page signs in with it), \
        read from --token-file (readable by its owner only) or $REPLYGUARD_TOKEN. Without a token the server \
        refuses to start unless it listens on a loopback address with --insecure-local (the address the host \
        resolves to is checked, not its name). Requests for another host name than an IP address, localhost, \
        the --listen host or a --host-name get 421; /v1 requests from another site (Origin, Sec-Fetch-Site) \
        get 403, and a /v1 body not sent as application/json 415. SIGHUP or POST /v1/reload loads the rules again; \
        rules that fail to load or check are refused and the running rules stay. \
        Exit 0 on SIGINT/SIGTERM, 2 when rules, queue, token or address cannot be used.
        """)

    @OptionGroup var ruleOptions: RuleOptions

    @OptionGroup(title: "WeChat official account (docs/wechat.md)") var wechat: WeChatOptions

    @OptionGroup(title: "OpenAI-compatible chat proxy (docs/proxies.md)") var proxy: ProxyOptions

    @Option(name: .long, help: ArgumentHelp("Address to listen on (port 0: any free port; the port is printed).", valueName: "host:port"))
    var listen: String

    @Option(name: .long, help: ArgumentHelp("Review queue file (default: $REPLYGUARD_QUEUE or ~/.local/share/replyguard/review-queue.sqlite3).", valueName: "path"))
    var queue: String?

    @Option(name: .long, help: ArgumentHelp("Append every decision and review to this JSON Lines file.", valueName: "file"))
    var audit: String?

    @Option(name: .customLong("token-file"), help: ArgumentHelp("File holding the access token (else $REPLYGUARD_TOKEN).", valueName: "file"))
    var tokenFile: String?

    @Flag(name: .customLong("insecure-local"), help: "Allow running without a token, only on a loopback address.")
    var insecureLocal = false

    @Option(name: .customLong("host-name"), help: ArgumentHelp("Also answer requests for this host name (the name clients or the TLS proxy use; repeatable). IP addresses, localhost and the --listen host are always answered.", valueName: "name"))
    var hostNames: [String] = []

    @Flag(name: .customLong("secure-cookie"), help: "Mark the reviewer's session cookie Secure (automatic for requests with X-Forwarded-Proto: https).")
    var secureCookie = false

    @Option(name: .customLong("trusted-proxy"), help: ArgumentHelp("Count sign-in attempts from this proxy address under the client its X-Forwarded-For names (repeatable).", valueName: "address"))
    var trustedProxies: [String] = []

    @Flag(name: .customLong("hold-all"), help: "Send every reply that is not blocked to human review.")
    var holdAll = false

    @Option(name: .customLong("idle-timeout"), help: ArgumentHelp("Close a connection that sends nothing for this many seconds.", valueName: "seconds"))
    var idleTimeout: Int = 60

    @Option(name: .customLong("request-timeout"), help: ArgumentHelp("A request must arrive whole (head and body) within this many seconds of its first byte; else 408 and the connection is closed.", valueName: "seconds"))
    var requestTimeout: Int = 30

    @Option(name: .customLong("max-connections"), help: ArgumentHelp("Open connections at most; one more is answered 503 and closed.", valueName: "n"))
    var maxConnections: Int = 512

    @Option(name: .customLong("max-body-size"), help: ArgumentHelp("Largest request body (bytes; K, M, G suffixes); larger ones get 413.", valueName: "size"))
    var maxBodySize = ByteSize(bytes: 1 << 20)

    /// `host:port`, `[v6]:port`.
    static func split(_ address: String) -> (String, Int)? {
        var host: Substring
        var port: Substring
        if address.hasPrefix("[") {
            guard let close = address.firstIndex(of: "]"), address[address.index(after: close)...].hasPrefix(":") else { return nil }
            host = address[address.index(after: address.startIndex)..<close]
            port = address[address.index(close, offsetBy: 2)...]
        } else {
            guard let colon = address.lastIndex(of: ":") else { return nil }
            host = address[..<colon]
            port = address[address.index(after: colon)...]
        }
        guard !host.isEmpty, let number = Int(port), (0...65535).contains(number) else { return nil }
        return (String(host), number)
    }

    func validate() throws {
        guard Serve.split(listen) != nil else { throw ValidationError("--listen takes HOST:PORT (e.g. 127.0.0.1:8080, [::1]:8080)") }
        guard (1...86_400).contains(idleTimeout) else { throw ValidationError("--idle-timeout takes 1 to 86400 seconds") }
        guard (1...86_400).contains(requestTimeout) else { throw ValidationError("--request-timeout takes 1 to 86400 seconds") }
        guard (1...1_000_000).contains(maxConnections) else { throw ValidationError("--max-connections takes 1 to 1000000") }
        for name in hostNames where name.contains(":") || name.contains("/") || name.isEmpty {
            throw ValidationError("--host-name takes a host name without scheme or port (e.g. review.example.org), not '\(name)'")
        }
        for address in trustedProxies where !Serve.isIPAddress(address) {
            throw ValidationError("--trusted-proxy takes an IP address (e.g. 127.0.0.1), not '\(address)'")
        }
    }

    static func isIPAddress(_ text: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }

    func token() throws -> String? {
        if let tokenFile { return try Serve.secret(tokenFile, named: "the token file") }
        if let token = ProcessInfo.processInfo.environment["REPLYGUARD_TOKEN"]?.trimmingCharacters(in: .whitespacesAndNewlines), !token.isEmpty {
            return token
        }
        return nil
    }

    /// A secret from a file only its owner can read or write — like ssh with a private key: a secret others
    /// can read (or replace) is not one. `what` names it in errors ("the token file").
    static func secret(_ path: String, named what: String) throws -> String {
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & 0o077 != 0 {
            throw fail("\(what) \(path) can be read or written by group or others (mode \(String(info.st_mode & 0o777, radix: 8))); make it private: chmod 600 \(path)")
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw fail("cannot read \(what) \(path)") }
        let secret = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !secret.isEmpty else { throw fail("\(what) \(path) is empty") }
        return secret
    }

    func run() throws {
        let (host, port) = Serve.split(listen)!
        let token = try token()
        if token == nil {
            guard insecureLocal else {
                throw fail("no access token: pass --token-file FILE or set $REPLYGUARD_TOKEN (or, on a loopback address only, --insecure-local)")
            }
        }
        var configuration = ServeConfiguration(
            rules: try ruleOptions.source(),
            token: token, maxBodyBytes: maxBodySize.bytes, queuePath: queue ?? ReviewQueue.defaultPath, auditPath: audit, holdAll: holdAll)
        configuration.hostNames = [host] + hostNames
        configuration.secureCookie = secureCookie
        configuration.trustedProxies = trustedProxies
        let app: ServerApp
        do { app = try ServerApp(configuration: configuration) } catch {
            refused(error, consequence: "not serving")
            throw ExitCode(2)
        }
        let wechatConfiguration = try wechat.configuration()
        if let wechatConfiguration {
            do { try app.enableWeChat(wechatConfiguration) } catch {
                throw fail("cannot serve the WeChat account: \(error)")
            }
        }
        let proxyConfiguration = try proxy.configuration()
        if let proxyConfiguration { app.enableChatProxy(proxyConfiguration) }
        let server: HTTPServer
        do {
            // Without a token, what is checked is the address the host resolves to and the one bound,
            // never the name: `127.0.0.1.example.com` may resolve to 0.0.0.0.
            server = try HTTPServer(host: host, port: port, app: app, idleTimeout: Int64(idleTimeout), requestTimeout: Int64(requestTimeout),
                                    maxConnections: maxConnections, loopbackOnly: token == nil)
        } catch let error as LoopbackRequired {
            throw fail("--insecure-local is only allowed on a loopback address: \(error); give a token (--token-file) to listen there")
        } catch {
            throw fail("cannot listen on \(listen): \(error)")
        }
        server.every(15) { app.expireReviews() }
        let signals = SignalHandlers(server: server, app: app)
        if let proxyConfiguration, let hold = app.chatProxyHoldDescription {
            Terminal.standardError.write("replyguard serve: chat proxy at /v1/chat/completions → \(proxyConfiguration.upstream)/chat/completions; streamed replies held back: \(hold)\n")
        }
        Terminal.standardError.write("replyguard serve: listening on http://\(host.contains(":") ? "[\(host)]" : host):\(server.port) (rules \(app.policyDigest)\(token == nil ? ", NO TOKEN: loopback only" : ""))\n")
        if let wechatConfiguration {
            let w = wechatConfiguration
            let noSecret = w.appSecret == nil ? "; no AppSecret: late and approved replies are not delivered" : ""
            Terminal.standardError.write("replyguard serve: WeChat callback at \(w.path) (\(w.mode.rawValue) mode, AppID \(w.appID), bot \(w.upstreamProtocol.rawValue) \(w.upstream)\(noSecret))\n")
        }
        Terminal.standardError.flush()
        try server.wait()
        withExtendedLifetime(signals) {}
    }
}

/// SIGHUP reloads the rules; SIGINT and SIGTERM close the listener (the process then exits 0).
final class SignalHandlers {
    private var sources: [DispatchSourceSignal] = []

    init(server: HTTPServer, app: ServerApp) {
        for signalNumber in [SIGHUP, SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler {
                if signalNumber == SIGHUP {
                    switch app.reload() {
                    case .success(let digest):
                        Terminal.standardError.write("replyguard serve: rules reloaded (\(digest))\n")
                    case .failure(let refused):
                        Terminal.standardError.write("replyguard serve: reload refused, the running rules stay: \(refused.summary)\n" + refused.problems.map { "  \($0)\n" }.joined())
                    }
                    Terminal.standardError.flush()
                } else {
                    server.close()
                }
            }
            source.resume()
            sources.append(source)
        }
    }
}
