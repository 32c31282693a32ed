import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `replyguard serve` through the real binary on an ephemeral loopback port.
@Suite(.serialized) struct ServeTests {
    static let insult = "你不说话没人把你当哑巴"
    static let rumour = "网传明天停水"
    static let clean = "您好，办事大厅九点开门"

    @Test func checkReturnsDecisionRecordsWithPositions() throws {
        let server = try ServeProcess()
        defer { server.stop() }
        let single = try server.post("/v1/check", json: #"{"text":"你不說話沒人把你當啞巴"}"#)
        #expect(single.status == 200, "\(single.text)")
        let record = try #require(try single.results().first)
        #expect(record["schema"] as? String == "replyguard.decision/1")
        #expect(record["verdict"] as? String == "block")
        #expect(record["flagged"] as? Bool == true)
        #expect(record["categories"] as? [String] == ["insult"])
        let hit = try #require((record["hits"] as? [[String: Any]])?.first)
        #expect(hit["rule"] as? String == "insult.mute-mockery")
        #expect(hit["start"] as? Int == 0 && hit["end"] as? Int == 11)
        #expect(hit["byteStart"] as? Int == 0 && hit["byteEnd"] as? Int == 33)
        #expect((try single.json()["policy"] as? String)?.hasPrefix("sha256:") == true)

        let batch = try server.post("/v1/check", json: """
            {"messages": [{"id": "a", "text": "\(ServeTests.clean)"}, {"id": 7, "text": "\(ServeTests.insult)"}, {"text": "\(ServeTests.rumour)"}]}
            """)
        #expect(batch.status == 200, "\(batch.text)")
        let results = try batch.results()
        #expect(results.map { $0["verdict"] as? String } == ["allow", "block", "escalate"])
        #expect(results.map { "\($0["id"] ?? "nil")" } == ["a", "7", "3"])
        #expect(results.map { $0["flagged"] as? Bool } == [false, true, true])
    }

    @Test func tokenIsRequiredAndComparedExactly() throws {
        let server = try ServeProcess(useTokenFile: true)
        defer { server.stop() }
        let body = #"{"text":"你好"}"#
        for path in ["/v1/check", "/v1/filter"] {
            #expect(try server.post(path, json: body, headers: []).status == 401)
            #expect(try server.post(path, json: body, headers: [("Authorization", "Bearer \(server.token!)x")]).status == 401)
            #expect(try server.post(path, json: body, headers: [("Authorization", "Bearer \(server.token!.dropLast())")]).status == 401)
            #expect(try server.post(path, json: body).status == 200)
        }
        #expect(try server.request("GET", "/v1/reviews/1", headers: []).status == 401)
        #expect(try server.request("POST", "/v1/reload", body: [], headers: []).status == 401)
        #expect(try server.request("GET", "/healthz", headers: []).status == 200)
        // The page without a session shows the sign-in form, never the queue.
        let page = try server.request("GET", "/review", headers: [])
        #expect(page.status == 200 && page.text.contains("action=\"/login\"") && !page.text.contains("Pending"))
    }

    @Test func refusesToStartWithoutATokenExceptOnLoopbackWithInsecureLocal() throws {
        let noToken = try CLI.runBounded(["serve", "--listen", "127.0.0.1:0", "--queue", CLI.temporaryDirectory() + "/q.sqlite3"], timeout: 60)
        #expect(noToken.output.status == 2)
        #expect(noToken.output.stderr.contains("no access token"))
        let wide = try CLI.runBounded(["serve", "--listen", "0.0.0.0:0", "--insecure-local", "--queue", CLI.temporaryDirectory() + "/q.sqlite3"], timeout: 60)
        #expect(wide.output.status == 2)
        #expect(wide.output.stderr.contains("only allowed on a loopback address"))
        let local = try ServeProcess(arguments: ["--insecure-local"], token: nil)
        #expect(local.stderr.contains("NO TOKEN"))
        #expect(try local.post("/v1/check", json: #"{"text":"你好"}"#, headers: []).status == 200)
        #expect(local.stop() == 0)
    }

    @Test func oversizedBodiesGet413AndTheServerGoesOn() throws {
        let server = try ServeProcess(arguments: ["--max-body-size", "1K"])
        defer { server.stop() }
        // Declared too large: answered before the body is sent.
        let declared = try HTTPClient.send(port: server.port, method: "POST", path: "/v1/check", headers: server.authorization, body: nil,
                                           rawHead: "POST /v1/check HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(server.token!)\r\nContent-Length: 5000\r\n\r\n")
        #expect(declared.status == 413, "\(declared.text)")
        #expect(declared.text.contains("limit of 1024 bytes"))
        // Chunked, no length: refused once it grows past the limit.
        let text = String(repeating: "好", count: 400)
        let chunked = try HTTPClient.send(port: server.port, method: "POST", path: "/v1/check", headers: server.authorization, body: nil,
                                          chunks: [Array("{\"text\":\"".utf8), Array(text.utf8), Array("\"}".utf8)])
        #expect(chunked.status == 413, "\(chunked.text)")
        // Just under the limit is fine.
        let small = String(repeating: "好", count: 300)
        #expect(try server.post("/v1/check", json: "{\"text\":\"\(small)\"}").status == 200)
    }

    @Test func malformedRequestsAre400WithAClearMessage() throws {
        let server = try ServeProcess()
        defer { server.stop() }
        let cases: [(String, String)] = [
            ("{\"text\": \"abc", "not valid JSON"),
            ("[1, 2]", "must be a JSON object, not an array"),
            ("", "empty"),
            ("{\"text\": 5}", "'text' must be a JSON string"),
            ("{\"txt\": \"a\"}", "expected {\"text\""),
            ("{\"text\": \"a\", \"text\": \"b\"}", "more than once"),
            ("{\"messages\": {\"text\": \"a\"}}", "must be an array"),
            ("{\"messages\": [{\"text\": \"a\"}, 3]}", "messages[1] is not a JSON object"),
            ("{\"messages\": [{\"id\": 1}]}", "messages[0] has no 'text'"),
            ("{\"messages\": []}", "empty"),
            ("{\"text\": \"a\"} trailing", "not valid JSON"),
        ]
        for (body, expected) in cases {
            for path in ["/v1/check", "/v1/filter"] {
                let reply = try server.post(path, json: body)
                #expect(reply.status == 400, "\(path) \(body): \(reply.status) \(reply.text)")
                let message = (try? reply.json()["error"] as? String) ?? nil
                #expect(message?.contains(expected) == true, "\(body): \(reply.text)")
            }
        }
        #expect(try server.request("GET", "/healthz").status == 200)
        let head = try server.request("HEAD", "/healthz")
        #expect(head.status == 200 && head.body.isEmpty && Int(head.header("Content-Length") ?? "") ?? 0 > 0)
        #expect(try server.request("GET", "/v1/nothing").status == 405)
        #expect(try server.request("GET", "/nothing").status == 404)
    }

    @Test func invalidUTF8AndLoneSurrogatesAreEscalatedNeverPublished() throws {
        let server = try ServeProcess()
        defer { server.stop() }
        let invalid = Array("{\"text\":\"您好".utf8) + [0xFF, 0xFE] + Array("\"}".utf8)
        let check = try server.request("POST", "/v1/check", body: invalid)
        #expect(check.status == 200, "\(check.text)")
        let record = try #require(try check.results().first)
        #expect(record["verdict"] as? String == "escalate")
        #expect(((record["errors"] as? [[String: Any]])?.first?["message"] as? String)?.contains("UTF-8") == true)

        let filter = try server.request("POST", "/v1/filter", body: invalid)
        let result = try #require(try filter.results().first)
        #expect(result["action"] as? String == "hold")
        #expect(result["reply"] as? String == "您的留言已收到，工作人员将尽快人工回复。")
        #expect(result["review"] as? Int != nil)

        let surrogate = try server.post("/v1/filter", json: #"{"messages":[{"id":"s","text":"好\uD800"}]}"#)
        #expect(try surrogate.results().first?["action"] as? String == "hold", "\(surrogate.text)")
        // A blocked phrase next to invalid bytes is still blocked (the text is checked, the error only raises).
        let blocked = Array("{\"text\":\"\(ServeTests.insult)".utf8) + [0xC0] + Array("\"}".utf8)
        #expect(try server.request("POST", "/v1/filter", body: blocked).results().first?["action"] as? String == "fallback")
    }

    @Test func filterSaysWhatToPublishAndHoldsEscalationsInTheQueue() throws {
        let server = try ServeProcess()
        defer { server.stop() }
        let reply = try server.post("/v1/filter", json: """
            {"messages": [{"id": 1, "text": "\(ServeTests.clean)"}, {"id": 2, "text": "\(ServeTests.insult)"}, {"id": 3, "text": "\(ServeTests.rumour)"}, {"id": 4, "text": "这他妈的也太难了"}]}
            """)
        #expect(reply.status == 200, "\(reply.text)")
        let results = try reply.results()
        #expect(results.map { $0["action"] as? String } == ["publish", "fallback", "hold", "masked"])
        #expect(results[0]["reply"] as? String == ServeTests.clean)
        #expect(results[1]["reply"] as? String == "抱歉，这个问题我暂时无法回答，请拨打12345政务服务便民热线咨询。")
        #expect(results[2]["reply"] as? String == "您的留言已收到，工作人员将尽快人工回复。")
        #expect(results[3]["reply"] as? String == "这＊＊＊也太难了")
        #expect(!reply.text.contains("哑巴\",\"action") && results.allSatisfy { ($0["reply"] as? String)?.contains("哑巴") != true })
        let review = try #require(results[2]["review"] as? Int)
        let audit = try String(contentsOfFile: server.auditPath, encoding: .utf8).split(separator: "\n")
            .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(audit.map { $0["action"] as? String } == ["published", "fallback", "held", "masked"])
        #expect(audit[2]["review"] as? Int == review)

        let pending = try server.request("GET", "/v1/reviews/\(review)").json()
        #expect(pending["status"] as? String == "pending")
        #expect(pending["reply"] == nil)
        #expect(try server.request("GET", "/v1/reviews/99999").status == 404)
        #expect(try server.request("GET", "/v1/reviews/abc").status == 400)

        // A reviewer approves it (the CLI on the same queue file); the client learns the reply to publish.
        let approve = try CLI.run(["review", "approve", String(review), "--queue", server.queuePath, "--note", "checked"])
        #expect(approve.status == 0, "\(approve.stderr)")
        let approved = try server.request("GET", "/v1/reviews/\(review)").json()
        #expect(approved["status"] as? String == "approved" && approved["reply"] == nil)
        #expect(approved["note"] as? String == "checked")
        // A filter on the same queue does not publish it: it was held over HTTP.
        let filter = try CLI.run(["filter", "--queue", server.queuePath, "--poll-interval", "0.05"], stdin: Array("好的\n".utf8))
        #expect(filter.lines == ["好的"], "\(filter.stdout)")
        // The client releases it; asking again (its answer lost) gets the same reply, same review id.
        let released = try server.request("POST", "/v1/reviews/\(review)/release")
        let releasedReply = try released.json()["reply"] as? String
        #expect(released.status == 200 && releasedReply == ServeTests.rumour, "\(released.text)")
        let again = try server.request("POST", "/v1/reviews/\(review)/release")
        let againJSON = try again.json()
        #expect(again.status == 200 && againJSON["reply"] as? String == ServeTests.rumour && againJSON["review"] as? Int == review)
        #expect(try server.request("POST", "/v1/reviews/99999/release").status == 404)
        #expect(try server.request("GET", "/v1/reviews/\(review)").json()["status"] as? String == "released")
    }

    @Test func anAuditLogThatCannotBeWrittenStopsPublishing() throws {
        let server = try ServeProcess(arguments: ["--audit", "/dev/full"])
        defer { server.stop() }
        #expect(try server.request("GET", "/healthz").status == 200)
        // The first reply's record cannot be written: nothing may be published, this reply or any later.
        let first = try server.post("/v1/filter", json: "{\"text\":\"\(ServeTests.clean)\"}")
        #expect(first.status == 503, "\(first.text)")
        #expect(!first.text.contains(ServeTests.clean))
        let second = try server.post("/v1/filter", json: "{\"text\":\"\(ServeTests.clean)\"}")
        #expect(second.status == 503, "\(second.text)")
        #expect(second.text.contains("publish nothing"))
        #expect(!second.text.contains(ServeTests.clean))
        #expect(try server.request("GET", "/healthz").status == 503)
    }

    /// Order, not time: a half request is not answered or dropped at once (a whole request on another
    /// connection, sent after it, is answered while it is still open), then the server closes it unanswered
    /// (end of stream before the client's own 30 s receive timeout; the request timeout is set far beyond
    /// it, so only the idle timeout can close it), and goes on serving.
    @Test func aSilentConnectionIsClosedAfterTheIdleTimeout() throws {
        let server = try ServeProcess(arguments: ["--idle-timeout", "2", "--request-timeout", "600"])
        defer { server.stop() }
        let silent = try HTTPClient.connectedSocket(port: server.port, receiveTimeout: 30)
        defer { close(silent) }
        let half = Array("POST /v1/check HTTP/1.1\r\nHost: x\r\n".utf8)
        #expect(half.withUnsafeBytes { Glibc.send(silent, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == half.count)
        #expect(try server.request("GET", "/healthz").status == 200)
        var byte: UInt8 = 0
        let early = recv(silent, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT)), earlyError = errno
        #expect(early < 0 && (earlyError == EAGAIN || earlyError == EWOULDBLOCK), "the half request was answered or closed before another request was served")
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        var last = 0
        var lastError: Int32 = 0
        repeat {
            last = recv(silent, &buffer, buffer.count, 0)
            lastError = errno
            if last > 0 { response += buffer[0..<last] }
        } while last > 0
        #expect(last == 0, "the connection was not closed (recv \(last), errno \(lastError))")
        let reply = response.isEmpty ? nil : try HTTPClient.parse(response)
        #expect(reply == nil || reply?.status == 408 || reply?.status == 400)
        #expect(try server.request("GET", "/healthz").status == 200)
    }

    @Test func concurrentClientsGetTheirOwnDecisions() throws {
        let server = try ServeProcess()
        defer { server.stop() }
        let texts = [ServeTests.clean, ServeTests.insult, ServeTests.rumour, "这他妈的也太难了"]
        let expected = ["allow", "block", "escalate", "mask"]
        let failures = NSLockedCounter()
        let port = server.port, headers = server.authorization + [("Content-Type", "application/json")]
        DispatchQueue.concurrentPerform(iterations: 16) { worker in
            for i in 0..<25 {
                let k = (worker + i) % texts.count
                let body = Array("{\"id\":\(i),\"text\":\"\(texts[k])\"}".utf8)
                let reply = try? HTTPClient.send(port: port, method: "POST", path: "/v1/check", headers: headers, body: body)
                let verdict = (try? reply?.results().first?["verdict"] as? String) ?? nil
                if verdict != expected[k] { failures.add() }
            }
        }
        #expect(failures.value == 0)
    }

    @Test func metricsCountDecisionsCategoriesLatencyAndQueueDepth() throws {
        let server = try ServeProcess()
        defer { server.stop() }
        _ = try server.post("/v1/check", json: "{\"text\":\"\(ServeTests.insult)\"}")
        _ = try server.post("/v1/check", json: "{\"text\":\"\(ServeTests.clean)\"}")
        _ = try server.post("/v1/filter", json: "{\"text\":\"\(ServeTests.rumour)\"}")
        let metrics = try server.request("GET", "/metrics", headers: [])
        #expect(metrics.status == 200)
        #expect(metrics.header("Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true)
        let lines = Set(metrics.text.split(separator: "\n").map(String.init))
        #expect(lines.contains(#"replyguard_decisions_total{verdict="block"} 1"#), "\(metrics.text)")
        #expect(lines.contains(#"replyguard_decisions_total{verdict="allow"} 1"#))
        #expect(lines.contains(#"replyguard_decisions_total{verdict="escalate"} 1"#))
        #expect(lines.contains(#"replyguard_category_decisions_total{category="insult"} 1"#))
        #expect(lines.contains(#"replyguard_filter_outcomes_total{outcome="hold"} 1"#))
        #expect(lines.contains(#"replyguard_review_queue_depth{status="pending"} 1"#))
        #expect(lines.contains(#"replyguard_request_duration_seconds_count{endpoint="check"} 2"#))
        #expect(lines.contains(#"replyguard_request_duration_seconds_bucket{endpoint="check",le="+Inf"} 2"#))
        #expect(lines.contains(#"replyguard_http_requests_total{endpoint="filter",code="200"} 1"#))
        #expect(lines.contains("# TYPE replyguard_request_duration_seconds histogram"))
    }

    @Test func reloadSwapsGoodRulesAndRefusesBadOnesKeepingTheRunningSet() throws {
        let rules = CLI.temporaryDirectory() + "/rules"
        try FileManager.default.copyItem(atPath: CLI.root + "/rules", toPath: rules)
        let server = try ServeProcess(rules: rules)
        defer { server.stop() }
        let word = "紫色长颈鹿"
        func verdict(_ text: String) throws -> String? { try server.post("/v1/check", json: "{\"text\":\"\(text)\"}").results().first?["verdict"] as? String }
        #expect(try verdict(word) == "allow")

        // A pack whose example fails `check`: refused with the reason, the running rules stay.
        let pack = """
        pack: giraffe
        version: 1
        category: spam
        description: test pack
        rules:
          - id: giraffe.word
            title: t
            description: d
            action: block
            match:
              words: ["\(word)"]
            examples:
              match: ["我看见了⟦\(word)⟧"]
              no_match: ["\(word)WRONG"]
        """
        try pack.write(toFile: rules + "/giraffe.yaml", atomically: true, encoding: .utf8)
        let refused = try server.request("POST", "/v1/reload", body: [])
        #expect(refused.status == 422, "\(refused.text)")
        #expect(refused.text.contains("giraffe.word"), "\(refused.text)")
        #expect(try verdict(word) == "allow")
        #expect(try verdict(ServeTests.insult) == "block")

        // A pack that does not even load.
        try "pack: [unclosed".write(toFile: rules + "/giraffe.yaml", atomically: true, encoding: .utf8)
        let broken = try server.request("POST", "/v1/reload", body: [])
        #expect(broken.status == 422)
        #expect(broken.text.contains("giraffe.yaml"), "\(broken.text)")
        #expect(try verdict(ServeTests.insult) == "block")

        // A good pack, enabled in the policy, by SIGHUP.
        try pack.replacingOccurrences(of: "\(word)WRONG", with: "长颈鹿很高").write(toFile: rules + "/giraffe.yaml", atomically: true, encoding: .utf8)
        let policy = try String(contentsOfFile: rules + "/policy.yaml", encoding: .utf8)
        #expect(policy.contains("packs: [insult,"))
        try policy.replacingOccurrences(of: "packs: [insult,", with: "packs: [giraffe, insult,").write(toFile: rules + "/policy.yaml", atomically: true, encoding: .utf8)
        kill(server.process.processIdentifier, SIGHUP)
        let deadline = Date().addingTimeInterval(60)
        while try verdict(word) != "block", Date() < deadline { usleep(100_000) }
        #expect(try verdict(word) == "block")
        #expect(server.stderr.contains("rules reloaded"))
        #expect(!server.stderr.contains("reload refused")) // the refusals above came through HTTP
        let metrics = try server.request("GET", "/metrics", headers: []).text
        #expect(metrics.contains(#"replyguard_rule_reloads_total{result="refused"} 2"#))
        #expect(metrics.contains(#"replyguard_rule_reloads_total{result="ok"} 1"#))
    }
}
