import Foundation
import ReplyGuard

/// What the stream filter did with a reply (the `action` of an audit record).
public enum FilterAction: String, Sendable {
    /// Allowed and published as written.
    case published
    /// Published with the spans of `mask` rules starred out.
    case masked
    /// Blocked; the policy's fallback reply was published instead.
    case fallback
    /// Escalated: stored in the review queue, the holding reply published.
    case held
    /// Approved by a reviewer and published by this filter.
    case released
    /// Not reviewed in time; never published.
    case expired
    /// A partial reply left when the wrapped bot died; never published.
    case discarded
}

/// Options of ``StreamFilter``.
public struct StreamFilterOptions: Sendable {
    public var format: InputFormat = .text
    public var textField = "text"
    public var idField = "id"
    /// Escalate every reply that is not blocked ("we don't trust this bot yet").
    public var holdAll = false
    /// A reply longer than this (bytes) is held unchecked, only its first this-many bytes kept.
    public var maxMessageBytes = defaultMaxMessageBytes
    /// Identifies this filter in the queue (`pid@host`).
    public var owner = "\(getpid())@\(ProcessInfo.processInfo.hostName)"

    public init() {}
}

/// Appends one JSON line per decision to a file (`--audit`), each with one `write(2)` on an `O_APPEND`
/// descriptor so concurrent filters can share the file.
public final class AuditLog {
    public let path: String
    private let fd: Int32
    private var sequence = 0

    public init(path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        if fd < 0 { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }

    deinit { close(fd) }

    /// Appends `record` (a JSON object) with `time`, `seq`, `pid`, `action` and `review` added. Throws
    /// when the record cannot be written whole (a full disk, /dev/full).
    func append(record: String, action: FilterAction, review: Int64?, extra: String = "") throws {
        sequence += 1
        var fields = ",\"time\":\"\(ReviewQueue.timestamp())\",\"seq\":\(sequence),\"pid\":\(getpid()),\"action\":\"\(action.rawValue)\""
        if let review { fields += ",\"review\":\(review)" }
        fields += extra
        var line = record
        if line.hasSuffix("}") { line.removeLast(); line += fields + "}" } else { line = "{\"record\":\(JSONWriter.string(record))\(fields)}" }
        line += "\n"
        var bytes = Array(line.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeMutableBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            if n == 0 { throw POSIXError(.EIO) }
            offset += n
        }
        bytes.removeAll()
    }
}

/// The stream filter (SPEC §6): frames replies, decides each, and publishes it, the fallback reply, or
/// the holding reply after queueing it for review — one output line per input line, in order, each
/// handed to `publish` as soon as it is decided. Also releases approved replies from the queue.
public final class StreamFilter {
    public let engine: Engine
    public let options: StreamFilterOptions
    private let scanner: MessageScanner
    private let queue: ReviewQueue
    private let audit: AuditLog?
    private let reader: MessageReader
    private let publish: ([UInt8]) -> Void
    private let diagnose: (String) -> Void
    private var framer: LineFramer
    private var count = 0
    /// Why the filter stopped (the audit log could not be written); once set, nothing more is decided
    /// or published, and the caller must exit with an error.
    public private(set) var failure: String?

    /// - Parameters:
    ///   - publish: writes one published line (newline included) and flushes it.
    ///   - diagnose: reports a problem to the operator (stderr); never part of the output.
    public init(engine: Engine, queue: ReviewQueue, audit: AuditLog?, options: StreamFilterOptions,
                publish: @escaping ([UInt8]) -> Void, diagnose: @escaping (String) -> Void) {
        self.engine = engine
        self.options = options
        self.queue = queue
        self.audit = audit
        self.publish = publish
        self.diagnose = diagnose
        scanner = engine.makeScanner()
        framer = LineFramer(maxLength: options.maxMessageBytes)
        reader = MessageReader(format: options.format, textField: options.textField, idField: options.idField)
    }

