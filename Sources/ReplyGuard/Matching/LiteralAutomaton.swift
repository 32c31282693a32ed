/// Aho–Corasick automaton over normalized Unicode scalars, laid out in flat arrays.
///
/// Scalars are first mapped to dense symbol ids (0 = "in no pattern", which sends the automaton back to
/// the root without searching). The root has a dense row indexed by symbol; other states keep their
/// transitions in one shared edge array — a short list, or a small hash table for states with many
/// children — and fall back along failure links. Each state knows
/// its own patterns and the nearest state on its failure chain that has any (dictionary link), so
/// reporting costs nothing on states without output.
/// `@unchecked Sendable`: immutable once built (the edge and output arrays are raw buffers written only
/// during `init`); every scanner reads it concurrently.
public final class LiteralAutomaton: @unchecked Sendable {
    /// Number of patterns; pattern ids are 0..<patternCount in the order given to `init`.
    public let patternCount: Int
    /// Length of each pattern in scalars.
    public let patternLengths: [Int32]

    /// A state's hot data in one 16-byte record: its edges (a range of `edges`: a list, or a hash table
    /// when `edgeCount` is negative), its failure link, and a 32-bit filter of its edges' symbols (bit
    /// `symbol % 32`): most failed lookups read no edge.
    private struct State {
        var edgeStart: Int32
        var edgeCount: Int32
        var failure: Int32
        var symbolFilter: UInt32
    }

    /// A transition. `target` (here and in `rootRow`) is the state id, or its bitwise complement when
    /// that state reports patterns: a step learns whether to report without reading the state.
    private struct Edge {
        var symbol: Int32
        var target: Int32
    }

    // Immutable after init; raw memory so the matching loop has no bounds or uniqueness checks.
    /// Symbol of each BMP scalar: 16-bit when there are fewer than 65,536 symbols (half the cache
    /// footprint; every pack in practice), else 32-bit.
    private let bmpSymbols16: UnsafeMutablePointer<UInt16>?
    private let bmpSymbols32: UnsafeMutablePointer<Int32>?
    private let otherSymbols: [UInt32: Int32]
    private let rootRow: UnsafeMutablePointer<Int32>
    private let states: UnsafeMutablePointer<State>
    /// For each state, the first state on its failure chain (itself included) that has patterns (0: none).
    private let reportFrom: UnsafeMutablePointer<Int32>
    private let edges: UnsafeMutablePointer<Edge>
    private let outputStart: UnsafeMutablePointer<Int32>
    private let outputPatterns: UnsafeMutablePointer<Int32>
    /// The next state with patterns on the failure chain, past the state itself (0: none).
    private let dictionaryLink: UnsafeMutablePointer<Int32>

    /// Number of automaton states (for diagnostics and benchmarks).
    public let stateCount: Int

    deinit {
        bmpSymbols16?.deallocate()
        bmpSymbols32?.deallocate()
        for pointer in [UnsafeMutableRawPointer(rootRow), UnsafeMutableRawPointer(states), UnsafeMutableRawPointer(reportFrom),
                        UnsafeMutableRawPointer(edges), UnsafeMutableRawPointer(outputStart),
                        UnsafeMutableRawPointer(outputPatterns), UnsafeMutableRawPointer(dictionaryLink)] {
            pointer.deallocate()
        }
    }

