import ArgumentParser
import Foundation
import ReplyGuard

struct Learn: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "learn",
        abstract: "Train a model pack's model file (character 1-3-gram logistic regression) from labelled JSON Lines.",
        discussion: """
        INPUT files are in the corpus record format (id, text, expect, category; `review export` writes it): \
        records of --category expecting escalate or block are positives, records of category `clean` \
        negatives, others are skipped. --positive/--negative files are taken whole (every record's `text`; \
        `id` when present, else file:line). A fifth of the records (by id hash) is held out: the escalate \
        threshold is the lowest that flags at most --max-false-alarm of the held-out negatives, and the \
        precision/recall table is measured on the held-out split. Same input, same options: same bytes. \
        Lines are read as `scan` reads JSON Lines (*.gz decompressed): a line that is not a JSON object \
        with a string `text`, has a key it reads (text, id, expect, category) more than once, holds \
        invalid UTF-8, or is longer than --max-message-size is an error at its file:line. Exit 0 on \
        success, 2 on unreadable input or too few examples.
        """)

    @Option(name: .long, help: "The category the model scores (must be the model pack's category).")
    var category: String

    @Option(name: .long, help: ArgumentHelp("Where to write the model file.", valueName: "file"))
    var out: String

    @Option(name: .customLong("max-false-alarm"), help: "Share of held-out negatives the escalate threshold may flag.")
    var maxFalseAlarm: Double = 0.01

    @Option(name: .long, parsing: .singleValue, help: ArgumentHelp("A file whose every record is a positive (repeatable).", valueName: "file"))
    var positive: [String] = []

    @Option(name: .long, parsing: .singleValue, help: ArgumentHelp("A file whose every record is a negative (repeatable).", valueName: "file"))
    var negative: [String] = []

    @Option(name: .long, help: "Training passes over the data.")
    var epochs: Int = 8

    @Option(name: .long, help: "L2 regularization per update (larger: smaller weights, fewer n-grams that dominate alone).")
    var l2: Double = ModelTrainer.Options().l2

    @Option(name: .customLong("max-weight"), help: "Cap on a weight's absolute value (0: no cap).")
    var maxWeight: Double = ModelTrainer.Options().maxWeight

    @Option(name: .customLong("min-count"), help: "Train only on n-grams found in at least this many training messages.")
    var minCount: Int = ModelTrainer.Options().minCount

    @Option(name: .long, help: "Hash buckets (a power of two).")
    var buckets: Int = NGramModel.defaultBuckets

    @Option(name: .long, parsing: .singleValue, help: ArgumentHelp("A comment line for the model file (training data, licence; repeatable).", valueName: "text"))
    var note: [String] = []

    @Option(name: .customLong("max-message-size"), help: ArgumentHelp("A longer input line (bytes; K, M, G suffixes) is an error (exit 2).", valueName: "size"))
    var maxMessageSize = ByteSize(bytes: Scan.defaultMaxMessageBytes)

    @Argument(help: "Labelled JSON Lines files.")
    var inputs: [String] = []

    func validate() throws {
        if inputs.isEmpty && positive.isEmpty { throw ValidationError("give INPUT files or --positive/--negative files") }
        if !(maxFalseAlarm > 0 && maxFalseAlarm < 1) { throw ValidationError("--max-false-alarm must be between 0 and 1") }
        if buckets < 2 || buckets > 1 << 24 || buckets & (buckets - 1) != 0 { throw ValidationError("--buckets must be a power of two up to 2^24") }
        if !(l2 >= 0 && l2 < 1) { throw ValidationError("--l2 must be at least 0 and below 1") }
        if !(maxWeight >= 0 && maxWeight.isFinite) { throw ValidationError("--max-weight must be 0 (no cap) or a positive number") }
        if minCount < 1 || minCount > 1_000_000 { throw ValidationError("--min-count must be 1...1000000") }
        if epochs < 1 || epochs > 100 { throw ValidationError("--epochs must be 1...100") }
        if category.isEmpty || category.contains(where: { $0 == " " || $0 == "\n" }) { throw ValidationError("--category must be one word") }
    }

    func run() throws {
        var examples: [TrainingExample] = []
        var counts: [String] = []
        let reader = MessageReader(format: .jsonl)
        let limit = maxMessageSize.bytes
        /// Reads a JSON Lines file as `scan` does (the same framer and reader, the same limit on a line)
        /// and calls `body` with each non-empty line's number, text, id and `labels`; any line the reader
        /// reports (not JSON, no string text, a repeated key, invalid UTF-8, over the limit) is an error.
        func read(_ path: String, labels: [String], _ body: (_ line: Int, _ text: String, _ id: String, _ labels: [String: String]) -> Void) throws {
            let source: InputSource
            do { source = try InputSource(path: path) } catch { throw fileFailure(path, error) }
            let name = (path as NSString).lastPathComponent
            var framer = LineFramer(maxLength: limit)
            var number = 0
            var problem: String?
            func line(_ bytes: UnsafeBufferPointer<UInt8>, _ overlong: Int?) {
                number += 1
                guard problem == nil else { return }
                if let overlong {
                    problem = "\(path):\(number): line is \(overlong) bytes, longer than --max-message-size (\(limit) bytes); not read"
                    return
                }
                if bytes.isEmpty { return }
                let (message, values) = reader.labelledMessage(from: bytes, fallbackID: .position(file: name, line: number), labels: labels)
                if let error = message.error { problem = "\(path):\(number): \(error)"; return }
                body(number, String(decoding: message.text, as: UTF8.self), message.id.description, values)
            }
            let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 1 << 20)
            defer { buffer.deallocate() }
            while problem == nil {
                let n: Int
                do { n = try source.read(into: buffer) } catch { throw fileFailure(path, error) }
                if n == 0 { framer.finish(lineOrOverlong: line); break }
                framer.feed(UnsafeBufferPointer(rebasing: buffer[0..<n]), lineOrOverlong: line)
            }
            if let problem { throw fail(problem) }
        }
        for path in inputs {
            var pos = 0, neg = 0, skipped = 0
            try read(path, labels: ["expect", "category"]) { _, text, id, labels in
                let expect = labels["expect"], recordCategory = labels["category"]
                if recordCategory == category && (expect == "escalate" || expect == "block") {
                    examples.append(TrainingExample(id: id, text: text, positive: true)); pos += 1
                } else if recordCategory == CorpusLoader.cleanCategory && expect == "allow" {
                    examples.append(TrainingExample(id: id, text: text, positive: false)); neg += 1
                } else {
                    skipped += 1
                }
            }
            counts.append("\((path as NSString).lastPathComponent): \(pos) positives, \(neg) negatives, \(skipped) skipped")
        }
        for (paths, isPositive) in [(positive, true), (negative, false)] {
            for path in paths {
                var n = 0
                try read(path, labels: []) { _, text, id, _ in
                    examples.append(TrainingExample(id: id, text: text, positive: isPositive)); n += 1
                }
                counts.append("\((path as NSString).lastPathComponent): \(n) \(isPositive ? "positives" : "negatives") (--\(isPositive ? "positive" : "negative"))")
            }
        }
        let positives = examples.filter(\.positive).count, negatives = examples.count - positives
        let err = Terminal.standardError
        for line in counts { err.write(line + "\n") }
        guard positives >= 10 && negatives >= 10 else {
            throw fail("need at least 10 positives and 10 negatives (have \(positives) and \(negatives)); positives are records of category '\(category)' expecting escalate or block")
        }
        var options = ModelTrainer.Options()
        options.maxFalseAlarm = maxFalseAlarm
        options.epochs = epochs
        options.buckets = buckets
        options.l2 = l2
        options.maxWeight = maxWeight
        options.minCount = minCount
        let comments = note + ["trained by replyguard learn --category \(category) --max-false-alarm \(maxFalseAlarm) --epochs \(epochs) --buckets \(buckets) --l2 \(l2) --max-weight \(maxWeight) --min-count \(minCount)"]
            + counts.map { "input " + $0 }
        let (model, report) = ModelTrainer.train(examples, category: category, options: options, comments: comments)
        let bytes = Data(model.serialized().utf8)
        do { try bytes.write(to: URL(fileURLWithPath: out), options: .atomic) } catch { throw fileFailure(out, error) }
        let stdout = Terminal.standardOutput
        for line in report.table { stdout.write(line + "\n") }
        stdout.write("wrote \(out): \(model.weights.filter { $0 != 0 }.count) nonzero weights, escalate at \(NGramModel.format(model.escalate, 6))\n")
        stdout.flush()
    }
}
