import Foundation

// replyguard-embed-rules RULES_DIR OUTPUT.swift
//
// Writes every regular file under RULES_DIR (recursively; hidden files and directories skipped) into one
// Swift source as `EmbeddedRulesData.files`: (relative path, encoding, contents) with the contents as one
// string literal per file — UTF-8 text escaped (`\\`, `\"`, control characters), anything else base64.
// String literals, not array literals: 4 MB of text compiles in seconds, the same bytes as `[UInt8]`
// literals would take minutes and gigabytes. The build tool plugin `EmbedRules` runs this at build time.

let arguments = CommandLine.arguments
guard arguments.count == 3 else {
    FileHandle.standardError.write(Data("usage: replyguard-embed-rules RULES_DIR OUTPUT.swift\n".utf8))
    exit(64)
}
let root = URL(fileURLWithPath: arguments[1]).standardizedFileURL
let outputPath = arguments[2]

func die(_ message: String) -> Never {
    FileHandle.standardError.write(Data("replyguard-embed-rules: \(message)\n".utf8))
    exit(1)
}

var isDirectory: ObjCBool = false
guard FileManager.default.fileExists(atPath: root.path, isDirectory: &isDirectory), isDirectory.boolValue else {
    die("\(root.path): not a directory")
}
guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey], options: [.skipsHiddenFiles]) else {
    die("\(root.path): cannot list")
}
var files: [(path: String, url: URL)] = []
for case let url as URL in walker where (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
    let full = url.standardizedFileURL.path
    guard full.hasPrefix(root.path + "/") else { die("\(full) is outside \(root.path)") }
    files.append((String(full.dropFirst(root.path.count + 1)), url))
}
files.sort { $0.path < $1.path }

/// `bytes` as the body of a Swift string literal, or nil when they are not UTF-8.
func escaped(_ bytes: [UInt8]) -> String? {
    guard let text = String(validating: bytes, as: UTF8.self) else { return nil }
    var out = ""
    out.reserveCapacity(bytes.count + bytes.count / 16)
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\\": out += "\\\\"
        case "\"": out += "\\\""
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            // Control characters, and bidi or line/paragraph separators that would confuse a reader of the
            // generated file, as \u{…}; everything else as written.
            if scalar.value < 0x20 || scalar.value == 0x7F || (0x80...0x9F).contains(scalar.value)
                || (0x2028...0x2029).contains(scalar.value) || (0x202A...0x202E).contains(scalar.value) || (0x2066...0x2069).contains(scalar.value) {
                out += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out
}

func swiftStringLiteral(_ text: String) -> String {
    "\"" + (escaped(Array(text.utf8)) ?? "") + "\""
}

var source = """
// Generated at build time by replyguard-embed-rules from rules/ (the EmbedRules plugin); do not edit.

/// The shipped rule set, byte for byte: every file under `rules/` when this binary was built.
public enum EmbeddedRulesData {
    /// How a file's contents are written in the literal.
    public enum Encoding: Sendable { case utf8, base64 }

    /// (path relative to `rules/`, encoding, contents), sorted by path.
    public static let files: [(path: String, encoding: Encoding, contents: StaticString)] = [

"""
var total = 0
for file in files {
    guard let data = FileManager.default.contents(atPath: file.url.path) else { die("\(file.url.path): cannot read") }
    let bytes = [UInt8](data)
    total += bytes.count
    if let text = escaped(bytes) {
        source += "        (\(swiftStringLiteral(file.path)), .utf8, \"\(text)\"),\n"
    } else {
        source += "        (\(swiftStringLiteral(file.path)), .base64, \"\(data.base64EncodedString())\"),\n"
    }
}
source += """
    ]
}

"""
// Written only when different, so an unchanged rule set does not recompile the target.
let existing = FileManager.default.contents(atPath: outputPath)
if existing != Data(source.utf8) {
    do { try Data(source.utf8).write(to: URL(fileURLWithPath: outputPath), options: .atomic) } catch { die("\(outputPath): cannot write") }
}
