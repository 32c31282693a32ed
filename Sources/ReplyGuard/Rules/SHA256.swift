/// SHA-256 (FIPS 180-4), used for the policy digest so a decision can be tied to the exact rules used,
/// and for the checksum on a model file's `end` line.
struct SHA256 {
    private var state: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
    private var buffer: [UInt8] = []
    private var length: UInt64 = 0

    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    /// Adds bytes; contiguous input (arrays, slices) is hashed 64-byte block by block straight from
    /// its storage (a 2 MB model file in a few milliseconds).
    mutating func update<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
        let done: Void? = bytes.withContiguousStorageIfAvailable { update(contiguous: $0) }
        if done != nil { return }
        for byte in bytes {
            buffer.append(byte)
            length += 1
            if buffer.count == 64 { compressBuffer() }
        }
    }

    private mutating func update(contiguous input: UnsafeBufferPointer<UInt8>) {
        guard let base = input.baseAddress else { return }
        length += UInt64(input.count)
        var offset = 0
        if !buffer.isEmpty {
            let take = min(64 - buffer.count, input.count)
            buffer.append(contentsOf: UnsafeBufferPointer(start: base, count: take))
            offset = take
            if buffer.count < 64 { return }
            compressBuffer()
        }
        while input.count - offset >= 64 {
            compress(base + offset)
            offset += 64
        }
        buffer.append(contentsOf: UnsafeBufferPointer(start: base + offset, count: input.count - offset))
    }

    mutating func finalizeHex() -> String {
        let bitLength = length * 8
        var tail: [UInt8] = [0x80]
        while (buffer.count + tail.count) % 64 != 56 { tail.append(0) }
        for shift in stride(from: 56, through: 0, by: -8) { tail.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))) }
        update(tail)
        return state.map { word in
            let hex = String(word, radix: 16)
            return String(repeating: "0", count: 8 - hex.count) + hex
        }.joined()
    }

    private mutating func compressBuffer() {
        buffer.withUnsafeBufferPointer { compress($0.baseAddress!) }
        buffer.removeAll(keepingCapacity: true)
    }

    /// The round constants in raw memory (read without the array's bounds checks).
    private nonisolated(unsafe) static let roundConstants: UnsafePointer<UInt32> = {
        let table = UnsafeMutablePointer<UInt32>.allocate(capacity: 64)
        table.initialize(from: k, count: 64)
        return UnsafePointer(table)
    }()

    /// Mixes one 64-byte block into the state: the message schedule first, then the rounds in one flat
    /// loop over plain locals of the closure. No nested function captures the working variables: a debug
    /// build checked exclusivity on every captured access (2 MB took 1.24 s in a debug build, 64 ms now;
    /// 8.2 ms before and 8.6 ms now with -O), and hashing the shipped model files was most of every debug
    /// binary's start-up, which the CLI tests pay a few hundred times.
    private mutating func compress(_ block: UnsafePointer<UInt8>) {
        let initial = (state[0], state[1], state[2], state[3], state[4], state[5], state[6], state[7])
        let k = SHA256.roundConstants
        let result = withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { w in
            for i in 0..<16 {
                let j = 4 &* i
                w[i] = UInt32(block[j]) &<< 24 | UInt32(block[j &+ 1]) &<< 16 | UInt32(block[j &+ 2]) &<< 8 | UInt32(block[j &+ 3])
            }
            for i in 16..<64 {
                let w15 = w[i &- 15], w2 = w[i &- 2]
                let s0 = (w15 &>> 7 | w15 &<< 25) ^ (w15 &>> 18 | w15 &<< 14) ^ (w15 &>> 3)
                let s1 = (w2 &>> 17 | w2 &<< 15) ^ (w2 &>> 19 | w2 &<< 13) ^ (w2 &>> 10)
                w[i] = w[i &- 16] &+ s0 &+ w[i &- 7] &+ s1
            }
            var (a, b, c, d, e, f, g, h) = initial
            for i in 0..<64 {
                let sigma1 = (e &>> 6 | e &<< 26) ^ (e &>> 11 | e &<< 21) ^ (e &>> 25 | e &<< 7)
                let t1 = h &+ sigma1 &+ (g ^ (e & (f ^ g))) &+ k[i] &+ w[i]
                let sigma0 = (a &>> 2 | a &<< 30) ^ (a &>> 13 | a &<< 19) ^ (a &>> 22 | a &<< 10)
                let t2 = sigma0 &+ ((a & b) | (c & (a | b)))
                h = g
                g = f
                f = e
                e = d &+ t1
                d = c
                c = b
                b = a
                a = t1 &+ t2
            }
            return (a, b, c, d, e, f, g, h)
        }
        state[0] &+= result.0; state[1] &+= result.1; state[2] &+= result.2; state[3] &+= result.3
        state[4] &+= result.4; state[5] &+= result.5; state[6] &+= result.6; state[7] &+= result.7
    }

    static func hex(_ bytes: [UInt8]) -> String {
        var hasher = SHA256()
        hasher.update(bytes)
        return hasher.finalizeHex()
    }
}
