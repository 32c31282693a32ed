import Foundation

/// Options of a ``BatchScanner``.
public struct BatchOptions: Sendable {
    /// Matching threads.
    public var jobs = ProcessInfo.processInfo.activeProcessorCount
    /// JSON field or CSV column holding the text, and the id.
    public var textField = "text"
    public var idField = "id"
    /// A longer message is escalated unchecked, as an error (memory stays bounded by the limit).
    public var maxMessageBytes = 4 << 20
    /// Hand only escalated, masked and blocked messages to the sink (all are counted).
    public var onlyFlagged = false

    public init() {}
}

/// What went wrong with one input; the rest of the run goes on.
public struct BatchInputError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// Decides every message of many inputs on `jobs` threads — ordered (results come out in input order),
/// bounded (memory stays within a few batches per thread whatever the input size), parallel — and writes
/// each through a ``DecisionSink``. `scan` is a driver of it; so can any embedder be.
///
/// Plain text is one message per line (blank lines skipped), JSON Lines and CSV (with a header row)
/// take the text and id from the named field or column; a message's id defaults to `file:line`.
public final class BatchScanner {
    public let engine: Engine
    public let options: BatchOptions
    private let pipeline: ScanPipeline
    private let output: ([UInt8]) -> Void
    /// The sink and the counts, kept by the writer thread.
    private let box: SummaryBox
    private var sequence = 0
    private var consumedBefore = 0
    private let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 1 << 20)

    /// - Parameters:
    ///   - output: writes rendered bytes, in input order, on the writer thread.
    ///   - progress: called on the writer thread after each batch with the input bytes consumed so far
    ///     and the messages decided.
    public init(engine: Engine, options: BatchOptions, sink: DecisionSink, output: @escaping ([UInt8]) -> Void,
                progress: ((Int, Int) -> Void)? = nil) {
        self.engine = engine
        self.options = options
        self.output = output
        let box = SummaryBox(sink: sink)
        self.box = box
        pipeline = ScanPipeline(jobs: options.jobs, engine: engine, process: { batch, scanner in
            BatchScanner.process(batch, scanner: scanner, sink: sink, options: options)
        }, write: { batch in
            output(batch.output)
            box.summary.merge(batch.summary)
            for (decision, line) in batch.findings { box.sink.collect(decision, file: batch.file, line: line, format: batch.format) }
            progress?(batch.progressBytes, box.summary.messages)
        })
    }

    deinit { buffer.deallocate() }

    /// The format an input's name implies: `*.jsonl`/`*.ndjson` JSON Lines, `*.csv` CSV, else plain text
    /// (a `.gz` suffix is looked through).
    public static func format(of source: InputSource) -> InputFormat {
        let name = source.logicalName
        return name.hasSuffix(".jsonl") || name.hasSuffix(".ndjson") ? .jsonl : name.hasSuffix(".csv") ? .csv : .text
    }

    /// Reads `source` to its end and submits its messages. Throws ``BatchInputError`` (after submitting
    /// the messages before the problem) when the input cannot be read or framed: a read error, a
    /// truncated gzip file, bad CSV quoting, a CSV without the text column; the caller reports it and
    /// goes on with the next input.
    public func scan(_ source: InputSource, format: InputFormat) throws {
        let name = source.name
        let (textField, idField, maxMessage) = (options.textField, options.idField, options.maxMessageBytes)
        var columns: (Int, Int?)?
        var batch: ScanBatch?
        var problem: String?
        defer {
            consumedBefore += source.size ?? 0
            if let last = batch {
                last.progressBytes = consumedBefore
                submit(last)
            }
        }
        /// A message longer than the limit: its own batch (after what came before), one error record.
        func addOverlong(line: Int, length: Int) {
            if let current = batch { submit(current); batch = nil }
            let single = ScanBatch(sequence: sequence, file: name, format: format, csvColumns: columns ?? (0, nil))
            single.overlong = (line, length)
            single.progressBytes = consumedBefore + source.consumed
            submit(single)
        }
        func add(_ record: UnsafeBufferPointer<UInt8>, _ line: Int, _ overlong: Int?) -> Bool {
            if let overlong {
                if format == .csv && columns == nil {
                    problem = "\(name): the header row is \(overlong) bytes, longer than the maximum message size"
                    return false
                }
                addOverlong(line: line, length: overlong)
                return true
            }
            if format == .text && record.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return true }
            if format == .csv && columns == nil {
                let header = CSVFields.split(record).map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespaces) }
                guard let text = header.firstIndex(of: textField) else {
                    problem = "\(name) has no column '\(textField)' (columns: \(header.joined(separator: ", "))); use --text-field"
                    return false
                }
                columns = (text, header.firstIndex(of: idField))
                return true
            }
            let current = batch ?? ScanBatch(sequence: sequence, file: name, format: format, csvColumns: columns ?? (0, nil))
            batch = current
            current.append(record, line: line)
            if current.isFull {
                current.progressBytes = consumedBefore + source.consumed
                submit(current)
                batch = nil
            }
            return true
        }
        do {
            if format == .csv {
                var ok = true
                var framer = CSVRecordFramer(maxLength: maxMessage)
                while ok, framer.error == nil, case let n = try source.read(into: buffer), n > 0 {
                    framer.feed(UnsafeBufferPointer(rebasing: buffer[0..<n])) { record, line, overlong in if ok { ok = add(record, line, overlong) } }
                }
                if ok { framer.finish { record, line, overlong in _ = add(record, line, overlong) } }
                if let error = framer.error {
                    // Records before the problem are reported; the rest of the file is not read.
                    problem = "\(name):\(error.line): \(error.message); the rest of the file was not scanned"
                }
            } else {
                // Text and JSON Lines: cut the input into batches at line ends; the workers split the lines.
                try BatchScanner.readChunks(source, maxLine: maxMessage, { data, first in
                    let chunk = ScanBatch(sequence: sequence, file: name, format: format, csvColumns: (0, nil))
                    chunk.data = data
                    chunk.firstLine = first
                    chunk.progressBytes = consumedBefore + source.consumed
                    submit(chunk)
                }, overlong: { line, length in addOverlong(line: line, length: length) })
            }
        } catch {
            problem = "\(name): \(RuleFiles.plainReason(error))"
        }
        if let problem { throw BatchInputError(message: problem) }
    }

    private func submit(_ batch: ScanBatch) {
        pipeline.submit(batch)
        sequence += 1
    }

    /// No more inputs: waits for every result, writes the sink's closing document, and returns the
    /// counts.
    public func finish() -> ScanSummary {
        pipeline.finish()
        output(box.sink.finish(summary: box.summary))
        return box.summary
    }

    /// About this many bytes of input per batch of lines.
    static let chunkBytes = 1 << 17

    /// Reads `source` in pieces of about ``chunkBytes`` and calls `batch(lines, firstLine)` with the
    /// whole lines of each, the first being line `firstLine`. A line longer than a piece waits for its
    /// end, up to `maxLine` bytes; a longer one is read to its end without being kept and reported as
    /// `overlong(line, length)` (memory stays bounded by the limit); the last line may lack its `\n`.
    static func readChunks(_ source: InputSource, maxLine: Int, _ batch: ([UInt8], Int) -> Void,
                           overlong: (Int, Int) -> Void) throws {
        var carry: [UInt8] = []
        var line = 1
        while true {
            let room = max(chunkBytes, carry.count) // double the buffer while one line fills it
            var read = 0, atEnd = false
            var data = try [UInt8](unsafeUninitializedCapacity: carry.count + room) { buffer, count in
                _ = buffer.initialize(fromContentsOf: carry)
                count = carry.count
                // Fill the piece (pipes and gzip hand out less per call) unless the input ends.
                while count < buffer.count {
                    let n = try source.read(into: UnsafeMutableBufferPointer(rebasing: buffer[count...]))
                    if n == 0 { atEnd = true; break }
                    count += n
                    read += n
                }
            }
            if atEnd && read == 0 {
                if !data.isEmpty { batch(data, line) }
                return
            }
            // The piece ends after its last `\n` (the carry before it has none).
            let end = data.withUnsafeBufferPointer { bytes -> Int in
                var i = bytes.count
                while i > carry.count && bytes[i - 1] != 0x0A { i -= 1 }
                return i > carry.count ? i : 0
            }
            guard end > 0 else {
                carry = data
                // One line longer than the limit (+1 for a `\r`): skip to its end, keeping nothing.
                if carry.count > maxLine + 1 {
                    var length = carry.count
                    var rest = try skipLine(source, length: &length, lastByte: carry.last ?? 0)
                    overlong(line, length)
                    line += 1
                    // The carry must hold no `\n`: the whole lines after the long one go out now.
                    if let last = rest.lastIndex(of: 0x0A) {
                        carry = Array(rest[(last + 1)...])
                        rest.removeSubrange((last + 1)...)
                        let lines = rest.withUnsafeBufferPointer { countNewlines($0) }
                        batch(rest, line)
                        line += lines
                    } else {
                        carry = rest
                    }
                }
                continue
            }
            carry = Array(data[end...])
            let lines = data.withUnsafeBufferPointer { countNewlines(UnsafeBufferPointer(rebasing: $0[..<end])) }
            data.removeSubrange(end...)
            batch(data, line)
            line += lines
        }
    }

    /// Reads to the end of the current line, counting its bytes into `length` (without a final `\r`);
    /// returns what follows its `\n` in the last piece read (empty at the end of the input).
    private static func skipLine(_ source: InputSource, length: inout Int, lastByte: UInt8) throws -> [UInt8] {
        let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: chunkBytes)
        defer { buffer.deallocate() }
        var lastByte = lastByte
        while true {
            let n = try source.read(into: buffer)
            if n == 0 { if lastByte == 0x0D { length -= 1 }; return [] }
            if let found = memchr(buffer.baseAddress!, 0x0A, n) {
                let newline = buffer.baseAddress!.distance(to: found.assumingMemoryBound(to: UInt8.self))
                length += newline
                if (newline > 0 ? buffer[newline - 1] : lastByte) == 0x0D { length -= 1 }
                return Array(buffer[(newline + 1)..<n])
            }
            length += n
            lastByte = buffer[n - 1]
        }
    }

    /// How many `\n` bytes `bytes` holds, eight at a time.
    static func countNewlines(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        guard let base = bytes.baseAddress else { return 0 }
        let low7: UInt64 = 0x7F7F_7F7F_7F7F_7F7F, newlines: UInt64 = 0x0A0A_0A0A_0A0A_0A0A
        var count = 0, i = 0
        while i + 8 <= bytes.count {
            // A byte of x is zero exactly where the input holds `\n`; t has bit 7 set in every other byte.
            let x = UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self) ^ newlines
            let t = ((x & low7) &+ low7) | x
            count += 8 - (t & ~low7).nonzeroBitCount
            i += 8
        }
        while i < bytes.count { if bytes[i] == 0x0A { count += 1 }; i += 1 }
        return count
    }

    /// Decides every record of a batch (on a worker thread) and renders its output through the sink.
    static func process(_ batch: ScanBatch, scanner: MessageScanner, sink: DecisionSink, options: BatchOptions) {
        let (onlyFlagged, maxMessage) = (options.onlyFlagged, options.maxMessageBytes)
        let reader = MessageReader(format: batch.format, textField: options.textField, idField: options.idField)
        var recordCache = DecisionRecordCache()
        if let (line, length) = batch.overlong {
            overlong(line: line, length: length)
            return
        }
        batch.data.withUnsafeBufferPointer { data in
            if batch.format == .csv {
                var start = 0
                for (index, end) in batch.ends.enumerated() {
                    decide(UnsafeBufferPointer(rebasing: data[start..<end]), line: batch.lines[index])
                    start = end
                }
                return
            }
            // Whole lines: `\n` ends each (and may be missing after the last); one `\r` before it is
            // dropped; blank lines of plain text are skipped.
            var start = 0, line = batch.firstLine
            while start < data.count {
                let newline = memchr(data.baseAddress! + start, 0x0A, data.count - start)
                    .map { data.baseAddress!.distance(to: $0.assumingMemoryBound(to: UInt8.self)) } ?? data.count
                var end = newline
                if end > start && data[end - 1] == 0x0D { end -= 1 }
                let record = UnsafeBufferPointer(rebasing: data[start..<end])
                if !(batch.format == .text && record.allSatisfy({ $0 == 0x20 || $0 == 0x09 })) { decide(record, line: line) }
                line += 1
                start = newline + 1
            }
        }
        /// A message longer than the limit: an error record, not checked (that would take memory many
        /// times its size).
        func overlong(line: Int, length: Int) {
            let id = MessageID.position(file: batch.file, line: line)
            batch.summary.bytes += length + 1
            batch.summary.overlong += 1
            handle(scanner.decide(InputMessage.overlong(id: id, length: length, limit: maxMessage)), text: UnsafeBufferPointer(start: nil, count: 0), line: line)
        }
        func decide(_ record: UnsafeBufferPointer<UInt8>, line: Int) {
            if record.count > maxMessage { overlong(line: line, length: record.count); return }
            let fallback = MessageID.position(file: batch.file, line: line)
            batch.summary.bytes += record.count + 1
            // Plain text has nothing to parse: decide the record's bytes where they lie.
            if batch.format == .text {
                handle(scanner.decide(record, id: fallback), text: record, line: line)
                return
            }
            let message = batch.format == .csv
                ? reader.message(fromCSV: record, textColumn: batch.csvColumns.text, idColumn: batch.csvColumns.id, fallbackID: fallback)
                : reader.message(from: record, fallbackID: fallback)
            let decision = scanner.decide(message)
            message.text.withUnsafeBufferPointer { handle(decision, text: $0, line: line) }
        }
        func handle(_ decision: Decision, text: UnsafeBufferPointer<UInt8>, line: Int) {
            batch.summary.add(decision)
            if onlyFlagged && decision.verdict == .allow { return }
            sink.render(decision, text: { String(decoding: text, as: UTF8.self) }, into: &batch.output, cache: &recordCache)
            if sink.collects(decision) { batch.findings.append((decision, line)) }
        }
        batch.data = []
    }

}

/// What the writer thread leaves for ``BatchScanner/finish()`` (read after the pipeline's `finish`,
/// which waits for the writer: a happens-before edge).
private final class SummaryBox: @unchecked Sendable {
    var summary = ScanSummary()
    var sink: DecisionSink
    init(sink: DecisionSink) { self.sink = sink }
}
