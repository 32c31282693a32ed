/// Minimal, fast JSON text building with a fixed key order (records are compared by tests as decoded
/// values, by people as text).
public enum JSONWriter {
    /// Appends `value` as a JSON string literal: quotes, backslashes and control characters escaped,
    /// everything else written as UTF-8.
    public static func appendString(_ value: String, to out: inout String) {
        out.append("\"")
        // Fast path: nothing to escape (0xE2 leads U+2028/U+2029, which need the slow path's check).
        if !value.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C || $0 == 0xE2 }) {
            out.append(value)
            out.append("\"")
            return
        }
        var pending = Substring(value).startIndex
        let scalars = value.unicodeScalars
        var index = scalars.startIndex
        while index != scalars.endIndex {
            let scalar = scalars[index]
            let escape: String?
            switch scalar {
            case "\"": escape = "\\\""
            case "\\": escape = "\\\\"
            case "\n": escape = "\\n"
            case "\r": escape = "\\r"
            case "\t": escape = "\\t"
            case "\u{2028}": escape = "\\u2028"
            case "\u{2029}": escape = "\\u2029"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    escape = "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    escape = nil
                }
            }
            if let escape {
                out.append(contentsOf: value[pending..<index])
                out.append(escape)
                pending = scalars.index(after: index)
            }
            index = scalars.index(after: index)
        }
        out.append(contentsOf: value[pending...])
        out.append("\"")
    }

    public static func string(_ value: String) -> String {
        var out = ""
        appendString(value, to: &out)
        return out
    }
}

extension Decision {
    /// The decision as one line of JSON (no trailing newline), schema ``Decision/schema``:
    /// `{"schema","id","verdict","scores","hits":[…],"errors":[…],"suppressed":[…],"policy"}`.
    public func jsonLine(extra: [(String, String)] = []) -> String {
        var out = "{\"schema\":\"\(Decision.schema)\",\"id\":"
        switch id {
        case .string(let s): JSONWriter.appendString(s, to: &out)
        case .number(let n): out += n
        case .position: JSONWriter.appendString(id.description, to: &out)
        }
        out += ",\"verdict\":\"\(verdict.rawValue)\",\"scores\":{"
        for (i, key) in scores.keys.sorted().enumerated() {
            if i > 0 { out += "," }
            JSONWriter.appendString(key, to: &out)
            out += ":\(scores[key]!)"
        }
        out += "},\"hits\":["
        for (i, hit) in hits.enumerated() {
            if i > 0 { out += "," }
            out += "{\"rule\":"; JSONWriter.appendString(hit.rule, to: &out)
            out += ",\"pack\":"; JSONWriter.appendString(hit.pack, to: &out)
            out += ",\"category\":"; JSONWriter.appendString(hit.category, to: &out)
            out += ",\"action\":" + (hit.action.map { "\"\($0.rawValue)\"" } ?? "null")
            out += ",\"score\":" + (hit.score.map(String.init) ?? "null")
            out += ",\"start\":\(hit.start),\"end\":\(hit.end),\"byteStart\":\(hit.byteStart),\"byteEnd\":\(hit.byteEnd),\"match\":"
            JSONWriter.appendString(hit.match, to: &out)
            out += hit.reported ? ",\"reported\":true}" : ",\"reported\":false}"
        }
        out += "],\"errors\":["
        for (i, error) in errors.enumerated() {
            if i > 0 { out += "," }
            out += "{\"rule\":" + (error.rule.map(JSONWriter.string) ?? "null") + ",\"message\":"
            JSONWriter.appendString(error.message, to: &out)
            out += "}"
        }
        out += "],\"suppressed\":["
        for (i, item) in suppressed.enumerated() {
            if i > 0 { out += "," }
            out += "{\"rule\":" + JSONWriter.string(item.rule) + ",\"reason\":" + JSONWriter.string(item.reason) + "}"
        }
        out += "],\"policy\":"
        JSONWriter.appendString(policy, to: &out)
        for (key, rawJSON) in extra { out += ",\(JSONWriter.string(key)):\(rawJSON)" }
        out += "}"
        return out
    }
}