    private static func copy<T>(_ array: [T]) -> UnsafeMutablePointer<T> {
        let pointer = UnsafeMutablePointer<T>.allocate(capacity: max(array.count, 1))
        array.withUnsafeBufferPointer { if let base = $0.baseAddress { pointer.initialize(from: base, count: array.count) } }
        return pointer
    }

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
        // Trie: one transition table keyed by state and symbol (build time only).
        var transitions: [UInt64: Int32] = [:]
        transitions.reserveCapacity(patterns.reduce(0) { $0 + $1.count })
        @inline(__always) func key(_ state: Int32, _ c: Int32) -> UInt64 { UInt64(UInt32(state)) << 32 | UInt64(UInt32(c)) }
        var created: [Edge] = [] // in creation order; `target` is the new state, whose parent is `parents`
        var parents: [Int32] = []
        var ownPairs: [(state: Int32, pattern: Int32)] = []
        var stateCount = 1
        for (id, pattern) in patterns.enumerated() {
            var state: Int32 = 0
            for scalar in pattern {
                let c = symbol(scalar)
                if let next = transitions[key(state, c)] {
                    state = next
                } else {
                    let next = Int32(stateCount)
                    stateCount += 1
                    transitions[key(state, c)] = next
                    created.append(Edge(symbol: c, target: next))
                    parents.append(state)
                    state = next
                }
            }
            ownPairs.append((state, Int32(id)))
        }
        // Children of each state, sorted by symbol (CSR over `created`).
        let order = created.indices.sorted { (parents[$0], created[$0].symbol) < (parents[$1], created[$1].symbol) }
        let edges = order.map { created[$0] }
        var childStart = [Int32](repeating: 0, count: stateCount + 1)
        for parent in parents { childStart[Int(parent) + 1] += 1 }
        for state in 0..<stateCount { childStart[state + 1] += childStart[state] }
        var hasOwn = [Bool](repeating: false, count: stateCount)
        for pair in ownPairs { hasOwn[Int(pair.state)] = true }
        // Breadth-first failure and dictionary links.
        var failure = [Int32](repeating: 0, count: stateCount)
        var dictionary = [Int32](repeating: -1, count: stateCount)
        var queue: [Int32] = []
        queue.reserveCapacity(stateCount)
        for k in Int(childStart[0])..<Int(childStart[1]) { queue.append(edges[k].target) }
        var head = 0
        while head < queue.count {
            let state = queue[head]
            head += 1
            for k in Int(childStart[Int(state)])..<Int(childStart[Int(state) + 1]) {
                let (c, child) = (edges[k].symbol, edges[k].target)
                var f = failure[Int(state)]
                while true {
                    if let next = transitions[key(f, c)], next != child { failure[Int(child)] = next; break }
                    if f == 0 { failure[Int(child)] = 0; break }
                    f = failure[Int(f)]
                }
                queue.append(child)
            }
        }
        for state in queue {
            let f = failure[Int(state)]
            dictionary[Int(state)] = hasOwn[Int(f)] ? f : dictionary[Int(f)]
        }
        // Flatten, renumbering states in breadth-first order: the shallow states, which nearly every
        // step visits, then sit together in memory (and so do their edges).
        var renumbered = [Int32](repeating: 0, count: stateCount)
        for (k, state) in queue.enumerated() { renumbered[Int(state)] = Int32(k + 1) }
        let byNewID = [Int32(0)] + queue
        @inline(__always) func new(_ old: Int32) -> Int32 { renumbered[Int(old)] }
        let reportFrom = byNewID.map { old in hasOwn[Int(old)] ? new(old) : dictionary[Int(old)] > 0 ? new(dictionary[Int(old)]) : 0 }
        @inline(__always) func target(_ old: Int32) -> Int32 { reportFrom[Int(new(old))] > 0 ? ~new(old) : new(old) }
        var rootRow = [Int32](repeating: 0, count: Int(symbolCount) + 1)
        for k in Int(childStart[0])..<Int(childStart[1]) { rootRow[Int(edges[k].symbol)] = target(edges[k].target) }
        var states: [State] = []
        states.reserveCapacity(stateCount)
        var flatEdges: [Edge] = []
        flatEdges.reserveCapacity(edges.count)
        for old in byNewID {
            let start = Int32(flatEdges.count)
            var filter: UInt32 = 0
            let children = Int(childStart[Int(old)])..<Int(childStart[Int(old) + 1])
            var count = Int32(children.count)
            if children.count > LiteralAutomaton.sortedEdgeLimit && old != 0 {
                // Many children: an open-addressing table of at least twice their number (symbol 0: empty).
                var size = 16
                while size < 2 * children.count { size *= 2 }
                flatEdges.append(contentsOf: repeatElement(Edge(symbol: 0, target: 0), count: size))
                for k in children {
                    var slot = Int(edges[k].symbol) & (size - 1)
                    while flatEdges[Int(start) + slot].symbol != 0 { slot = (slot + 1) & (size - 1) }
                    flatEdges[Int(start) + slot] = Edge(symbol: edges[k].symbol, target: target(edges[k].target))
                    filter |= 1 << UInt32(edges[k].symbol & 31)
                }
                count = -Int32(size)
            } else {
                for k in children {
                    flatEdges.append(Edge(symbol: edges[k].symbol, target: target(edges[k].target)))
                    filter |= 1 << UInt32(edges[k].symbol & 31)
                }
            }
            states.append(State(edgeStart: start, edgeCount: count, failure: new(failure[Int(old)]), symbolFilter: filter))
        }
        // Patterns per state (CSR), in pattern order.
        var outputStart = [Int32](repeating: 0, count: stateCount + 1)
        for pair in ownPairs { outputStart[Int(new(pair.state)) + 1] += 1 }
        for state in 0..<stateCount { outputStart[state + 1] += outputStart[state] }
        var fill = outputStart
        var outputPatterns = [Int32](repeating: 0, count: ownPairs.count)
        for pair in ownPairs { outputPatterns[Int(fill[Int(new(pair.state))])] = pair.pattern; fill[Int(new(pair.state))] += 1 }
        let dictionaryLink = byNewID.map { dictionary[Int($0)] > 0 ? new(dictionary[Int($0)]) : 0 }
        self.stateCount = stateCount
        if symbolCount < 0x10000 {
            bmpSymbols16 = LiteralAutomaton.copy(bmp.map { UInt16(truncatingIfNeeded: $0) })
            bmpSymbols32 = nil
        } else {
            bmpSymbols16 = nil
            bmpSymbols32 = LiteralAutomaton.copy(bmp)
        }
        self.otherSymbols = other
        self.rootRow = LiteralAutomaton.copy(rootRow)
        self.states = LiteralAutomaton.copy(states)
        self.reportFrom = LiteralAutomaton.copy(reportFrom)
        self.edges = LiteralAutomaton.copy(flatEdges)
        self.outputStart = LiteralAutomaton.copy(outputStart)
        self.outputPatterns = LiteralAutomaton.copy(outputPatterns)
        self.dictionaryLink = LiteralAutomaton.copy(dictionaryLink)
    }

    /// The symbol of a scalar (0: in no pattern).
    @inline(__always)
    func symbol(_ scalar: UInt32) -> Int32 {
        guard scalar < 0x10000 else { return otherSymbols[scalar] ?? 0 }
        if let table = bmpSymbols16 { return Int32(table[Int(scalar)]) }
        return bmpSymbols32.unsafelyUnwrapped[Int(scalar)]
    }

    /// States with more children than this keep them in a hash table (`edgeCount` is then minus its size).
    private static let sortedEdgeLimit = 8

    @inline(__always)
    private func child(_ state: State, _ c: Int32) -> Int32? {
        let start = Int(state.edgeStart)
        if state.edgeCount >= 0 {
            for k in start..<start + Int(state.edgeCount) where edges[k].symbol == c { return edges[k].target }
            return nil
        }
        let mask = Int(-state.edgeCount) - 1
        var slot = Int(c) & mask
        while true {
            let edge = edges[start + slot]
            if edge.symbol == c { return edge.target }
            if edge.symbol == 0 { return nil }
            slot = (slot + 1) & mask
        }
    }

    /// Advances `state` by one scalar; returns the first state on the new state's failure chain that has
    /// patterns to report (see ``forEachPattern(reportedBy:_:)``), or 0 when none ends here.
    @inline(__always)
    func step(_ state: inout Int32, _ scalar: UInt32) -> Int32 {
        step(&state, symbol: symbol(scalar))
    }

    /// ``step(_:_:)`` for a scalar whose symbol the caller has looked up (see ``PlainSymbolTable``).
    @inline(__always)
    func step(_ state: inout Int32, symbol c: Int32) -> Int32 {
        if c == 0 { state = 0; return 0 }
        var target: Int32
        while true {
            if state == 0 { target = rootRow[Int(c)]; break }
            let record = states[Int(state)]
            if record.symbolFilter & 1 << UInt32(c & 31) != 0, let next = child(record, c) { target = next; break }
            state = record.failure
        }
        if target >= 0 { state = target; return 0 }
        state = ~target
        return reportFrom[Int(state)]
    }

    /// Calls `body(patternID)` for every pattern ending at a step that returned `reporting`.
    @inline(__always)
    func forEachPattern(reportedBy reporting: Int32, _ body: (Int) -> Void) {
        var out = reporting
        while out > 0 {
            for k in Int(outputStart[Int(out)])..<Int(outputStart[Int(out) + 1]) { body(Int(outputPatterns[k])) }
            out = dictionaryLink[Int(out)]
        }
    }
}

