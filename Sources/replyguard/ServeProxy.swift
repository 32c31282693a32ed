import ArgumentParser
import Foundation
import ReplyGuardServer

/// `serve`'s options for the OpenAI-compatible chat proxy (docs/proxies.md): given `--upstream`,
/// `POST /v1/chat/completions` is forwarded there and what comes back is decided before the client sees it.
struct ProxyOptions: ParsableArguments {
    @Option(name: .customLong("upstream"), help: ArgumentHelp("Serve POST /v1/chat/completions in front of this OpenAI-compatible base URL (e.g. https://api.deepseek.com/v1).", valueName: "url"))
    var upstream: String?

    @Option(name: .customLong("upstream-key-file"), help: ArgumentHelp("File holding the upstream's API key (readable by its owner only; sent as Authorization: Bearer).", valueName: "file"))
    var keyFile: String?

    @Option(name: .customLong("upstream-key-env"), help: ArgumentHelp("Environment variable holding the upstream's API key.", valueName: "name"))
    var keyEnv: String?

    @Option(name: .customLong("upstream-connect-timeout"), help: ArgumentHelp("Seconds to connect to the upstream.", valueName: "seconds"))
    var connectTimeout: Double = 10

    @Option(name: .customLong("upstream-idle-timeout"), help: ArgumentHelp("Seconds the upstream may stay silent (before its answer starts, or between two reads of it).", valueName: "seconds"))
    var idleTimeout: Double = 60

    @Option(name: .customLong("upstream-timeout"), help: ArgumentHelp("Seconds one upstream answer may take in all.", valueName: "seconds"))
    var totalTimeout: Double = 600

    @Option(name: .customLong("upstream-keepalive"), help: ArgumentHelp("Seconds between SSE comments sent to a streaming client while text is held.", valueName: "seconds"))
    var keepAlive: Double = 10

    @Flag(name: .customLong("upstream-strict"), help: "Hold every streamed reply whole (nothing is released before the reply is complete and decided).")
    var strict = false

    @Flag(name: .customLong("upstream-error-frame"), help: "End a blocked, escalated or broken streamed reply with an OpenAI-style error event (the openai clients raise on it) instead of a delta with the fallback or holding reply.")
    var errorFrame = false

    @Option(name: .customLong("upstream-sentence-cap"), help: ArgumentHelp("Sentence-level hold (a model pack): record holding more characters than this at once (they stay held).", valueName: "characters"))
    var sentenceCap = 1000

    func validate() throws {
        guard let upstream else {
            if keyFile != nil || keyEnv != nil || strict || errorFrame { throw ValidationError("the --upstream-… options need --upstream (the OpenAI-compatible base URL)") }
            return
        }
        guard OutboundURL(upstream) != nil else { throw ValidationError("--upstream takes an http:// or https:// base URL, not '\(upstream)'") }
        guard keyFile == nil || keyEnv == nil else { throw ValidationError("give --upstream-key-file or --upstream-key-env, not both") }
        for (name, value) in [("--upstream-connect-timeout", connectTimeout), ("--upstream-idle-timeout", idleTimeout), ("--upstream-timeout", totalTimeout)]
        where !(0.1...86_400).contains(value) {
            throw ValidationError("\(name) takes 0.1 to 86400 seconds")
        }
        guard (0.05...3600).contains(keepAlive) else { throw ValidationError("--upstream-keepalive takes 0.05 to 3600 seconds") }
        guard (1...10_000_000).contains(sentenceCap) else { throw ValidationError("--upstream-sentence-cap takes 1 to 10000000 characters") }
    }

    /// The configuration, the key read; nil when no upstream is configured.
    func configuration() throws -> ChatProxyConfiguration? {
        guard let upstream, let url = OutboundURL(upstream) else { return nil }
        var key: String?
        if let keyFile { key = try Serve.secret(keyFile, named: "the --upstream-key-file file") }
        if let keyEnv {
            guard let value = ProcessInfo.processInfo.environment[keyEnv]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else {
                throw fail("--upstream-key-env \(keyEnv): the environment variable is not set or empty")
            }
            key = value
        }
        var configuration = ChatProxyConfiguration(upstream: url, apiKey: key)
        configuration.setTimeouts(connect: connectTimeout, idle: idleTimeout, total: totalTimeout)
        configuration.keepAlive = keepAlive
        configuration.strict = strict
        configuration.sentenceCap = sentenceCap
        configuration.errorFrame = errorFrame
        return configuration
    }
}
