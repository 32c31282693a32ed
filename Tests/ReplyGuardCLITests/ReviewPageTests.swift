import Foundation
import ReplyGuardGate
import Testing

/// Headless Chromium (Debian's `chromium`; `.ci/run` installs it), or nil.
enum Chromium {
    static let path: String? = {
        if let path = ProcessInfo.processInfo.environment["CHROMIUM"], FileManager.default.isExecutableFile(atPath: path) { return path }
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":").map(String.init) + ["/usr/bin"]
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            for directory in directories where FileManager.default.isExecutableFile(atPath: directory + "/" + name) { return directory + "/" + name }
        }
        return nil
    }()

    /// Runs headless Chromium on `url` with `arguments` (--dump-dom, --screenshot=…); returns its standard output.
    static func run(_ arguments: [String], url: String) throws -> String {
        let profile = CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: profile) }
        let result = try CLI.runBounded(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
                                         "--user-data-dir=\(profile)", "--lang=zh-CN"] + arguments + [url],
                                        executable: path!, timeout: 120)
        if result.timedOut { throw ServeTestError("chromium timed out") }
        return result.output.stdout
    }

    /// The directory for files a test leaves for people to look at.
    static var outputDirectory: String {
        let dir = CLI.root + "/.build/test-output"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }
}

@Suite(.serialized) struct ReviewPageTests {
    static let held = "网传明天停水<script>alert(1)</script>"

    @Test(.enabled(if: Chromium.path != nil, "chromium not found (apt-get install -y chromium; .ci/run installs it): the page test needs a real browser"))
    func reviewerPageInHeadlessChromiumShowsTheHeldReplyAndApprovesIt() throws {
        let server = try ServeProcess()
        defer { server.stop() }
        let quoted = try jsonString(ReviewPageTests.held)
        let filtered = try server.post("/v1/filter", json: "{\"id\": \"m-1\", \"text\": \(quoted)}")
        let review = try #require(try filtered.results().first?["review"] as? Int, "\(filtered.text)")

        let url = "http://reviewer-li:\(server.token!)@127.0.0.1:\(server.port)/review?auth=basic"
        let dom = try Chromium.run(["--dump-dom"], url: url)
        #expect(dom.contains("Signed in as <strong>reviewer-li</strong>"), "\(dom)")
        #expect(dom.contains("Review \(review)"))
        // The held reply with each rule's span highlighted (the spans /v1/check reports), its rules listed,
        // and the page's own markup never taken from the reply.
        let marks = try expectedMarks(server, ReviewPageTests.held)
        #expect(!marks.isEmpty)
        for (rule, mark) in marks {
            #expect(dom.contains(mark), "\(mark) not in \(dom)")
            #expect(dom.contains("<td>\(rule)</td>"))
        }
        #expect(dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(!dom.contains("<script>alert(1)"))

        let screenshot = Chromium.outputDirectory + "/review-page.png"
        try? FileManager.default.removeItem(atPath: screenshot)
        _ = try Chromium.run(["--screenshot=\(screenshot)", "--window-size=1200,1100", "--hide-scrollbars"], url: url)
        let png = try #require(FileManager.default.contents(atPath: screenshot), "no screenshot at \(screenshot)")
        #expect(png.count > 10_000 && Array(png.prefix(4)) == [0x89, 0x50, 0x4E, 0x47])
        print("review page screenshot: \(screenshot)")

        // Approve through the page's form, as the browser sends it: its action, its hidden fields.
        let action = try #require(firstMatch(#"<form method="post" action="(/review/\d+/decide)">"#, in: dom))
        #expect(action == "/review/\(review)/decide")
        let csrf = try #require(firstMatch(#"name="csrf" value="([0-9a-f]+)""#, in: dom))
        let basic = "Basic " + Data("reviewer-li:\(server.token!)".utf8).base64EncodedString()
        let origin = "http://127.0.0.1:\(server.port)"
        func submit(_ fields: String, origin: String) throws -> HTTPReply {
            try server.request("POST", action, body: Array(fields.utf8), headers: [("Authorization", basic), ("Origin", origin)],
                               contentType: "application/x-www-form-urlencoded")
        }
        // Forged: no form token, a wrong one, or from another site.
        #expect(try submit("decision=approve&note=x", origin: origin).status == 403)
        #expect(try submit("csrf=\(csrf)0&decision=approve", origin: origin).status == 403)
        #expect(try submit("csrf=\(csrf)&decision=approve", origin: "http://evil.example").status == 403)
        #expect(try server.request("GET", "/v1/reviews/\(review)").json()["status"] as? String == "pending")

        let approved = try submit("csrf=\(csrf)&decision=approve&note=%E5%B7%B2%E6%A0%B8%E5%AE%9E+ok", origin: origin)
        #expect(approved.status == 303)
        let status = try server.request("GET", "/v1/reviews/\(review)").json()
        #expect(status["status"] as? String == "approved")
        #expect(status["note"] as? String == "已核实 ok")
        #expect(try server.request("POST", "/v1/reviews/\(review)/release").json()["reply"] as? String == ReviewPageTests.held)
        #expect(status["reviewer"] as? String == "reviewer-li")
        // The audit log has the reviewer's decision, in their name, with the note, then the client's release.
        let audit = try String(contentsOfFile: server.auditPath, encoding: .utf8).split(separator: "\n")
            .map { try JSONDecoder().decode(AuditRecord.self, from: Data($0.utf8)) }
        #expect(audit.map(\.action) == [.held, .approved, .released])
        #expect(audit[1].reviewer == "reviewer-li")
        #expect(audit[1].note == "已核实 ok")
        #expect(audit[1].review == Int64(review))

        let after = try Chromium.run(["--dump-dom"], url: url + "&notice=done")
        #expect(after.contains("Pending (0)"), "\(after)")
        #expect(after.contains("<td>approved</td>"))
        #expect(after.contains("已核实 ok"))
        #expect(after.contains("<td>reviewer-li</td><td>已核实 ok</td>"), "\(after)")   // decided table: by, note
        #expect(after.contains("<td>approved</td><td>\(review)</td><td>escalate</td><td>reviewer-li</td>"))  // audit trail
        _ = try Chromium.run(["--screenshot=\(Chromium.outputDirectory)/review-page-after.png", "--window-size=1200,900", "--hide-scrollbars"], url: url)
    }

