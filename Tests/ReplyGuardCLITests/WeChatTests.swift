import Foundation
import ReplyGuardGate
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// #18 part 3: a WeChat official account's callback through the real `replyguard serve`, with the real
/// `wechatpy` (PyPI) as the platform (Tests/Fixtures/wechat-platform.py) and local fakes of the bot and
/// of the platform's API (Tests/Fixtures/wechat-mock.py). In CI (`CI=true`) a missing wechatpy fails.
@Suite(.serialized) struct WeChatTests {
    static let wechatpy: Bool = (try? CLI.runBounded(["python3", "-c", "import wechatpy, xmltodict"], executable: "/usr/bin/env"))?.output.status == 0
    static let enabled = wechatpy || ProcessInfo.processInfo.environment["CI"] == "true"
    static let skipReason: Comment = "wechatpy not installed (pip install wechatpy; .ci/run installs it): the WeChat tests use it as the platform"
    static let fallback = "抱歉，这个问题我暂时无法回答，请拨打12345政务服务便民热线咨询。"
    static let holding = "您的留言已收到，工作人员将尽快人工回复。"

    /// The fakes, a serve with the account configured, and the platform script.
    final class Rig {
        let mock: FixtureProcess
        var mockPort: Int { mock.port }
        /// The fake platform API's own listener (it can go down: ``plan(_:)``).
        let apiPort: Int
        private(set) var server: ServeProcess
        /// The server's arguments (but for the queue and the audit log), for ``restart()``.
        let arguments: [String]
        let directory = CLI.temporaryDirectory()

