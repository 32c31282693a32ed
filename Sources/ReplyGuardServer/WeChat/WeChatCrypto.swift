import Foundation

/// Why a push from the platform was refused (the numbers are WXBizMsgCrypt's, as EasyWeChat and the
/// official samples report them).
struct WeChatRefusal: Error, CustomStringConvertible, Equatable {
    let code: Int
    let description: String

    static func signature(_ what: String) -> WeChatRefusal { WeChatRefusal(code: -40001, description: "\(what) does not match (wrong token, or not from the platform)") }
    static func appID(_ found: String) -> WeChatRefusal { WeChatRefusal(code: -40005, description: "the message is for AppID \(jsonString(found)), not this account's") }
    static func decrypt(_ why: String) -> WeChatRefusal { WeChatRefusal(code: -40007, description: "cannot decrypt the message: \(why)") }
    static func malformed(_ why: String) -> WeChatRefusal { WeChatRefusal(code: -40002, description: why) }
}

/// The official account's message crypto (安全模式): SHA-1 signatures over the sorted strings, and
/// AES-256-CBC with the key from the EncodingAESKey, the IV its first 16 bytes, and the plaintext
/// `random(16) ‖ uint32_be(length) ‖ message ‖ AppID` padded PKCS#7 to a multiple of **32** bytes
/// (so pad values run 1…32, not 1…16 as a cipher library's own padding would have it).
struct WeChatCrypto: Sendable {
    let token: String
    let appID: String
    /// The cipher with the key expanded (nil: no EncodingAESKey, plain mode only).
    private let cipher: AES256CBC?
    private let iv: [UInt8]

    static let block = 32

    /// - Parameter encodingAESKey: the 43 characters from the account's settings (nil: plain mode only).
    init(token: String, encodingAESKey: String?, appID: String) throws(WeChatRefusal) {
        self.token = token
        self.appID = appID
        if let encodingAESKey {
            guard encodingAESKey.count == 43, let bytes = Data(base64Encoded: encodingAESKey + "="), bytes.count == 32 else {
                throw WeChatRefusal.malformed("the EncodingAESKey must be the 43 characters the account's settings show (base64 of 32 bytes)")
            }
            do { cipher = try AES256CBC(key: Array(bytes)) } catch { throw .malformed("the EncodingAESKey: \(error)") }
            iv = Array(bytes.prefix(16))
        } else {
            cipher = nil
            iv = []
        }
    }

    var hasKey: Bool { cipher != nil }

    /// `sha1(concat(sorted(parts)))` in lower-case hex.
    static func signature(_ parts: [String]) -> String {
        let joined = parts.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }.joined()
        return SHA1.hash(Array(joined.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Compares two signatures in time that does not depend on where they differ.
    static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.lowercased().utf8)
        let y = Array(b.lowercased().utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for i in x.indices { difference |= x[i] ^ y[i] }
        return difference == 0
    }

    /// The plain `signature` over the token, timestamp and nonce (URL verification, and every push).
    func checkSignature(_ signature: String, timestamp: String, nonce: String) throws(WeChatRefusal) {
        guard WeChatCrypto.same(WeChatCrypto.signature([token, timestamp, nonce]), signature) else { throw .signature("signature") }
    }

    /// Checks `msg_signature` over the ciphertext first, then decrypts, unpads and checks the AppID.
    func decrypt(_ encrypted: String, msgSignature: String, timestamp: String, nonce: String) throws(WeChatRefusal) -> [UInt8] {
        guard WeChatCrypto.same(WeChatCrypto.signature([token, timestamp, nonce, encrypted]), msgSignature) else { throw .signature("msg_signature") }
        guard let aes = cipher else { throw .decrypt("no EncodingAESKey is configured") }
        guard let bytes = Data(base64Encoded: encrypted), !bytes.isEmpty, bytes.count % WeChatCrypto.block == 0 else {
            throw .decrypt("the ciphertext is not base64 of whole 32-byte blocks")
        }
        let padded: [UInt8]
        do {
            padded = try aes.decrypt(Array(bytes), iv: iv)
        } catch {
            throw .decrypt("AES-256-CBC failed (\(error))")
        }
        let plain = try WeChatCrypto.unpad(padded)
        guard plain.count >= 20 else { throw .decrypt("the plaintext is too short") }
        let length = plain[16..<20].reduce(0) { $0 << 8 | Int($1) }
        guard 20 + length <= plain.count else { throw .decrypt("the declared length \(length) runs past the plaintext") }
        let message = Array(plain[20..<(20 + length)])
        let id = String(decoding: plain[(20 + length)...], as: UTF8.self)
        guard id == appID else { throw .appID(id) }
        return message
    }

    /// Encrypts a reply for the platform (random prefix, length, message, AppID; PKCS#7 to 32 bytes), base64.
    func encrypt(_ message: [UInt8], random: [UInt8]? = nil) throws(WeChatRefusal) -> String {
        guard let aes = cipher else { throw .decrypt("no EncodingAESKey is configured") }
        var generator = SystemRandomNumberGenerator()
        let prefix = random ?? (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let length = UInt32(message.count)
        var plain = prefix + [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]
        plain += message + Array(appID.utf8)
        plain = WeChatCrypto.pad(plain)
        do {
            return Data(try aes.encrypt(plain, iv: iv)).base64EncodedString()
        } catch {
            throw .decrypt("AES-256-CBC failed (\(error))")
        }
    }

    /// PKCS#7 to a multiple of 32 bytes: 1…32 bytes of the pad length (a whole block when already aligned).
    static func pad(_ bytes: [UInt8]) -> [UInt8] {
        let count = block - bytes.count % block
        return bytes + [UInt8](repeating: UInt8(count), count: count)
    }

    /// Removes PKCS#7 padding to 32 bytes; a pad value outside 1…32, or pad bytes that disagree, is refused.
    static func unpad(_ bytes: [UInt8]) throws(WeChatRefusal) -> [UInt8] {
        guard let last = bytes.last, (1...block).contains(Int(last)), Int(last) <= bytes.count else {
            throw .decrypt("bad padding (pad value \(bytes.last.map(String.init) ?? "none"))")
        }
        guard bytes.suffix(Int(last)).allSatisfy({ $0 == last }) else { throw .decrypt("bad padding (pad bytes differ)") }
        return Array(bytes.dropLast(Int(last)))
    }
}
