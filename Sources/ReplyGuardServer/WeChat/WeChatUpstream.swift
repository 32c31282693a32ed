import Foundation

/// How replyguard asks the bot behind the account.
public enum WeChatUpstreamProtocol: String, Sendable, CaseIterable {
    /// The bot's own callback URL: the push forwarded as plain XML (with the platform's `signature`,
    /// `timestamp` and `nonce`, so a bot that checks them with the same token still can); its passive
    /// reply XML read back (`success` or an empty body: nothing to say).
    case callback
    /// An OpenAI-compatible chat completions endpoint (DeepSeek, Qwen, vLLM, llama.cpp…), non-streaming:
    /// the user's text as the user message, the first choice's content as the reply.
    case openai
}

/// What the bot answered.
enum WeChatBotReply: Sendable, Equatable {
    /// A text reply.
    case text(String)
    /// Another kind of passive reply (news, image…): its XML, and its text fields joined (what is decided).
    case other(WeChatXML, text: String)
    /// Nothing to say (`success`, an empty body, or a message the OpenAI protocol has no words for).
    case nothing
    /// The bot could not be asked or answered something unreadable.
    case failed(String)
}

/// The bot behind the account (``WeChatUpstreamProtocol``).
struct WeChatUpstream: Sendable {
    let url: String
    let kind: WeChatUpstreamProtocol
    let apiKey: String?
    let model: String
    let systemPrompt: String?
    let timeout: TimeInterval
    let http: WeChatHTTP

    /// Asks the bot about `message` (the decrypted push; `plain` its XML bytes; `query` the platform's
    /// signature fields to forward).
    func ask(_ message: WeChatXML, plain: [UInt8], query: [String: String], completion: @escaping @Sendable (WeChatBotReply) -> Void) {
        switch kind {
        case .callback: askCallback(plain, query: query, completion: completion)
        case .openai: askOpenAI(message, completion: completion)
        }
    }

