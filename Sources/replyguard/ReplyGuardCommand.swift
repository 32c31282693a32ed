import ArgumentParser
import Foundation
import ReplyGuard
import ReplyGuardEmbeddedRules
import ReplyGuardGate

/// Every command names itself (`commandName:`): without it swift-argument-parser derives the name from
/// the type's name through `String(describing:)` on every run, about a million instructions each (24 M
/// for `explain`), before any work is done (issue 19, part 5).
@main
struct ReplyGuardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replyguard",
        abstract: "Checks outgoing replies against rule packs: allow, escalate to a human, or block.",
        discussion: """
        Exit codes: scan and explain: 0 nothing at/above --fail-on, 1 findings, 2 error; \
        check: 0 pass, 1 an example or floor failed, 2 a pack failed to load; filter: 0, 2 on error; \
        wrap: the child's status, 125 our failure, 126/127 cannot execute / not found, 128+N killed by \
        signal N; review: 0, 1 no such pending review, 2 queue error; learn: 0, 2 unreadable input or too few examples; \
        rules export: 0, 2 a file exists or cannot be written; usage errors: 64. \
        Rules come from --rules DIR, else $REPLYGUARD_RULES, else ./rules, else the packs built into this \
        binary (see `replyguard rules --help`).
        """,
        version: ReplyGuardVersion.string,
        subcommands: [Explain.self, Check.self, Scan.self, Filter.self, Wrap.self, Review.self, Learn.self, Serve.self, RulesCommand.self]
    )
}

/// Options every command that loads rules shares.
struct RuleOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Directory of rule packs (*.yaml) (default: $REPLYGUARD_RULES, else ./rules, else the packs built into this binary).", valueName: "dir"))
    var rules: String?

    @Option(name: .long, help: ArgumentHelp("Policy file (default: <rules>/policy.yaml if present).", valueName: "file"))
    var policy: String?

    @Option(name: .long, help: ArgumentHelp("A shipped policy profile: <rules>/profiles/<name>.yaml (e.g. posts, for an account's own posts and reposts).", valueName: "name"))
    var profile: String?

    func validate() throws {
        if policy != nil && profile != nil { throw ValidationError("--policy and --profile both name a policy; give one") }
        if let profile, profile.isEmpty || profile.contains("/") { throw ValidationError("--profile takes a name from <rules>/profiles/ (without .yaml)") }
    }

    /// The rule set this command uses (see ``RuleLocation``).
    var location: RuleLocation { RuleLocation(option: rules) }

    /// The policy file to load: --policy, or the --profile's file (nil: the rules directory's default).
    var policyFile: String? {
        policy ?? profile.map { location.files.resolve("profiles/\($0).yaml", in: location.directory) }
    }

    /// The rule set's location; a directory named by --rules or $REPLYGUARD_RULES that is not there is
    /// an error (exit 2), never a reason to use the embedded set.
    func checkedLocation() throws -> RuleLocation {
        let location = self.location
        if let explicit = location.explicitOption, !location.files.exists(location.directory) {
            Terminal.standardError.write("replyguard: \(location.directory): \(String(cString: strerror(ENOENT))) (\(explicit))\n")
            throw ExitCode(2)
        }
        return location
    }

    /// Where the rules come from for a ``GateRuntime`` (which loads and checks them): the checked
    /// location and policy file; a missing --profile is reported here (exit 2) with the known ones.
    func source() throws -> RuleSource {
        let location = try checkedLocation()
        try checkProfile(location)
        return RuleSource(rulesDirectory: location.directory, policyFile: policyFile, files: location.files)
    }

    private func checkProfile(_ location: RuleLocation) throws {
        let files = location.files
        if let profile, let path = policyFile, !files.exists(path) {
            let dir = files.resolve("profiles", in: location.directory)
            let known = files.names(in: dir).filter { $0.hasSuffix(".yaml") }.map { String($0.dropLast(5)) }.sorted()
            Terminal.standardError.write(Terminal.errorStyle.paint("error: ") + "no profile '\(profile)' (\(path) not found); profiles: \(known.isEmpty ? "none" : known.joined(separator: ", "))\n")
            throw ExitCode(2)
        }
    }

    /// Loads the rule set, or prints every problem to stderr and exits 2 (fail closed).
    func load() throws -> RuleSet { try load(onFailure: { _ in }) }

    /// As ``load()``, handing the problems to `onFailure` (check's CI report) before exiting 2.
    /// `verifyEmbedded`: run the content checks on the embedded set too (``RuleLoader``; `check` does).
    func load(verifyEmbedded: Bool = false, onFailure: (RuleLoadFailure) -> Void) throws -> RuleSet {
        let location = try checkedLocation()
        let files = location.files
        try checkProfile(location)
        do {
            return try RuleLoader.load(rulesDirectory: location.directory, policyFile: policyFile, files: files, verifyEmbedded: verifyEmbedded)
        } catch {
            RuleOptions.report(error)
            onFailure(error)
            throw ExitCode(2)
        }
    }

    /// The rule set compiled with the default ``EngineOptions`` (`explain`, `scan`): read from the
    /// compiled-set cache when it holds this set (``CompiledSetCache``; `$REPLYGUARD_CACHE` moves it or,
    /// set to `off`, turns it off), else loaded, compiled and cached. Load problems as ``load()``.
    func engine() throws -> Engine {
        let warn: @Sendable (String) -> Void = { message in
            let line = Array("replyguard: warning: \(message)\n".utf8)
            _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        }
        guard let cache = CompiledSetCache.fromEnvironment(warn: warn) else { return Engine(ruleSet: try load()) }
        let location = try checkedLocation()
        try checkProfile(location)
        do {
            return try cache.engine(rulesDirectory: location.directory, policyFile: policyFile, files: location.files)
        } catch {
            RuleOptions.report(error)
            throw ExitCode(2)
        }
    }

    private static func report(_ error: RuleLoadFailure) {
        Terminal.standardError.write(Terminal.errorStyle.paint("error: ") + "rule packs failed to load (\(error.problems.count) problem\(error.problems.count == 1 ? "" : "s")); nothing was checked\n")
        for problem in error.problems { Terminal.standardError.write(problem.description + "\n") }
    }
}

