import Foundation

/// The flat XML the platform pushes and takes back: `<xml><Name>value</Name>…</xml>`, values in CDATA
/// sections or escaped text. Only the root's children are read as fields; a nested element (a news
/// reply's `<Articles>`, an image's `<Image>`) is kept as its raw inner XML. A document type, processing
/// instructions or anything that is not such a document is refused (no entities are expanded but the
/// five predefined ones and character references).
struct WeChatXML: Sendable, Equatable {
    /// The root's children in document order.
    var fields: [(name: String, value: String)]

    static func == (a: WeChatXML, b: WeChatXML) -> Bool {
        a.fields.map(\.name) == b.fields.map(\.name) && a.fields.map(\.value) == b.fields.map(\.value)
    }

    init(_ fields: [(String, String)]) { self.fields = fields.map { (name: $0.0, value: $0.1) } }

    subscript(_ name: String) -> String? { fields.first { $0.name == name }?.value }

    /// The first field name that occurs more than once among the root's children (readers disagree on
    /// which one counts).
    var repeatedField: String? {
        var seen: Set<String> = []
        return fields.first { !seen.insert($0.name).inserted }?.name
    }

    /// Field names whose values are numbers, written without CDATA.
    static let numeric: Set<String> = ["CreateTime", "MsgId", "ArticleCount", "MsgDataId", "Idx"]

    /// Writes the document (string values as CDATA, `]]>` split across sections; nested XML kept as is).
    func serialized(nested: Set<String> = []) -> String {
        var out = "<xml>"
        for (name, value) in fields {
            out += "<\(name)>"
            if WeChatXML.numeric.contains(name) || nested.contains(name) {
                out += value
            } else {
                out += "<![CDATA[" + value.replacingOccurrences(of: "]]>", with: "]]]]><![CDATA[>") + "]]>"
            }
            out += "</\(name)>"
        }
        return out + "</xml>"
    }

    /// Reads a document; nil when it is not one (see the type's notes).
    static func parse(_ bytes: [UInt8]) -> WeChatXML? {
        guard let text = String(validatingUTF8: bytes.map { CChar(bitPattern: $0) } + [0]) else { return nil }
        var rest = Substring(text)
        func skipSpace() { rest = rest.drop { $0.isWhitespace } }
        skipSpace()
        if rest.hasPrefix("<?xml") {
            guard let end = rest.range(of: "?>") else { return nil }
            rest = rest[end.upperBound...]
            skipSpace()
        }
        guard rest.hasPrefix("<xml>") else { return nil }
        rest = rest.dropFirst(5)
        var fields: [(String, String)] = []
        while true {
            skipSpace()
            if rest.hasPrefix("</xml>") {
                rest = rest.dropFirst(6)
                skipSpace()
                return rest.isEmpty ? WeChatXML(fields) : nil
            }
            guard rest.hasPrefix("<"), let close = rest.firstIndex(of: ">") else { return nil }
            let name = String(rest[rest.index(after: rest.startIndex)..<close])
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { return nil }
            rest = rest[rest.index(after: close)...]
            guard let end = rest.range(of: "</\(name)>") else { return nil }
            let inner = rest[..<end.lowerBound]
            rest = rest[end.upperBound...]
            guard let value = content(inner) else { return nil }
            fields.append((name, value))
        }
    }

    /// The text of an element: CDATA sections and escaped text joined; raw XML when it has child elements.
    private static func content(_ inner: Substring) -> String? {
        if inner.contains("<!DOCTYPE") || inner.contains("<!ENTITY") || inner.contains("<?") { return nil }
        var out = ""
        var rest = inner
        while !rest.isEmpty {
            if rest.hasPrefix("<![CDATA[") {
                guard let end = rest.range(of: "]]>") else { return nil }
                out += rest[rest.index(rest.startIndex, offsetBy: 9)..<end.lowerBound]
                rest = rest[end.upperBound...]
            } else if rest.hasPrefix("<") {
                // Child elements: keep the inner XML as it came (a nested reply the bot wrote).
                return String(inner).trimmingCharacters(in: .whitespacesAndNewlines)
            } else {
                let next = rest.range(of: "<")?.lowerBound ?? rest.endIndex
                guard let text = unescape(rest[..<next]) else { return nil }
                out += text
                rest = rest[next...]
            }
        }
        return out
    }

    static func unescape(_ text: Substring) -> String? {
        guard text.contains("&") else { return String(text) }
        var out = ""
        var rest = text
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            guard let semi = rest[amp...].firstIndex(of: ";") else { return nil }
            let entity = rest[rest.index(after: amp)..<semi]
            switch entity {
            case "lt": out += "<"
            case "gt": out += ">"
            case "amp": out += "&"
            case "quot": out += "\""
            case "apos": out += "'"
            default:
                let number = entity.hasPrefix("#x") ? UInt32(entity.dropFirst(2), radix: 16) : entity.hasPrefix("#") ? UInt32(entity.dropFirst()) : nil
                guard let number, let scalar = Unicode.Scalar(number) else { return nil }
                out.unicodeScalars.append(scalar)
            }
            rest = rest[rest.index(after: semi)...]
        }
        return out + rest
    }
}
