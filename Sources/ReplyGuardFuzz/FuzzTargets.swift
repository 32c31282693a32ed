// Fuzz targets (issue 12): the normalizer with its offset map and the prefilters, the JSON field locator,
// the CSV reader, the rule loader, the line framer, the compiled-set cache's decoder. Built with libFuzzer by Scripts/fuzz
// (`swift build -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING --product replyguard-fuzz`); the
// target is chosen by REPLYGUARD_FUZZ_TARGET. A plain build is a replayer: `replyguard-fuzz TARGET FILE…`
// runs one target over saved inputs (a seed corpus, a crash file) without libFuzzer.
import Foundation
import ReplyGuard

enum FuzzTarget: String, CaseIterable {
    case normalizer, json, csv, rules, framer, cache
}

/// Stops the process when an invariant fails (libFuzzer saves the input that did it).
func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() {
        FileHandle.standardError.write(Data(("invariant failed: " + message() + "\n").utf8))
        abort()
    }
}

/// The shipped packs with the prefilters on and off (loaded once per process).
let rulesDirectory = ProcessInfo.processInfo.environment["REPLYGUARD_RULES"] ?? "rules"
let engines: (on: Engine, off: Engine) = {
    do {
        var off = EngineOptions()
        off.prefilter = false
        return (try Engine(rulesDirectory: rulesDirectory), try Engine(rulesDirectory: rulesDirectory, options: off))
    } catch {
        FileHandle.standardError.write(Data("cannot load \(rulesDirectory): \(error)\n".utf8))
        exit(2)
    }
}()
nonisolated(unsafe) let scanners = (on: engines.on.makeScanner(), off: engines.off.makeScanner())
let scratchRules: String = {
    let dir = NSTemporaryDirectory() + "replyguard-fuzz-\(getpid())"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}()

func run(_ target: FuzzTarget, _ bytes: UnsafeBufferPointer<UInt8>) {
    switch target {
    case .normalizer: fuzzNormalizer(bytes)
    case .json: fuzzJSON(bytes)
    case .csv: fuzzCSV(bytes)
    case .rules: fuzzRules(bytes)
    case .framer: fuzzFramer(bytes)
    case .cache: fuzzCache(bytes)
    }
}

/// Normalization's maps stay inside the message and in order; every hit's span maps back to the
/// original (scalar and byte offsets agree, `match` is those bytes); decisions are the same with the
/// prefilters on and off.
func fuzzNormalizer(_ bytes: UnsafeBufferPointer<UInt8>) {
    var text = NormalizedText()
    Normalizer().normalize(bytes, into: &text)
    let count = text.originalScalarCount
    check(text.scalarByteOffsets.first == 0 && text.scalarByteOffsets.last == Int32(bytes.count), "byte offsets cover the message")
    check(zip(text.scalarByteOffsets, text.scalarByteOffsets.dropFirst()).allSatisfy { $0 < $1 }, "byte offsets increase")
    check(text.kept.count == text.keptOrigin.count && text.kept.count == text.gaps.count, "kept arrays agree")
    check(zip(text.keptOrigin, text.keptOrigin.dropFirst()).allSatisfy { $0 <= $1 }, "kept origins never go back")
    check(text.keptOrigin.allSatisfy { $0 >= 0 && Int($0) < count }, "kept origins inside the message")
    let a = scanners.on.decide(bytes, id: .string("-")), b = scanners.off.decide(bytes, id: .string("-"))
    check(a.verdict == b.verdict && a.hits == b.hits, "prefilters on and off agree: \(a.verdict) vs \(b.verdict)")
    for hit in a.hits {
        check(0 <= hit.start && hit.start <= hit.end && hit.end <= count, "hit inside the message")
        check(hit.byteStart == Int(text.scalarByteOffsets[hit.start]) && hit.byteEnd == Int(text.scalarByteOffsets[hit.end]), "hit bytes match its scalars")
        check(hit.match == String(decoding: UnsafeBufferPointer(rebasing: bytes[hit.byteStart..<hit.byteEnd]), as: UTF8.self), "hit text is the original")
    }
}

