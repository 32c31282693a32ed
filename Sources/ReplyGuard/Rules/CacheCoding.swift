/// The binary form of the compiled-set cache (``CompiledSetCache``): a writer and a reader of plain
/// values. Integers are little-endian 64-bit unless an array of a fixed-width type is written whole;
/// strings are indexes into one string table (a rule set repeats its file paths and ids thousands of
/// times). The reader checks every length and index against what is left and throws
/// ``CacheFormatError`` on anything out of range: it never traps or reads past the buffer, whatever the
/// bytes.
struct CacheWriter {
    private(set) var bytes: [UInt8] = []
    private var stringIndex: [String: Int] = [:]
    private(set) var strings: [String] = []

    init() { bytes.reserveCapacity(1 << 22) }

    mutating func int(_ value: Int) { withUnsafeBytes(of: Int64(value).littleEndian) { bytes += $0 } }
    mutating func int32(_ value: Int32) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    mutating func uint64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    mutating func double(_ value: Double) { uint64(value.bitPattern) }
    mutating func bool(_ value: Bool) { bytes.append(value ? 1 : 0) }
    mutating func byte(_ value: UInt8) { bytes.append(value) }

    mutating func string(_ value: String) {
        if let index = stringIndex[value] { int(index); return }
        stringIndex[value] = strings.count
        int(strings.count)
        strings.append(value)
    }

    mutating func optional<T>(_ value: T?, _ body: (inout CacheWriter, T) -> Void) {
        bool(value != nil)
        if let value { body(&self, value) }
    }

    mutating func list<T>(_ values: [T], _ body: (inout CacheWriter, T) -> Void) {
        int(values.count)
        for value in values { body(&self, value) }
    }

    mutating func strings(_ values: [String]) { list(values) { $0.string($1) } }

    /// A dictionary in key order (the same set always gives the same bytes).
    mutating func map<V>(_ values: [String: V], _ body: (inout CacheWriter, V) -> Void) {
        list(values.sorted { $0.key < $1.key }) { writer, pair in
            writer.string(pair.key)
            body(&writer, pair.value)
        }
    }

    /// An array of a fixed-width plain type, element bytes as they are in memory (this machine's order:
    /// the cache is never moved between machines; its key names the binary).
    mutating func raw<T: BitwiseCopyable>(_ values: [T]) {
        int(values.count)
        values.withUnsafeBytes { bytes += $0 }
    }

    mutating func raw<T: BitwiseCopyable>(_ pointer: UnsafePointer<T>, count: Int) {
        int(count)
        bytes += UnsafeRawBufferPointer(start: pointer, count: count * MemoryLayout<T>.stride)
    }

    mutating func bools(_ values: [Bool]) { raw(values.map { $0 ? UInt8(1) : 0 }) }

    /// The string table followed by the body: what ``CacheReader`` reads.
    func finished() -> [UInt8] {
        var table = CacheWriter()
        table.int(strings.count)
        for string in strings {
            table.int(string.utf8.count)
            table.bytes += string.utf8
        }
        return table.bytes + bytes
    }
}

/// A damaged or foreign cache file: the loader then compiles from source.
struct CacheFormatError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

struct CacheReader {
    private let buffer: UnsafeRawBufferPointer
    private(set) var offset: Int
    private var table: [String] = []

    /// Reads the string table at `offset`; the body follows.
    init(_ buffer: UnsafeRawBufferPointer, offset: Int = 0) throws(CacheFormatError) {
        self.buffer = buffer
        self.offset = offset
        let count = try self.count(minimumBytesEach: 8)
        table.reserveCapacity(count)
        for _ in 0..<count {
            let length = try self.count(minimumBytesEach: 1)
            let start = self.offset
            self.offset += length
            table.append(String(decoding: UnsafeRawBufferPointer(rebasing: buffer[start..<start + length]), as: UTF8.self))
        }
    }

    var isAtEnd: Bool { offset == buffer.count }

    private mutating func take(_ size: Int) throws(CacheFormatError) -> Int {
        guard size >= 0, size <= buffer.count - offset else { throw CacheFormatError("truncated at byte \(offset)") }
        defer { offset += size }
        return offset
    }