    private func askCallback(_ plain: [UInt8], query: [String: String], completion: @escaping @Sendable (WeChatBotReply) -> Void) {
        var target = url
        let forwarded = ["signature", "timestamp", "nonce", "openid"].compactMap { name in query[name].map { "\(name)=\(WeChatPlatformAPI.escape($0))" } }
        if !forwarded.isEmpty { target += (target.contains("?") ? "&" : "?") + forwarded.joined(separator: "&") }
        http.send(method: "POST", url: target, headers: [("Content-Type", "text/xml; charset=utf-8")], body: plain, timeout: timeout) { result in
            switch result {
            case .failure(let error):
                completion(.failed("the bot at \(url) did not answer: \(error)"))
            case .success(let reply):
                guard (200..<300).contains(reply.status) else { return completion(.failed("the bot at \(url) answered HTTP \(reply.status)")) }
                let text = String(decoding: reply.body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                if text.isEmpty || text == "success" { return completion(.nothing) }
                guard let xml = WeChatXML.parse(reply.body) else { return completion(.failed("the bot at \(url) answered something that is not a reply XML")) }
                // A field twice (two <Content>, two <MsgType>): replyguard would decide one, the platform might show the other.
                if let name = xml.repeatedField { return completion(.failed("the bot at \(url) answered a reply XML with <\(name)> more than once")) }
                if xml["MsgType"] == "text" { return completion(.text(xml["Content"] ?? "")) }
                // A non-text reply goes out as it came, its numbers written bare: one that is not digits
                // (`1&lt;/CreateTime&gt;&lt;Content&gt;…`) would write fields nobody decided.
                if let name = xml.fields.first(where: { WeChatXML.numeric.contains($0.name) && !$0.value.utf8.allSatisfy({ (0x30...0x39).contains($0) }) })?.name {
                    return completion(.failed("the bot at \(url) answered a reply XML whose <\(name)> is not a number"))
                }
                guard let words = WeChatUpstream.words(of: xml) else { return completion(.failed("the bot at \(url) answered a reply whose nested XML cannot be read")) }
                completion(.other(xml, text: words))
            }
        }
    }

    /// Fields of a reply that a user does not read as text (media ids, links).
    static let unread: Set<String> = ["ToUserName", "FromUserName", "CreateTime", "MsgType", "MediaId", "ThumbMediaId", "ArticleCount",
                                      "PicUrl", "Url", "MusicUrl", "HQMusicUrl"]

    /// The text fields of a non-text reply (titles, descriptions, music titles…), joined by line breaks:
    /// everything a user reads in it, nested elements' CDATA and escaped text alike. Nil when a nested
    /// element cannot be read (the reply is then refused, not published undecided).
    static func words(of xml: WeChatXML) -> String? {
        var words: [String] = []
        for (name, value) in xml.fields where !unread.contains(name) {
            if value.hasPrefix("<") {
                guard let nested = nestedWords(Substring(value)) else { return nil }
                words += nested
            } else {
                words.append(value)
            }
        }
        return words.joined(separator: "\n")
    }

    /// The text of nested XML (a news reply's `<Articles>`, a music reply's `<Music>`): CDATA sections and
    /// unescaped text, except inside ``unread`` elements.
    private static func nestedWords(_ xml: Substring) -> [String]? {
        var words: [String] = []
        var open: [String] = []
        var rest = xml
        while !rest.isEmpty {
            let reading = !unread.contains(open.last ?? "")
            if rest.hasPrefix("<![CDATA[") {
                guard let end = rest.range(of: "]]>") else { return nil }
                if reading { words.append(String(rest[rest.index(rest.startIndex, offsetBy: 9)..<end.lowerBound])) }
                rest = rest[end.upperBound...]
            } else if rest.hasPrefix("<!--") {
                guard let end = rest.range(of: "-->") else { return nil }
                rest = rest[end.upperBound...]
            } else if rest.hasPrefix("<") {
                guard let close = rest.firstIndex(of: ">") else { return nil }
                let tag = rest[rest.index(after: rest.startIndex)..<close]
                if tag.hasPrefix("/") {
                    open.removeLast(open.isEmpty ? 0 : 1)
                } else if !tag.hasSuffix("/") {
                    open.append(String(tag.prefix { !$0.isWhitespace }))
                }
                rest = rest[rest.index(after: close)...]
            } else {
                let next = rest.firstIndex(of: "<") ?? rest.endIndex
                guard let text = WeChatXML.unescape(rest[..<next]) else { return nil }
                if reading, !text.allSatisfy(\.isWhitespace) { words.append(text) }
                rest = rest[next...]
            }
        }
        return words
    }

    private func askOpenAI(_ message: WeChatXML, completion: @escaping @Sendable (WeChatBotReply) -> Void) {
        // Words the user sent: a text's content, a voice message's recognition. Events and media have none.
        let words: String?
        switch message["MsgType"] {
        case "text": words = message["Content"]
        case "voice": words = message["Recognition"].flatMap { $0.isEmpty ? nil : $0 }
        default: words = nil
        }
        guard let words else { return completion(.nothing) }
        var messages: [[String: String]] = []
        if let systemPrompt { messages.append(["role": "system", "content": systemPrompt]) }
        messages.append(["role": "user", "content": words])
        let object: [String: Any] = ["model": model, "messages": messages, "stream": false]
        guard let body = try? JSONSerialization.data(withJSONObject: object) else { return completion(.failed("cannot write the request")) }
        let target = url.hasSuffix("/chat/completions") ? url : (url.hasSuffix("/") ? String(url.dropLast()) : url) + "/chat/completions"
        var headers = [("Content-Type", "application/json")]
        if let apiKey { headers.append(("Authorization", "Bearer \(apiKey)")) }
        http.send(method: "POST", url: target, headers: headers, body: Array(body), timeout: timeout) { result in
            switch result {
            case .failure(let error):
                completion(.failed("the upstream \(target) did not answer: \(error)"))
            case .success(let reply):
                guard (200..<300).contains(reply.status) else { return completion(.failed("the upstream \(target) answered HTTP \(reply.status)")) }
                guard let object = (try? JSONSerialization.jsonObject(with: Data(reply.body))) as? [String: Any],
                      let choices = object["choices"] as? [[String: Any]], let first = choices.first,
                      let content = (first["message"] as? [String: Any])?["content"] as? String else {
                    return completion(.failed("the upstream \(target) answered no choices[0].message.content"))
                }
                if let why = ChatProxy.ambiguity(reply.body, "the completion of \(target)") { return completion(.failed(why)) }
                completion(content.isEmpty ? .nothing : .text(content))
            }
        }
    }
}
