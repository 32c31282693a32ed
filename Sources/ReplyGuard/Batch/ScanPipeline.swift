import Foundation

/// Records of one input file, decided together by one worker. CSV records come framed (`ends`,
/// `lines`); text and JSON Lines come as whole lines of the input (`data`, the first being line
/// `firstLine`), which the worker splits itself.
///
/// `@unchecked Sendable`: a batch is touched by one thread at a time — the reader fills it, then hands
/// it through ``ScanPipeline``'s lock to one worker, which hands it through the lock to the writer.
final class ScanBatch: @unchecked Sendable {
    let sequence: Int
    let file: String
    let format: InputFormat
    /// CSV: indexes of the text and id columns.
    let csvColumns: (text: Int, id: Int?)
    var data: [UInt8] = []
    var ends: [Int] = []
    var lines: [Int] = []
    /// Text and JSON Lines: the number of the first line in `data` (the last may lack its `\n` at the
    /// end of the input).
    var firstLine = 0
    /// A message longer than the limit (its line and length): the batch's only record.
    var overlong: (line: Int, length: Int)?
    /// Input consumed (across all files) when the batch was cut, for progress.
    var progressBytes = 0
    // Results, filled by a worker.
    var output: [UInt8] = []
    var summary = ScanSummary()
    /// Decisions the sink collects, with their lines.
    var findings: [(Decision, Int)] = []

    init(sequence: Int, file: String, format: InputFormat, csvColumns: (Int, Int?)) {
        self.sequence = sequence
        self.file = file
        self.format = format
        self.csvColumns = csvColumns
    }

    var isFull: Bool { data.count >= 1 << 18 || ends.count >= 4096 }

    func append(_ record: UnsafeBufferPointer<UInt8>, line: Int) {
        data.append(contentsOf: record)
        ends.append(data.count)
        lines.append(line)
    }
}

/// Decides batches on `jobs` worker threads and hands the results to `write` strictly in submission
/// order, on one writer thread. At most `4 × jobs` batches are in flight, so memory stays bounded
/// whatever the input size.
///
/// `@unchecked Sendable`: its mutable state (`queue`, `results`, `submitted`, `closed`) is only touched
/// under `condition`'s lock.
final class ScanPipeline: @unchecked Sendable {
    private let condition = NSCondition()
    private var queue: [ScanBatch] = []
    private var results: [Int: ScanBatch] = [:]
    private var submitted = 0
    private var closed = false
    private let inFlight: DispatchSemaphore
    private let writerDone = DispatchSemaphore(value: 0)

    init(jobs: Int, engine: Engine, process: @escaping @Sendable (ScanBatch, MessageScanner) -> Void,
         write: @escaping (ScanBatch) -> Void) {
        inFlight = DispatchSemaphore(value: max(4, 4 * jobs))
        for _ in 0..<jobs {
            let worker = Thread { [self] in
                let scanner = engine.makeScanner()
                while let batch = next() {
                    process(batch, scanner)
                    condition.lock()
                    results[batch.sequence] = batch
                    condition.broadcast()
                    condition.unlock()
                }
            }
            worker.stackSize = 8 << 20
            worker.start()
        }
        // Only the writer thread calls `write`; the caller reads what it touches after `finish()`,
        // which waits for the writer (a happens-before edge through `writerDone`).
        nonisolated(unsafe) let write = write
        let writer = Thread { [self] in
            var expected = 0
            while true {
                condition.lock()
                while results[expected] == nil && !(closed && expected == submitted) { condition.wait() }
                if closed && expected == submitted { condition.unlock(); break }
                let batch = results.removeValue(forKey: expected)!
                condition.unlock()
                write(batch)
                inFlight.signal()
                expected += 1
            }
            writerDone.signal()
        }
        writer.start()
    }

    private func next() -> ScanBatch? {
        condition.lock()
        defer { condition.unlock() }
        while queue.isEmpty && !closed { condition.wait() }
        return queue.isEmpty ? nil : queue.removeFirst()
    }

    /// Hands a batch to the workers; blocks while too many are in flight.
    func submit(_ batch: ScanBatch) {
        inFlight.wait()
        condition.lock()
        queue.append(batch)
        submitted += 1
        condition.broadcast()
        condition.unlock()
    }

