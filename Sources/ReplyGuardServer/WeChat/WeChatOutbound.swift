import Foundation

/// The WeChat front end's outbound HTTP over the server's outbound client.
struct WeChatOutbound: WeChatHTTP {
    func send(method: String, url: String, headers: [(String, String)], body: [UInt8], timeout: TimeInterval,
              completion: @escaping @Sendable (Result<OutboundReply, Error>) -> Void) {
        completion(.failure(ServeError("no outbound HTTP client yet")))
    }
}
