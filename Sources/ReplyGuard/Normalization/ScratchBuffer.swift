/// A growable array of plain values in one allocation, owned by a per-thread workspace and reused for
/// every message. Hot loops copy `base` into a local, write with `count` checked against `capacity`
/// by the caller's own reservation, and store `count` back: no per-element uniqueness or capacity checks.
struct ScratchBuffer<Element: BitwiseCopyable>: ~Copyable {
    private(set) var base: UnsafeMutablePointer<Element>
    private(set) var capacity: Int
    var count = 0

    init(capacity: Int = 256) {
        self.capacity = max(capacity, 16)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    /// Makes room for `needed` elements in total, keeping the first `count`.
    @inline(__always)
    mutating func reserve(_ needed: Int) {
        if needed > capacity { grow(needed) }
    }

    private mutating func grow(_ needed: Int) {
        let newCapacity = max(needed, capacity * 2)
        let newBase = UnsafeMutablePointer<Element>.allocate(capacity: newCapacity)
        newBase.update(from: base, count: count)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }

    @inline(__always)
    subscript(_ index: Int) -> Element {
        get { precondition(index >= 0 && index < count); return base[index] }
        set { precondition(index >= 0 && index < count); base[index] = newValue }
    }

    /// Appends, growing when needed (for cold paths; hot loops reserve once and write through `base`).
    mutating func append(_ element: Element) {
        reserve(count + 1)
        base[count] = element
        count += 1
    }

    var buffer: UnsafeBufferPointer<Element> { UnsafeBufferPointer(start: base, count: count) }
    var array: [Element] { Array(buffer) }
}