    /// Fallback and holding replies that the policy itself would not allow: a filter must not start
    /// with any (it would publish them).
    public static func unsafeReplies(engine: Engine) -> [String] {
        let policy = engine.ruleSet.policy
        let replies = [("fallback_reply", policy.fallbackReply), ("holding_reply", policy.holdingReply)]
            + policy.fallbackReplies.sorted { $0.key < $1.key }.map { ("fallback_replies.\($0.key)", $0.value) }
        return replies.compactMap { name, text in
            // One output line per input line: a reply that spans lines would pair every later reply
            // with the wrong input.
            let breaks: Set<UInt32> = [0x0A, 0x0B, 0x0C, 0x0D, 0x85, 0x2028, 0x2029]
            if let found = text.unicodeScalars.first(where: { breaks.contains($0.value) }) {
                return "\(name) \(text.debugDescription) contains a line break (U+\(String(format: "%04X", found.value))); each reply must be a single line"
            }
            let decision = engine.decide(text)
            guard decision.verdict != .allow else { return nil }
            return "\(name) \"\(text)\" is itself \(decision.verdict.rawValue)ed (\(decision.hits.map(\.rule).joined(separator: ", ")))"
        }
    }

    /// Feeds a chunk of the bot's output; complete lines are decided and published at once.
    public func feed(_ chunk: UnsafeBufferPointer<UInt8>) {
        framer.feed(chunk, lineOrOverlong: { process(line: $0, overlong: $1) })
    }

    /// End of input. With `publishPartial` a last line without a newline is decided like any other;
    /// without it (the wrapped bot died mid-reply) it is discarded and recorded, never published.
    public func finish(publishPartial: Bool) {
        guard failure == nil else { return }
        framer.finish(lineOrOverlong: { line, overlong in
            if publishPartial {
                process(line: line, overlong: overlong)
            } else {
                diagnose("discarded a partial reply (\(overlong ?? line.count) bytes without a line end) left when the bot exited")
                count += 1
                let decision = overlong == nil ? scanner.decide(line, id: .number(String(count)))
                    : scanner.decide(overlongMessage(id: .number(String(count)), length: overlong!))
                log(record: decision.jsonLine(), action: .discarded, review: nil)
            }
        })
    }

    /// The message for a reply longer than the limit: an error, so it is escalated without being checked.
    private func overlongMessage(id: MessageID, length: Int) -> InputMessage {
        var message = InputMessage.overlong(id: id, length: length, limit: options.maxMessageBytes)
        message.error! += "; its first \(options.maxMessageBytes) bytes are kept for review"
        return message
    }

    /// Appends an audit record; a failure stops the filter (fail closed: no reply goes unrecorded).
    private func log(record: String, action: FilterAction, review: Int64?, extra: String = "") {
        guard let audit, failure == nil else { return }
        do { try audit.append(record: record, action: action, review: review, extra: extra) } catch {
            let reason = (error as? POSIXError).map { String(cString: strerror($0.code.rawValue)) } ?? "\(error)"
            failure = "cannot write the audit log \(audit.path) (\(reason)); stopped so that no reply goes unrecorded"
        }
    }

    /// Decides one reply line and publishes what the policy says.
    public func process(line: UnsafeBufferPointer<UInt8>) {
        process(line: line, overlong: nil)
    }

