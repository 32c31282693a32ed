/// Strict UTF-8 decoding that never fails: each byte of an invalid sequence is reported as U+FFFD.
enum UTF8Scanner {
    /// Calls `body(scalar, byteOffset, isValid)` for each scalar of `bytes`, in order.
    ///
    /// Rejects overlong forms, surrogates and values above U+10FFFF; an invalid or truncated sequence
    /// yields U+FFFD for its first byte and decoding resumes at the next byte.
    @inline(__always)
    static func forEachScalar(in bytes: UnsafeBufferPointer<UInt8>, _ body: (UInt32, Int, Bool) -> Void) {
        forEachScalarWhile(in: bytes) { body($0, $1, $2); return true }
    }

    /// Like ``forEachScalar(in:_:)``, stopping as soon as `body` returns false; returns false if it did.
    @inline(__always)
    @discardableResult
    static func forEachScalarWhile(in bytes: UnsafeBufferPointer<UInt8>, _ body: (UInt32, Int, Bool) -> Bool) -> Bool {
        let count = bytes.count
        var i = 0
        while i < count {
            let b0 = bytes[i]
            if b0 < 0x80 { if !body(UInt32(b0), i, true) { return false }; i += 1; continue }
            let (value, length) = decodeMultibyte(bytes, at: i)
            if length == 0 {
                if !body(0xFFFD, i, false) { return false }
                i += 1
            } else {
                if !body(value, i, true) { return false }
                i += length
            }
        }
        return true
    }

    /// Decodes the sequence starting at `bytes[i]` (a byte of 0x80 or more): the scalar and its length
    /// in bytes, or length 0 when the sequence is invalid or truncated.
    @inline(__always)
    static func decodeMultibyte(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int) -> (UInt32, Int) {
        let count = bytes.count
        let b0 = bytes[i]
        if b0 >= 0xC2 && b0 <= 0xDF, i + 1 < count, bytes[i + 1] & 0xC0 == 0x80 {
            return (UInt32(b0 & 0x1F) << 6 | UInt32(bytes[i + 1] & 0x3F), 2)
        } else if b0 >= 0xE0 && b0 <= 0xEF, i + 2 < count,
                  bytes[i + 1] & 0xC0 == 0x80, bytes[i + 2] & 0xC0 == 0x80 {
            let value = UInt32(b0 & 0x0F) << 12 | UInt32(bytes[i + 1] & 0x3F) << 6 | UInt32(bytes[i + 2] & 0x3F)
            if value >= 0x800 && !(0xD800...0xDFFF).contains(value) { return (value, 3) }
        } else if b0 >= 0xF0 && b0 <= 0xF4, i + 3 < count,
                  bytes[i + 1] & 0xC0 == 0x80, bytes[i + 2] & 0xC0 == 0x80, bytes[i + 3] & 0xC0 == 0x80 {
            let value = UInt32(b0 & 0x07) << 18 | UInt32(bytes[i + 1] & 0x3F) << 12
                | UInt32(bytes[i + 2] & 0x3F) << 6 | UInt32(bytes[i + 3] & 0x3F)
            if value >= 0x10000 && value <= 0x10FFFF { return (value, 4) }
        }
        return (0, 0)
    }

    /// Writes the UTF-8 encoding of `value` at `out` (room for 4 bytes) and returns its length.
    @inline(__always)
    static func encode(_ value: UInt32, into out: UnsafeMutablePointer<UInt8>) -> Int {
        switch value {
        case 0..<0x80:
            out[0] = UInt8(value)
            return 1
        case 0x80..<0x800:
            out[0] = UInt8(0xC0 | value >> 6); out[1] = UInt8(0x80 | value & 0x3F)
            return 2
        case 0x800..<0x10000:
            out[0] = UInt8(0xE0 | value >> 12); out[1] = UInt8(0x80 | value >> 6 & 0x3F); out[2] = UInt8(0x80 | value & 0x3F)
            return 3
        default:
            out[0] = UInt8(0xF0 | value >> 18); out[1] = UInt8(0x80 | value >> 12 & 0x3F)
            out[2] = UInt8(0x80 | value >> 6 & 0x3F); out[3] = UInt8(0x80 | value & 0x3F)
            return 4
        }
    }
}
