import ArgumentParser
import Foundation
import ReplyGuard

struct Scan: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
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
        let engine = try ruleOptions.engine()
        let out = Terminal.standardOutput
        let started = Date()
        var hadError = false
        let files = expand(paths, hadError: &hadError)
        var progress: ProgressBar? = !noProgress && isatty(2) == 1 ? ProgressBar(total: totalBytes(files)) : nil
        var options = BatchOptions()
        options.jobs = jobs
        options.textField = textField
        options.idField = idField
        options.maxMessageBytes = maxMessageSize.bytes
        options.onlyFlagged = onlyFlagged
        let scanner = BatchScanner(engine: engine, options: options, sink: sink(engine), output: { out.write($0) },
                                   progress: { bytes, messages in progress?.draw(bytes: bytes, messages: messages) })
        for file in files {
            do {
                let source = try InputSource(path: file)
                try scanner.scan(source, format: inputFormat(source))
            } catch let error as BatchInputError {
                Terminal.standardError.write("Error: \(error.message)\n")
                hadError = true
            } catch {
                Terminal.standardError.write(FileErrors.line(file, error))
                hadError = true
            }
        }
        let summary = scanner.finish()
        let totalRead = progress?.total ?? 0
        progress?.draw(bytes: totalRead, messages: summary.messages, force: true)
        progress?.clear()
        out.flush()
        Terminal.standardError.write(summary.line(seconds: Date().timeIntervalSince(started)))
        if summary.overlong > 0 {
            Terminal.standardError.write("Error: \(summary.overlong) message(s) longer than --max-message-size (\(maxMessageSize.bytes) bytes) were escalated unchecked; raise the limit to check them\n")
            hadError = true
        }
        if hadError { throw ExitCode(2) }
        if summary.messages > 0 && summary.maxVerdict >= failOn { throw ExitCode(1) }
    }

    /// The sink `--format` names.
    private func sink(_ engine: Engine) -> DecisionSink {
        switch format {
        case .jsonl: return JSONLinesSink()
        case .table: return TableSink(colored: color.enabled(fd: 1))
        case .summary: return SummarySink()
        case .sarif: return SARIFSink(rules: engine.rules, version: ReplyGuardVersion.string)
        }
    }

    private func inputFormat(_ source: InputSource) -> InputFormat {
        switch input {
        case .text: return .text
        case .jsonl: return .jsonl
        case .csv: return .csv
        case .auto: return BatchScanner.format(of: source)
        }
    }

    /// All inputs' size for the progress bar, when every input is a file.
    private func totalBytes(_ files: [String]) -> Int? {
        guard !files.contains("-") else { return nil }
        return files.reduce(0) { $0 + ((try? FileManager.default.attributesOfItem(atPath: $1)[.size] as? Int) ?? 0) }
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
