/// Splits a CSV byte stream (RFC 4180) into records however it is chunked: a record ends at a line end
/// outside quotes, so quoted fields may contain commas, quotes (`""`) and line breaks. Reports each
/// record with the 1-based line on which it starts.
///
/// Bad quoting is an error, not a guess: a quote inside an unquoted field, text after a closing quote,
/// or a quote that never closes (which would swallow every later row into one field). After an error
/// (``error``) nothing more is delivered.
///
/// A record longer than `maxLength` bytes is delivered as its first `maxLength` bytes with its whole
/// length (memory stays bounded by the limit).
public struct CSVRecordFramer {
    private enum State { case fieldStart, unquoted, quoted, closed }
    private var pending: BoundedLine
    private var state = State.fieldStart
    private var line = 1
    private var recordLine = 1
    private var quoteLine = 1
    /// Why the input is not valid CSV, with the line where the problem is.
    public private(set) var error: (line: Int, message: String)?

    public init(maxLength: Int = .max) {
        pending = BoundedLine(limit: maxLength)
    }

    /// Calls `record(bytes, line, nil)` for each complete record, or `record(prefix, line, length)` for
    /// one longer than the limit.
    package mutating func feed(_ chunk: UnsafeBufferPointer<UInt8>, _ record: (UnsafeBufferPointer<UInt8>, Int, Int?) -> Void) {
        guard error == nil else { return }
        var start = 0
        for i in 0..<chunk.count {
            let byte = chunk[i]
            switch state {
            case .fieldStart:
                if byte == 0x22 { state = .quoted; quoteLine = line; continue }
                if byte == 0x2C { continue }
                if byte != 0x0A { state = .unquoted; continue }
            case .unquoted:
                if byte == 0x22 {
                    error = (line, "a quote inside an unquoted field; quote the whole field and double the quotes in it (\"a\"\"b\")")
                    return
                }
                if byte == 0x2C { state = .fieldStart; continue }
                if byte != 0x0A { continue }
            case .quoted:
                if byte == 0x22 { state = .closed } else if byte == 0x0A { line += 1 }
                continue
            case .closed:
                if byte == 0x22 { state = .quoted; continue } // "" inside a quoted field
                if byte == 0x2C { state = .fieldStart; continue }
                if byte == 0x0D { continue }
                if byte != 0x0A {
                    error = (line, "text after the closing quote of a field; a quote inside a quoted field is written \"\"")
                    return
                }
            }
            // A line end outside quotes ends the record.
            line += 1
            state = .fieldStart
            pending.append(UnsafeBufferPointer(rebasing: chunk[start..<i]))
            let first = recordLine
            pending.deliver { record($0, first, $1) }
            recordLine = line
            start = i + 1
        }
        pending.append(UnsafeBufferPointer(rebasing: chunk[start...]))
    }

    /// Delivers a last record without a line end; a quote still open at the end is an error instead.
    package mutating func finish(_ record: (UnsafeBufferPointer<UInt8>, Int, Int?) -> Void) {
        guard error == nil else { return }
        if state == .quoted {
            error = (quoteLine, "unterminated quoted field: the quote opened here never closes, so every later row would be read as part of it")
            return
        }
        guard !pending.isEmpty else { return }
        let first = recordLine
        pending.deliver { record($0, first, $1) }
    }
}

/// Splits one CSV record into its fields, unquoting `"…"` and `""`.
public enum CSVFields {
    package static func split(_ record: UnsafeBufferPointer<UInt8>) -> [[UInt8]] {
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
