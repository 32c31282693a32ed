/// AES-256 (FIPS-197) in CBC mode without padding (NIST SP 800-38A), for the WeChat message crypto
/// (the only cipher replyguard uses; TLS is NIOSSL's). In-tree so the build compiles one BoringSSL (NIOSSL's)
/// instead of two: swift-crypto's copy was about half the clean build.
///
/// Constant-time: no table is indexed by key or data. SubBytes is computed, eight bytes at a time in a
/// `UInt64`: the inverse in GF(2⁸) as x²⁵⁴ with masked (branch-free) multiplications, then the affine
/// map; `xtime` masks instead of branching. Slower than a table (a few microseconds a block in a release
/// build), which a callback's few kilobytes do not notice.
package struct AES256CBC: Sendable {
    /// Wrong sizes (a caller's error: WeChatCrypto checks them first).
    package struct SizeError: Error, CustomStringConvertible {
        package let description: String
    }

    /// The 15 round keys, 16 bytes each.
    private let roundKeys: [UInt8]

    package init(key: [UInt8]) throws(SizeError) {
        guard key.count == 32 else { throw SizeError(description: "an AES-256 key is 32 bytes, not \(key.count)") }
        roundKeys = AES256CBC.expand(key)
    }

    /// CBC encryption of whole 16-byte blocks (the caller pads).
    package func encrypt(_ plain: [UInt8], iv: [UInt8]) throws(SizeError) -> [UInt8] {
        try AES256CBC.check(plain, iv)
        var out = [UInt8](repeating: 0, count: plain.count)
        var chain = iv
        var block = [UInt8](repeating: 0, count: 16)
        for start in stride(from: 0, to: plain.count, by: 16) {
            for i in 0..<16 { block[i] = plain[start + i] ^ chain[i] }
            encryptBlock(&block)
            for i in 0..<16 { out[start + i] = block[i] }
            chain = block
        }
        return out
    }

    /// CBC decryption of whole 16-byte blocks (the caller unpads).
    package func decrypt(_ cipher: [UInt8], iv: [UInt8]) throws(SizeError) -> [UInt8] {
        try AES256CBC.check(cipher, iv)
        var out = [UInt8](repeating: 0, count: cipher.count)
        var chain = iv
        var block = [UInt8](repeating: 0, count: 16)
        for start in stride(from: 0, to: cipher.count, by: 16) {
            let current = Array(cipher[start..<(start + 16)])
            block = current
            decryptBlock(&block)
            for i in 0..<16 { out[start + i] = block[i] ^ chain[i] }
            chain = current
        }
        return out
    }

    private static func check(_ data: [UInt8], _ iv: [UInt8]) throws(SizeError) {
        guard iv.count == 16 else { throw SizeError(description: "a CBC IV is 16 bytes, not \(iv.count)") }
        guard data.count % 16 == 0 else { throw SizeError(description: "CBC without padding takes whole 16-byte blocks, not \(data.count) bytes") }
    }

    // MARK: - The block cipher (state byte r + 4c is row r, column c, as FIPS-197 lays out the input)

    /// Encrypts one block in place (FIPS-197 §5.1).
    func encryptBlock(_ s: inout [UInt8]) {
        addRoundKey(&s, 0)
        for round in 1...14 {
            AES256CBC.subBytes(&s, inverse: false)
            AES256CBC.shiftRows(&s, inverse: false)
            if round < 14 { AES256CBC.mixColumns(&s, inverse: false) }
            addRoundKey(&s, round)
        }
    }

    /// Decrypts one block in place (the inverse cipher, FIPS-197 §5.3).
    func decryptBlock(_ s: inout [UInt8]) {
        addRoundKey(&s, 14)
        for round in stride(from: 13, through: 0, by: -1) {
            AES256CBC.shiftRows(&s, inverse: true)
            AES256CBC.subBytes(&s, inverse: true)
            addRoundKey(&s, round)
            if round > 0 { AES256CBC.mixColumns(&s, inverse: true) }
        }
    }

    private func addRoundKey(_ s: inout [UInt8], _ round: Int) {
        for i in 0..<16 { s[i] ^= roundKeys[16 * round + i] }
    }

    /// Key expansion for Nk = 8, Nr = 14 (FIPS-197 §5.2): 60 words.
    private static func expand(_ key: [UInt8]) -> [UInt8] {
        var w = key
        w.reserveCapacity(240)
        var rcon: UInt8 = 1
        for i in 8..<60 {
            var t = Array(w[(4 * i - 4)..<(4 * i)])
            if i % 8 == 0 {
                t = [t[1], t[2], t[3], t[0]]
                t = subWord(t)
                t[0] ^= rcon
                rcon = xtime(rcon)
            } else if i % 8 == 4 {
                t = subWord(t)
            }
            for j in 0..<4 { w.append(w[4 * (i - 8) + j] ^ t[j]) }
        }
        return w
    }

    private static func subWord(_ t: [UInt8]) -> [UInt8] {
        let packed = UInt64(t[0]) | UInt64(t[1]) << 8 | UInt64(t[2]) << 16 | UInt64(t[3]) << 24
        let out = sbox(packed)
        return (0..<4).map { UInt8(truncatingIfNeeded: out >> (8 * UInt64($0))) }
    }

    private static func subBytes(_ s: inout [UInt8], inverse: Bool) {
        for half in 0..<2 {
            var packed: UInt64 = 0
            for i in 0..<8 { packed |= UInt64(s[8 * half + i]) << (8 * UInt64(i)) }
            let out = inverse ? inverseSbox(packed) : sbox(packed)
            for i in 0..<8 { s[8 * half + i] = UInt8(truncatingIfNeeded: out >> (8 * UInt64(i))) }
        }
    }

    private static func shiftRows(_ s: inout [UInt8], inverse: Bool) {
        let old = s
        for r in 1..<4 {
            for c in 0..<4 {
                let from = inverse ? (c - r + 4) % 4 : (c + r) % 4
                s[r + 4 * c] = old[r + 4 * from]
            }
        }
    }

    private static func mixColumns(_ s: inout [UInt8], inverse: Bool) {
        for c in 0..<4 {
            let a0 = s[4 * c], a1 = s[4 * c + 1], a2 = s[4 * c + 2], a3 = s[4 * c + 3]
            if inverse {
                s[4 * c] = mul14(a0) ^ mul11(a1) ^ mul13(a2) ^ mul9(a3)
                s[4 * c + 1] = mul9(a0) ^ mul14(a1) ^ mul11(a2) ^ mul13(a3)
                s[4 * c + 2] = mul13(a0) ^ mul9(a1) ^ mul14(a2) ^ mul11(a3)
                s[4 * c + 3] = mul11(a0) ^ mul13(a1) ^ mul9(a2) ^ mul14(a3)
            } else {
                let t = a0 ^ a1 ^ a2 ^ a3
                s[4 * c] = a0 ^ t ^ xtime(a0 ^ a1)
                s[4 * c + 1] = a1 ^ t ^ xtime(a1 ^ a2)
                s[4 * c + 2] = a2 ^ t ^ xtime(a2 ^ a3)
                s[4 * c + 3] = a3 ^ t ^ xtime(a3 ^ a0)
            }
        }
    }

    // MARK: - GF(2⁸) arithmetic, branch-free

    /// Multiplication by x modulo x⁸ + x⁴ + x³ + x + 1.
    static func xtime(_ a: UInt8) -> UInt8 { a << 1 ^ (0x1B & (0 &- (a >> 7))) }
    private static func mul9(_ a: UInt8) -> UInt8 { xtime(xtime(xtime(a))) ^ a }
    private static func mul11(_ a: UInt8) -> UInt8 { xtime(xtime(xtime(a)) ^ a) ^ a }
    private static func mul13(_ a: UInt8) -> UInt8 { xtime(xtime(xtime(a) ^ a)) ^ a }
    private static func mul14(_ a: UInt8) -> UInt8 { xtime(xtime(xtime(a) ^ a) ^ a) }

    private static let lanes: UInt64 = 0x0101_0101_0101_0101

    /// `xtime` in each of the eight byte lanes.
    private static func xtime8(_ a: UInt64) -> UInt64 { (a << 1 & 0xFEFE_FEFE_FEFE_FEFE) ^ ((a >> 7 & lanes) &* 0x1B) }

    /// The product in each byte lane: eight masked shift-and-adds, the same work whatever the bytes.
    private static func multiply8(_ a: UInt64, _ b: UInt64) -> UInt64 {
        var a = a, b = b, product: UInt64 = 0
        for _ in 0..<8 {
            product ^= a & ((b & lanes) &* 0xFF)
            a = xtime8(a)
            b = b >> 1 & 0x7F7F_7F7F_7F7F_7F7F
        }
        return product
    }

    /// The inverse in each lane (0 stays 0): x²⁵⁴ = x²⁴⁰ · x¹² · x², by squares and products.
    private static func inverse8(_ x: UInt64) -> UInt64 {
        let x2 = multiply8(x, x)
        let x3 = multiply8(x2, x)
        let x6 = multiply8(x3, x3)
        let x12 = multiply8(x6, x6)
        let x15 = multiply8(x12, x3)
        let x30 = multiply8(x15, x15)
        let x60 = multiply8(x30, x30)
        let x120 = multiply8(x60, x60)
        let x240 = multiply8(x120, x120)
        return multiply8(multiply8(x240, x12), x2)
    }

    /// Rotates each byte lane left by `n` (1…7).
    private static func rotate8(_ b: UInt64, _ n: UInt64) -> UInt64 {
        let keep = ((0xFF as UInt64) >> n) &* lanes // the bits that stay in their lane when shifted left
        let wrap = ((1 << n) - 1) &* lanes // the low bits the lane's top bits wrap into
        return (b & keep) << n | (b >> (8 - n) & wrap)
    }

    /// S-box (FIPS-197 §5.1.1): inverse, then the affine map b ⊕ b⋘1 ⊕ b⋘2 ⊕ b⋘3 ⊕ b⋘4 ⊕ 0x63.
    static func sbox(_ x: UInt64) -> UInt64 {
        let b = inverse8(x)
        return b ^ rotate8(b, 1) ^ rotate8(b, 2) ^ rotate8(b, 3) ^ rotate8(b, 4) ^ (0x63 &* lanes)
    }

    /// Inverse S-box: the inverse affine map s⋘1 ⊕ s⋘3 ⊕ s⋘6 ⊕ 0x05, then the inverse.
    static func inverseSbox(_ s: UInt64) -> UInt64 {
        inverse8(rotate8(s, 1) ^ rotate8(s, 3) ^ rotate8(s, 6) ^ (0x05 &* lanes))
    }
}

