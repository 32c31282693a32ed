import ArgumentParser
import Foundation
import ReplyGuard

struct Scan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decide every message in files, directories or standard input; one record per message.",
        discussion: """
        Plain text is one message per line (blank lines are skipped); JSON Lines (*.jsonl, *.ndjson) and CSV \
        (*.csv, with a header row) take the text and id from --text-field / --id-field; *.gz files are \
        decompressed. Directories are walked recursively (hidden entries skipped) for *.txt, *.text, *.log, \
        *.jsonl, *.ndjson and *.csv files (and their .gz forms), or for what --include names. Messages are \
        decided on --jobs threads; records come out in input order. The verdicts are exactly those `filter` \
        gives. A message longer than --max-message-size is escalated unchecked. Exit 0 when no message is at \
        or above --fail-on, 1 when one is, 2 on error (an unreadable input, bad CSV quoting, a truncated \
        gzip file, a message over --max-message-size, a failed write to standard output).
        """)

    enum OutputFormat: String, ExpressibleByArgument, CaseIterable { case jsonl, table, summary, sarif }
    enum InputChoice: String, ExpressibleByArgument, CaseIterable { case auto, text, jsonl, csv }

    @OptionGroup var ruleOptions: RuleOptions

    @Option(name: .long, help: "jsonl: a record per message; table: flagged messages and a summary; summary: counts only; sarif: SARIF 2.1.0.")
    var format: OutputFormat = .jsonl

    @Option(name: .long, help: "Input format: auto (by file extension; stdin is text), text, jsonl, csv.")
    var input: InputChoice = .auto

    @Option(name: .customLong("text-field"), help: "JSON field or CSV column holding the message text.")
    var textField = "text"

    @Option(name: .customLong("id-field"), help: "JSON field or CSV column holding the message id (default: path:line).")
    var idField = "id"

    @Option(name: .customLong("fail-on"), help: "Lowest verdict that makes the exit status 1.")
    var failOn: Verdict = .escalate

    @Flag(name: .customLong("only-flagged"), help: "Report only escalated and blocked messages.")
    var onlyFlagged = false

    @Option(name: .shortAndLong, help: "Matching threads (default: all cores).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(name: .long, parsing: .singleValue, help: ArgumentHelp("In directories, scan only files matching this glob (name or relative path); repeatable.", valueName: "glob"))
    var include: [String] = []

    @Option(name: .long, parsing: .singleValue, help: ArgumentHelp("Skip files and directories matching this glob; repeatable.", valueName: "glob"))
    var exclude: [String] = []

    @Option(name: .customLong("max-message-size"), help: ArgumentHelp("A longer message (bytes; K, M, G suffixes) is escalated unchecked, as an error (exit 2).", valueName: "size"))
    var maxMessageSize = ByteSize(bytes: Scan.defaultMaxMessageBytes)

    /// Checking a message takes memory many times its size: the default keeps a worker well under 1 GB.
    static let defaultMaxMessageBytes = 4 << 20

    @Flag(name: .customLong("no-progress"), help: "No progress bar, even on a terminal.")
    var noProgress = false

    @Option(name: .long, help: "Colour for --format table: auto, always, never.")
    var color: ColorChoice = .auto

    @Argument(help: "Files or directories to scan, or - for standard input.")
    var paths: [String] = []

    func validate() throws {
        if paths.isEmpty { throw ValidationError("give at least one PATH, or - for standard input") }
        if jobs < 1 || jobs > 256 { throw ValidationError("--jobs must be between 1 and 256") }
    }

    static let scannedExtensions = ["txt", "text", "log", "jsonl", "ndjson", "csv"]

    func run() throws {
        let ruleSet = try ruleOptions.load()
        let engine = Engine(ruleSet: ruleSet)
        let out = Terminal.standardOutput
        let started = Date()
        var hadError = false
        let files = expand(paths, hadError: &hadError)
        let totalBytes = files.allSatisfy { $0 != "-" } ? files.reduce(0) { $0 + ((try? FileManager.default.attributesOfItem(atPath: $1)[.size] as? Int) ?? 0) } : nil
        var progress: ProgressBar? = !noProgress && isatty(2) == 1 ? ProgressBar(total: totalBytes) : nil
        var summary = ScanSummary()
        var sarif = format == .sarif ? SARIFWriter(rules: engine.rules) : nil
        let colored = color.enabled(fd: 1)
        let (format, onlyFlagged, textField, idField) = (self.format, self.onlyFlagged, self.textField, self.idField)
        let maxMessage = maxMessageSize.bytes

        let pipeline = ScanPipeline(jobs: jobs, engine: engine, process: { batch, scanner in
            Scan.process(batch, scanner: scanner, format: format, onlyFlagged: onlyFlagged, colored: colored,
                         textField: textField, idField: idField, maxMessage: maxMessage)
        }, write: { batch in
            out.write(batch.output)
            summary.merge(batch.summary)
            for (decision, line) in batch.findings { sarif?.add(decision, uri: batch.file, line: line, columnsAreExact: batch.format == .text) }
            progress?.draw(bytes: batch.progressBytes, messages: summary.messages)
        })

        var sequence = 0
        var consumedBefore = 0
        let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 1 << 20)
        defer { buffer.deallocate() }
        for file in files {
            let source: InputSource
            do { source = try InputSource(path: file) } catch {
                Terminal.standardError.write(FileErrors.line(file, error))
                hadError = true
                continue
            }
            let name = source.name
            let fileFormat: InputFormat
            switch input {
            case .text: fileFormat = .text
            case .jsonl: fileFormat = .jsonl
            case .csv: fileFormat = .csv
            case .auto:
                let logical = source.logicalName
                fileFormat = logical.hasSuffix(".jsonl") || logical.hasSuffix(".ndjson") ? .jsonl : logical.hasSuffix(".csv") ? .csv : .text
            }
            var columns: (Int, Int?)?
            var batch: ScanBatch?
            /// A message longer than the limit: its own batch (after what came before), one error record.
            func addOverlong(line: Int, length: Int) {
                if let current = batch { pipeline.submit(current); sequence += 1; batch = nil }
                let single = ScanBatch(sequence: sequence, file: name, format: fileFormat, csvColumns: columns ?? (0, nil))
                single.overlong = (line, length)
                single.progressBytes = consumedBefore + source.consumed
                pipeline.submit(single)
                sequence += 1
            }
            func add(_ record: UnsafeBufferPointer<UInt8>, _ line: Int, _ overlong: Int?) -> Bool {
                if let overlong {
                    if fileFormat == .csv && columns == nil {
                        Terminal.standardError.write("Error: \(name): the header row is \(overlong) bytes, longer than --max-message-size\n")
                        return false
                    }
                    addOverlong(line: line, length: overlong)
                    return true
                }
                if fileFormat == .text && record.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return true }
                if fileFormat == .csv && columns == nil {
                    let header = CSVFields.split(record).map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespaces) }
                    guard let text = header.firstIndex(of: textField) else {
                        Terminal.standardError.write("Error: \(name) has no column '\(textField)' (columns: \(header.joined(separator: ", "))); use --text-field\n")
                        return false
                    }
                    columns = (text, header.firstIndex(of: idField))
                    return true
                }
                let current = batch ?? ScanBatch(sequence: sequence, file: name, format: fileFormat, csvColumns: columns ?? (0, nil))
                batch = current
                current.append(record, line: line)
                if current.isFull {
                    current.progressBytes = consumedBefore + source.consumed
                    pipeline.submit(current)
                    sequence += 1
                    batch = nil
                }
                return true
            }
            var ok = true
            do {
                if fileFormat == .csv {
                    var framer = CSVRecordFramer(maxLength: maxMessage)
                    while ok, framer.error == nil, case let n = try source.read(into: buffer), n > 0 {
                        framer.feed(UnsafeBufferPointer(rebasing: buffer[0..<n])) { record, line, overlong in if ok { ok = add(record, line, overlong) } }
                    }
                    if ok { framer.finish { record, line, overlong in _ = add(record, line, overlong) } }
                    if let error = framer.error {
                        // Records before the problem are reported; the rest of the file is not read.
                        Terminal.standardError.write("Error: \(name):\(error.line): \(error.message); the rest of the file was not scanned\n")
                        ok = false
                    }
                } else {
                    // Text and JSON Lines: cut the input into batches at line ends; the workers split the lines.
                    try Scan.readChunks(source, maxLine: maxMessage, { data, first in
                        let chunk = ScanBatch(sequence: sequence, file: name, format: fileFormat, csvColumns: (0, nil))
                        chunk.data = data
                        chunk.firstLine = first
                        chunk.progressBytes = consumedBefore + source.consumed
                        pipeline.submit(chunk)
                        sequence += 1
                    }, overlong: { line, length in addOverlong(line: line, length: length) })
                }
            } catch {
                Terminal.standardError.write(FileErrors.line(name, error))
                hadError = true
            }
            if !ok { hadError = true }
            consumedBefore += source.size ?? 0
            if let last = batch {
                last.progressBytes = consumedBefore
                pipeline.submit(last)
                sequence += 1
            }
        }
        pipeline.finish()
        progress?.draw(bytes: consumedBefore, messages: summary.messages, force: true)
        progress?.clear()
        switch self.format {
        case .sarif: out.write(sarif!.document(version: ReplyGuardVersion.string))
        case .table, .summary: out.write(summary.table())
        case .jsonl: break
        }
        out.flush()
        Terminal.standardError.write(summary.line(seconds: Date().timeIntervalSince(started)))
        if summary.overlong > 0 {
            Terminal.standardError.write("Error: \(summary.overlong) message(s) longer than --max-message-size (\(maxMessage) bytes) were escalated unchecked; raise the limit to check them\n")
            hadError = true
        }
        if hadError { throw ExitCode(2) }
        if summary.messages > 0 && summary.maxVerdict >= failOn { throw ExitCode(1) }
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

    /// Decides every record of a batch (on a worker thread) and renders its output.
    static func process(_ batch: ScanBatch, scanner: MessageScanner, format: OutputFormat, onlyFlagged: Bool,
                        colored: Bool, textField: String, idField: String, maxMessage: Int) {
        let reader = MessageReader(format: batch.format, textField: textField, idField: idField)
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
            switch format {
            case .jsonl:
                decision.appendJSONLine(to: &batch.output)
                batch.output.append(0x0A)
            case .table:
                if decision.verdict != .allow { batch.output += Array(tableRow(decision, text: text, colored: colored).utf8) }
            case .sarif:
                if !decision.hits.isEmpty || !decision.errors.isEmpty { batch.findings.append((decision, line)) }
            case .summary: break
            }
        }
        batch.data = []
    }

    static func tableRow(_ decision: Decision, text: UnsafeBufferPointer<UInt8>, colored: Bool) -> String {
        let style = Style(enabled: colored, code: decision.verdict.colorCode)
        var shown = Visible.scalars(String(decoding: text, as: UTF8.self))
        if shown.count > 60 { shown = Array(shown.prefix(59)) + ["…"] }
        let rules = decision.hits.map(\.rule) + decision.errors.map { _ in "error" }
        let verdict = decision.verdict.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)
        return "\(decision.id)\t\(style.paint(verdict))\t\(rules.isEmpty ? "-" : rules.joined(separator: ","))\t\(String(String.UnicodeScalarView(shown)))\n"
    }

    /// Files in argument order; directories walked recursively in sorted order, hidden entries and
    /// --exclude matches skipped, keeping files that match --include (default: known extensions).
    private func expand(_ paths: [String], hadError: inout Bool) -> [String] {
        var files: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard path != "-", FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                files.append(path)
                continue
            }
            guard let enumerator = FileManager.default.enumerator(atPath: path) else { continue }
            var found: [String] = []
            while let relative = enumerator.nextObject() as? String {
                let name = (relative as NSString).lastPathComponent
                let full = (path as NSString).appendingPathComponent(relative)
                var dir: ObjCBool = false
                _ = FileManager.default.fileExists(atPath: full, isDirectory: &dir)
                if name.hasPrefix(".") || exclude.contains(where: { Scan.glob($0, name) || Scan.glob($0, relative) }) {
                    if dir.boolValue { enumerator.skipDescendants() }
                    continue
                }
                if dir.boolValue { continue }
                let wanted = include.isEmpty
                    ? Scan.scannedExtensions.contains(((name.hasSuffix(".gz") ? String(name.dropLast(3)) : name) as NSString).pathExtension.lowercased())
                    : include.contains { Scan.glob($0, name) || Scan.glob($0, relative) }
                guard wanted else { continue }
                // Only regular files (a symlink to one included): a FIFO would block forever, a device
                // such as /dev/zero never ends.
                var info = stat()
                guard stat(full, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
                    let kind = stat(full, &info) != 0 ? "cannot stat it: \(String(cString: strerror(errno)))"
                        : info.st_mode & S_IFMT == S_IFIFO ? "a FIFO" : info.st_mode & S_IFMT == S_IFSOCK ? "a socket" : "a device or other special file"
                    Terminal.standardError.write("replyguard: skipping \(full): not a regular file (\(kind))\n")
                    continue
                }
                found.append(full)
            }
            files += found.sorted()
        }
        return files
    }

    static func glob(_ pattern: String, _ path: String) -> Bool { fnmatch(pattern, path, 0) == 0 }
}
