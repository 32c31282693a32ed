import Crypto

/// SHA-256 (FIPS 180-4), used for the policy digest so a decision can be tied to the exact rules used,
/// and for the checksum on a model file's `end` line.
///
/// Computed by swift-crypto (BoringSSL on Linux, CryptoKit on Apple platforms), which uses the CPU's SHA
/// instructions where it has them: the policy digest covers the 2 MB `offensive` model, and the
/// portable Swift implementation this replaced spent 160 M instructions on it — an eighth of the
/// start-up of `explain` with the shipped set — where BoringSSL spends about 5 M.
struct SHA256 {
    private var hasher = Crypto.SHA256()

    /// Adds bytes; contiguous input (arrays, slices) is hashed straight from its storage.
    mutating func update<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
        let done: Void? = bytes.withContiguousStorageIfAvailable { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        if done != nil { return }
        let copy = Array(bytes)
        copy.withUnsafeBytes { hasher.update(bufferPointer: $0) }
    }

    /// The digest as 64 lowercase hexadecimal digits.
    mutating func finalizeHex() -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(64)
        for byte in hasher.finalize() {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 15)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    static func hex(_ bytes: [UInt8]) -> String {
        var hasher = SHA256()
        hasher.update(bytes)
        return hasher.finalizeHex()
    }
}
