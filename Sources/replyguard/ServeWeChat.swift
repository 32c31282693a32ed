import ArgumentParser
import Foundation
import ReplyGuardServer

extension WeChatMode: ExpressibleByArgument {}
extension WeChatUpstreamProtocol: ExpressibleByArgument {}

/// `serve`'s options for a WeChat official account's callback (docs/wechat.md). Given
/// `--wechat-token-file`, the account's server URL (服务器地址) points at `--wechat-path` on this server.
struct WeChatOptions: ParsableArguments {
    @Option(name: .customLong("wechat-token-file"), help: ArgumentHelp("Serve a WeChat official account's callback: file holding the account's Token (令牌; readable by its owner only).", valueName: "file"))
    var tokenFile: String?

    @Option(name: .customLong("wechat-aes-key-file"), help: ArgumentHelp("File holding the account's EncodingAESKey (消息加解密密钥, 43 characters; safe and compatible modes).", valueName: "file"))
    var aesKeyFile: String?

    @Option(name: .customLong("wechat-appid"), help: ArgumentHelp("The account's AppID (checked inside every encrypted message).", valueName: "id"))
    var appID: String?

    @Option(name: .customLong("wechat-secret-file"),
            help: ArgumentHelp("File holding the account's AppSecret, for the customer-service API (late and approved replies; without it they are not sent).", valueName: "file"))
    var secretFile: String?

    @Option(name: .customLong("wechat-mode"), help: ArgumentHelp("The account's message encryption setting: safe (安全模式), compatible (兼容模式) or plain (明文模式; needs --wechat-allow-plain).", valueName: "mode"))
    var mode: WeChatMode = .safe

    @Flag(name: .customLong("wechat-allow-plain"), help: "Accept plain-mode pushes, whose signature does not cover the message (anyone who captured one query string can send any message within the timestamp window).")
    var allowPlain = false

    @Option(name: .customLong("wechat-upstream"), help: ArgumentHelp("The bot: its own callback URL (plain XML forwarded), or an OpenAI-compatible base URL with --wechat-upstream-protocol openai.", valueName: "url"))
    var upstream: String?

    @Option(name: .customLong("wechat-upstream-protocol"), help: ArgumentHelp("callback (the bot's WeChat callback, plain XML) or openai (POST …/chat/completions, non-streaming).", valueName: "protocol"))
    var upstreamProtocol: WeChatUpstreamProtocol = .callback

    @Option(name: .customLong("wechat-upstream-key-file"), help: ArgumentHelp("File holding the upstream's API key (sent as Authorization: Bearer; openai protocol).", valueName: "file"))
    var upstreamKeyFile: String?

    @Option(name: .customLong("wechat-upstream-model"), help: ArgumentHelp("The model named in chat completions requests (openai protocol; e.g. deepseek-chat, qwen-plus).", valueName: "name"))
    var upstreamModel = "deepseek-chat"

    @Option(name: .customLong("wechat-upstream-timeout"), help: ArgumentHelp("Seconds the bot may take in all; a reply later than the answer budget goes through the customer-service API.", valueName: "seconds"))
    var upstreamTimeout: Double = 60

    @Option(name: .customLong("wechat-budget"), help: ArgumentHelp("Seconds to answer the platform within (it gives up after 5): past it the answer is 'success' and the reply follows through the customer-service API.", valueName: "seconds"))
    var budget: Double = 4.5

    @Option(name: .customLong("wechat-path"), help: ArgumentHelp("The callback path (the server URL the account is configured with).", valueName: "path"))
    var path = "/wechat"

    @Option(name: .customLong("wechat-api-base"), help: ArgumentHelp("The platform's API (access token, customer-service messages).", valueName: "url"))
    var apiBase = "https://api.weixin.qq.com"

    @Option(name: .customLong("wechat-max-skew"), help: ArgumentHelp("Seconds a push's timestamp may differ from this server's clock.", valueName: "seconds"))
    var maxSkew: Double = 300

    @Option(name: .customLong("wechat-review-poll"), help: ArgumentHelp("Seconds between looks for approved replies to send.", valueName: "seconds"))
    var reviewPoll: Double = 5

    func validate() throws {
        guard tokenFile != nil else {
            if upstream != nil || aesKeyFile != nil || appID != nil { throw ValidationError("the --wechat-… options need --wechat-token-file (the account's Token)") }
            return
        }
        guard upstream != nil else { throw ValidationError("--wechat-token-file needs --wechat-upstream (the bot's callback URL or an OpenAI-compatible URL)") }
        guard let appID, !appID.isEmpty else { throw ValidationError("--wechat-token-file needs --wechat-appid (the account's AppID)") }
        if mode == .plain, !allowPlain {
            throw ValidationError("--wechat-mode plain is refused without --wechat-allow-plain: a plain push's signature does not cover its message; switch the account to safe mode (安全模式) instead")
        }
        if mode != .plain, aesKeyFile == nil { throw ValidationError("--wechat-mode \(mode.rawValue) needs --wechat-aes-key-file (the account's EncodingAESKey)") }
        guard path.hasPrefix("/"), !path.hasPrefix("/v1/"), path != "/review", path != "/healthz", path != "/metrics" else {
            throw ValidationError("--wechat-path takes a path of its own starting with / (not under /v1, /review, /healthz or /metrics)")
        }
        guard (0.05...4.9).contains(budget) else { throw ValidationError("--wechat-budget takes 0.05 to 4.9 seconds (the platform waits 5)") }
        guard (1...86_400).contains(maxSkew), (0.05...3600).contains(reviewPoll), (1...3600).contains(upstreamTimeout) else {
            throw ValidationError("--wechat-max-skew takes 1 to 86400 s, --wechat-review-poll 0.05 to 3600 s, --wechat-upstream-timeout 1 to 3600 s")
        }
        for url in [upstream!, apiBase] where !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
            throw ValidationError("\(url) is not an http:// or https:// URL")
        }
    }

    /// The configuration, secrets read from their files; nil when no account is configured.
    func configuration() throws -> WeChatConfiguration? {
        guard let tokenFile, let upstream, let appID else { return nil }
        var configuration = WeChatConfiguration(
            token: try Serve.secret(tokenFile, named: "the --wechat-token-file file"), encodingAESKey: try aesKeyFile.map { try Serve.secret($0, named: "the --wechat-aes-key-file file") },
            appID: appID, appSecret: try secretFile.map { try Serve.secret($0, named: "the --wechat-secret-file file") }, mode: mode,
            upstream: upstream, upstreamProtocol: upstreamProtocol, upstreamKey: try upstreamKeyFile.map { try Serve.secret($0, named: "the --wechat-upstream-key-file file") })
        configuration.path = path
        configuration.upstreamModel = upstreamModel
        configuration.upstreamTimeout = upstreamTimeout
        configuration.budget = budget
        configuration.apiBase = apiBase
        configuration.maxSkew = maxSkew
        configuration.reviewPoll = reviewPoll
        return configuration
    }
}