    /// `overlong`: the whole length of a reply longer than the limit, of which `line` is the start.
    private func process(line: UnsafeBufferPointer<UInt8>, overlong: Int?) {
        guard failure == nil else { return }
        count += 1
        let message = overlong.map { overlongMessage(id: .number(String(count)), length: $0) }
            ?? reader.message(from: line, fallbackID: .number(String(count)))
        var decision = scanner.decide(message)
        var extra = ""
        if options.holdAll && decision.verdict < .escalate {
            decision.verdict = .escalate
            extra = ",\"reason\":\"hold-all\""
        }
        let record = decision.jsonLine()
        switch decision.verdict {
        case .allow:
            publish(Array(line) + [0x0A])
            log(record: record, action: .published, review: nil)
        case .mask:
            publish(replacing(line, message, with: decision.masked(message.text, with: engine.ruleSet.policy.maskWith)))
            log(record: record, action: .masked, review: nil)
        case .block:
            publish(replacing(line, message, with: fallback(for: decision)))
            log(record: record, action: .fallback, review: nil)
        case .escalate:
            let expiry = engine.ruleSet.policy.reviewExpiryMinutes.map { Date().addingTimeInterval(Double($0) * 60) }
            do {
                let review = try queue.enqueue(text: message.error == nil ? message.text : Array(line),
                                               record: options.format == .jsonl && overlong == nil ? Array(line) : nil,
                                               messageID: message.idJSON, decision: record, expiresAt: expiry)
                publish(replacing(line, message, with: engine.ruleSet.policy.holdingReply))
                log(record: record, action: .held, review: review, extra: extra)
            } catch {
                // Fail closed: a reply that cannot be held durably is not published; the fallback is.
                diagnose("could not store an escalated reply in the review queue (\(error)); published the fallback reply instead")
                publish(replacing(line, message, with: fallback(for: decision)))
                log(record: record, action: .fallback, review: nil, extra: ",\"reason\":\"queue-failed\"")
            }
        }
    }

    /// Publishes replies reviewers approved and expires those past their time. Call it periodically.
    /// A queue locked by another process is skipped (tried again at the next poll): replies being
    /// filtered never wait on it.
    public func poll() {
        guard failure == nil else { return }
        do {
            try queue.withoutWaiting {
                for item in try queue.expire() {
                    log(record: item.decision, action: .expired, review: item.id)
                }
                // Claimed replies are marked released in the queue: publish them all, even if the audit
                // log fails on the way (the queue's released_at/released_by still records them).
                for item in try queue.claimApproved(by: options.owner) {
                    publish(released(item))
                    log(record: item.decision, action: .released, review: item.id)
                }
            }
        } catch let error as SQLiteError where error.code == 5 || error.code == 6 {
            // SQLITE_BUSY / SQLITE_LOCKED: another process is writing; next time.
        } catch {
            diagnose("review queue: \(error)")
        }
    }

    /// The line to publish for an approved reply: in JSON Lines mode the original record (it carries
    /// the original id), in line mode the text on one line.
    private func released(_ item: ReviewItem) -> [UInt8] {
        switch options.format {
        case .jsonl:
            if let record = item.record { return record + [0x0A] }
            var object = "{" + JSONWriter.string(options.textField) + ":" + JSONWriter.string(String(decoding: item.text, as: UTF8.self))
            if let id = item.messageID { object += "," + JSONWriter.string(options.idField) + ":" + id }
            return Array((object + "}\n").utf8)
        case .text, .csv:
            return item.text.map { $0 == 0x0A || $0 == 0x0D ? 0x20 : $0 } + [0x0A]
        }
    }

    private func fallback(for decision: Decision) -> String {
        let policy = engine.ruleSet.policy
        let blocking = decision.hits.first { $0.action == .block && !$0.reported }?.category
            ?? decision.scores.max { $0.value < $1.value }?.key
        return blocking.flatMap { policy.fallbackReplies[$0] } ?? policy.fallbackReply
    }

    /// `line` with its reply replaced by `text`: the whole line in line mode, only the text field's
    /// value in JSON Lines mode (every other byte untouched). A line that could not be read becomes a
    /// minimal object with just the text (and the id, when it was readable).
    private func replacing(_ line: UnsafeBufferPointer<UInt8>, _ message: InputMessage, with text: String) -> [UInt8] {
        switch options.format {
        case .text, .csv:
            return Array(text.utf8) + [0x0A]
        case .jsonl:
            if let range = message.textValueRange, message.error == nil {
                return Array(line[..<range.lowerBound]) + Array(JSONWriter.string(text).utf8) + Array(line[range.upperBound...]) + [0x0A]
            }
            var object = "{" + JSONWriter.string(options.textField) + ":" + JSONWriter.string(text)
            if let id = message.idJSON { object += "," + JSONWriter.string(options.idField) + ":" + id }
            return Array((object + "}\n").utf8)
        }
    }
}
