import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// The WeChat front end's outbound HTTP over the server's ``OutboundHTTPClient`` (attached when the
/// server starts: until then every request fails).
final class WeChatOutbound: WeChatHTTP {
    private let client = NIOLockedValueBox<OutboundHTTPClient?>(nil)
    /// Response bodies larger than this fail (a bot's reply, the platform's JSON).
    static let limit = 1 << 20

    func attach(_ client: OutboundHTTPClient) { self.client.withLockedValue { $0 = client } }

    func send(method: String, url: String, headers: [(String, String)], body: [UInt8], timeout: TimeInterval,
              completion: @escaping @Sendable (Result<OutboundReply, Error>) -> Void) {
        guard let client = client.withLockedValue({ $0 }) else { return completion(.failure(WeChatError("the server has not started"))) }
        guard let target = OutboundURL(url) else { return completion(.failure(WeChatError("not an http(s) URL: \(url)"))) }
        let seconds = TimeAmount.milliseconds(Int64(max(0.001, timeout) * 1000))
        let request = OutboundRequest(url: target, method: HTTPMethod(rawValue: method), headers: headers, body: body,
                                      timeouts: OutboundTimeouts(connect: min(seconds, .seconds(10)), response: seconds, idle: seconds, total: seconds))
        client.fetch(request, limit: WeChatOutbound.limit).whenComplete { result in
            completion(result.map { OutboundReply(status: $0.status, body: $0.body) }.mapError { $0 as Error })
        }
    }
}

/// A WeChat front end that cannot start or cannot reach out (its configuration, the server not started,
/// a URL that is not http(s)).
public struct WeChatError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
