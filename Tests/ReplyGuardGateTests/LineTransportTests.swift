import Foundation
import ReplyGuard
import ReplyGuardGate
import Testing

@Suite struct LineTransportTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let engine = try! Engine(rulesDirectory: root + "/rules")

    final class Output: @unchecked Sendable { var bytes: [UInt8] = []; var lines = 0 }

    func makeFilter(_ format: InputFormat = .text, holdAll: Bool = false) throws -> (LineTransport, Output, ReviewQueue) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sf-\(UUID().uuidString).sqlite3").path
        let queue = try ReviewQueue(path: path)
        var options = LineTransportOptions()
        options.format = format
        let output = Output()
        let filter = LineTransport(engine: LineTransportTests.engine, queue: queue, audit: nil, options: options, holdAll: holdAll,
                                  publish: { output.bytes += $0; output.lines += 1 }, diagnose: { _ in })
        return (filter, output, queue)
    }

    static let input: [UInt8] = Array("您好，办事大厅周一至周五开放。\n你不说话没人把你当哑巴\r\n网传明天起全市停水\n\n".utf8)
        + [0xFF, 0x00, 0x0A] + Array("感谢您的留言。\n最后一行没有换行".utf8)

    func run(_ chunks: [Int]) throws -> ([UInt8], Int) {
        let (filter, output, queue) = try makeFilter()
        var offset = 0, k = 0
        let input = LineTransportTests.input
        while offset < input.count {
            let size = min(chunks[k % chunks.count], input.count - offset)
            input[offset..<offset + size].withUnsafeBufferPointer { filter.feed($0) }
            offset += size
            k += 1
        }
        filter.finish(publishPartial: true)
        return (output.bytes, try queue.list(status: .pending).count)
    }

    @Test func dripFedInputGivesIdenticalOutput() throws {
        let (whole, held) = try run([LineTransportTests.input.count])
        let lines = String(decoding: whole, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 8) // 7 replies (one empty) + the trailing newline
        #expect(lines[0] == "您好，办事大厅周一至周五开放。")
        #expect(lines[1] == Substring(LineTransportTests.engine.ruleSet.publishing.fallbackReply))
        #expect(lines[2] == Substring(LineTransportTests.engine.ruleSet.publishing.holdingReply))
        #expect(lines[3] == "")
        #expect(lines[4] == Substring(LineTransportTests.engine.ruleSet.publishing.holdingReply)) // invalid UTF-8: held
        #expect(held == 2)
        #expect(try run([1]).0 == whole)
        for _ in 0..<20 {
            let chunks = (0..<6).map { _ in Int.random(in: 1...9) }
            #expect(try run(chunks).0 == whole, "\(chunks)")
        }
    }

    @Test func jsonLinesKeepOtherFieldsByteForByte() throws {
        let (filter, output, queue) = try makeFilter(.jsonl)
        let lines = [
            #"{"id": 1, "text": "您好", "meta": {"text": "x", "n": 1.50}}"#,
            #"{"meta":[1,2],"text":"你不说话没人把你当哑巴","id":"b"}"#,
            #"{"id":3,"text":"网传明天停水","channel":"wechat"}"#,
            #"{"id":4,"text":"#,
        ]
        for line in lines { Array((line + "\n").utf8).withUnsafeBufferPointer { filter.feed($0) } }
        let out = String(decoding: output.bytes, as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(out[0] == lines[0])
        #expect(out[1] == #"{"meta":[1,2],"text":"抱歉，这个问题我暂时无法回答，请拨打12345政务服务便民热线咨询。","id":"b"}"#)
        #expect(out[2] == #"{"id":3,"text":"您的留言已收到，工作人员将尽快人工回复。","channel":"wechat"}"#)
        #expect(out[3] == #"{"text":"您的留言已收到，工作人员将尽快人工回复。"}"#)
        let held = try queue.list(status: .pending)
        #expect(held.map(\.messageID) == ["3", nil])
        #expect(held[0].record == Array(lines[2].utf8))
        // Approval releases the original record, carrying its id.
        #expect(try queue.decide(held[0].id, approve: true, note: nil))
        filter.poll()
        #expect(String(decoding: output.bytes, as: UTF8.self).hasSuffix(lines[2] + "\n"))
    }

    @Test func holdAllSendsEverythingNotBlockedToReview() throws {
        let (filter, output, queue) = try makeFilter(holdAll: true)
        Array("您好\n你不说话没人把你当哑巴\n".utf8).withUnsafeBufferPointer { filter.feed($0) }
        #expect(try queue.list(status: .pending).map { String(decoding: $0.text, as: UTF8.self) } == ["您好"])
        #expect(output.lines == 2)
    }

    @Test func shippedRepliesPassThePolicy() {
        #expect(ReplyGate.unsafeReplies(engine: LineTransportTests.engine).isEmpty)
    }

    @Test func aMaskedReplyIsPublishedWithItsSpansStarredAndAudited() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sfm-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try """
        pack: m
        version: 1.0.0
        category: m
        description: d
        rules:
          - id: m.mild
            title: t
            description: d
            action: mask
            match: {words: [他妈的]}
            examples: {match: ["⟦他妈的⟧"], no_match: ["你好"]}
        """.write(toFile: dir + "/m.yaml", atomically: true, encoding: .utf8)
        let engine = try Engine(rulesDirectory: dir)
        let queue = try ReviewQueue(path: dir + "/q.sqlite3")
        let audit = try AuditLog(path: dir + "/audit.jsonl")
        var options = LineTransportOptions()
        options.format = .jsonl
        let output = Output()
        let filter = LineTransport(engine: engine, queue: queue, audit: audit, options: options,
                                  publish: { output.bytes += $0 }, diagnose: { _ in })
        let input = Array(#"{"id":1,"text":"这他妈的\"难\"","x":"他妈的"}"#.utf8) + [0x0A]
        input.withUnsafeBufferPointer { filter.feed($0) }
        #expect(String(decoding: output.bytes, as: UTF8.self) == #"{"id":1,"text":"这＊＊＊\"难\"","x":"他妈的"}"# + "\n")
        let record = try JSONDecoder().decode(AuditRecord.self, from: FileManager.default.contents(atPath: dir + "/audit.jsonl")!)
        #expect(record.decision.verdict == .mask && record.action == .masked)
        #expect(record.decision.hits.map(\.match) == ["他妈的"])
        #expect(try queue.list(status: .pending).isEmpty)
    }
}