    @Test func signInFormSetsAnHttpOnlySessionCookieAndFormsCarryItsToken() throws {
        let server = try ServeProcess()
        defer { server.stop() }
        _ = try server.post("/v1/filter", json: "{\"text\": \"网传明天停水\"}")
        let form = "application/x-www-form-urlencoded"
        let wrong = try server.request("POST", "/login", body: Array("name=li&token=nope".utf8), headers: [], contentType: form)
        #expect(wrong.status == 401 && wrong.text.contains("Wrong token"))
        let encodedToken = server.token!.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let login = try server.request("POST", "/login", body: Array("name=%E6%9D%8E%E5%AE%A1%E6%A0%B8&token=\(encodedToken)".utf8), headers: [], contentType: form)
        #expect(login.status == 303 && login.header("Location") == "/review")
        let cookie = try #require(login.header("Set-Cookie"))
        #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"))
        let session = String(cookie.split(separator: ";")[0])
        let page = try server.request("GET", "/review", headers: [("Cookie", session)])
        #expect(page.status == 200)
        #expect(page.text.contains("Signed in as <strong>李审核</strong>"))
        for (_, mark) in try expectedMarks(server, "网传明天停水") { #expect(page.text.contains(mark)) }
        #expect(page.header("Content-Security-Policy")?.contains("default-src 'none'") == true)
        let csrf = try #require(firstMatch(#"name="csrf" value="([0-9a-f]+)""#, in: page.text))
        let action = try #require(firstMatch(#"action="(/review/\d+/decide)""#, in: page.text))
        let forged = try server.request("POST", action, body: Array("decision=reject".utf8), headers: [("Cookie", session)], contentType: form)
        #expect(forged.status == 403)
        let rejected = try server.request("POST", action, body: Array("csrf=\(csrf)&decision=reject&note=no".utf8), headers: [("Cookie", session)], contentType: form)
        #expect(rejected.status == 303)
        let rejectedStatus = try server.request("GET", "/v1/reviews/1").json()
        #expect(rejectedStatus["status"] as? String == "rejected")
        #expect(rejectedStatus["reviewer"] as? String == "李审核")
        #expect(rejectedStatus["reply"] == nil)
        // A name is text, never markup.
        let odd = try server.request("POST", "/login", body: Array("name=%3Ci%3Ex%3C%2Fi%3E&token=\(encodedToken)".utf8), headers: [], contentType: form)
        let oddPage = try server.request("GET", "/review", headers: [("Cookie", String(try #require(odd.header("Set-Cookie")).split(separator: ";")[0]))])
        #expect(oddPage.text.contains("Signed in as <strong>&lt;i&gt;x&lt;/i&gt;</strong>"))
        // Signed out: the cookie no longer works.
        _ = try server.request("POST", "/logout", body: [], headers: [("Cookie", session)], contentType: form)
        #expect(try server.request("GET", "/review", headers: [("Cookie", session)]).text.contains("action=\"/login\""))
    }

    /// `<mark title="RULE">SPAN</mark>` for each hit /v1/check reports on `text` (rule, mark).
    private func expectedMarks(_ server: ServeProcess, _ text: String) throws -> [(String, String)] {
        let quoted = try jsonString(text)
        let record = try #require(try server.post("/v1/check", json: "{\"text\": \(quoted)}").results().first)
        return (record["hits"] as? [[String: Any]] ?? []).map { hit in
            let rule = hit["rule"] as? String ?? "?"
            let span = (hit["match"] as? String ?? "").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            return (rule, "<mark title=\"\(rule)\">\(span)</mark>")
        }
    }

    private func firstMatch(_ pattern: String, in text: String) -> String? {
        guard let regex = try? NSRegularExpression(pattern: pattern),
              let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
              let range = Range(match.range(at: 1), in: text) else { return nil }
        return String(text[range])
    }

    private func jsonString(_ text: String) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes]), as: UTF8.self).dropFirst().dropLast().description
    }
}