/// SHA-1 (FIPS 180-4), for the WeChat signatures only (the platform's choice; not used for anything else).
package enum SHA1 {
    package static func hash(_ message: [UInt8]) -> [UInt8] {
        var h: [UInt32] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0]
        var data = message
        data.append(0x80)
        while data.count % 64 != 56 { data.append(0) }
        let bits = UInt64(message.count) &* 8
        for shift in stride(from: 56, through: 0, by: -8) { data.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift))) }
        var w = [UInt32](repeating: 0, count: 80)
        for start in stride(from: 0, to: data.count, by: 64) {
            for i in 0..<16 {
                let j = start + 4 * i
                w[i] = UInt32(data[j]) << 24 | UInt32(data[j + 1]) << 16 | UInt32(data[j + 2]) << 8 | UInt32(data[j + 3])
            }
            for i in 16..<80 {
                let x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]
                w[i] = x << 1 | x >> 31
            }
            var (a, b, c, d, e) = (h[0], h[1], h[2], h[3], h[4])
            for i in 0..<80 {
                let f: UInt32, k: UInt32
                switch i {
                case 0..<20: (f, k) = ((b & c) | (~b & d), 0x5A82_7999)
                case 20..<40: (f, k) = (b ^ c ^ d, 0x6ED9_EBA1)
                case 40..<60: (f, k) = ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC)
                default: (f, k) = (b ^ c ^ d, 0xCA62_C1D6)
                }
                let t = (a << 5 | a >> 27) &+ f &+ e &+ k &+ w[i]
                (e, d, c, b, a) = (d, c, b << 30 | b >> 2, a, t)
            }
            h[0] &+= a; h[1] &+= b; h[2] &+= c; h[3] &+= d; h[4] &+= e
        }
        return h.flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> (24 - 8 * UInt32($0))) } }
    }
}
