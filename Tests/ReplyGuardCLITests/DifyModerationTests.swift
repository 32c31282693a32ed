import Foundation
import ReplyGuardGate
import Testing

/// #18 part 2: Dify's API-based moderation extension at `POST /v1/dify/moderation`, through the real
/// `replyguard serve`.
@Suite struct DifyModerationTests {
    static let path = "/v1/dify/moderation"
    static let fallback = "抱歉，这个问题我暂时无法回答，请拨打12345政务服务便民热线咨询。"
    static let holding = "您的留言已收到，工作人员将尽快人工回复。"

    static func output(_ server: ServeProcess, app: String, _ text: String) throws -> [String: Any] {
        let reply = try server.post(path, json: #"{"point":"app.moderation.output","params":{"app_id":\#(json(app)),"text":\#(json(text))}}"#)
        #expect(reply.status == 200, "\(reply.text)")
        return try reply.json()
    }

    static func json(_ text: String) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: text, options: [.fragmentsAllowed]), as: UTF8.self)
    }

    @Test func pingAndEveryVerdictForOutputAndInput() throws {
        let server = try ServeProcess()
        defer { server.stop() }
        // Dify's ping when the extension is saved (with and without params).
        #expect(try server.post(Self.path, json: #"{"point":"ping","params":{}}"#).json()["result"] as? String == "pong")
        #expect(try server.post(Self.path, json: #"{"point":"ping"}"#).json()["result"] as? String == "pong")

        // As Dify's Python requestor sends a call: its headers, Chinese escaped as \uXXXX (ensure_ascii).
        let escaped = ServeTests.insult.unicodeScalars.map { String(format: "\\u%04x", $0.value) }.joined()
        let dify = try server.post(Self.path, json: #"{"point": "app.moderation.output", "params": {"app_id": "app-0", "text": "\#(escaped)"}}"#,
                                   headers: server.authorization + [("User-Agent", "python-requests/2.32.3"), ("Accept", "*/*"), ("Accept-Encoding", "gzip, deflate")])
        #expect(dify.status == 200, "\(dify.text)")
        let difyFlagged = try dify.json()["flagged"] as? Bool
        #expect(difyFlagged == true, "\(dify.text)")

        let clean = try Self.output(server, app: "app-1", ServeTests.clean)
        #expect(clean["flagged"] as? Bool == false)
        let blocked = try Self.output(server, app: "app-1", ServeTests.insult)
        #expect(blocked["flagged"] as? Bool == true && blocked["action"] as? String == "direct_output")
        #expect(blocked["preset_response"] as? String == Self.fallback)
        let masked = try Self.output(server, app: "app-1", "这他妈的也太难了")
        #expect(masked["flagged"] as? Bool == true && masked["action"] as? String == "overridden")
        #expect(masked["text"] as? String == "这＊＊＊也太难了")

        // Escalated: held on the dify channel with the app id; the holding reply goes out.
        let held = try Self.output(server, app: "app-2", ServeTests.rumour)
        #expect(held["flagged"] as? Bool == true && held["action"] as? String == "direct_output")
        #expect(held["preset_response"] as? String == Self.holding)
        // The same streamed message growing, and sent again: the same answer, still one review row.
        for text in [ServeTests.rumour + "，请大家", ServeTests.rumour + "，请大家提前储水。", ServeTests.rumour] {
            let again = try Self.output(server, app: "app-2", text)
            #expect(again["flagged"] as? Bool == true && again["preset_response"] as? String == Self.holding, "\(again)")
        }
        let rows = try ReviewQueue(path: server.queuePath).list(status: nil)
        #expect(rows.count == 1, "\(rows.map { String(decoding: $0.text, as: UTF8.self) })")
        let row = try #require(rows.first)
        #expect(row.channel == "dify" && row.messageID == #""dify:app-2""# && row.status == .pending)
        #expect(String(decoding: row.text, as: UTF8.self) == ServeTests.rumour)
        // An HTTP client cannot release it: Dify cannot take it back.
        #expect(try server.request("POST", "/v1/reviews/\(row.id)/release").status == 409)
        let audit = try String(contentsOfFile: server.auditPath, encoding: .utf8).split(separator: "\n")
            .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(audit.map { $0["action"] as? String } == ["fallback", "published", "fallback", "masked", "held"])

        // Input: the query and the string values of inputs.
        func input(_ inputs: String, _ query: String) throws -> [String: Any] {
            let reply = try server.post(Self.path, json: #"{"point":"app.moderation.input","params":{"app_id":"app-3","inputs":\#(inputs),"query":\#(query)}}"#)
            #expect(reply.status == 200, "\(reply.text)")
            return try reply.json()
        }
        let fine = try input(#"{"name":"李"}"#, Self.json(ServeTests.clean))
        #expect(fine["flagged"] as? Bool == false)
        let rude = try input("{}", Self.json(ServeTests.insult))
        #expect(rude["flagged"] as? Bool == true && rude["action"] as? String == "direct_output" && rude["preset_response"] as? String == Self.fallback)
        let rudeVariable = try input(#"{"topic":\#(Self.json(ServeTests.insult)),"count":3}"#, "null")
        #expect(rudeVariable["flagged"] as? Bool == true && rudeVariable["action"] as? String == "direct_output")
        let curse = try input(#"{"topic":"这他妈的也太难了","count":3}"#, Self.json("你好"))
        #expect(curse["flagged"] as? Bool == true && curse["action"] as? String == "overridden", "\(curse)")
        #expect((curse["inputs"] as? [String: Any])?["topic"] as? String == "这＊＊＊也太难了")
        #expect((curse["inputs"] as? [String: Any])?["count"] as? Int == 3)
        #expect(curse["query"] as? String == "你好")
        let rumour = try input("{}", Self.json(ServeTests.rumour))
        #expect(rumour["flagged"] as? Bool == true && rumour["preset_response"] as? String == Self.fallback)
        // A user's input is not held for review.
        #expect(try ReviewQueue(path: server.queuePath).list(status: nil).count == 1)
    }

    /// Every split of a blocked phrase across two calls, as Dify could send them: the whole answer so far
    /// each time, or only the next segment. No call answers `flagged: false` once the phrase is complete.
    @Test func aBlockedPhraseSplitAcrossTwoSegmentsIsFlaggedAtEverySplit() throws {
        let server = try ServeProcess()
        defer { server.stop() }
        let phrase = Array(ServeTests.insult)
        let after = "谢谢。"
        for split in 1..<phrase.count {
            // A full segment of 100 characters ends inside the phrase.
            let before = String(String(repeating: "办事大厅九点开门。", count: 12).prefix(100 - split))
            let head = before + String(phrase[..<split])
            #expect(head.unicodeScalars.count == 100)
            let rest = String(phrase[split...]) + after
            // The whole text so far (what Dify's code sends).
            let grown = "grown-\(split)"
            let first = try Self.output(server, app: grown, head)
            let second = try Self.output(server, app: grown, head + rest)
            #expect(second["flagged"] as? Bool == true && second["preset_response"] as? String == Self.fallback, "split \(split): \(first) \(second)")
            // Only the new segment (what Dify's docs describe).
            let segments = "segment-\(split)"
            // An earlier short answer of the app that the next segment happens to start with.
            #expect(try Self.output(server, app: segments, String(phrase[split]))["flagged"] as? Bool == false)
            let one = try Self.output(server, app: segments, head)
            let two = try Self.output(server, app: segments, rest)
            #expect(one["flagged"] as? Bool == true || two["flagged"] as? Bool == true, "split \(split): \(one) \(two)")
            #expect(two["flagged"] as? Bool == true && two["action"] as? String == "direct_output", "split \(split): \(one) \(two)")
            // The app's next answer, clean, is not flagged for what came before it.
            #expect(try Self.output(server, app: segments, ServeTests.clean)["flagged"] as? Bool == false, "split \(split)")
        }
    }

    /// A call with a key twice in one object (anywhere) is answered flagged with the fallback: which value
    /// Dify meant is unknown. Every string inside `inputs` is decided — in lists and nested objects, keys of
    /// nested objects too — and masked in place; a masked key answers the fallback. (And a `/v1/check` or
    /// `/v1/filter` message object with its text twice is not published.)
    @Test func repeatedKeysAndNestedInputsAreDecided() throws {
        let server = try ServeProcess()
        defer { server.stop() }
        let insult = Self.json(ServeTests.insult), clean = Self.json("您好")
        for (a, b) in [(clean, insult), (insult, clean)] {
            for body in [#"{"point":"app.moderation.output","params":{"app_id":"d","text":\#(a),"text":\#(b)}}"#,
                         #"{"point":"app.moderation.output","params":{"app_id":"d","text":\#(a)},"params":{"app_id":"d","text":\#(b)}}"#,
                         #"{"point":"app.moderation.input","params":{"app_id":"d","inputs":{"topic":\#(a),"topic":\#(b)},"query":"你好"}}"#,
                         #"{"point":"app.moderation.input","params":{"app_id":"d","inputs":{"form":[{"q":\#(a),"q":\#(b)}]},"query":null}}"#] {
                let reply = try server.post(Self.path, json: body)
                let answer = try reply.json()
                #expect(reply.status == 200 && answer["flagged"] as? Bool == true && answer["action"] as? String == "direct_output"
                        && answer["preset_response"] as? String == Self.fallback, "\(body): \(reply.text)")
            }
        }
        func input(_ inputs: String) throws -> [String: Any] {
            let reply = try server.post(Self.path, json: #"{"point":"app.moderation.input","params":{"app_id":"d","inputs":\#(inputs),"query":"你好"}}"#)
            #expect(reply.status == 200, "\(reply.text)")
            return try reply.json()
        }
        for inputs in [#"{"tags":["好",\#(insult)]}"#, #"{"form":{"a":{"b":[1,\#(insult)]}}}"#, #"{"form":{\#(insult):"好"}}"#] {
            let answer = try input(inputs)
            #expect(answer["flagged"] as? Bool == true && answer["action"] as? String == "direct_output"
                    && answer["preset_response"] as? String == Self.fallback, "\(inputs): \(answer)")
        }
        let masked = try input(#"{"tags":["这他妈的也太难了",3,true],"form":{"a":{"b":"这他妈的"}},"n":2}"#)
        #expect(masked["flagged"] as? Bool == true && masked["action"] as? String == "overridden", "\(masked)")
        let inputs = masked["inputs"] as? [String: Any] ?? [:]
        let tags = inputs["tags"] as? [Any] ?? []
        #expect(tags.first as? String == "这＊＊＊也太难了" && tags.count == 3 && tags[1] as? Int == 3, "\(masked)")
        #expect(((inputs["form"] as? [String: Any])?["a"] as? [String: Any])?["b"] as? String == "这＊＊＊" && inputs["n"] as? Int == 2, "\(masked)")
        let maskedKey = try input(#"{"form":{"这他妈的":"好"}}"#)
        #expect(maskedKey["action"] as? String == "direct_output" && maskedKey["preset_response"] as? String == Self.fallback, "\(maskedKey)")

        for path in ["/v1/check", "/v1/filter"] {
            let reply = try server.post(path, json: #"{"messages":[{"id":1,"text":"您好","text":\#(insult)},{"id":2,"text":\#(insult),"text":"您好"}]}"#)
            #expect(reply.status == 200 && !reply.text.contains("\"allow\"") && !reply.text.contains("您好"), "\(path): \(reply.text)")
        }
    }

    @Test func wrongKeysAndMalformedCallsAreRefusedNeverAnsweredUnflagged() throws {
        let server = try ServeProcess()
        defer { server.stop() }
        let call = #"{"point":"app.moderation.output","params":{"app_id":"a","text":"\#(ServeTests.insult)"}}"#
        #expect(try server.post(Self.path, json: call, headers: []).status == 401)
        #expect(try server.post(Self.path, json: call, headers: [("Authorization", "Bearer wrong-key")]).status == 401)
        for body in ["not json", "[]", #"{"params":{}}"#, #"{"point":"app.moderation.output"}"#,
                     #"{"point":"app.moderation.output","params":{"app_id":"a"}}"#,
                     #"{"point":"app.moderation.output","params":{"app_id":"a","text":7}}"#,
                     #"{"point":"app.moderation.input","params":{"app_id":"a","inputs":[],"query":"x"}}"#,
                     #"{"point":"app.external_data_tool.query","params":{"app_id":"a"}}"#] {
            let reply = try server.post(Self.path, json: body)
            #expect(reply.status == 400 && !reply.text.contains("flagged"), "\(body): \(reply.status) \(reply.text)")
        }
        #expect(try server.request("GET", Self.path).status == 405)
        #expect(try server.request("POST", Self.path, body: Array(call.utf8), contentType: "text/plain").status == 415)
    }

    /// An audit log that cannot be written: every answer is flagged (Dify passes output when its call
    /// fails, so an internal error must not become an HTTP error), and an escalated answer is not left
    /// pending; once the log can be written again, clean text passes.
    @Test func anInternalFailureAnswersFlaggedNeverUnflagged() throws {
        let audit = try PipeAuditLog(directory: CLI.temporaryDirectory())
        let server = try ServeProcess(arguments: ["--audit", audit.path])
        defer { server.stop() }
        #expect(try Self.output(server, app: "a", ServeTests.clean)["flagged"] as? Bool == false)
        audit.stopReading()
        for text in ["你好，请问有什么可以帮您？", ServeTests.rumour, ServeTests.insult] {
            let answer = try Self.output(server, app: "a", text)
            #expect(answer["flagged"] as? Bool == true && answer["action"] as? String == "direct_output", "\(text): \(answer)")
            #expect(answer["preset_response"] as? String == Self.fallback)
        }
        #expect(try ReviewQueue(path: server.queuePath).list(status: .pending).isEmpty)
        audit.startReading()
        #expect(try Self.output(server, app: "b", "办事大厅周六也开门")["flagged"] as? Bool == false)
    }
}
