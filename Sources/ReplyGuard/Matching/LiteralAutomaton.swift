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
    /// Entries of `rootRow` (symbols + 1), `edges` and `outputPatterns`.
    private let rootRowCount: Int
    private let edgeCount: Int
    private let outputCount: Int

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
        let trie = Trie(patterns)
        let stateCount = trie.stateCount
        let (edges, childStart) = LiteralAutomaton.sortedChildren(trie)
        var hasOwn = [Bool](repeating: false, count: stateCount)
        for pair in trie.ownPairs { hasOwn[Int(pair.state)] = true }
        let (failure, queue) = LiteralAutomaton.failureLinks(trie, edges: edges, childStart: childStart)
        var dictionary = [Int32](repeating: -1, count: stateCount)
        for state in queue {
            let f = failure[Int(state)]
            dictionary[Int(state)] = hasOwn[Int(f)] ? f : dictionary[Int(f)]
        }
        // Flatten, renumbering states in breadth-first order: the shallow states, which nearly every
        // step visits, then sit together in memory (and so do their edges).
        let order = BreadthFirstOrder(queue, stateCount: stateCount)
        let reportFrom = order.byNewID.map { old in
            hasOwn[Int(old)] ? order.new(old) : dictionary[Int(old)] > 0 ? order.new(dictionary[Int(old)]) : 0
        }
        let flat = LiteralAutomaton.flatten(edges: edges, childStart: childStart, failure: failure, order: order,
                                            reportFrom: reportFrom, symbolCount: trie.symbolCount)
        let outputs = LiteralAutomaton.outputs(trie.ownPairs, order: order, stateCount: stateCount)
        let dictionaryLink = order.byNewID.map { dictionary[Int($0)] > 0 ? order.new(dictionary[Int($0)]) : 0 }
        self.stateCount = stateCount
        rootRowCount = flat.rootRow.count
        edgeCount = flat.edges.count
        outputCount = outputs.patterns.count
        if trie.symbolCount < 0x10000 {
            bmpSymbols16 = LiteralAutomaton.copy(trie.bmp.map { UInt16(truncatingIfNeeded: $0) })
            bmpSymbols32 = nil
        } else {
            bmpSymbols16 = nil
            bmpSymbols32 = LiteralAutomaton.copy(trie.bmp)
        }
        self.otherSymbols = trie.other
        self.rootRow = LiteralAutomaton.copy(flat.rootRow)
        self.states = LiteralAutomaton.copy(flat.states)
        self.reportFrom = LiteralAutomaton.copy(reportFrom)
        self.edges = LiteralAutomaton.copy(flat.edges)
        self.outputStart = LiteralAutomaton.copy(outputs.start)
        self.outputPatterns = LiteralAutomaton.copy(outputs.patterns)
        self.dictionaryLink = LiteralAutomaton.copy(dictionaryLink)
    }

    /// Writes the automaton's tables for the compiled-set cache (``init(reading:)`` reads them).
    func write(to writer: inout CacheWriter) {
        writer.int(patternCount)
        writer.raw(patternLengths)
        writer.int(stateCount)
        writer.bool(bmpSymbols16 != nil)
        if let bmpSymbols16 { writer.raw(bmpSymbols16, count: 0x10000) } else { writer.raw(bmpSymbols32!, count: 0x10000) }
        writer.raw(otherSymbols.keys.sorted())
        writer.raw(otherSymbols.keys.sorted().map { otherSymbols[$0]! })
        writer.raw(rootRow, count: rootRowCount)
        writer.raw(states, count: stateCount)
        writer.raw(reportFrom, count: stateCount)
        writer.raw(edges, count: edgeCount)
        writer.raw(outputStart, count: stateCount + 1)
        writer.raw(outputPatterns, count: outputCount)
        writer.raw(dictionaryLink, count: stateCount)
    }

    /// The tables ``write(to:)`` wrote. Every state, symbol, edge and output index is checked against the
    /// tables' sizes, so a damaged file is refused here instead of sending the matching loop (which
    /// reads raw memory unchecked) out of bounds.
    init(reading reader: inout CacheReader) throws(CacheFormatError) {
        let patternCount = try reader.int()
        self.patternCount = patternCount
        patternLengths = try reader.raw()
        let stateCount = try reader.int()
        guard patternCount >= 0, patternLengths.count == patternCount, stateCount >= 1, stateCount < Int(Int32.max) else {
            throw CacheFormatError("bad automaton sizes")
        }
        self.stateCount = stateCount
        // Read everything into arrays first, check, then copy into raw memory (nothing to free on failure).
        let narrow = try reader.bool()
        let symbols16: [UInt16] = narrow ? try reader.raw() : []
        let symbols32: [Int32] = narrow ? [] : try reader.raw()
        let otherKeys: [UInt32] = try reader.raw(), otherValues: [Int32] = try reader.raw()
        let rootRow: [Int32] = try reader.raw()
        let states: [State] = try reader.raw()
        let reportFrom: [Int32] = try reader.raw()
        let edges: [Edge] = try reader.raw()
        let outputStart: [Int32] = try reader.raw()
        let outputPatterns: [Int32] = try reader.raw()
        let dictionaryLink: [Int32] = try reader.raw()
        let symbolLimit = Int32(truncatingIfNeeded: rootRow.count)
        func isState(_ s: Int32) -> Bool { s >= 0 && Int(s) < stateCount }
        func isTarget(_ t: Int32) -> Bool { isState(t >= 0 ? t : ~t) }
        guard (narrow ? symbols16.count : symbols32.count) == 0x10000, otherKeys.count == otherValues.count,
              !rootRow.isEmpty, rootRow.count < Int(Int32.max), states.count == stateCount, reportFrom.count == stateCount,
              outputStart.count == stateCount + 1, dictionaryLink.count == stateCount,
              symbols16.allSatisfy({ Int32($0) < symbolLimit }), symbols32.allSatisfy({ $0 >= 0 && $0 < symbolLimit }),
              otherValues.allSatisfy({ $0 >= 0 && $0 < symbolLimit }),
              rootRow.allSatisfy(isTarget), reportFrom.allSatisfy(isState), dictionaryLink.allSatisfy(isState),
              edges.allSatisfy({ isTarget($0.target) }),
              states.allSatisfy({ state in
                  let size = state.edgeCount >= 0 ? Int(state.edgeCount) : Int(-Int64(state.edgeCount))
                  return isState(state.failure) && state.edgeStart >= 0 && Int(state.edgeStart) + size <= edges.count
                      && (state.edgeCount >= 0 || size.nonzeroBitCount == 1)
              }),
              outputStart.first == 0, Int(outputStart.last!) == outputPatterns.count,
              zip(outputStart, outputStart.dropFirst()).allSatisfy({ $0 <= $1 }),
              outputPatterns.allSatisfy({ $0 >= 0 && Int($0) < patternCount })
        else { throw CacheFormatError("automaton tables out of range") }
        var other: [UInt32: Int32] = [:]
        for (key, value) in zip(otherKeys, otherValues) { other[key] = value }
        otherSymbols = other
        rootRowCount = rootRow.count
        edgeCount = edges.count
        outputCount = outputPatterns.count
        bmpSymbols16 = narrow ? LiteralAutomaton.copy(symbols16) : nil
        bmpSymbols32 = narrow ? nil : LiteralAutomaton.copy(symbols32)
        self.rootRow = LiteralAutomaton.copy(rootRow)
        self.states = LiteralAutomaton.copy(states)
        self.reportFrom = LiteralAutomaton.copy(reportFrom)
        self.edges = LiteralAutomaton.copy(edges)
        self.outputStart = LiteralAutomaton.copy(outputStart)
        self.outputPatterns = LiteralAutomaton.copy(outputPatterns)
        self.dictionaryLink = LiteralAutomaton.copy(dictionaryLink)
    }

    /// The patterns' trie as built (build time only): dense symbol ids for scalars (1, 2, … in order of
    /// first use), one transition table keyed by state and symbol, the edges in creation order, and the
    /// state each pattern ends in.
    private struct Trie {
        var bmp = [Int32](repeating: 0, count: 0x10000)
        var other: [UInt32: Int32] = [:]
        var symbolCount: Int32 = 0
        var transitions = TransitionTable()
        /// In creation order; `target` is the new state, whose parent is `parents` at the same index.
        var created: [Edge] = []
        var parents: [Int32] = []
        var ownPairs: [(state: Int32, pattern: Int32)] = []
        var stateCount = 1

        init(_ patterns: [[UInt32]]) {
            transitions = TransitionTable(capacity: patterns.reduce(0) { $0 + $1.count })
            for (id, pattern) in patterns.enumerated() {
                var state: Int32 = 0
                for scalar in pattern {
                    let c = symbol(scalar)
                    if let next = transitions.value(Trie.key(state, c)) {
                        state = next
                    } else {
                        let next = Int32(stateCount)
                        stateCount += 1
                        transitions.insert(Trie.key(state, c), next)
                        created.append(Edge(symbol: c, target: next))
                        parents.append(state)
                        state = next
                    }
                }
                ownPairs.append((state, Int32(id)))
            }
        }

        /// The symbol of `scalar`, a new one if it has none yet.
        mutating func symbol(_ scalar: UInt32) -> Int32 {
            if scalar < 0x10000 {
                if bmp[Int(scalar)] == 0 { symbolCount += 1; bmp[Int(scalar)] = symbolCount }
                return bmp[Int(scalar)]
            }
            if let s = other[scalar] { return s }
            symbolCount += 1
            other[scalar] = symbolCount
            return symbolCount
        }

        @inline(__always) static func key(_ state: Int32, _ c: Int32) -> UInt64 { UInt64(UInt32(state)) << 32 | UInt64(UInt32(c)) }
    }

    /// The trie's transitions while it is built: (state, symbol) keys to states, open addressing with
    /// linear probing and a multiplicative hash (a `Dictionary` hashed every key with SipHash: 40 M
    /// instructions for the shipped packs' trie at every start). Never holds more than `capacity` keys.
    struct TransitionTable {
        private var keys: [UInt64]
        private var values: [Int32]
        private var mask: Int
        private var shift: UInt64

        init() { self.init(capacity: 0) }

        /// A table for up to `capacity` keys (at most three quarters full: the sum of the patterns'
        /// lengths bounds the trie's states, which shared prefixes keep well below it).
        init(capacity: Int) {
            var size = 16
            while size * 3 < capacity * 4 { size <<= 1 }
            keys = [UInt64](repeating: TransitionTable.empty, count: size)
            values = [Int32](repeating: 0, count: size)
            mask = size - 1
            shift = UInt64(64 - size.trailingZeroBitCount)
        }

        /// No key is all ones: a key's state and symbol are non-negative Int32s.
        private static let empty = UInt64.max

        @inline(__always) private func slot(_ key: UInt64) -> Int { Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift) }

        func value(_ key: UInt64) -> Int32? {
            var i = slot(key)
            while true {
                let k = keys[i]
                if k == key { return values[i] }
                if k == TransitionTable.empty { return nil }
                i = (i + 1) & mask
            }
        }

        /// Adds a key that is not in the table.
        mutating func insert(_ key: UInt64, _ value: Int32) {
            var i = slot(key)
            while keys[i] != TransitionTable.empty { i = (i + 1) & mask }
            keys[i] = key
            values[i] = value
        }
    }

    /// Children of each state, sorted by symbol: the trie's edges in that order, and where each state's
    /// children start (CSR; one more entry than states).
    /// Edges are bucketed by parent (a counting sort), then each state's few children sorted by symbol: a
    /// state has at most one child per symbol, so the order is the same as sorting every edge by
    /// (parent, symbol), which cost 39 M instructions at start-up with the shipped packs.
    private static func sortedChildren(_ trie: Trie) -> (edges: [Edge], childStart: [Int32]) {
        let (created, parents) = (trie.created, trie.parents)
        var childStart = [Int32](repeating: 0, count: trie.stateCount + 1)
        for parent in parents { childStart[Int(parent) + 1] += 1 }
        for state in 0..<trie.stateCount { childStart[state + 1] += childStart[state] }
        var next = childStart
        var order = [Int32](repeating: 0, count: created.count)
        for (index, parent) in parents.enumerated() {
            order[Int(next[Int(parent)])] = Int32(index)
            next[Int(parent)] += 1
        }
        for state in 0..<trie.stateCount where childStart[state + 1] - childStart[state] > 1 {
            order[Int(childStart[state])..<Int(childStart[state + 1])].sort { created[Int($0)].symbol < created[Int($1)].symbol }
        }
        let edges = order.map { created[Int($0)] }
        return (edges, childStart)
    }

    /// Breadth-first failure links: each state's failure state, and the states other than the root in
    /// breadth-first order.
    private static func failureLinks(_ trie: Trie, edges: [Edge], childStart: [Int32]) -> (failure: [Int32], queue: [Int32]) {
        var failure = [Int32](repeating: 0, count: trie.stateCount)
        var queue: [Int32] = []
        queue.reserveCapacity(trie.stateCount)
        for k in Int(childStart[0])..<Int(childStart[1]) { queue.append(edges[k].target) }
        var head = 0
        while head < queue.count {
            let state = queue[head]
            head += 1
            for k in Int(childStart[Int(state)])..<Int(childStart[Int(state) + 1]) {
                let (c, child) = (edges[k].symbol, edges[k].target)
                var f = failure[Int(state)]
                while true {
                    if let next = trie.transitions.value(Trie.key(f, c)), next != child { failure[Int(child)] = next; break }
                    if f == 0 { failure[Int(child)] = 0; break }
                    f = failure[Int(f)]
                }
                queue.append(child)
            }
        }
        return (failure, queue)
    }

    /// The final state numbering: the root, then the other states in breadth-first order.
    private struct BreadthFirstOrder {
        let renumbered: [Int32]
        /// Old state ids by new id.
        let byNewID: [Int32]

        init(_ queue: [Int32], stateCount: Int) {
            var renumbered = [Int32](repeating: 0, count: stateCount)
            for (k, state) in queue.enumerated() { renumbered[Int(state)] = Int32(k + 1) }
            self.renumbered = renumbered
            byNewID = [Int32(0)] + queue
        }

        @inline(__always) func new(_ old: Int32) -> Int32 { renumbered[Int(old)] }
    }

    /// The root's dense row, each state's record and the shared edge array, in the new numbering; an
    /// edge's target is complemented when that state reports (see ``Edge``). A state with more than
    /// ``sortedEdgeLimit`` children keeps them in an open-addressing table.
    private static func flatten(edges: [Edge], childStart: [Int32], failure: [Int32], order: BreadthFirstOrder,
                                reportFrom: [Int32], symbolCount: Int32) -> (rootRow: [Int32], states: [State], edges: [Edge]) {
        @inline(__always) func target(_ old: Int32) -> Int32 { reportFrom[Int(order.new(old))] > 0 ? ~order.new(old) : order.new(old) }
        var rootRow = [Int32](repeating: 0, count: Int(symbolCount) + 1)
        for k in Int(childStart[0])..<Int(childStart[1]) { rootRow[Int(edges[k].symbol)] = target(edges[k].target) }
        var states: [State] = []
        states.reserveCapacity(order.byNewID.count)
        var flatEdges: [Edge] = []
        flatEdges.reserveCapacity(edges.count)
        for old in order.byNewID {
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
            states.append(State(edgeStart: start, edgeCount: count, failure: order.new(failure[Int(old)]), symbolFilter: filter))
        }
        return (rootRow, states, flatEdges)
    }

    /// Patterns per state (CSR, new numbering), in pattern order.
    private static func outputs(_ ownPairs: [(state: Int32, pattern: Int32)], order: BreadthFirstOrder,
                                stateCount: Int) -> (start: [Int32], patterns: [Int32]) {
        var outputStart = [Int32](repeating: 0, count: stateCount + 1)
        for pair in ownPairs { outputStart[Int(order.new(pair.state)) + 1] += 1 }
        for state in 0..<stateCount { outputStart[state + 1] += outputStart[state] }
        var fill = outputStart
        var outputPatterns = [Int32](repeating: 0, count: ownPairs.count)
        for pair in ownPairs { outputPatterns[Int(fill[Int(order.new(pair.state))])] = pair.pattern; fill[Int(order.new(pair.state))] += 1 }
        return (outputStart, outputPatterns)
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
