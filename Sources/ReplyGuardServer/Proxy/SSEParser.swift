/// One server-sent event as read from an upstream.
struct SSEEvent: Equatable {
    /// The event's bytes exactly as received, its closing blank line included (passed on unchanged).
    var raw: [UInt8]
    /// The `data` field values joined with line breaks.
    var data: [UInt8]
    /// The `event` field (empty when absent).
    var name: String
    /// True when the event had at least one `data` field.
    var hasData: Bool
}

/// Splits a byte stream into server-sent events (the WHATWG framing the `openai` client reads): lines
/// end with CRLF, LF or CR — a CR at the end of one read may be followed by the LF of the next —
/// and an empty line ends an event; `:` lines are comments. Any split of the bytes across reads gives the
/// same events. An event or line longer than ``limit`` bytes is an error (``SSEError``): fail closed.
struct SSEParser {
    /// Most bytes one event may hold.
    let limit: Int
    private var line: [UInt8] = []
    private var raw: [UInt8] = []
    private var data: [UInt8] = []
    private var name = ""
    private var hasData = false
    private var afterCR = false

    init(limit: Int = 4 << 20) { self.limit = limit }

    struct SSEError: Error, CustomStringConvertible {
        let description: String
    }

    /// Feeds the next bytes; returns the events they complete.
    mutating func feed(_ bytes: [UInt8]) throws(SSEError) -> [SSEEvent] {
        var events: [SSEEvent] = []
        for byte in bytes {
            if afterCR {
                afterCR = false
                if byte == 0x0A {
                    raw.append(byte)
                    continue
                }
            }
            raw.append(byte)
            if byte == 0x0A || byte == 0x0D {
                afterCR = byte == 0x0D
                if let event = endLine() { events.append(event) }
            } else {
                line.append(byte)
            }
            if raw.count > limit { throw SSEError(description: "an event of the upstream's stream is longer than \(limit) bytes") }
        }
        return events
    }

    /// True when bytes of an unfinished event are waiting (the stream ended inside an event).
    var hasPartialEvent: Bool { !line.isEmpty || hasData || !name.isEmpty }

    private mutating func endLine() -> SSEEvent? {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty {
            defer {
                raw.removeAll(keepingCapacity: true)
                data.removeAll(keepingCapacity: true)
                name = ""
                hasData = false
            }
            guard hasData || !name.isEmpty else { return nil }
            return SSEEvent(raw: raw, data: data, name: name, hasData: hasData)
        }
        if line[0] == 0x3A { return nil } // a comment
        let colon = line.firstIndex(of: 0x3A) ?? line.count
        let field = line[..<colon]
        var value = colon < line.count ? line[(colon + 1)...] : []
        if value.first == 0x20 { value = value.dropFirst() }
        switch String(decoding: field, as: UTF8.self) {
        case "data":
            if hasData { data.append(0x0A) }
            data += value
            hasData = true
        case "event":
            name = String(decoding: value, as: UTF8.self)
        default:
            break // id, retry and unknown fields: kept in `raw` only
        }
        return nil
    }
}
