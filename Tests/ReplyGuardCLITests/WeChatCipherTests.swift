import ReplyGuardServer
import Testing

/// The in-tree AES-256-CBC and SHA-1 of the WeChat message crypto against the standards' known answers
/// (the wechatpy round trips in ``WeChatTests`` check them against another implementation, every pad value).
@Suite struct WeChatCipherTests {
    static func bytes(_ hex: String) -> [UInt8] {
        let digits = Array(hex.utf8)
        return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(decoding: digits[$0..<($0 + 2)], as: UTF8.self), radix: 16)! }
    }

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    /// FIPS-197 appendix C.3 (AES-256, one block): a CBC block with a zero IV is the cipher itself.
    @Test func fips197AES256KnownAnswer() throws {
        let aes = try AES256CBC(key: Array(0..<32))
        let plain = WeChatCipherTests.bytes("00112233445566778899aabbccddeeff")
        let cipher = try aes.encrypt(plain, iv: [UInt8](repeating: 0, count: 16))
        #expect(WeChatCipherTests.hex(cipher) == "8ea2b7ca516745bfeafc49904b496089")
        #expect(try aes.decrypt(cipher, iv: [UInt8](repeating: 0, count: 16)) == plain)
    }

    /// NIST SP 800-38A F.2.5 and F.2.6 (CBC-AES256, four blocks chained).
    @Test func sp800_38aCBCAES256KnownAnswer() throws {
        let aes = try AES256CBC(key: WeChatCipherTests.bytes("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4"))
        let iv = Array(UInt8(0)..<16)
        let plain = WeChatCipherTests.bytes(
            "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710")
        let expected = "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b"
        #expect(WeChatCipherTests.hex(try aes.encrypt(plain, iv: iv)) == expected)
        #expect(try aes.decrypt(WeChatCipherTests.bytes(expected), iv: iv) == plain)
        // Each block alone, chained by hand: CBC's IV for block i is ciphertext block i − 1.
        let blocks = WeChatCipherTests.bytes(expected)
        #expect(try aes.decrypt(Array(blocks[32..<48]), iv: Array(blocks[16..<32])) == Array(plain[32..<48]))
    }

    @Test func wrongSizesAreRefused() throws {
        #expect(throws: AES256CBC.SizeError.self) { try AES256CBC(key: Array(0..<16)) }
        let aes = try AES256CBC(key: Array(0..<32))
        #expect(throws: AES256CBC.SizeError.self) { try aes.decrypt(Array(0..<17), iv: Array(0..<16)) }
        #expect(throws: AES256CBC.SizeError.self) { try aes.encrypt(Array(0..<16), iv: Array(0..<8)) }
        #expect(try aes.encrypt([], iv: Array(0..<16)).isEmpty)
    }

    /// FIPS 180-4 examples, and lengths either side of the padding boundaries (55/56 and 63/64 bytes: one
    /// block or two), against Python's hashlib.
    @Test func sha1KnownAnswers() {
        func sha1(_ bytes: [UInt8]) -> String { WeChatCipherTests.hex(SHA1.hash(bytes)) }
        #expect(sha1(Array("abc".utf8)) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(sha1(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)) == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
        let expected = [0: "da39a3ee5e6b4b0d3255bfef95601890afd80709", 3: "0c7a623fd2bbc05b06423be359e4021d36e721ad",
                        55: "8ae2d46729cfe68ff927af5eec9c7d1b66d65ac2", 56: "636e2ec698dac903498e648bd2f3af641d3c88cb",
                        63: "6d942da0c4392b123528f2905c713a3ce28364bd", 64: "c6138d514ffa2135bfce0ed0b8fac65669917ec7",
                        119: "41c89d06001bab4ab78736b44efe7ce18ce6ae08", 120: "d3dbd653bd8597b7475321b60a36891278e6a04a",
                        1000: "c9c960a0b925474fab83942cc27d504fc24ac37b"]
        for (count, digest) in expected {
            #expect(sha1((0..<count).map { UInt8($0 % 251) }) == digest, "\(count) bytes")
        }
    }
}
