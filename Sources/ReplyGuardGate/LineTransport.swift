import Foundation
import ReplyGuard

/// Options of ``LineTransport``: how replies are framed and read. (Whether to hold every reply, and the
/// owner's name in the queue, are the gate's: ``GateConfiguration``.)
public struct LineTransportOptions: Sendable {
    public var format: InputFormat = .text
    public var textField = "text"
    public var idField = "id"
    /// A reply longer than this (bytes) is held unchecked, only its first this-many bytes kept.
    public var maxMessageBytes = defaultMaxMessageBytes

    public init() {}
}

/// The line transport of the reply gate (SPEC §6): frames replies from a byte stream, puts each through
/// a ``ReplyGate``, and writes what the gate says to publish — one output line per input line, in order,
/// each handed to `publish` as soon as it is decided; in JSON Lines mode only the text value is replaced,
/// every other byte passes through. Also publishes approved replies. `filter` and `wrap` drive it.
///
/// Not thread-safe: one thread feeds it, finishes it and polls it.
public final class LineTransport {
    public let gate: ReplyGate
    public let options: LineTransportOptions
    private let scanner: MessageScanner
    private let reader: MessageReader
    private let publish: ([UInt8]) -> Void
    private let diagnose: (String) -> Void
    private var framer: LineFramer
    private var count = 0

    public var engine: Engine { gate.engine }

    /// Why the filter stopped (the audit log could not be written); once set, nothing more is decided
    /// or published, and the caller must exit with an error.
    public var failure: String? { gate.failure }

    /// - Parameters:
    ///   - publish: writes one published line (newline included) and flushes it.
    ///   - diagnose: reports a problem to the operator (stderr); never part of the output.
    public init(gate: ReplyGate, options: LineTransportOptions, publish: @escaping ([UInt8]) -> Void, diagnose: @escaping (String) -> Void) {
        self.gate = gate
        self.options = options
        self.publish = publish
        self.diagnose = diagnose
        scanner = gate.engine.makeScanner()
        framer = LineFramer(maxLength: options.maxMessageBytes)
        reader = MessageReader(format: options.format, textField: options.textField, idField: options.idField)
    }

    /// A transport on its own gate over `queue` and `audit` (tests, embedders; the CLI opens a ``GateRuntime``).
    public convenience init(engine: Engine, queue: ReviewQueue, audit: AuditLog?, options: LineTransportOptions, holdAll: Bool = false,
                            publish: @escaping ([UInt8]) -> Void, diagnose: @escaping (String) -> Void) {
        let gate = ReplyGate(engine: engine, store: queue, audit: audit, holdAll: holdAll, diagnose: diagnose)
        self.init(gate: gate, options: options, publish: publish, diagnose: diagnose)
    }

    /// Feeds a chunk of the bot's output; complete lines are decided and published at once.
    public func feed(_ chunk: [UInt8]) {
        chunk.withUnsafeBufferPointer { feed($0) }
    }

    package func feed(_ chunk: UnsafeBufferPointer<UInt8>) {
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
                let id = MessageID.number(String(count))
                gate.discard(overlong.map { overlongMessage(id: id, length: $0) } ?? InputMessage(id: id, text: Array(line), error: nil), scanner: scanner)
            }
        })
    }

    /// The message for a reply longer than the limit: an error, so it is escalated without being checked.
    private func overlongMessage(id: MessageID, length: Int) -> InputMessage {
        var message = InputMessage.overlong(id: id, length: length, limit: options.maxMessageBytes)
        message.error! += "; its first \(options.maxMessageBytes) bytes are kept for review"
        return message
    }

    /// Decides one reply line and publishes what the policy says.
    package func process(line: UnsafeBufferPointer<UInt8>) {
        process(line: line, overlong: nil)
    }

    /// `overlong`: the whole length of a reply longer than the limit, of which `line` is the start.
    private func process(line: UnsafeBufferPointer<UInt8>, overlong: Int?) {
        guard failure == nil else { return }
        count += 1
        let message = overlong.map { overlongMessage(id: .number(String(count)), length: $0) }
            ?? reader.message(from: line, fallbackID: .number(String(count)))
        let keepRecord = options.format == .jsonl && overlong == nil
        gate.handle(message, scanner: scanner, original: Array(line), record: keepRecord ? Array(line) : nil) { result in
            switch result.outcome {
            case .publish: publish(Array(line) + [0x0A])
            case .stopped: break
            case .masked(let text), .fallback(let text), .hold(_, let text): publish(replacing(line, message, with: text))
            }
        }
    }

    /// Publishes replies reviewers approved and expires those past their time. Call it periodically.
    /// A queue locked by another process is skipped (tried again at the next poll): replies being
    /// filtered never wait on it.
    public func poll() {
        gate.releaseApproved { publish(released($0)) }
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
