import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// #18: the customer-service API delivers at most once. `custom/send` has no idempotency key, so a send
/// that may have been shown is never sent again; one that surely was not is tried again; a reply in parts
/// resumes after the parts that went out, across a restart (the fake platform API scripted per user:
/// Tests/Fixtures/wechat-mock.py).
extension WeChatTests {
    /// Holds the bot's reply `text` for `user` and approves it on the command line; returns its review id.
    static func holdAndApprove(_ rig: Rig, _ text: String, user: String, msgid: Int) throws -> Int64 {
        let held = try rig.push(["content": "say:" + text, "msgid": msgid, "user": user])
        #expect(reply(held) == holding, "\(held)")
        let row = try #require(try reviews(rig).first { $0["id"] as? String == "wechat:\(user):msg-\(msgid)" })
        let id = try #require(row["review"] as? Int)
        #expect(try CLI.run(["review", "approve", String(id), "--queue", rig.server.queuePath]).status == 0)
        return Int64(id)
    }

    /// The queue's replies as `review list --json` gives them (the binary's own view of the queue).
    static func reviews(_ rig: Rig) throws -> [[String: Any]] {
        try CLI.run(["review", "list", "--queue", rig.server.queuePath, "--status", "all", "--json"]).stdout.split(separator: "\n")
            .compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
    }

    static func audit(_ rig: Rig) -> String { (try? String(contentsOfFile: rig.server.auditPath, encoding: .utf8)) ?? "" }

    static func sent(_ rig: Rig, to user: String) throws -> [String] {
        try rig.sends().filter { $0["touser"] as? String == user }.compactMap { ($0["text"] as? [String: Any])?["content"] as? String }
    }

    static func status(_ rig: Rig, _ id: Int64) throws -> String? {
        try reviews(rig).first { $0["review"] as? Int == Int(id) }?["status"] as? String
    }

    /// The platform reads the send, shows it, and closes the connection without an answer: the outcome is
    /// unknown, so an approved reply is withdrawn and not sent again, not even after a restart.
    @Test(.enabled(if: enabled, skipReason)) func anApprovedSendThatMayHaveBeenShownIsNeverSentAgain() throws {
        let rig = try Rig()
        try rig.plan(["user-a": ["close"]])
        let id = try Self.holdAndApprove(rig, ServeTests.rumour, user: "user-a", msgid: 1101)
        #expect(try rig.eventually { try Self.status(rig, id) == "withdrawn" }, "\(rig.server.stderr)")
        #expect(rig.server.stderr.contains("review \(id) withdrawn: part 1 of 1 may or may not have been shown"), "\(rig.server.stderr)")
        // The audit record (and the queue's note) say why.
        let withdrawn = Self.audit(rig).split(separator: "\n").first { $0.contains(#""action":"withdrawn""#) } ?? ""
        #expect(withdrawn.contains("may or may not have been shown") && withdrawn.contains("nothing appears twice") && withdrawn.contains(#""parts_sent":0"#),
                "\(withdrawn)")
        // A restart on the same queue: the withdrawn reply stays unsent.
        try rig.restart()
        usleep(1_500_000) // past the first retry delay (1 s) and many review polls
        #expect(try Self.sent(rig, to: "user-a") == [ServeTests.rumour])
        #expect(try Self.status(rig, id) == "withdrawn")
    }

    /// A late reply (the bot past the budget) whose send may have been shown: recorded, not sent again.
    @Test(.enabled(if: enabled, skipReason)) func aLateSendThatMayHaveBeenShownIsNeverSentAgain() throws {
        let rig = try Rig(budget: "0.2")
        try rig.plan(["user-late": ["close"]])
        let late = try rig.push(["content": "hold 2", "msgid": 1102, "user": "user-late"])
        #expect(late["body"] as? String == "success", "\(late)")
        try rig.releaseBot()
        #expect(try rig.eventually { rig.server.stderr.contains("wechat:user-late:msg-1102: delivery stopped: nothing went out; part 1 may or may not have been shown") },
                "\(rig.server.stderr)")
        usleep(1_500_000) // past the first retry delay (1 s)
        #expect(try Self.sent(rig, to: "user-late") == ["请稍等，答复如下：hold 2"])
    }

    /// A reply in three parts whose second part the platform refuses (errcode -1, busy); the server dies
    /// before trying again. The next server resumes after part 1: each part shown once, in order.
    @Test(.enabled(if: enabled, skipReason)) func aReplyInPartsResumesAfterThePartsThatWentOut() throws {
        let rig = try Rig()
        try rig.plan(["user-b": ["ok", "busy*"]])
        let long = String(repeating: "办事指南第一条。", count: 180) + ServeTests.rumour // 4,338 bytes: three parts
        let id = try Self.holdAndApprove(rig, long, user: "user-b", msgid: 1201)
        #expect(try rig.eventually { (try rig.state()["refused"] as? [Any])?.count ?? 0 >= 1 })
        #expect(try rig.eventually { rig.server.stderr.contains("review \(id) part 2 of 3 not sent") }, "\(rig.server.stderr)")
        #expect(try Self.sent(rig, to: "user-b").count == 1)
        try rig.plan(["user-b": []])
        try rig.restart()
        #expect(try rig.eventually { try Self.status(rig, id) == "released" }, "\(rig.server.stderr)")
        let parts = try Self.sent(rig, to: "user-b")
        #expect(parts.count == 3 && parts.joined() == long, "\(parts.map(\.utf8.count))")
        #expect(Set(parts).count == 3)
        let released = Self.audit(rig).split(separator: "\n").first { $0.contains(#""action":"released""#) } ?? ""
        #expect(released.contains("resumed after part 1") && released.contains(#""parts":3"#), "\(released)")
    }

    /// The platform's API refuses connections when the send is made (after the access token): the request
    /// never left, so it is tried again, and shown once.
    @Test(.enabled(if: enabled, skipReason)) func aSendThatNeverLeftIsTriedAgainAndShownOnce() throws {
        let rig = try Rig()
        try rig.plan(["__token__": ["down"]])
        let id = try Self.holdAndApprove(rig, ServeTests.rumour, user: "user-c", msgid: 1301)
        #expect(try rig.eventually { try Self.status(rig, id) == "released" }, "\(rig.server.stderr)")
        #expect(try rig.state()["api_down"] as? Int == 1)
        #expect(rig.server.stderr.contains("review \(id) part 1 of 1 not sent (cannot reach"), "\(rig.server.stderr)")
        usleep(300_000)
        #expect(try Self.sent(rig, to: "user-c") == [ServeTests.rumour])
    }
}