    /// No more batches: waits until every result has been written.
    func finish() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
        writerDone.wait()
    }
}

/// Counts for the summary: per verdict, per category, top rules with an example each.
public struct ScanSummary: Sendable {
    public internal(set) var messages = 0
    public internal(set) var bytes = 0
    /// Messages per verdict, in `Verdict.allCases` order.
    public internal(set) var verdicts = [Int](repeating: 0, count: Verdict.allCases.count)
    /// Messages per category (a few categories: a list, compared before any hashing).
    public internal(set) var categories: [(name: String, messages: Int)] = []
    /// Messages per rule, with the first match seen as an example.
    public internal(set) var rules: [String: (messages: Int, example: String)] = [:]
    public internal(set) var errors = 0
    /// Messages longer than the maximum message size (escalated unchecked; scan exits 2).
    public internal(set) var overlong = 0
    public internal(set) var maxVerdict = Verdict.allow

    public init() {}

    mutating func add(_ decision: Decision) {
        messages += 1
        verdicts[decision.verdict.rank] += 1
        maxVerdict = max(maxVerdict, decision.verdict)
        if decision.hits.isEmpty && decision.errors.isEmpty { return }
        if !decision.errors.isEmpty { errors += 1 }
        // Each category and rule counts once per message (hits of one rule are adjacent).
        let hits = decision.hits
        for index in hits.indices {
            let category = hits[index].category, rule = hits[index].rule
            var categorySeen = false
            for earlier in 0..<index where hits[earlier].category == category { categorySeen = true; break }
            if !categorySeen { count(category: category, 1) }
            guard index == 0 || hits[index - 1].rule != rule else { continue }
            if let slot = rules.index(forKey: rule) { rules.values[slot].messages += 1 } else { rules[rule] = (1, hits[index].match) }
        }
    }

    private mutating func count(category: String, _ messages: Int) {
        if let index = categories.firstIndex(where: { $0.name == category }) {
            categories[index].messages += messages
        } else {
            categories.append((category, messages))
        }
    }

    mutating func merge(_ other: ScanSummary) {
        messages += other.messages
        bytes += other.bytes
        errors += other.errors
        overlong += other.overlong
        maxVerdict = max(maxVerdict, other.maxVerdict)
        for k in verdicts.indices { verdicts[k] += other.verdicts[k] }
        for (name, count) in other.categories { self.count(category: name, count) }
        for (rule, entry) in other.rules { rules[rule, default: (0, entry.example)].messages += entry.messages }
    }

    public func line(seconds: Double) -> String {
        let mb = Double(bytes) / 1_000_000
        return String(format: "scanned %d messages (%.1f MB) in %.2f s (%.1f MB/s): %d allow, %d mask, %d escalate, %d block; %d with errors\n",
                      messages, mb, seconds, seconds > 0 ? mb / seconds : 0,
                      verdicts[Verdict.allow.rank], verdicts[Verdict.mask.rank], verdicts[Verdict.escalate.rank], verdicts[Verdict.block.rank], errors)
    }

    /// The `--format table|summary` report: counts per verdict and category, top rules with examples.
    public func table(top: Int = 10) -> String {
        var out = "\nverdict     messages\n"
        for verdict in Verdict.allCases { out += verdict.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0) + "\(verdicts[verdict.rank])\n" }
        if errors > 0 { out += "(with errors: \(errors))\n" }
        if !categories.isEmpty {
            out += "\ncategory    messages\n"
            for (category, count) in categories.sorted(by: { ($0.messages, $1.name) > ($1.messages, $0.name) }) {
                out += category.padding(toLength: 12, withPad: " ", startingAt: 0) + "\(count)\n"
            }
            out += "\ntop rules                                 messages  example\n"
            for (rule, entry) in rules.sorted(by: { ($0.value.messages, $1.key) > ($1.value.messages, $0.key) }).prefix(top) {
                let count = entry.messages
                var example = Array(entry.example.unicodeScalars.map { $0.value < 0x20 ? " " : Character($0) })
                if example.count > 30 { example = Array(example.prefix(29)) + ["…"] }
                out += rule.padding(toLength: 42, withPad: " ", startingAt: 0) + String(count).padding(toLength: 10, withPad: " ", startingAt: 0) + String(example) + "\n"
            }
        }
        return out
    }
}