/// Located values lie inside the line, each starting after the previous field's; a string value decodes
/// or is rejected, never crashes. The repeated-key check never crashes; when it finds every key unique in
/// a document Foundation parses, no object there names two keys with the same Unicode scalars (escapes
/// undone); a key written twice, or once escaped, is reported (the input as the key).
func fuzzJSON(_ bytes: UnsafeBufferPointer<UInt8>) {
    fuzzRepeatedKey(bytes)
    var repeated: Int?
    guard let ranges = JSONFieldLocator.valueRanges(of: ["text", "id"], in: bytes, repeated: &repeated) else { return }
    for case let range? in ranges {
        check(range.lowerBound >= 0 && range.upperBound <= bytes.count && range.lowerBound < range.upperBound, "value range inside the line")
        let literal = Array(bytes[range])
        if literal.first == UInt8(ascii: "\"") { _ = JSONStringDecoder.decode(literal) }
    }
}

/// The repeated-key half of ``fuzzJSON``: the input as a document, then as a key.
func fuzzRepeatedKey(_ bytes: UnsafeBufferPointer<UInt8>) {
    if JSONFieldLocator.repeatedKey(in: bytes) == .unique, (try? JSONSerialization.jsonObject(with: Data(bytes))) != nil,
       let objects = objectKeys(bytes) {
        for keys in objects { check(Set(keys).count == keys.count, "repeatedKey found no repeated key in \(keys)") }
    }
    // The input as a key (when it can stand between quotes as it is).
    guard bytes.count <= 64, let key = String(validating: bytes, as: UTF8.self), !key.isEmpty,
          !key.unicodeScalars.contains(where: { $0 == "\"" || $0 == "\\" || $0.value < 0x20 }) else { return }
    let first = key.unicodeScalars.first!
    let escaped = String(first).utf16.map { "\\u" + String(String(0x10000 + UInt32($0), radix: 16).dropFirst()) }.joined() + String(key.unicodeScalars.dropFirst())
    func verdict(_ json: String) -> JSONKeyCheck { JSONFieldLocator.repeatedKey(in: Array(json.utf8)) }
    check(verdict(#"{"\#(key)":1,"\#(key)":2}"#) == .repeated(key), "a key written twice is reported")
    check(verdict(#"[0,{"a":{"\#(key)":[],"b":null,"\#(escaped)":{}}}]"#) == .repeated(key), "a key written twice, once escaped, is reported")
    check(verdict(#"{"\#(key)":1,"\#(key)x":{"\#(key)":2}}"#) == .unique, "distinct keys are unique")
}

/// The keys of every object in `json` (one JSON value), each as Unicode scalar values with escapes undone
/// (a `\u` escape of a lone surrogate kept as its value); nil when the bytes are not plain UTF-8 JSON.
/// A reference for ``fuzzRepeatedKey``: read independently of ``JSONFieldLocator``.
func objectKeys(_ json: UnsafeBufferPointer<UInt8>) -> [[[UInt32]]]? {
    var i = 0
    let n = json.count
    var objects: [[[UInt32]]] = []
    func space() { while i < n, json[i] == 0x20 || json[i] == 0x09 || json[i] == 0x0A || json[i] == 0x0D { i += 1 } }
    func hex4(_ at: Int) -> UInt32? {
        guard at + 4 <= n else { return nil }
        var value: UInt32 = 0
        for byte in json[at..<at + 4] {
            guard let digit = Character(Unicode.Scalar(byte)).hexDigitValue else { return nil }
            value = value << 4 | UInt32(digit)
        }
        return value
    }
    func string() -> [UInt32]? {
        guard i < n, json[i] == 0x22 else { return nil }
        i += 1
        var out: [UInt32] = [], raw: [UInt8] = []
        func flush() { out += String(decoding: raw, as: UTF8.self).unicodeScalars.map(\.value); raw = [] }
        while i < n {
            let byte = json[i]
            if byte == 0x22 { i += 1; flush(); return out }
            guard byte == 0x5C else { raw.append(byte); i += 1; continue }
            flush()
            guard i + 1 < n else { return nil }
            let escape = json[i + 1]
            i += 2
            switch escape {
            case 0x75:
                guard var value = hex4(i) else { return nil }
                i += 4
                if (0xD800...0xDBFF).contains(value), i + 1 < n, json[i] == 0x5C, json[i + 1] == 0x75, let low = hex4(i + 2), (0xDC00...0xDFFF).contains(low) {
                    value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
                }
                out.append(value)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0C)
            case 0x6E: out.append(0x0A)
            case 0x72: out.append(0x0D)
            case 0x74: out.append(0x09)
            case 0x22, 0x5C, 0x2F: out.append(UInt32(escape))
            default: return nil
            }
        }
        return nil
    }
    func value() -> Bool {
        space()
        guard i < n else { return false }
        switch json[i] {
        case 0x7B, 0x5B:
            let isObject = json[i] == 0x7B, close: UInt8 = isObject ? 0x7D : 0x5D
            i += 1
            var keys: [[UInt32]] = []
            space()
            if i < n, json[i] == close {
                i += 1
            } else {
                while true {
                    if isObject {
                        space()
                        guard let key = string() else { return false }
                        keys.append(key)
                        space()
                        guard i < n, json[i] == 0x3A else { return false }
                        i += 1
                    }
                    guard value() else { return false }
                    space()
                    guard i < n else { return false }
                    if json[i] == 0x2C { i += 1; continue }
                    guard json[i] == close else { return false }
                    i += 1
                    break
                }
            }
            if isObject { objects.append(keys) }
            return true
        case 0x22:
            return string() != nil
        default:
            let start = i
            while i < n, ![0x2C, 0x7D, 0x5D, 0x20, 0x09, 0x0A, 0x0D, 0x3A, 0x22, 0x7B, 0x5B].contains(json[i]) { i += 1 }
            return i > start
        }
    }
    guard value() else { return nil }
    space()
    return i == n ? objects : nil
}

/// Feeding the same bytes in one chunk or in two gives the same records (and the same error); fields split.
func fuzzCSV(_ bytes: UnsafeBufferPointer<UInt8>) {
    func records(splitAt cut: Int) -> ([[UInt8]], String?) {
        var framer = CSVRecordFramer(maxLength: 1 << 16)
        var out: [[UInt8]] = []
        framer.feed(UnsafeBufferPointer(rebasing: bytes[..<cut])) { record, _, _ in out.append(Array(record)) }
        framer.feed(UnsafeBufferPointer(rebasing: bytes[cut...])) { record, _, _ in out.append(Array(record)) }
        framer.finish { record, _, _ in out.append(Array(record)) }
        return (out, framer.error.map { "\($0.line): \($0.message)" })
    }
    let whole = records(splitAt: bytes.count), split = records(splitAt: bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1))
    check(whole.0 == split.0 && whole.1 == split.1, "CSV records do not depend on chunking")
    for record in whole.0 { record.withUnsafeBufferPointer { _ = CSVFields.split($0) } }
}

/// A pack file either loads and decides its examples' texts, or is rejected with problems; never crashes.
func fuzzRules(_ bytes: UnsafeBufferPointer<UInt8>) {
    let path = scratchRules + "/t.yaml"
    guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { return }
    do {
        let set = try RuleLoader.load(rulesDirectory: scratchRules)
        let engine = Engine(ruleSet: set)
        for rule in engine.rules { for example in rule.examples { _ = engine.decide(example.marked) } }
    } catch {
        check(!error.problems.isEmpty, "a rejected pack names its problems")
    }
}

/// Lines framed from one chunk or from three are the same.
func fuzzFramer(_ bytes: UnsafeBufferPointer<UInt8>) {
    func lines(_ cuts: [Int]) -> [[UInt8]] {
        var framer = LineFramer(maxLength: 64)
        var out: [[UInt8]] = []
        var start = 0
        for cut in cuts + [bytes.count] {
            framer.feed(UnsafeBufferPointer(rebasing: bytes[start..<cut])) { out.append(Array($0)) }
            start = cut
        }
        framer.finishLines { out.append(Array($0)) }
        return out
    }
    let n = bytes.count
    let a = n == 0 ? 0 : Int(bytes[0]) % (n + 1), b = n == 0 ? 0 : Int(bytes[n - 1]) % (n + 1)
    check(lines([]) == lines([min(a, b), max(a, b)]), "lines do not depend on chunking")
}

/// The compiled-set cache body of the shipped packs (built once per process).
let cacheBody: [UInt8] = {
    guard let body = CompiledSetCache.body(of: engines.on) else {
        FileHandle.standardError.write(Data("cannot encode the compiled set\n".utf8))
        exit(2)
    }
    return body
}()

/// A compiled-set cache file damaged as the input says — its first four bytes give the length to keep
/// (modulo the body's length + 1; FF FF FF FF or fewer than four bytes keep it whole), each following four bytes a
/// 3-byte offset (modulo the kept length) and a byte to XOR in — decodes to an engine or is refused;
/// never crashes. An undamaged body decodes to the engine it was written from.
func fuzzCache(_ bytes: UnsafeBufferPointer<UInt8>) {
    var body = cacheBody
    var damaged = false
    if bytes.count >= 4 {
        let length = UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24
        let keep = length == .max ? body.count : Int(length) % (body.count + 1)
        damaged = keep != body.count
        body.removeLast(body.count - keep)
        var i = 4
        while i + 4 <= bytes.count, !body.isEmpty {
            let offset = Int(UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16) % body.count
            body[offset] ^= bytes[i + 3]
            damaged = damaged || bytes[i + 3] != 0
            i += 4
        }
    }
    let engine = CompiledSetCache.engine(fromBody: body)
    if !damaged {
        check(engine != nil, "an undamaged body decodes")
        check(engine?.rules.map(\.id) == engines.on.rules.map(\.id) && engine?.ruleSet.digest == engines.on.ruleSet.digest, "the same rule set")
    }
}

#if FUZZING
let fuzzTarget: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["REPLYGUARD_FUZZ_TARGET"] ?? "normalizer"
    guard let target = FuzzTarget(rawValue: name) else { fatalError("unknown REPLYGUARD_FUZZ_TARGET \(name)") }
    if target == .normalizer { _ = engines }
    if target == .cache { _ = cacheBody }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    run(fuzzTarget, UnsafeBufferPointer(start: data, count: size))
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// SwiftPM links an executable's entry point under this name; libFuzzer's driver takes over from here.
@_cdecl("replyguard_fuzz_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc, argv = argv
    return runFuzzerDriver(&argc, &argv) { data, size in fuzzOne(data, size) }
}
#else
@main
struct Replay {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        guard let name = arguments.first, let target = FuzzTarget(rawValue: name) else {
            print("usage: replyguard-fuzz \(FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")) FILE|DIR…")
            exit(2)
        }
        var count = 0
        for path in arguments.dropFirst() {
            var isDirectory: ObjCBool = false
            FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            let files = isDirectory.boolValue
                ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().map { path + "/" + $0 } : [path]
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else { continue }
                data.withUnsafeBytes { run(target, $0.bindMemory(to: UInt8.self)) }
                count += 1
            }
        }
        print("\(name): \(count) inputs, no invariant failed")
    }
}
#endif
