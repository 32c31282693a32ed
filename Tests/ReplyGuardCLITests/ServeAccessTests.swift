import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Who may reach `replyguard serve`, from where, and how fast (issue 17: R2, R3 and the limits found
/// beside them), through the real binary.
@Suite(.serialized) struct ServeAccessTests {
    static let rumour = "网传明天停水"

    // MARK: R2: the JSON API refuses other sites

    /// A page on another site, in a browser that holds the reviewer's Basic credentials (cached after
    /// `/review?auth=basic`), must not be able to release an approved reply: whatever it sends — a form's
    /// `Origin`, `Sec-Fetch-Site`, or a `text/plain` body — is refused, and the reply stays approved.
    @Test func theAPIRefusesRequestsFromOtherSitesAndFormBodies() throws {
        let server = try ServeProcess()
        defer { server.stop() }
        let review = try #require(try server.post("/v1/filter", json: "{\"text\":\"\(ServeAccessTests.rumour)\"}").results().first?["review"] as? Int)
        #expect(try CLI.run(["review", "approve", String(review), "--queue", server.queuePath]).status == 0)
        let basic = ("Authorization", "Basic " + Data("reviewer:\(server.token!)".utf8).base64EncodedString())
        let own = "http://127.0.0.1:\(server.port)"
        let foreign: [[(String, String)]] = [
            [("Origin", "http://evil.example"), ("Sec-Fetch-Site", "cross-site"), ("Sec-Fetch-Mode", "navigate"), ("Content-Type", "text/plain")],
            [("Sec-Fetch-Site", "cross-site")],
            [("Sec-Fetch-Site", "same-site")],
            [("Origin", "http://evil.example")],
            [("Origin", own + ".evil.example")],
            [("Origin", "null")],
        ]
        for headers in foreign {
            let reply = try server.request("POST", "/v1/reviews/\(review)/release", headers: [basic] + headers)
            #expect(reply.status == 403, "\(headers): \(reply.status) \(reply.text)")
            #expect(!reply.text.contains(ServeAccessTests.rumour))
        }
        #expect(try server.request("GET", "/v1/reviews/\(review)").json()["status"] as? String == "approved")
        // The own origin, or a request that says nothing about where it came from, is served.
        let same = try server.request("GET", "/v1/reviews/\(review)", headers: server.authorization + [("Origin", own), ("Sec-Fetch-Site", "same-origin")])
        #expect(same.status == 200, "\(same.text)")

        // A body must be declared JSON: what a form can send without a CORS preflight is refused.
        let body = Array("{\"text\":\"\(ServeAccessTests.rumour)\"}".utf8)
        for type in ["text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonp"] {
            let reply = try server.request("POST", "/v1/filter", body: body, contentType: type)
            #expect(reply.status == 415, "\(type): \(reply.status) \(reply.text)")
        }
        let undeclared = try HTTPClient.send(port: server.port, method: "POST", path: "/v1/check", headers: server.authorization, body: body)
        #expect(undeclared.status == 415, "no Content-Type: \(undeclared.text)")
        let reload = try HTTPClient.send(port: server.port, method: "POST", path: "/v1/reload", headers: server.authorization + [("Content-Type", "text/plain")], body: [])
        #expect(reload.status == 415, "\(reload.text)")
        for type in ["application/json", "application/json; charset=utf-8", "Application/JSON"] {
            #expect(try server.request("POST", "/v1/check", body: body, contentType: type).status == 200, "\(type)")
        }
        #expect(try server.request("GET", "/v1/reviews/\(review)").json()["status"] as? String == "approved")
        #expect(try server.list().count == 1) // the refused /v1/filter calls held nothing
        // The client that got the holding reply still gets it.
        let released = try server.request("POST", "/v1/reviews/\(review)/release")
        let reply = try released.json()["reply"] as? String
        #expect(released.status == 200 && reply == ServeAccessTests.rumour, "\(released.text)")
    }

    /// Without a token (--insecure-local), a page the operator opens must still not drive the API.
    @Test func withoutATokenOtherSitesStillCannotUseTheAPI() throws {
        let server = try ServeProcess(arguments: ["--insecure-local"], token: nil)
        defer { server.stop() }
        let form = [("Origin", "http://evil.example"), ("Sec-Fetch-Site", "cross-site")]
        let injected = Array("{\"text\":\"\(ServeAccessTests.rumour) injected\",\"pad\":\"=\"}".utf8)
        #expect(try server.request("POST", "/v1/filter", body: injected, headers: form, contentType: "text/plain").status == 403)
        // An old browser that sends neither header: the text/plain body is refused on its own.
        #expect(try server.request("POST", "/v1/filter", body: injected, headers: [], contentType: "text/plain").status == 415)
        #expect(try server.request("POST", "/v1/reload", headers: form).status == 403)
        #expect(try server.list().isEmpty)
        #expect(try server.post("/v1/filter", json: "{\"text\":\"\(ServeAccessTests.rumour)\"}", headers: []).status == 200)
        #expect(try server.list().count == 1)
    }

    /// DNS rebinding: a page on an attacker's name that now resolves to 127.0.0.1 is same-origin with
    /// whatever answers there, so only the server's own names are served — not even `/login`.
    @Test func onlyTheServersOwnHostNamesAreServed() throws {
        let server = try ServeProcess(arguments: ["--insecure-local", "--host-name", "review.example.org"], token: nil)
        defer { server.stop() }
        #expect(try server.post("/v1/filter", json: "{\"text\":\"投诉人张三，电话13812345678\"}", headers: []).status == 200)
        let rebound = "rebind.evil.example:\(server.port)"
        let attempts: [(String, String, [UInt8]?)] = [
            ("POST", "/login", Array("name=attacker".utf8)), ("GET", "/review", nil), ("GET", "/v1/reviews/1", nil),
            ("POST", "/v1/filter", Array("{\"text\":\"x\"}".utf8)), ("GET", "/healthz", nil),
        ]
        for (method, path, body) in attempts {
            let type = path == "/login" ? "application/x-www-form-urlencoded" : "application/json"
            let reply = try raw(server, method, path, host: rebound, headers: [("Origin", "http://\(rebound)")] + (body == nil ? [] : [("Content-Type", type)]), body: body)
            #expect(reply.status == 421, "\(method) \(path): \(reply.status) \(reply.text)")
            #expect(reply.header("Set-Cookie") == nil && !reply.text.contains("13812345678"))
        }
        for host in ["review.example.org.evil", "evil.review.example.org", "review.example.org@evil.example", "127.0.0.1.evil.example:\(server.port)", "localhost.evil.example", "::1"] {
            #expect(try raw(server, "GET", "/healthz", host: host).status == 421, "Host: \(host)")
        }
        // Two Host headers: which one is meant is not guessed.
        #expect(try raw(server, "GET", "/healthz", host: "127.0.0.1", headers: [("Host", "rebind.evil.example")]).status == 421)
        for host in ["127.0.0.1:\(server.port)", "127.0.0.1", "localhost:\(server.port)", "LocalHost", "[::1]:\(server.port)",
                     "review.example.org", "REVIEW.Example.org.:443", "192.0.2.10:8080"] {
            #expect(try raw(server, "GET", "/healthz", host: host).status == 200, "Host: \(host)")
        }
        // The page signs in on its own name, its Origin being that name.
        let login = try raw(server, "POST", "/login", host: "review.example.org", headers: [("Origin", "http://review.example.org"), ("Content-Type", "application/x-www-form-urlencoded")],
                            body: Array("name=li".utf8))
        #expect(login.status == 303 && login.header("Set-Cookie") != nil, "\(login.text)")
    }

    // MARK: R3: --insecure-local checks the address, not the name

    /// Without a token the server only listens on loopback: what the host resolves to is checked, not
    /// how its name looks (`127.0.0.1.corp.example` may resolve to 0.0.0.0).
    @Test func insecureLocalIsRefusedUnlessTheAddressBoundIsLoopback() throws {
        for listen in ["0.0.0.0:0", "[::]:0"] {
            let wide = try CLI.runBounded(["serve", "--listen", listen, "--insecure-local", "--queue", CLI.temporaryDirectory() + "/q.sqlite3"], timeout: 60)
            #expect(wide.output.status == 2, "\(listen): \(wide.output.stderr)")
            #expect(wide.output.stderr.contains("only allowed on a loopback address") && wide.output.stderr.contains("which is not a loopback address"), "\(wide.output.stderr)")
        }
        // A name is judged by what it resolves to: this machine's own name, when it is not loopback.
        let name = ProcessInfo.processInfo.hostName
        if let address = ServeAccessTests.resolve(name), !address.hasPrefix("127.") && address != "::1" {
            let named = try CLI.runBounded(["serve", "--listen", name + ":0", "--insecure-local", "--queue", CLI.temporaryDirectory() + "/q.sqlite3"], timeout: 60)
            #expect(named.output.status == 2 && named.output.stderr.contains("resolves to \(address)"), "\(named.output.stderr)")
        }
        // localhost resolves to a loopback address: served, without a token.
        let directory = CLI.temporaryDirectory()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.binary)
        process.arguments = ["serve", "--listen", "localhost:0", "--insecure-local", "--queue", directory + "/q.sqlite3"]
        process.currentDirectoryURL = URL(fileURLWithPath: CLI.root)
        _ = FileManager.default.createFile(atPath: directory + "/stderr", contents: nil)
        process.standardError = FileHandle(forWritingAtPath: directory + "/stderr")
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        var environment = ProcessInfo.processInfo.environment
        environment["REPLYGUARD_TOKEN"] = nil
        process.environment = environment
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) }; process.waitUntilExit() }
        var text = ""
        for _ in 0..<3000 where process.isRunning && !text.contains("listening on") {
            usleep(20_000)
            text = (try? String(contentsOfFile: directory + "/stderr", encoding: .utf8)) ?? ""
        }
        #expect(text.contains("listening on http://localhost:") && text.contains("NO TOKEN"), "\(text)")
    }

    // MARK: Limits: a whole-request deadline, a connection cap, sign-in throttling

    /// Idle time is reset by every byte, so a client trickling one byte every 100 ms would hold a
    /// connection for ever; the head and the body must arrive whole within --request-timeout.
    @Test func aRequestMustArriveWholeWithinTheRequestTimeout() throws {
        let server = try ServeProcess(arguments: ["--request-timeout", "1", "--idle-timeout", "30"])
        defer { server.stop() }
        let head = "POST /v1/check HTTP/1.1\r\nHost: 127.0.0.1:\(server.port)\r\nAuthorization: Bearer \(server.token!)\r\nContent-Type: application/json\r\n"
        // The head, trickled: it would take 30 s to send whole.
        let slowHead = try Trickle(port: server.port, start: Array((head + "X-Pad: ").utf8), drip: Array(repeating: UInt8(ascii: "a"), count: 300))
        #expect(slowHead.closedEarly, "the server read a 30-second head to its end")
        #expect(slowHead.answer.isEmpty || slowHead.answer.hasPrefix("HTTP/1.1 408"), "\(slowHead.answer)")
        // The body, trickled after a complete head.
        let body = Array("{\"text\":\"\(String(repeating: "好", count: 100))\"}".utf8)
        let slowBody = try Trickle(port: server.port, start: Array((head + "Content-Length: \(body.count)\r\n\r\n").utf8), drip: body)
        #expect(slowBody.closedEarly, "the server read a 30-second body to its end")
        #expect(slowBody.answer.isEmpty || slowBody.answer.hasPrefix("HTTP/1.1 408"), "\(slowBody.answer)")
        // Time a keep-alive connection spends idle between requests is not a request's time.
        let connection = try KeepAlive(port: server.port)
        #expect(try connection.get("/healthz").hasPrefix("HTTP/1.1 200"))
        usleep(1_500_000)
        #expect(try connection.get("/healthz").hasPrefix("HTTP/1.1 200"))
        #expect(try server.request("GET", "/healthz").status == 200)
    }

    @Test func connectionsPastTheCapAreAnswered503() throws {
        let server = try ServeProcess(arguments: ["--max-connections", "2"])
        defer { server.stop() }
        // Two connections, each known to the server (it answered on it), kept open.
        let first = try KeepAlive(port: server.port)
        let second = try KeepAlive(port: server.port)
        #expect(try first.get("/healthz").hasPrefix("HTTP/1.1 200"))
        #expect(try second.get("/healthz").hasPrefix("HTTP/1.1 200"))
        let third = try? server.request("GET", "/healthz")
        #expect(third?.status == 503, "\(third?.text ?? "closed without an answer")")
        #expect(third?.text.contains("--max-connections") == true)
        // A place frees when a connection closes.
        first.close()
        var status = 0
        for _ in 0..<500 where status != 200 {
            status = (try? server.request("GET", "/healthz").status) ?? 0
            if status != 200 { usleep(20_000) }
        }
        #expect(status == 200)
        #expect(try second.get("/healthz").hasPrefix("HTTP/1.1 200"))
    }

    /// Guessing the token: past ten wrong guesses from one address, that address waits (429) — with the
    /// right token too, or the wait would tell a right guess. A session signed in before is not held
    /// back, and X-Forwarded-For is believed only from a --trusted-proxy.
    @Test func wrongTokensAreThrottledPerClientAddress() throws {
        let server = try ServeProcess()
        defer { server.stop() }
        let form = "application/x-www-form-urlencoded"
        let token = server.token!.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let signIn = try server.request("POST", "/login", body: Array("name=li&token=\(token)".utf8), headers: [], contentType: form)
        let session = String(try #require(signIn.header("Set-Cookie")).split(separator: ";")[0])
        let wrong = [("Authorization", "Bearer wrong-\(UUID().uuidString)")]
        for i in 1...10 {
            #expect(try server.post("/v1/check", json: "{\"text\":\"好\"}", headers: wrong).status == 401, "guess \(i)")
        }
        let eleventh = try server.post("/v1/check", json: "{\"text\":\"好\"}", headers: wrong)
        #expect(eleventh.status == 429, "\(eleventh.text)")
        #expect(Int(eleventh.header("Retry-After") ?? "") ?? 0 > 0)
        #expect(try server.post("/v1/check", json: "{\"text\":\"好\"}").status == 429)
        #expect(try server.post("/v1/check", json: "{\"text\":\"好\"}", headers: server.authorization + [("X-Forwarded-For", "198.51.100.1")]).status == 429)
        let basic = [("Authorization", "Basic " + Data("li:\(server.token!)".utf8).base64EncodedString())]
        #expect(try server.request("GET", "/review", headers: basic).status == 429)
        let blockedSignIn = try server.request("POST", "/login", body: Array("name=li&token=\(token)".utf8), headers: [], contentType: form)
        #expect(blockedSignIn.status == 429 && blockedSignIn.header("Set-Cookie") == nil)
        let page = try server.request("GET", "/review", headers: [("Cookie", session)])
        #expect(page.status == 200 && page.text.contains("Signed in as"))
        #expect(try server.request("GET", "/healthz").status == 200)

        // Behind a trusted proxy, each client behind it is counted on its own.
        let proxied = try ServeProcess(arguments: ["--trusted-proxy", "127.0.0.1"])
        defer { proxied.stop() }
        func from(_ client: String) -> [(String, String)] { [("X-Forwarded-For", "192.0.2.1, \(client)")] }
        for _ in 1...10 {
            #expect(try proxied.request("POST", "/login", body: Array("name=x&token=nope".utf8), headers: from("203.0.113.7"), contentType: form).status == 401)
        }
        #expect(try proxied.request("POST", "/login", body: Array("name=x&token=nope".utf8), headers: from("203.0.113.7"), contentType: form).status == 401)
        let proxiedToken = proxied.token!.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let held = try proxied.request("POST", "/login", body: Array("name=x&token=\(proxiedToken)".utf8), headers: from("203.0.113.7"), contentType: form)
        #expect(held.status == 429 && held.header("Set-Cookie") == nil && held.text.contains("Too many wrong tokens"), "\(held.status)")
        #expect(try proxied.post("/v1/check", json: "{\"text\":\"好\"}", headers: proxied.authorization + from("203.0.113.7")).status == 429)
        let other = try proxied.request("POST", "/login", body: Array("name=x&token=\(proxiedToken)".utf8), headers: from("203.0.113.8"), contentType: form)
        #expect(other.status == 303 && other.header("Set-Cookie") != nil)
        #expect(try proxied.post("/v1/check", json: "{\"text\":\"好\"}", headers: proxied.authorization + from("203.0.113.9")).status == 200)
    }

    @Test func theSessionCookieIsSecureBehindATLSProxyOrWhenAsked() throws {
        let server = try ServeProcess()
        defer { server.stop() }
        let form = "application/x-www-form-urlencoded"
        let body = Array("name=li&token=\(server.token!.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)".utf8)
        let plain = try #require(try server.request("POST", "/login", body: body, headers: [], contentType: form).header("Set-Cookie"))
        #expect(!plain.contains("Secure") && plain.contains("HttpOnly"))
        let proxied = try #require(try server.request("POST", "/login", body: body, headers: [("X-Forwarded-Proto", "https")], contentType: form).header("Set-Cookie"))
        #expect(proxied.contains("; Secure") && proxied.contains("HttpOnly") && proxied.contains("SameSite=Strict"))
        let asked = try ServeProcess(arguments: ["--secure-cookie"])
        defer { asked.stop() }
        let askedBody = Array("name=li&token=\(asked.token!.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)".utf8)
        #expect(try asked.request("POST", "/login", body: askedBody, headers: [], contentType: form).header("Set-Cookie")?.contains("; Secure") == true)
    }

    @Test func aTokenFileOthersCanReadIsRefused() throws {
        let directory = CLI.temporaryDirectory()
        let file = directory + "/token"
        try "secret-\(UUID().uuidString)\n".write(toFile: file, atomically: true, encoding: .utf8)
        for mode: mode_t in [0o644, 0o640, 0o604, 0o620] {
            chmod(file, mode)
            let run = try CLI.runBounded(["serve", "--listen", "127.0.0.1:0", "--token-file", file, "--queue", directory + "/q.sqlite3"], timeout: 30)
            #expect(run.output.status == 2, "mode \(String(mode, radix: 8)): \(run.output.stderr)")
            #expect(run.output.stderr.contains("can be read or written by group or others") && run.output.stderr.contains("chmod 600"), "\(run.output.stderr)")
        }
        chmod(file, 0o600)
        let server = try ServeProcess(useTokenFile: true) // written 0600
        #expect(server.stop() == 0)
    }

    // MARK: Test strength (each pins a one-line bug in Scripts/mutations.txt)

    /// The page's form check: an Origin that merely starts with the server's own, and every
    /// `Sec-Fetch-Site` but `same-origin`/`none`, are another site.
    @Test func thePageRefusesLookalikeOriginsAndOtherSitesBySecFetchSite() throws {
        let server = try ServeProcess()
        defer { server.stop() }
        let review = try #require(try server.post("/v1/filter", json: "{\"text\":\"\(ServeAccessTests.rumour)\"}").results().first?["review"] as? Int)
        let basic = ("Authorization", "Basic " + Data("li:\(server.token!)".utf8).base64EncodedString())
        let page = try server.request("GET", "/review", headers: [basic])
        let csrf = try #require(page.text.range(of: #"name="csrf" value="[0-9a-f]+""#, options: .regularExpression).map { page.text[$0].split(separator: "\"")[3] })
        let own = "http://127.0.0.1:\(server.port)"
        func decide(_ headers: [(String, String)]) throws -> HTTPReply {
            try server.request("POST", "/review/\(review)/decide", body: Array("csrf=\(csrf)&decision=approve".utf8), headers: [basic] + headers,
                               contentType: "application/x-www-form-urlencoded")
        }
        for headers in [[("Origin", own + ".evil.example")], [("Origin", own + "0")], [("Origin", "https://127.0.0.1:\(server.port)@evil.example")],
                        [("Sec-Fetch-Site", "cross-site")], [("Sec-Fetch-Site", "same-site")], [("Origin", own), ("Sec-Fetch-Site", "same-site")]] {
            let reply = try decide(headers)
            #expect(reply.status == 403, "\(headers): \(reply.status)")
        }
        #expect(try server.request("GET", "/v1/reviews/\(review)").json()["status"] as? String == "pending")
        let approved = try decide([("Origin", own), ("Sec-Fetch-Site", "same-origin")])
        #expect(approved.status == 303)
        #expect(try server.request("GET", "/v1/reviews/\(review)").json()["status"] as? String == "approved")
    }

    /// The body limit counts the part being added: a chunked body over the limit that arrives in one
    /// read (one part) is refused too.
    @Test func aChunkedBodyOverTheLimitInOnePartIs413() throws {
        let server = try ServeProcess(arguments: ["--max-body-size", "1K"])
        defer { server.stop() }
        let body = Array("{\"text\":\"\(String(repeating: "a", count: 1100))\"}".utf8)
        let reply = try HTTPClient.send(port: server.port, method: "POST", path: "/v1/check", headers: server.authorization + [("Content-Type", "application/json")],
                                        body: nil, chunks: [body])
        #expect(reply.status == 413, "\(reply.status) \(reply.text.prefix(200))")
        let fits = Array("{\"text\":\"\(String(repeating: "a", count: 1000))\"}".utf8)
        #expect(try HTTPClient.send(port: server.port, method: "POST", path: "/v1/check", headers: server.authorization + [("Content-Type", "application/json")],
                                    body: nil, chunks: [fits]).status == 200)
    }

    /// Markup before the first highlighted span is shown as text, like the rest of the reply.
    @Test func textBeforeTheFirstHighlightedSpanIsEscaped() throws {
        let server = try ServeProcess()
        defer { server.stop() }
        let held = "<img src=x onerror=alert(1)>\(ServeAccessTests.rumour)<b>!</b>"
        let filtered = try server.post("/v1/filter", json: "{\"text\":\"\(held.replacingOccurrences(of: "\"", with: "\\\""))\"}")
        #expect(try filtered.results().first?["action"] as? String == "hold", "\(filtered.text)")
        let page = try server.request("GET", "/review", headers: [("Authorization", "Basic " + Data("li:\(server.token!)".utf8).base64EncodedString())])
        #expect(page.status == 200)
        #expect(page.text.contains("<mark title="), "the rumour is highlighted: \(page.text)")
        #expect(page.text.contains("&lt;img src=x onerror=alert(1)&gt;<mark"), "\(page.text)")
        #expect(!page.text.contains("<img"))
        #expect(page.text.contains("&lt;b&gt;!&lt;/b&gt;") && !page.text.contains("<b>!"))
    }

    // MARK: Helpers

    /// A request with exactly these headers and `Host` (none when empty).
    private func raw(_ server: ServeProcess, _ method: String, _ path: String, host: String, headers: [(String, String)] = [], body: [UInt8]? = nil) throws -> HTTPReply {
        var head = "\(method) \(path) HTTP/1.1\r\n" + (host.isEmpty ? "" : "Host: \(host)\r\n") + "Connection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if let body { head += "Content-Length: \(body.count)\r\n" }
        return try HTTPClient.exchange(port: server.port, Array((head + "\r\n").utf8) + (body ?? []))
    }

    /// The first address `name` resolves to (as the server resolves it), or nil.
    static func resolve(_ name: String) -> String? {
        var info: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, "0", nil, &info) == 0, let first = info else { return nil }
        defer { freeaddrinfo(info) }
        var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        guard getnameinfo(first.pointee.ai_addr, first.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Sends `start`, then `drip` one byte every 100 ms, stopping when the server answers or closes.
private struct Trickle {
    /// The server answered or closed before the last byte was sent.
    var closedEarly = false
    var answer = ""

    init(port: Int, start: [UInt8], drip: [UInt8]) throws {
        let fd = try HTTPClient.connectedSocket(port: port)
        defer { close(fd) }
        _ = start.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        var received: [UInt8] = []
        for byte in drip {
            usleep(100_000)
            let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if n > 0 { received += buffer[0..<n] }
            if n == 0 || n > 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) { closedEarly = true; break }
            var one = byte
            if Glibc.send(fd, &one, 1, Int32(MSG_NOSIGNAL)) != 1 { closedEarly = true; break }
        }
        if closedEarly {
            while true {
                let n = recv(fd, &buffer, buffer.count, 0)
                if n <= 0 { break }
                received += buffer[0..<n]
            }
        }
        answer = String(decoding: received, as: UTF8.self)
    }
}

/// One keep-alive connection, for several requests in turn.
private final class KeepAlive {
    private var fd: Int32
    private let port: Int

    init(port: Int) throws {
        self.port = port
        fd = try HTTPClient.connectedSocket(port: port)
    }

    /// Sends a GET and reads its answer (head and Content-Length body); returns the head and body.
    func get(_ path: String) throws -> String {
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else {
            throw ServeTestError("send failed: errno \(errno)")
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let text = String(decoding: received, as: UTF8.self)
            if let end = text.range(of: "\r\n\r\n") {
                let length = text[..<end.lowerBound].split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                if received.count >= text[..<end.upperBound].utf8.count + length { return text }
            }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { return text }
            received += buffer[0..<n]
        }
    }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    deinit { close() }
}

extension ServeProcess {
    /// Every reply in the queue, whatever its status (`review list --status all --json`).
    func list() throws -> [String] {
        let run = try CLI.run(["review", "list", "--queue", queuePath, "--status", "all", "--json"])
        guard run.status == 0 else { throw ServeTestError("review list: \(run.stderr)") }
        return run.lines
    }
}