/// The literal automaton's symbols fused with the normalization's "kept as itself" bit, for the hot
/// loops' fast path: for each BMP scalar from U+0800 that normalization keeps unchanged (nearly all
/// Chinese text), its automaton symbol; `PlainSymbolTable.general` for every other scalar (ASCII, the
/// 2-byte range, surrogates, anything folded, dropped or a filler, digits, symbols that do not fit 16
/// bits), which takes the general path. A scalar on the fast path ends any run of digits. One 2-byte read replaces the keep-bit test and the symbol lookup, and
/// a valid 3-byte UTF-8 sequence needs no range checks of its own (the table rejects overlong forms and
/// surrogates). Immutable; shared by every scanner — hence `@unchecked Sendable` (its table is a raw
/// buffer written only in `init`).
final class PlainSymbolTable: @unchecked Sendable {
    static let general: UInt16 = 0xFFFF
    let entries: UnsafeMutablePointer<UInt16>

    init(automaton: LiteralAutomaton, tables: NormalizationTables) {
        entries = .allocate(capacity: 0x10000)
        for value in 0..<UInt32(0x10000) {
            var entry = PlainSymbolTable.general
            if value >= 0x800, !(0xD800...0xDFFF).contains(value), value != 0xFF08, tables.isPlainKeep(value),
               !tables.countsAsDigit(value) {
                let symbol = automaton.symbol(value)
                if symbol < Int32(PlainSymbolTable.general) { entry = UInt16(symbol) }
            }
            entries[Int(value)] = entry
        }
    }

    deinit { entries.deallocate() }
}