/// Which rule set a command uses: `--rules DIR`, else `$REPLYGUARD_RULES`, else `./rules` (anything by
/// that name, so a broken `./rules` is reported, not skipped), else the set built into the binary. A
/// directory named by `--rules` or the variable must exist: it is never replaced by the embedded set.
struct RuleLocation {
    /// The directory handed to the loader (``EmbeddedRuleSet/root`` for the embedded set).
    let directory: String
    let files: RuleFiles
    /// What to print after `rules:` — `embedded (replyguard 0.1.0)`, `./rules`, `DIR`, `DIR ($REPLYGUARD_RULES)`.
    let label: String
    /// The option that named the directory (`--rules`, `$REPLYGUARD_RULES`), when one did.
    let explicitOption: String?

    /// The set compiled into this binary: its content checks ran in the tests on these bytes
    /// (EmbeddedRulesTests runs `check`, which verifies them, on it with every profile).
    static let embedded = EmbeddedRuleSet(
        label: "embedded (replyguard \(ReplyGuardVersion.string))",
        files: EmbeddedRulesData.files, verifiedAtBuild: true,
        // The compiled-set cache's key names this binary's build, which fixes these files.
        contentIdentity: "built into this binary")

    init(option: String?, environment: [String: String] = ProcessInfo.processInfo.environment) {
        if let option {
            self.init(directory: option, label: option, explicitOption: "--rules")
        } else if let variable = environment["REPLYGUARD_RULES"], !variable.isEmpty {
            self.init(directory: variable, label: "\(variable) ($REPLYGUARD_RULES)", explicitOption: "$REPLYGUARD_RULES")
        } else if RuleFiles.disk.exists("rules") {
            self.init(directory: "rules", label: "./rules", explicitOption: nil)
        } else {
            self.init(directory: EmbeddedRuleSet.root, label: RuleLocation.embedded.label, explicitOption: nil,
                      files: RuleFiles(embedded: RuleLocation.embedded))
        }
    }

    private init(directory: String, label: String, explicitOption: String?, files: RuleFiles = .disk) {
        self.directory = directory
        self.files = files
        self.label = label
        self.explicitOption = explicitOption
    }

    var isEmbedded: Bool { files.embedded != nil }
}

/// When to colour output.
enum ColorChoice: String, ExpressibleByArgument, CaseIterable {
    case auto, always, never
    func enabled(fd: Int32) -> Bool {
        switch self {
        case .always: return true
        case .never: return false
        case .auto:
            let env = ProcessInfo.processInfo.environment
            return isatty(fd) == 1 && env["NO_COLOR"] == nil && env["TERM"] != "dumb"
        }
    }
}

extension Verdict: ExpressibleByArgument {}

/// Prints a runtime failure as one `Error: …` line and exits 2.
func fail(_ message: String) -> ExitCode {
    Terminal.standardError.write("Error: \(message)\n")
    return ExitCode(2)
}

/// A size in bytes, written as a number with an optional K, M or G suffix (powers of 1024): `--max-message-size 4M`.
struct ByteSize: ExpressibleByArgument {
    let bytes: Int

    init(bytes: Int) { self.bytes = bytes }

    init?(argument: String) {
        let units: [Character: Int] = ["K": 1 << 10, "k": 1 << 10, "M": 1 << 20, "m": 1 << 20, "G": 1 << 30, "g": 1 << 30]
        var text = Substring(argument)
        var unit = 1
        if let last = text.last, let factor = units[last] { unit = factor; text = text.dropLast() }
        guard let value = Int(text), value > 0, value <= Int.max / unit else { return nil }
        bytes = value * unit
    }

    var defaultValueDescription: String {
        bytes % (1 << 20) == 0 ? "\(bytes >> 20)M" : bytes % (1 << 10) == 0 ? "\(bytes >> 10)K" : "\(bytes)"
    }
}
