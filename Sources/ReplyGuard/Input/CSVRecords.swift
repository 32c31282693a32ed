/// Splits a CSV byte stream (RFC 4180) into records however it is chunked: a record ends at a line end
/// outside quotes, so quoted fields may contain commas, quotes (`""`) and line breaks. Reports each
/// record with the 1-based line on which it starts.
public struct CSVRecordFramer {
    private var pending: [UInt8] = []
    private var inQuotes = false
    private var line = 1
    private var recordLine = 1

    public init() {}

    public mutating func feed(_ chunk: UnsafeBufferPointer<UInt8>, _ record: (UnsafeBufferPointer<UInt8>, Int) -> Void) {
        var start = 0
        for i in 0..<chunk.count {
            let byte = chunk[i]
            if byte == 0x22 { inQuotes.toggle(); continue }
            guard byte == 0x0A else { continue }
            line += 1
            if inQuotes { continue }
            pending.append(contentsOf: chunk[start..<i])
            if pending.last == 0x0D { pending.removeLast() }
            pending.withUnsafeBufferPointer { record($0, recordLine) }
            pending.removeAll(keepingCapacity: pending.count < 1 << 20)
            recordLine = line
            start = i + 1
        }
        pending.append(contentsOf: chunk[start...])
    }

    /// Delivers a last record without a line end (an unterminated quote ends it too).
    public mutating func finish(_ record: (UnsafeBufferPointer<UInt8>, Int) -> Void) {
        guard !pending.isEmpty else { return }
        if pending.last == 0x0D { pending.removeLast() }
        pending.withUnsafeBufferPointer { record($0, recordLine) }
        pending.removeAll()
    }
}

/// Splits one CSV record into its fields, unquoting `"…"` and `""`.
public enum CSVFields {
    public static func split(_ record: UnsafeBufferPointer<UInt8>) -> [[UInt8]] {
        var fields: [[UInt8]] = []
        var field: [UInt8] = []
        var inQuotes = false
        var i = 0
        while i < record.count {
            let byte = record[i]
            if inQuotes {
                if byte == 0x22 {
                    if i + 1 < record.count && record[i + 1] == 0x22 { field.append(0x22); i += 1 } else { inQuotes = false }
                } else {
                    field.append(byte)
                }
            } else if byte == 0x22 && field.isEmpty {
                inQuotes = true
            } else if byte == 0x2C {
                fields.append(field)
                field.removeAll()
            } else {
                field.append(byte)
            }
            i += 1
        }
        fields.append(field)
        return fields
    }
}