        init(_ extra: [String] = [], budget: String = "4.5", secret: Bool = true, upstream: String = "/bot", mode: String? = nil) throws {
            #expect(WeChatTests.wechatpy, "wechatpy (PyPI) is required: pip install wechatpy")
            mock = try FixtureProcess("wechat-mock.py") // killed as it is dropped, should serve fail to start below
            guard mock.ports.count == 2 else { throw ServeTestError("the mock did not print its two ports: \(mock.ports)") }
            let port = mock.port
            apiPort = mock.ports[1]
            let directory = self.directory
            func secretFile(_ name: String, _ value: String) throws -> String { try Rig.secret(directory, name, value) }
            var arguments = ["--wechat-token-file", try secretFile("token", "test-wechat-token"),
                             "--wechat-appid", "wx-test-appid",
                             "--wechat-upstream", "http://127.0.0.1:\(port)\(upstream)",
                             "--wechat-api-base", "http://127.0.0.1:\(apiPort)",
                             "--wechat-budget", budget, "--wechat-review-poll", "0.1"]
            if mode != "plain" { arguments += ["--wechat-aes-key-file", try secretFile("aes", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")] }
            if let mode { arguments += ["--wechat-mode", mode] }
            if secret { arguments += ["--wechat-secret-file", try secretFile("secret", "test-app-secret")] }
            self.arguments = arguments + extra
            server = try ServeProcess(arguments: arguments + extra)
        }

        /// Kills the server (SIGKILL: it stops wherever it was) and starts another on the same queue and audit log.
        func restart() throws {
            kill(server.process.processIdentifier, SIGKILL)
            server.process.waitUntilExit()
            server = try ServeProcess(arguments: arguments, sharing: server)
        }

        /// Scripts the fake platform API (see Tests/Fixtures/wechat-mock.py): per OpenID, the actions of its next sends.
        func plan(_ actions: [String: [String]]) throws {
            _ = try HTTPClient.send(port: mockPort, method: "POST", path: "/control/plan", headers: [],
                                    body: Array(try JSONSerialization.data(withJSONObject: actions)))
        }

        deinit {
            server.stop()
            mock.stop()
        }

        func secret(_ name: String, _ value: String) throws -> String { try Rig.secret(directory, name, value) }

        static func secret(_ directory: String, _ name: String, _ value: String) throws -> String {
            let path = directory + "/" + name
            try (value + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            chmod(path, 0o600)
            return path
        }

        /// Sends the pushes (specs as in wechat-platform.py) as the platform; one result each.
        func platform(_ specs: [[String: Any]], path: String = "/wechat") throws -> [[String: Any]] {
            let json = String(decoding: try JSONSerialization.data(withJSONObject: specs), as: UTF8.self)
            let output = try CLI.runBounded(["python3", CLI.root + "/Tests/Fixtures/wechat-platform.py", String(server.port), path, json],
                                            executable: "/usr/bin/env", timeout: 120).output
            #expect(output.status == 0, "\(output.stderr)")
            return output.stdout.split(separator: "\n").compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
            }
        }

        func push(_ spec: [String: Any]) throws -> [String: Any] { try #require(try platform([spec]).first) }

        /// The mock's record: bot calls, customer-service sends, tokens fetched.
        func state() throws -> [String: Any] {
            let reply = try HTTPClient.send(port: mockPort, method: "GET", path: "/control/state", headers: [], body: nil)
            return try reply.json()
        }

        func botCalls() throws -> Int { (try state()["bot_calls"] as? [Any])?.count ?? -1 }
        func sends() throws -> [[String: Any]] { try state()["sends"] as? [[String: Any]] ?? [] }
        func releaseBot() throws { _ = try HTTPClient.send(port: mockPort, method: "POST", path: "/control/release", headers: [], body: []) }

        /// Waits (at most 30 s) until `condition` holds; false if it never did.
        func eventually(_ condition: () throws -> Bool) rethrows -> Bool {
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline {
                if try condition() { return true }
                usleep(50_000)
            }
            return try condition()
        }
    }

    static func reply(_ result: [String: Any]) -> String? { (result["reply"] as? [String: Any])?["Content"] as? String }

    @Test(.enabled(if: enabled, skipReason)) func urlVerificationAndEveryPadValueBothWays() throws {
        let rig = try Rig()
        let verified = try rig.push(["mode": "verify", "echostr": "8812345"])
        #expect(verified["status"] as? Int == 200 && verified["body"] as? String == "8812345")
        let forged = try rig.push(["mode": "verify", "echostr": "1", "bad_signature": true])
        #expect(forged["status"] as? Int == 403)

        // 32 lengths in a row: every PKCS#7 pad value 1…32 in the pushes and in the replies.
        let specs: [[String: Any]] = (0..<32).map { ["content": "pad" + String(repeating: "x", count: $0), "msgid": 1000 + $0] }
        let results = try rig.platform(specs)
        #expect(results.count == 32)
        var pushPads = Set<Int>()
        var replyPads = Set<Int>()
        for (spec, result) in zip(specs, results) {
            #expect(result["status"] as? Int == 200)
            #expect(Self.reply(result) == "收到：" + (spec["content"] as! String), "\(result)")
            #expect(result["nonce_echoed"] as? Bool == true)
            if let pad = result["push_pad"] as? Int { pushPads.insert(pad) }
            if let pad = result["reply_pad"] as? Int { replyPads.insert(pad) }
        }
        #expect(pushPads == Set(1...32), "\(pushPads.sorted())")
        #expect(replyPads == Set(1...32), "\(replyPads.sorted())")
        #expect(try rig.botCalls() == 32)
    }

    @Test(.enabled(if: enabled, skipReason)) func forgedStaleAndReplayedPushesAreRefused() throws {
        let rig = try Rig()
        let now = Int(Date().timeIntervalSince1970)
        let results = try rig.platform([
            ["content": "a", "msgid": 1, "bad_signature": true],
            ["content": "b", "msgid": 2, "appid": "wx-other-appid"],
            ["content": "c", "msgid": 3, "msg_signature": String(repeating: "0", count: 40)],
            ["content": "d", "msgid": 4, "token": "another-token"],
            ["content": "e", "msgid": 5, "timestamp": now - 3600],
            ["content": "f", "msgid": 6, "timestamp": now + 3600],
            ["content": "g", "msgid": 7, "mode": "plain"],
            ["content": "h", "msgid": 8, "nonce": "nonce-once", "timestamp": now],
            // The same nonce and timestamp with another message: a replay.
            ["content": "i", "msgid": 9, "nonce": "nonce-once", "timestamp": now],
        ])
        let statuses = results.map { $0["status"] as? Int }
        #expect(statuses == [403, 403, 403, 403, 403, 403, 403, 200, 403], "\(results)")
        #expect((results[1]["body"] as? String)?.contains("-40005") == true, "\(results[1])")
        #expect((results[2]["body"] as? String)?.contains("msg_signature") == true, "\(results[2])")
        #expect((results[8]["body"] as? String)?.contains("replay") == true, "\(results[8])")
        // Only the good push reached the bot.
        #expect(try rig.botCalls() == 1)
    }

    @Test(.enabled(if: enabled, skipReason)) func retriesOfOneMessageMakeOneBotCallAndGetTheSameReply() throws {
        let rig = try Rig()
        // The platform's three attempts (at 0, 5 and 10 s; each with its own nonce), answered alike.
        let results = try rig.platform([["content": "你好", "msgid": 77], ["content": "你好", "msgid": 77], ["content": "你好", "msgid": 77]])
        #expect(results.map { Self.reply($0) } == Array(repeating: "收到：你好", count: 3), "\(results)")
        // An event's retries share FromUserName + CreateTime; events reach the bot and its reply is decided.
        let events = try rig.platform([["type": "event", "event": "subscribe", "create_time": 1_700_000_000],
                                       ["type": "event", "event": "subscribe", "create_time": 1_700_000_000],
                                       ["type": "image", "msgid": 78]])
        #expect(events.map { Self.reply($0) } == ["欢迎关注", "欢迎关注", "收到一条image消息"], "\(events)")
        #expect(try rig.botCalls() == 3)
        // The bot's replies are decided: blocked → the fallback, escalated → the holding reply.
        let decided = try rig.platform([["content": "say:" + ServeTests.insult, "msgid": 79], ["content": "say:" + ServeTests.rumour, "msgid": 80]])
        #expect(decided.map { Self.reply($0) } == [Self.fallback, Self.holding], "\(decided)")
        // Nothing went through the customer-service API.
        #expect(try rig.sends().isEmpty)
    }

    /// A news or music reply is decided on every text a user reads in it: nested titles as escaped text or
    /// character references, a title that starts with a link; links and media ids are not decided. A reply
    /// with a field twice (two <Content>, a second <MsgType>) or markup in a number field (written bare,
    /// it would add fields nobody decided) is unreadable: the fallback goes out.
    @Test(.enabled(if: enabled, skipReason)) func newsAndMusicRepliesAreDecidedOnEveryTitle() throws {
        let rig = try Rig()
        let results = try rig.platform([["content": "news:" + ServeTests.insult, "msgid": 901],
                                        ["content": "newsref:" + ServeTests.insult, "msgid": 902],
                                        ["content": "news:https://example.com/ " + ServeTests.insult, "msgid": 903],
                                        ["content": "music:" + ServeTests.insult, "msgid": 904],
                                        ["content": "twocontent:" + ServeTests.insult, "msgid": 906],
                                        ["content": "twomsgtype:" + ServeTests.insult, "msgid": 907],
                                        ["content": "numinject:" + ServeTests.insult, "msgid": 908],
                                        ["content": "news:办事指南", "msgid": 905]])
        #expect(results.count == 8, "\(results)")
        for result in results.prefix(7) {
            let reply = result["reply"] as? [String: Any] ?? [:]
            #expect(reply["MsgType"] as? String == "text" && reply["Content"] as? String == Self.fallback, "\(result)")
        }
        let clean = results.last?["reply"] as? [String: Any] ?? [:]
        let item = (clean["Articles"] as? [String: Any])?["item"] as? [String: Any]
        #expect(clean["MsgType"] as? String == "news" && item?["Title"] as? String == "办事指南", "\(clean)")
    }

    @Test(.enabled(if: enabled, skipReason)) func aBotTooSlowForTheBudgetGetsSuccessThenOneCustomerServiceMessage() throws {
        let rig = try Rig(budget: "0.2")
        // The bot holds its answer; the first attempt's budget runs out; the retries join it.
        let results = try rig.platform([["content": "hold 1", "msgid": 501], ["content": "hold 1", "msgid": 501], ["content": "hold 1", "msgid": 501]])
        #expect(results.map { $0["body"] as? String } == ["success", "success", "success"], "\(results)")
        #expect(try rig.botCalls() == 1)
        #expect(try rig.sends().isEmpty)
        try rig.releaseBot()
        #expect(try rig.eventually { try rig.sends().count == 1 })
        // Later messages (answered passively now) add no send; the slow one was sent once.
        let later = try rig.platform([["content": "你好", "msgid": 502], ["content": "hold 1", "msgid": 501]])
        #expect(Self.reply(later[0]) == "收到：你好" && later[1]["body"] as? String == "success", "\(later)")
        let sends = try rig.sends()
        #expect(sends.count == 1, "\(sends)")
        #expect(sends.first?["touser"] as? String == "user-1")
        #expect((sends.first?["text"] as? [String: Any])?["content"] as? String == "请稍等，答复如下：hold 1")
        #expect(try rig.state()["tokens"] as? Int == 1)
    }

    @Test(.enabled(if: enabled, skipReason)) func aLongReplyIsDecidedWholeThenSentInParts() throws {
        let rig = try Rig()
        let long = String(repeating: "办事指南第一条。", count: 120) + ServeTests.insult // 2,900 bytes: blocked as a whole
        let blocked = try rig.push(["content": "say:" + long, "msgid": 601])
        #expect(Self.reply(blocked) == Self.fallback, "\(blocked)")
        let clean = String(repeating: "办事指南第一条。", count: 120)
        let split = try rig.push(["content": "say:" + clean, "msgid": 602])
        #expect(split["body"] as? String == "success", "\(split)")
        #expect(try rig.eventually { try rig.sends().count == 2 })
        let parts = try rig.sends().compactMap { ($0["text"] as? [String: Any])?["content"] as? String }
        #expect(parts.joined() == clean && parts.allSatisfy { $0.utf8.count <= 2048 }, "\(parts.map(\.utf8.count))")
    }

    @Test(.enabled(if: enabled, skipReason)) func anEscalatedReplyIsHeldThenSentOnceApproved() throws {
        let rig = try Rig()
        let server = rig.server
        let held = try rig.platform([["content": "say:" + ServeTests.rumour, "msgid": 701, "user": "user-7"],
                                     ["content": "say:网传今晚停水", "msgid": 702, "user": "user-out-of-window"]])
        #expect(held.map { Self.reply($0) } == [Self.holding, Self.holding], "\(held)")
        let rows = try ReviewQueue(path: server.queuePath).list(status: .pending)
        #expect(rows.map(\.channel) == ["wechat", "wechat"])
        #expect(rows.first?.messageID == #""wechat:user-7:msg-701""#)
        // A reviewer approves both on the page.
        let form = "application/x-www-form-urlencoded"
        let token = server.token!.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let login = try server.request("POST", "/login", body: Array("name=li&token=\(token)".utf8), headers: [], contentType: form)
        let session = String(try #require(login.header("Set-Cookie")).split(separator: ";")[0])
        let page = try server.request("GET", "/review", headers: [("Cookie", session)])
        let csrf = try #require(page.text.range(of: #"name="csrf" value="[0-9a-f]+""#, options: .regularExpression)
            .map { String(page.text[$0].dropFirst(19).dropLast()) })
        for row in rows {
            let decided = try server.request("POST", "/review/\(row.id)/decide", body: Array("csrf=\(csrf)&decision=approve".utf8),
                                             headers: [("Cookie", session)], contentType: form)
            #expect(decided.status == 303)
        }
        func status(_ id: Int64) throws -> ReviewStatus? { try ReviewQueue(path: server.queuePath).item(id)?.status }
        #expect(try rig.eventually { try status(rows[0].id) == .released && status(rows[1].id) == .withdrawn })
        // One send each: the approved reply to user-7; the other refused with 45015, recorded, not tried again.
        usleep(500_000) // several review polls
        let sends = try rig.sends()
        #expect(sends.map { $0["touser"] as? String } == ["user-7", "user-out-of-window"], "\(sends)")
        #expect((sends.first?["text"] as? [String: Any])?["content"] as? String == ServeTests.rumour)
        let withdrawn = try ReviewQueue(path: server.queuePath).item(rows[1].id)
        #expect(withdrawn?.note?.contains("45015") == true, "\(String(describing: withdrawn?.note))")
        let audit = (try? String(contentsOfFile: server.auditPath, encoding: .utf8)) ?? ""
        #expect(audit.contains(#""action":"released""#) && audit.contains(#""action":"withdrawn""#))
    }

    @Test(.enabled(if: enabled, skipReason)) func plainModeOnlyWhenTheOperatorOptsInAndThenNoReplayWithAnotherBody() throws {
        // Refused without the opt-in.
        let refused = try CLI.runBounded(["serve", "--listen", "127.0.0.1:0", "--insecure-local", "--wechat-token-file", "/dev/null",
                                          "--wechat-appid", "wx", "--wechat-upstream", "http://127.0.0.1:9/bot", "--wechat-mode", "plain"], timeout: 30).output
        #expect(refused.status != 0 && refused.stderr.contains("--wechat-allow-plain"), "\(refused.stderr)")
        let rig = try Rig(["--wechat-allow-plain"], mode: "plain")
        let now = Int(Date().timeIntervalSince1970)
        let results = try rig.platform([
            ["content": "你好", "msgid": 801, "mode": "plain", "nonce": "n-801", "timestamp": now],
            // A captured query string with another body.
            ["content": "say:" + ServeTests.insult, "msgid": 802, "mode": "plain", "nonce": "n-801", "timestamp": now],
        ])
        #expect(Self.reply(results[0]) == "收到：你好" && results[1]["status"] as? Int == 403, "\(results)")
        #expect(try rig.botCalls() == 1)
    }

    @Test(.enabled(if: enabled, skipReason)) func anOpenAICompatibleUpstream() throws {
        let probe = try Rig()
        let key = try probe.secret("upstream-key", "sk-test-upstream")
        let rig = try Rig(["--wechat-upstream-protocol", "openai", "--wechat-upstream-key-file", key, "--wechat-upstream-model", "qwen-plus"], upstream: "/v1")
        let results = try rig.platform([["content": "你好", "msgid": 901], ["content": "say:" + ServeTests.insult, "msgid": 902]])
        #expect(results.map { Self.reply($0) } == ["收到：你好", Self.fallback], "\(results)")
        let calls = try rig.state()["bot_calls"] as? [[String: Any]] ?? []
        #expect(calls.first?["authorization"] as? String == "Bearer sk-test-upstream" && calls.first?["model"] as? String == "qwen-plus", "\(calls)")
    }
}
