import Foundation
import ReplyGuard

/// A request the client got wrong: answered with this status and message, nothing decided.
struct ClientError: Error {
    let status: Int
    let message: String
    init(_ status: Int = 400, _ message: String) {
        self.status = status
        self.message = message
    }
}

/// Reads the body of `POST /v1/check` and `POST /v1/filter`: `{"text": …}` (an optional `"id"` beside it)
/// or `{"messages": [{"id": …, "text": …}, …]}`.
///
/// The structure is checked on the raw bytes, and each message object is read by the same
/// ``MessageReader`` that `filter --jsonl` uses, so a message the filter would escalate (invalid UTF-8 in
/// it, an unpaired `\uD800` escape, its `text` or `id` key twice) is escalated here too — decided with an
/// error, never passed and never refused with a 400 that a careless client might treat as "no objection".
/// What is refused (400) is a body that is not the request at all: not JSON, not an object, no `text` or
/// `messages`, a `text` that is not a string.
enum RequestBody {
    static let maxMessages = 1000

    static func messages(_ body: [UInt8]) throws -> [InputMessage] {
        try body.withUnsafeBufferPointer { (bytes) throws -> [InputMessage] in
            var repeated: Int?
            guard let ranges = JSONFieldLocator.valueRanges(of: ["text", "messages"], in: bytes, repeated: &repeated) else {
                throw ClientError(400, notJSONObject(bytes))
            }
            if let repeated {
                throw ClientError(400, "the key '\(repeated == 0 ? "text" : "messages")' occurs more than once in the request object")
            }
            switch (ranges[0], ranges[1]) {
            case (nil, nil):
                throw ClientError(400, #"expected {"text": "…"} or {"messages": [{"id": …, "text": "…"}, …]}"#)
            case (.some, .some):
                throw ClientError(400, "give either 'text' or 'messages', not both")
            case (let text?, nil):
                guard bytes[text.lowerBound] == 0x22 else { throw ClientError(400, "'text' must be a JSON string") }
                return [message(in: bytes, index: 1)]
            case (nil, let list?):
                let elements = try arrayElements(bytes, list)
                guard !elements.isEmpty else { throw ClientError(400, "'messages' is empty") }
                guard elements.count <= maxMessages else {
                    throw ClientError(413, "'messages' holds \(elements.count) messages; at most \(maxMessages) per request")
                }
                var result: [InputMessage] = []
                result.reserveCapacity(elements.count)
                for (i, element) in elements.enumerated() {
                    let object = UnsafeBufferPointer(rebasing: bytes[element])
                    guard let fields = JSONFieldLocator.valueRanges(of: ["text"], in: object) else {
                        throw ClientError(400, "messages[\(i)] is not a JSON object")
                    }
                    guard let text = fields[0] else { throw ClientError(400, "messages[\(i)] has no 'text'") }
                    guard object[text.lowerBound] == 0x22 else { throw ClientError(400, "messages[\(i)].text must be a JSON string") }
                    result.append(message(in: object, index: i + 1))
                }
                return result
            }
        }
    }

    /// One message object, read as `filter --jsonl` reads a line (its id, else its 1-based position).
    private static func message(in object: UnsafeBufferPointer<UInt8>, index: Int) -> InputMessage {
        MessageReader(format: .jsonl).message(from: object, fallbackID: .number(String(index)))
    }

    /// The byte ranges of the elements of the JSON array at `range` (already known to be a balanced value).
    private static func arrayElements(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) throws(ClientError) -> [Range<Int>] {
        guard bytes[range.lowerBound] == 0x5B else { throw ClientError(400, "'messages' must be an array of objects") }
        var elements: [Range<Int>] = []
        var depth = 0
        var start = range.lowerBound + 1
        var i = range.lowerBound
        let whitespace: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0D]
        func trimmed(_ r: Range<Int>) -> Range<Int> {
            var lo = r.lowerBound, hi = r.upperBound
            while lo < hi, whitespace.contains(bytes[lo]) { lo += 1 }
            while hi > lo, whitespace.contains(bytes[hi - 1]) { hi -= 1 }
            return lo..<hi
        }
        while i < range.upperBound {
            let byte = bytes[i]
            if byte == 0x22 { // skip a string
                i += 1
                while i < range.upperBound, bytes[i] != 0x22 { i += bytes[i] == 0x5C ? 2 : 1 }
            } else if byte == 0x5B || byte == 0x7B {
                depth += 1
            } else if byte == 0x5D || byte == 0x7D {
                depth -= 1
                if depth == 0 {
                    let last = trimmed(start..<i)
                    if !last.isEmpty { elements.append(last) } else if !elements.isEmpty { throw ClientError(400, "'messages' has a trailing comma") }
                }
            } else if byte == 0x2C, depth == 1 {
                let element = trimmed(start..<i)
                if element.isEmpty { throw ClientError(400, "'messages' has an empty element") }
                elements.append(element)
                start = i + 1
            }
            i += 1
        }
        return elements
    }

    /// Why a body is not a JSON object, as precisely as Foundation's parser says it.
    private static func notJSONObject(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) { return "the request body is empty; send a JSON object" }
        let data = Data(String(decoding: bytes, as: UTF8.self).utf8)
        do {
            let value = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
            if !(value is [String: Any]) { return "the request body must be a JSON object, not \(kind(of: value))" }
        } catch {
            let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String
            return "the request body is not valid JSON" + (detail.map { ": \($0)" } ?? "")
        }
        return "the request body is not valid JSON"
    }

    private static func kind(of value: Any) -> String {
        switch value {
        case is [Any]: return "an array"
        case is String: return "a string"
        case is NSNull: return "null"
        default: return "a number or boolean"
        }
    }
}

/// `application/x-www-form-urlencoded` (the reviewer page's forms).
enum FormBody {
    static func fields(_ body: [UInt8]) -> [String: String] {
        var result: [String: String] = [:]
        for pair in String(decoding: body, as: UTF8.self).split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = decode(parts[0])
            if result[key] == nil { result[key] = parts.count > 1 ? decode(parts[1]) : "" }
        }
        return result
    }

    static func decode(_ text: Substring) -> String {
        let plus = text.replacingOccurrences(of: "+", with: " ")
        return plus.removingPercentEncoding ?? plus
    }
}
