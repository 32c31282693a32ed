/// Aho–Corasick automaton over normalized Unicode scalars, laid out in flat arrays.
///
/// Scalars are first mapped to dense symbol ids (0 = "in no pattern", which sends the automaton back to
/// the root without searching). The root has a dense row indexed by symbol; other states keep their
/// transitions sorted in one shared edge array (CSR) and fall back along failure links. Each state knows
/// its own patterns and the nearest state on its failure chain that has any (dictionary link), so
/// reporting costs nothing on states without output.
public final class LiteralAutomaton: Sendable {
    /// Number of patterns; pattern ids are 0..<patternCount in the order given to `init`.
    public let patternCount: Int
    /// Length of each pattern in scalars.
    public let patternLengths: [Int32]

    private let bmpSymbols: [Int32]
    private let otherSymbols: [UInt32: Int32]
    private let rootRow: [Int32]
    private let edgeStart: [Int32]
    private let edgeSymbols: [Int32]
    private let edgeTargets: [Int32]
    private let failure: [Int32]
    private let outputStart: [Int32]
    private let outputPatterns: [Int32]
    private let dictionaryLink: [Int32]

    /// Number of automaton states (for diagnostics and benchmarks).
    public var stateCount: Int { failure.count }

    public init(patterns: [[UInt32]]) {
        patternCount = patterns.count
        patternLengths = patterns.map { Int32($0.count) }
        // Dense symbol ids.
        var bmp = [Int32](repeating: 0, count: 0x10000)
        var other: [UInt32: Int32] = [:]
        var symbolCount: Int32 = 0
        func symbol(_ scalar: UInt32) -> Int32 {
            if scalar < 0x10000 {
                if bmp[Int(scalar)] == 0 { symbolCount += 1; bmp[Int(scalar)] = symbolCount }
                return bmp[Int(scalar)]
            }
            if let s = other[scalar] { return s }
            symbolCount += 1
            other[scalar] = symbolCount
            return symbolCount
        }
        // Trie with dictionary children (build time only).
        var children: [[Int32: Int32]] = [[:]]
        var own: [[Int32]] = [[]]
        for (id, pattern) in patterns.enumerated() {
            var state: Int32 = 0
            for scalar in pattern {
                let c = symbol(scalar)
                if let next = children[Int(state)][c] {
                    state = next
                } else {
                    let next = Int32(children.count)
                    children.append([:])
                    own.append([])
                    children[Int(state)][c] = next
                    state = next
                }
            }
            own[Int(state)].append(Int32(id))
        }
        let stateCount = children.count
        // Breadth-first failure and dictionary links.
        var failure = [Int32](repeating: 0, count: stateCount)
        var dictionary = [Int32](repeating: -1, count: stateCount)
        var order: [Int32] = []
        order.reserveCapacity(stateCount)
        for (_, child) in children[0] { order.append(child) }
        var head = 0
        while head < order.count {
            let state = order[head]
            head += 1
            for (c, child) in children[Int(state)] {
                var f = failure[Int(state)]
                while true {
                    if let next = children[Int(f)][c], next != child { failure[Int(child)] = next; break }
                    if f == 0 { failure[Int(child)] = 0; break }
                    f = failure[Int(f)]
                }
                order.append(child)
            }
        }
        for state in order {
            let f = failure[Int(state)]
            dictionary[Int(state)] = own[Int(f)].isEmpty ? dictionary[Int(f)] : f
        }
        // Flatten.
        var rootRow = [Int32](repeating: 0, count: Int(symbolCount) + 1)
        for (c, child) in children[0] { rootRow[Int(c)] = child }
        var edgeStart = [Int32](repeating: 0, count: stateCount + 1)
        var edgeSymbols: [Int32] = []
        var edgeTargets: [Int32] = []
        var outputStart = [Int32](repeating: 0, count: stateCount + 1)
        var outputPatterns: [Int32] = []
        for state in 0..<stateCount {
            edgeStart[state] = Int32(edgeSymbols.count)
            for (c, child) in children[state].sorted(by: { $0.key < $1.key }) {
                edgeSymbols.append(c)
                edgeTargets.append(child)
            }
            outputStart[state] = Int32(outputPatterns.count)
            outputPatterns += own[state]
        }
        edgeStart[stateCount] = Int32(edgeSymbols.count)
        outputStart[stateCount] = Int32(outputPatterns.count)
        self.bmpSymbols = bmp
        self.otherSymbols = other
        self.rootRow = rootRow
        self.edgeStart = edgeStart
        self.edgeSymbols = edgeSymbols
        self.edgeTargets = edgeTargets
        self.failure = failure
        self.outputStart = outputStart
        self.outputPatterns = outputPatterns
        self.dictionaryLink = dictionary
    }

    @inline(__always)
    private func symbol(_ scalar: UInt32) -> Int32 {
        scalar < 0x10000 ? bmpSymbols[Int(scalar)] : (otherSymbols[scalar] ?? 0)
    }

    @inline(__always)
    private func child(_ state: Int32, _ c: Int32) -> Int32? {
        var low = Int(edgeStart[Int(state)]), high = Int(edgeStart[Int(state) + 1])
        if high - low <= 8 {
            while low < high { if edgeSymbols[low] == c { return edgeTargets[low] }; low += 1 }
            return nil
        }
        while low < high {
            let mid = (low + high) >> 1
            let s = edgeSymbols[mid]
            if s == c { return edgeTargets[mid] }
            if s < c { low = mid + 1 } else { high = mid }
        }
        return nil
    }

    /// Calls `report(patternID, endIndex)` for every occurrence of every pattern in `text`, where
    /// `endIndex` is the index of the occurrence's last scalar. Overlapping occurrences are all reported.
    @inline(__always)
    public func forEachMatch(in text: [UInt32], _ report: (Int, Int) -> Void) {
        text.withUnsafeBufferPointer { forEachMatch(in: $0, report) }
    }

    /// ``forEachMatch(in:_:)`` over scalars in memory.
    @inline(__always)
    public func forEachMatch(in buffer: UnsafeBufferPointer<UInt32>, _ report: (Int, Int) -> Void) {
        do {
            var state: Int32 = 0
            for i in 0..<buffer.count {
                let c = symbol(buffer[i])
                if c == 0 { state = 0; continue }
                while true {
                    if state == 0 { state = rootRow[Int(c)]; break }
                    if let next = child(state, c) { state = next; break }
                    state = failure[Int(state)]
                }
                var out = state
                if outputStart[Int(out)] == outputStart[Int(out) + 1] { out = dictionaryLink[Int(out)] }
                while out > 0 {
                    for k in Int(outputStart[Int(out)])..<Int(outputStart[Int(out) + 1]) {
                        report(Int(outputPatterns[k]), i)
                    }
                    out = dictionaryLink[Int(out)]
                }
            }
        }
    }
}
