/// How input lines become messages.
public enum InputFormat: String, Sendable, CaseIterable {
    /// One message per line, the whole line is the text.
    case text
    /// One JSON object per line; the text and id come from named fields.
    case jsonl
    /// CSV with a header row (RFC 4180 quoting); the text and id come from named columns.
    case csv
}

/// A message read from input: its id, its text bytes, or why it could not be read.
public struct InputMessage {
    public var id: MessageID
    public var text: [UInt8]
    /// Set when the line could not be turned into a message (malformed JSON, missing field).
    public var error: String?
    /// JSON Lines: the byte range of the text field's value (with quotes) in the line, to replace it.
    public var textValueRange: Range<Int>?
    /// JSON Lines: the id field's value as JSON text, when present.
    public var idJSON: String?

    public init(id: MessageID, text: [UInt8], error: String?, textValueRange: Range<Int>? = nil, idJSON: String? = nil) {
        self.id = id
        self.text = text
        self.error = error
        self.textValueRange = textValueRange
        self.idJSON = idJSON
    }

    /// A message longer than the limit (`--max-message-size`): an error, escalated without being checked
    /// (checking would take memory many times its size).
    public static func overlong(id: MessageID, length: Int, limit: Int) -> InputMessage {
        InputMessage(id: id, text: [], error: "message is \(length) bytes, longer than the maximum of \(limit) bytes (--max-message-size); not checked")
    }
}

/// Turns lines of text or JSON Lines into messages. Malformed lines become messages with an error
/// (which the caller escalates), never a crash and never a silent skip. `scan` and `filter` both read
/// through this type, so they see the same messages.
public struct MessageReader: Sendable {
    public var format: InputFormat
    public var textField: String
    public var idField: String

    public init(format: InputFormat, textField: String = "text", idField: String = "id") {
        self.format = format
        self.textField = textField
        self.idField = idField
    }

    /// The message in a CSV record, given the indexes of the text and id columns (from the header).
    package func message(fromCSV record: UnsafeBufferPointer<UInt8>, textColumn: Int, idColumn: Int?, fallbackID: MessageID) -> InputMessage {
        let fields = CSVFields.split(record)
        let id = idColumn.flatMap { $0 < fields.count ? MessageID.string(String(decoding: fields[$0], as: UTF8.self)) : nil } ?? fallbackID
        guard textColumn < fields.count else {
            return InputMessage(id: id, text: [], error: "CSV record has \(fields.count) field(s), no '\(textField)' column")
        }
        return InputMessage(id: id, text: fields[textColumn], error: nil)
    }

    /// The message on `line`; `fallbackID` is used when the line has no id of its own.
    /// (CSV records go through ``message(fromCSV:textColumn:idColumn:fallbackID:)``.)
    /// The message in one input line (text, or a JSON object with the text and id fields).
    public func message(from line: [UInt8], fallbackID: MessageID) -> InputMessage {
        line.withUnsafeBufferPointer { message(from: $0, fallbackID: fallbackID) }
    }

    package func message(from line: UnsafeBufferPointer<UInt8>, fallbackID: MessageID) -> InputMessage {
        switch format {
        case .text, .csv:
            return InputMessage(id: fallbackID, text: Array(line), error: nil)
        case .jsonl:
            var repeated: Int?
            guard let ranges = JSONFieldLocator.valueRanges(of: [textField, idField], in: line, repeated: &repeated) else {
                let first = line.first { ![0x20, 0x09, 0x0D].contains($0) }
                return InputMessage(id: fallbackID, text: Array(line),
                                    error: first == UInt8(ascii: "{") ? "line is not valid JSON" : "line is not a JSON object")
            }
            var id = fallbackID
            var idJSON: String?
            var idError: String?
            /// A string or a number (the locator has checked its form) is kept as written; anything else
            /// is an error and never copied into a record.
            func readID(_ range: Range<Int>) {
                let raw = Array(line[range])
                if raw.first == 0x22, !raw.contains(where: { $0 < 0x20 }), let s = JSONStringDecoder.decode(raw) {
                    id = .string(s)
                } else if raw.first.map({ $0 == 0x2D || ($0 >= 0x30 && $0 <= 0x39) }) == true {
                    id = .number(String(decoding: raw, as: UTF8.self))
                } else {
                    idError = "field '\(idField)' is not a JSON string or number"
                    return
                }
                idJSON = String(decoding: raw, as: UTF8.self)
            }
            if let range = ranges[1] { readID(range) }
            if let repeated {
                // Which value counts is up to the parser downstream (most keep the last): the whole line
                // is checked and the reply held (at least).
                let field = repeated == 0 ? textField : idField
                if repeated == 1 { id = fallbackID; idJSON = nil }
                return InputMessage(id: id, text: Array(line), error: "JSON object has the key '\(field)' more than once", idJSON: idJSON)
            }
            guard let range = ranges[0] else {
                return InputMessage(id: id, text: [], error: "JSON object has no field '\(textField)'", idJSON: idJSON)
            }
            let raw = Array(line[range])
            var loneSurrogates = 0
            guard raw.first == 0x22, let text = JSONStringDecoder.decode(raw, loneSurrogates: &loneSurrogates) else {
                return InputMessage(id: id, text: [], error: "field '\(textField)' is not a string", textValueRange: range, idJSON: idJSON)
            }
            // Invalid UTF-8 anywhere in the line, or an escape no UTF-8 can hold, is read differently by
            // different decoders downstream: the text (bad bytes as U+FFFD) is checked and held at least.
            var error = idError
            if String(validating: line, as: UTF8.self) == nil {
                error = "line is not valid UTF-8"
            } else if loneSurrogates > 0 {
                error = "field '\(textField)' holds \(loneSurrogates) unpaired surrogate escape(s) (\\uD800-\\uDFFF)"
            }
            return InputMessage(id: id, text: Array(text.utf8), error: error, textValueRange: range, idJSON: idJSON)
        }
    }

    /// A labelled JSON Lines record (the corpus format: `corpus/*.jsonl`, `review export`, what `learn`
    /// reads): the message exactly as ``message(from:fallbackID:)`` reads it for `scan` — the same text,
    /// id and errors — and the string values of the top-level keys `labels` (a key that is absent is left
    /// out). A label key that occurs more than once, or whose value is not a JSON string, sets the
    /// message's error as a repeated `text` key does: which value counts would be up to the parser.
    public func labelledMessage(from line: UnsafeBufferPointer<UInt8>, fallbackID: MessageID,
                                labels: [String]) -> (message: InputMessage, labels: [String: String]) {
        var message = self.message(from: line, fallbackID: fallbackID)
        guard format == .jsonl, message.error == nil, !labels.isEmpty else { return (message, [:]) }
        var repeated: Int?
        guard let ranges = JSONFieldLocator.valueRanges(of: labels, in: line, repeated: &repeated) else {
            message.error = "line is not valid JSON"
            return (message, [:])
        }
        if let repeated {
            message.error = "JSON object has the key '\(labels[repeated])' more than once"
            return (message, [:])
        }
        var values: [String: String] = [:]
        for (label, range) in zip(labels, ranges) {
            guard let range else { continue }
            let raw = Array(line[range])
            guard raw.first == 0x22, let value = JSONStringDecoder.decode(raw) else {
                message.error = "field '\(label)' is not a string"
                return (message, [:])
            }
            values[label] = value
        }
        return (message, values)
    }
}
