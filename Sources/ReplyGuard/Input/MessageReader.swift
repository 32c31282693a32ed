import Foundation

/// How input lines become messages.
public enum InputFormat: String, Sendable, CaseIterable {
    /// One message per line, the whole line is the text.
    case text
    /// One JSON object per line; the text and id come from named fields.
    case jsonl
}

/// A message read from input: its id, its text bytes, or why it could not be read.
public struct InputMessage {
    public var id: MessageID
    public var text: [UInt8]
    /// Set when the line could not be turned into a message (malformed JSON, missing field).
    public var error: String?
}

/// Turns lines of text or JSON Lines into messages. Malformed lines become messages with an error
/// (which the caller escalates), never a crash and never a silent skip.
public struct MessageReader: Sendable {
    public var format: InputFormat
    public var textField: String
    public var idField: String

    public init(format: InputFormat, textField: String = "text", idField: String = "id") {
        self.format = format
        self.textField = textField
        self.idField = idField
    }

    /// The message on `line`; `fallbackID` is used when the line has no id of its own.
    public func message(from line: UnsafeBufferPointer<UInt8>, fallbackID: String) -> InputMessage {
        switch format {
        case .text:
            return InputMessage(id: .string(fallbackID), text: Array(line), error: nil)
        case .jsonl:
            let object: Any
            do {
                object = try JSONSerialization.jsonObject(with: Data(line), options: [.fragmentsAllowed])
            } catch {
                return InputMessage(id: .string(fallbackID), text: Array(line), error: "line is not valid JSON")
            }
            guard let fields = object as? [String: Any] else {
                return InputMessage(id: .string(fallbackID), text: Array(line), error: "line is not a JSON object")
            }
            var id = MessageID.string(fallbackID)
            switch fields[idField] {
            case let s as String: id = .string(s)
            case let n as NSNumber: id = .number(n.stringValue)
            default: break
            }
            guard let text = fields[textField] as? String else {
                let problem = fields[textField] == nil ? "has no field '\(textField)'" : "field '\(textField)' is not a string"
                return InputMessage(id: id, text: [], error: "JSON object \(problem)")
            }
            return InputMessage(id: id, text: Array(text.utf8), error: nil)
        }
    }
}