    mutating func uint64() throws(CacheFormatError) -> UInt64 {
        let at = try take(8)
        return UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: at, as: UInt64.self))
    }

    mutating func int() throws(CacheFormatError) -> Int {
        let value = Int64(bitPattern: try uint64())
        guard let result = Int(exactly: value) else { throw CacheFormatError("integer out of range") }
        return result
    }

    mutating func int32() throws(CacheFormatError) -> Int32 {
        let at = try take(4)
        return Int32(littleEndian: buffer.loadUnaligned(fromByteOffset: at, as: Int32.self))
    }

    mutating func double() throws(CacheFormatError) -> Double { Double(bitPattern: try uint64()) }

    mutating func byte() throws(CacheFormatError) -> UInt8 {
        let at = try take(1)
        return buffer[at]
    }

    mutating func bool() throws(CacheFormatError) -> Bool {
        switch try byte() {
        case 0: return false
        case 1: return true
        default: throw CacheFormatError("bad flag at byte \(offset - 1)")
        }
    }

    /// A count of items that each take at least `minimumBytesEach` bytes: never more than what is left
    /// could hold (a damaged count cannot make the reader reserve gigabytes).
    mutating func count(minimumBytesEach: Int) throws(CacheFormatError) -> Int {
        let value = try int()
        guard value >= 0, value <= (buffer.count - offset) / max(1, minimumBytesEach) else { throw CacheFormatError("bad count at byte \(offset - 8)") }
        return value
    }

    /// An index in `0..<limit`.
    mutating func index(below limit: Int) throws(CacheFormatError) -> Int {
        let value = try int()
        guard value >= 0, value < limit else { throw CacheFormatError("index out of range at byte \(offset - 8)") }
        return value
    }

    mutating func string() throws(CacheFormatError) -> String {
        let at = try index(below: table.count)
        return table[at]
    }

    mutating func optional<T>(_ body: (inout CacheReader) throws(CacheFormatError) -> T) throws(CacheFormatError) -> T? {
        try bool() ? try body(&self) : nil
    }

    mutating func list<T>(_ body: (inout CacheReader) throws(CacheFormatError) -> T) throws(CacheFormatError) -> [T] {
        let count = try self.count(minimumBytesEach: 1)
        var result: [T] = []
        result.reserveCapacity(count)
        for _ in 0..<count { result.append(try body(&self)) }
        return result
    }

    mutating func strings() throws(CacheFormatError) -> [String] { try list { reader throws(CacheFormatError) in try reader.string() } }

    mutating func map<V>(_ body: (inout CacheReader) throws(CacheFormatError) -> V) throws(CacheFormatError) -> [String: V] {
        let count = try self.count(minimumBytesEach: 9)
        var result: [String: V] = [:]
        result.reserveCapacity(count)
        for _ in 0..<count {
            let key = try string()
            result[key] = try body(&self)
        }
        return result
    }

    mutating func raw<T: BitwiseCopyable>(_: T.Type = T.self) throws(CacheFormatError) -> [T] {
        let count = try self.count(minimumBytesEach: MemoryLayout<T>.stride)
        let at = try take(count * MemoryLayout<T>.stride)
        return [T](unsafeUninitializedCapacity: count) { destination, initialized in
            if count > 0 {
                UnsafeMutableRawPointer(destination.baseAddress!).copyMemory(from: buffer.baseAddress! + at, byteCount: count * MemoryLayout<T>.stride)
            }
            initialized = count
        }
    }

    mutating func bools() throws(CacheFormatError) -> [Bool] {
        let values: [UInt8] = try raw()
        guard values.allSatisfy({ $0 <= 1 }) else { throw CacheFormatError("bad flag") }
        return values.map { $0 != 0 }
    }

    /// A raw value such as `Verdict` from its string form.
    mutating func value<T: RawRepresentable>(_: T.Type = T.self) throws(CacheFormatError) -> T where T.RawValue == String {
        let raw = try string()
        guard let value = T(rawValue: raw) else { throw CacheFormatError("unknown \(T.self) '\(raw)'") }
        return value
    }
}

extension CacheWriter {
    mutating func range(_ value: Range<Int>) {
        int(value.lowerBound)
        int(value.upperBound)
    }
}

extension CacheReader {
    mutating func range() throws(CacheFormatError) -> Range<Int> {
        let lower = try int(), upper = try int()
        guard lower >= 0, lower <= upper else { throw CacheFormatError("bad range") }
        return lower..<upper
    }
}
