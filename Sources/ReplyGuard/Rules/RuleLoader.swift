import Foundation
import ReplyGuardPCRE2
import Yams

/// Loads rule packs and a policy, failing closed: every problem in every file is collected and reported
/// together, and no ``RuleSet`` is returned unless there are none.
public enum RuleLoader {
    /// Loads every `*.yaml`/`*.yml` pack in `rulesDirectory` (except `policy.yaml`) and the policy.
    ///
    /// - Parameter policyFile: the policy to use; nil means `rulesDirectory/policy.yaml` when it exists,
    ///   otherwise ``Policy/builtIn`` with every pack enabled.
    /// - Parameter files: where files are read: the disk, or — with ``EmbeddedRuleSet/root`` as
    ///   `rulesDirectory` — the rule set built into the binary (same code path, same checks).
    ///
    /// The digest covers the policy's and the enabled packs' bytes and the files they include (word lists,
    /// models, `extends`) under the path written in the YAML, not where the directory is: the same files
    /// give the same digest from `rules/`, from a copy elsewhere, and from the embedded set.
    ///
    /// - Parameter verifyEmbedded: when false (the default) and every file read belongs to an embedded
    ///   set marked ``EmbeddedRuleSet/verifiedAtBuild`` (the set compiled into the binary, which the
    ///   tests check), the checks that depend only on those files' content — the filler check on regex
    ///   rules' examples and each model file's `end` checksum — are skipped: they gave the same answer
    ///   when the tests ran them on the same bytes. Any other file read (an operator's pack, a `--policy`
    ///   from disk) runs them all. `check` passes true.
    public static func load(rulesDirectory: String, policyFile: String? = nil, files: RuleFiles = .disk,
                            normalizer: Normalizer = Normalizer(), verifyEmbedded: Bool = false) throws(RuleLoadFailure) -> RuleSet {
        var problems: [RuleProblem] = []
        switch files.kind(rulesDirectory) {
        case .directory: break
        case .missing(let reason):
            throw RuleLoadFailure(problems: [RuleProblem(file: rulesDirectory, message: "rules directory not found: \(reason)")])
        default:
            throw RuleLoadFailure(problems: [RuleProblem(file: rulesDirectory, message: "rules directory is not a directory")])
        }
        let names = (files.entries(rulesDirectory) ?? [])
            .filter { ($0.hasSuffix(".yaml") || $0.hasSuffix(".yml")) && $0 != "policy.yaml" && $0 != "policy.yml" }
            .sorted()
        if names.isEmpty {
            problems.append(RuleProblem(file: rulesDirectory, message: "no rule packs (*.yaml) in this directory"))
        }
        var packs: [RulePack] = []
        var ruleIDs: [(String, SourceLocation)] = []
        var fileBytes: [String: [UInt8]] = [:]
        // Stays true while every file read belongs to a build-verified embedded set.
        var onlyVerifiedFiles = !verifyEmbedded
        for name in names {
            let path = files.resolve(name, in: rulesDirectory)
            let reader = YAMLReader(file: displayPath(path), normalizer: normalizer, directory: rulesDirectory, files: files)
            reader.trustVerifiedEmbedded = !verifyEmbedded
            if let (root, bytes) = reader.compose(path: path), let pack = reader.pack(root) {
                packs.append(pack)
                fileBytes[pack.id] = bytes + reader.includedBytes
            }
            if reader.readUnverifiedFile { onlyVerifiedFiles = false }
            problems += reader.problems
            ruleIDs += reader.ruleIDs
        }
        checkUniqueness(packs, ruleIDs: ruleIDs, &problems)

        var policy = Policy.builtIn
        var policyBytes: [UInt8] = []
        let defaultPolicy = files.resolve("policy.yaml", in: rulesDirectory)
        // Anything at `policy.yaml` — a dangling symlink, an unreadable file — is the policy and must
        // load; only a path where nothing exists falls back to the built-in policy.
        let policyPath = policyFile ?? (files.exists(defaultPolicy) ? defaultPolicy : nil)
        if let policyPath {
            let reader = YAMLReader(file: displayPath(policyPath), normalizer: normalizer,
                                    directory: RuleFiles.directory(of: policyPath), files: files)
            reader.trustVerifiedEmbedded = !verifyEmbedded
            if let (root, bytes) = reader.compose(path: policyPath), let loaded = reader.policy(root, packs: packs) {
                policy = loaded
                policyBytes = bytes + reader.includedBytes
            }
            if reader.readUnverifiedFile { onlyVerifiedFiles = false }
            problems += reader.problems
        }
        guard problems.isEmpty else { throw RuleLoadFailure(problems: problems) }
        // Packs were read with the default bound for `\F`; the policy may set another.
        if policy.maxFiller != Policy.builtIn.maxFiller {
            packs = packs.map { recompileFillers($0, maxFiller: policy.maxFiller, &problems) }
            policy.exceptions = policy.exceptions.map { exception in
                guard let match = exception.match else { return exception }
                return PolicyException(rules: exception.rules, match: recompileFillers(match, maxFiller: policy.maxFiller, &problems),
                                       scope: exception.scope, reason: exception.reason, expires: exception.expires, location: exception.location)
            }
            guard problems.isEmpty else { throw RuleLoadFailure(problems: problems) }
        }

        var hasher = SHA256()
        hasher.update(policyBytes.isEmpty ? Array("builtin-policy".utf8) : policyBytes)
        let ruleSet = RuleSet(packs: packs, policy: policy, digest: "")
        for pack in ruleSet.enabledPacks.sorted(by: { $0.id < $1.id }) {
            hasher.update(Array(pack.id.utf8) + [0])
            hasher.update(fileBytes[pack.id] ?? [])
        }
        var loaded = RuleSet(packs: packs, policy: policy, digest: "sha256:" + hasher.finalizeHex())
        if onlyVerifiedFiles {
            loaded.contentChecks = .verifiedAtBuild
            return loaded
        }
        let fillerProblems = fillerProblems(loaded)
        guard fillerProblems.isEmpty else { throw RuleLoadFailure(problems: fillerProblems) }
        return loaded
    }

    /// The match examples of rules with a regex that hold as written but not with fillers inserted (the
    /// ``ExampleChecker/Mutation/fillerMutations`` the rule does not skip), one problem each: a regex
    /// that gates its words without allowing fillers (`闭嘴` but not `闭 嘴`) is an evasion waiting to
    /// happen, so it does not load unless its author writes `\F` where fillers may stand or says why
    /// the rule cannot allow them (`skip_mutations:`). Rules made only of words allow fillers by
    /// construction; `check` runs every mutation on them too.
    static func fillerProblems(_ ruleSet: RuleSet) -> [RuleProblem] {
        func hasRegex(_ e: MatchExpression) -> Bool {
            switch e {
            case .words: return false
            case .regex: return true
            case .any(let children), .all(let children, _): return children.contains(where: hasRegex)
            case .not(let child), .distinct(let child, _): return hasRegex(child)
            }
        }
        func checked(_ rule: Rule) -> Bool {
            hasRegex(rule.match) && ExampleChecker.Mutation.fillerMutations.contains { rule.skippedMutations[$0] == nil }
        }
        let packs = ruleSet.packs.map { pack in
            RulePack(id: pack.id, version: pack.version, category: pack.category, description: pack.description,
                     sources: pack.sources, rules: pack.rules.filter(checked), file: pack.file)
        }
        guard packs.contains(where: { !$0.rules.isEmpty }) else { return [] }
        let checker = ExampleChecker(ruleSet: RuleSet(packs: packs, policy: ruleSet.policy, digest: ruleSet.digest))
        var problems: [RuleProblem] = []
        for rule in packs.flatMap(\.rules) {
            let mutations = ExampleChecker.Mutation.fillerMutations.filter { rule.skippedMutations[$0] == nil }
            let results = checker.check(rule, mutations: mutations)
            let heldAsWritten = Set(results.filter { $0.mutation == nil && $0.passed }.map(\.example.location.description))
            for result in results where result.mutation != nil && !result.passed && heldAsWritten.contains(result.example.location.description) {
                let mutation = result.mutation!
                let location = result.example.location
                problems.append(RuleProblem(
                    file: location.file, line: location.line, column: location.column,
                    message: "\(rule.id): match example holds as written but not with \(mutation.rawValue): \(result.failure!); "
                        + "write \\F in the regex where fillers may stand (闭\\F嘴), or say why the rule cannot allow them: "
                        + "skip_mutations: {\(mutation.key): <reason>}",
                    detail: ["text: " + result.text]))
            }
        }
        return problems
    }

    /// `pack` with every regex holding `\F` compiled again for `maxFiller` fillers.
    private static func recompileFillers(_ pack: RulePack, maxFiller: Int, _ problems: inout [RuleProblem]) -> RulePack {
        var copy = RulePack(id: pack.id, version: pack.version, category: pack.category, description: pack.description, sources: pack.sources,
                            rules: pack.rules.map { rule in
                                var copy = Rule(id: rule.id, title: rule.title, description: rule.description, references: rule.references,
                                                action: rule.action, score: rule.score, category: rule.category, packID: rule.packID,
                                                match: recompileFillers(rule.match, maxFiller: maxFiller, &problems), evasions: rule.evasions,
                                                examples: rule.examples, location: rule.location)
                                copy.skippedMutations = rule.skippedMutations
                                return copy
                            }, file: pack.file)
        copy.model = pack.model
        return copy
    }

    private static func recompileFillers(_ expression: MatchExpression, maxFiller: Int, _ problems: inout [RuleProblem]) -> MatchExpression {
        switch expression {
        case .words: return expression
        case .regex(let spec):
            guard spec.fillerSlots > 0,
                  case .success(let expanded) = RegexFillers.expand(spec.source, maxFiller: maxFiller, literals: spec.fillerLiterals) else { return expression }
            do {
                let compiled = try RegexFillers.compile(spec.source, expanded: expanded.pattern, count: expanded.count, maxFiller: maxFiller,
                                                        literals: spec.fillerLiterals)
                var copy = RegexSpec(pattern: compiled, view: spec.view, validator: spec.validator, location: spec.location, source: spec.source)
                copy.fillerSlots = expanded.count
                copy.fillerLiterals = spec.fillerLiterals
                return .regex(copy)
            } catch {
                problems.append(RuleProblem(file: spec.location.file, line: spec.location.line, column: spec.location.column,
                                            message: "regex does not compile with max_filler \(maxFiller): \(error.message)"))
                return expression
            }
        case .any(let children): return .any(children.map { recompileFillers($0, maxFiller: maxFiller, &problems) })
        case .all(let children, let within): return .all(children.map { recompileFillers($0, maxFiller: maxFiller, &problems) }, within: within)
        case .not(let child): return .not(recompileFillers(child, maxFiller: maxFiller, &problems))
        case .distinct(let child, let count): return .distinct(recompileFillers(child, maxFiller: maxFiller, &problems), count: count)
        }
    }

    private static func displayPath(_ path: String) -> String {
        let cwd = FileManager.default.currentDirectoryPath + "/"
        return path.hasPrefix(cwd) ? String(path.dropFirst(cwd.count)) : path
    }

    private static func checkUniqueness(_ packs: [RulePack], ruleIDs: [(String, SourceLocation)], _ problems: inout [RuleProblem]) {
        var packSeen: [String: String] = [:]
        for pack in packs {
            if let other = packSeen[pack.id] {
                problems.append(RuleProblem(file: pack.file, line: 1, message: "duplicate pack id '\(pack.id)' (also in \(other)); pack ids must be unique"))
            }
            packSeen[pack.id] = pack.file
        }
        var ruleSeen: [String: SourceLocation] = [:]
        for (id, location) in ruleIDs {
            if let other = ruleSeen[id] {
                problems.append(RuleProblem(file: location.file, line: location.line, column: location.column,
                                            message: "duplicate rule id '\(id)' (first defined at \(other)); rule ids must be unique"))
            } else {
                ruleSeen[id] = location
            }
        }
    }
}

/// Walks one YAML file's node tree, collecting problems with positions instead of stopping at the first.
final class YAMLReader {
    let file: String
    let normalizer: Normalizer
    /// Buffers for normalizing words, reused for every word of the file.
    private let workspace = NormalizationWorkspace()
    var problems: [RuleProblem] = []
    /// Every rule id read, valid rule or not, so duplicates are reported even next to other problems.
    var ruleIDs: [(String, SourceLocation)] = []
    /// Where `words_file` paths are resolved from (the pack's or policy's directory).
    let directory: String
    /// The bytes of every word list read (with their paths), for the policy digest.
    private(set) var includedBytes: [UInt8] = []
    private var wordLists: [String: [Word]] = [:]
    /// How many `extends` links led to this policy file.
    private var extendsDepth = 0
    /// Largest word list read (bytes); an operator's 60,000-word list is about 1 MB.
    static let maxWordListBytes = 64 << 20

    /// Where files are read (the disk, or the embedded set mounted under `<embedded>`).
    let files: RuleFiles
    /// Whether the checks that depend only on a file's content (a model's `end` checksum here, the
    /// filler check in ``RuleLoader``) are skipped for files of a build-verified embedded set.
    var trustVerifiedEmbedded = false
    /// Set when a file was read that is not part of a build-verified embedded set: then the loader
    /// runs every check.
    private(set) var readUnverifiedFile = false
    /// How many fillers a regex's `\F` allows (the policy's `max_filler`; packs are read before the
    /// policy, so ``RuleLoader`` compiles their `\F` regexes again when the policy sets another).
    var maxFiller = Policy.builtIn.maxFiller

    init(file: String, normalizer: Normalizer, directory: String = ".", files: RuleFiles = .disk) {
        self.file = file
        self.normalizer = normalizer
        self.directory = directory
        self.files = files
    }

    func location(_ node: Node) -> SourceLocation {
        SourceLocation(file: file, line: node.mark?.line ?? 1, column: node.mark?.column ?? 1)
    }

    func problem(_ node: Node?, _ message: String, detail: [String] = []) {
        problems.append(RuleProblem(file: file, line: node?.mark?.line, column: node?.mark?.column,
                                    message: message, detail: detail))
    }

    /// The bytes at `path`, noting whether the file is one of a build-verified embedded set.
    func read(_ path: String) -> Result<[UInt8], RuleFiles.ReadFailure> {
        if !files.isVerifiedAtBuild(path) { readUnverifiedFile = true }
        return files.bytes(at: path)
    }

    func compose(path: String) -> (Node, [UInt8])? {
        let bytes: [UInt8]
        switch read(path) {
        case .success(let read): bytes = read
        case .failure(let failure):
            problems.append(RuleProblem(file: file, message: "cannot read file: \(failure.reason)"))
            return nil
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            problems.append(RuleProblem(file: file, message: "file is not valid UTF-8"))
            return nil
        }
        do {
            // Every scalar is read as text (the loader checks numbers and dates itself): no tag resolution.
            guard let root = try Yams.compose(yaml: text, .basic) else {
                problems.append(RuleProblem(file: file, line: 1, message: "file is empty"))
                return nil
            }
            return (root, bytes)
        } catch let error as YamlError {
            problems.append(YAMLReader.problem(from: error, file: file))
        } catch {
            problems.append(RuleProblem(file: file, message: "YAML error: \(error)"))
        }
        return nil
    }

    static func problem(from error: YamlError, file: String) -> RuleProblem {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return RuleProblem(file: file, line: mark.line, column: mark.column, message: "invalid YAML: \(problem)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            return RuleProblem(file: file, line: context.mark.line, column: context.mark.column,
                               message: "duplicate key \(duplicates.map { "'\($0)'" }.joined(separator: ", ")) in a mapping")
        default:
            return RuleProblem(file: file, message: "invalid YAML: \(error)")
        }
    }

    // MARK: Typed access

    /// The mapping's entries by key; reports non-mappings, unknown keys and missing required keys.
    func mapping(_ node: Node, _ what: String, allowed: [String], required: [String]) -> [String: Node]? {
        guard case .mapping(let mapping) = node else {
            problem(node, "\(what) must be a mapping (key: value)")
            return nil
        }
        var result: [String: Node] = [:]
        for (key, value) in mapping {
            guard let name = key.scalar?.string else { problem(key, "keys in \(what) must be plain strings"); continue }
            if !allowed.contains(name) {
                problem(key, "unknown key '\(name)' in \(what); allowed keys: \(allowed.joined(separator: ", "))")
                continue
            }
            result[name] = value
        }
        for name in required where result[name] == nil {
            problem(node, "\(what) is missing required key '\(name)'")
        }
        return result
    }

    func string(_ node: Node?, _ what: String, allowEmpty: Bool = false) -> String? {
        guard let node else { return nil }
        guard let scalar = node.scalar else { problem(node, "\(what) must be a string"); return nil }
        if !allowEmpty && scalar.string.unicodeScalars.allSatisfy({ $0.properties.isWhitespace }) {
            problem(node, "\(what) must not be empty")
            return nil
        }
        return scalar.string
    }

    /// Largest score, `within`, window or `max_filler` a file may give (unless the caller allows more):
    /// sums and offsets stay far from overflowing (a score of 2^62 in two rules overflowed the
    /// category's sum and crashed the scan).
    static let maxWholeNumber = 1_000_000

    func int(_ node: Node?, _ what: String, min: Int = 0, max: Int = YAMLReader.maxWholeNumber) -> Int? {
        guard let node else { return nil }
        guard let text = node.scalar?.string, let value = Int(text) else {
            problem(node, "\(what) must be a whole number")
            return nil
        }
        guard value >= min else { problem(node, "\(what) must be at least \(min)"); return nil }
        guard value <= max else { problem(node, "\(what) must be at most \(max)"); return nil }
        return value
    }

    func list(_ node: Node?, _ what: String, allowEmpty: Bool = false) -> [Node]? {
        guard let node else { return nil }
        guard case .sequence(let sequence) = node else { problem(node, "\(what) must be a list"); return nil }
        if sequence.isEmpty && !allowEmpty { problem(node, "\(what) must not be empty"); return nil }
        return Array(sequence)
    }

    func stringList(_ node: Node?, _ what: String, allowEmpty: Bool = false) -> [String]? {
        if let node, node.scalar != nil, let single = string(node, what) { return [single] }
        return list(node, what, allowEmpty: allowEmpty)?.compactMap { string($0, "each item of \(what)") }
    }

    // MARK: Packs

    static let packKeys = ["pack", "version", "category", "description", "sources", "notice", "rules", "model"]
    static let ruleKeys = ["id", "title", "description", "references", "action", "score", "category", "evasions", "match", "examples",
                           "skip_mutations"]
    static let idCharacters = Set("abcdefghijklmnopqrstuvwxyz0123456789-_.")

    func pack(_ root: Node) -> RulePack? {
        guard let keys = mapping(root, "a rule pack", allowed: YAMLReader.packKeys,
                                 required: ["pack", "version", "category", "description"]) else { return nil }
        if keys["rules"] == nil && keys["model"] == nil { problem(root, "a pack needs 'rules', 'model', or both") }
        let id = string(keys["pack"], "pack")
        if let id, !id.allSatisfy(YAMLReader.idCharacters.contains) {
            problem(keys["pack"], "pack id '\(id)' may only use a-z, 0-9, '-', '_' and '.'")
        }
        let version = string(keys["version"], "version")
        let category = string(keys["category"], "category")
        let description = string(keys["description"], "description")
        let sources = stringList(keys["sources"], "sources", allowEmpty: true) ?? []
        let notice = stringList(keys["notice"], "notice", allowEmpty: true) ?? []
        var rules: [Rule] = []
        for node in keys["rules"].flatMap({ list($0, "rules", allowEmpty: keys["model"] != nil) }) ?? [] {
            if let id, let category, let rule = rule(node, packID: id, packCategory: category) { rules.append(rule) }
        }
        var model: PackModel?
        if let node = keys["model"], let path = string(node, "model (a model file next to the pack)") {
            model = packModel(path, node, category: category)
        }
        guard let id, let version, let category, let description else { return nil }
        if let node = keys["model"] { ruleIDs.append((id + ".model", location(node))) }
        return RulePack(id: id, version: version, category: category, description: description,
                        sources: sources, rules: rules, file: file, model: model, notice: notice)
    }

    func rule(_ node: Node, packID: String, packCategory: String) -> Rule? {
        guard let keys = mapping(node, "a rule", allowed: YAMLReader.ruleKeys,
                                 required: ["id", "title", "description", "match", "examples"]) else { return nil }
        let id = string(keys["id"], "rule id")
        if let id, let node = keys["id"] { ruleIDs.append((id, location(node))) }
        if let id, !(id.hasPrefix(packID + ".") && id.count > packID.count + 1 && id.allSatisfy(YAMLReader.idCharacters.contains)) {
            problem(keys["id"], "rule id '\(id)' must be '\(packID).<name>' using a-z, 0-9, '-', '_' and '.'")
        }
        let title = string(keys["title"], "title")
        let description = string(keys["description"], "description")
        let references = stringList(keys["references"], "references", allowEmpty: true) ?? []
        var action: Verdict?
        if let text = string(keys["action"], "action") {
            switch text {
            case "block": action = .block
            case "escalate": action = .escalate
            case "mask": action = .mask
            default: problem(keys["action"], "action must be 'block', 'escalate' or 'mask', not '\(text)'")
            }
        }
        let score = int(keys["score"], "score", min: 1)
        if keys["action"] == nil && keys["score"] == nil {
            problem(node, "rule needs an 'action' (block | escalate | mask) or a 'score', or both")
        }
        let category = keys["category"].flatMap { string($0, "category") } ?? packCategory
        var evasions: [Evasion] = []
        for item in list(keys["evasions"], "evasions") ?? [] {
            guard let name = string(item, "an evasion") else { continue }
            guard let evasion = Evasion(rawValue: name) else {
                problem(item, "unknown evasion '\(name)'; known: \(Evasion.allCases.map(\.rawValue).joined(separator: ", "))")
                continue
            }
            evasions.append(evasion)
        }
        let match = keys["match"].flatMap { expression($0, insideAll: false) }.map { expand($0, evasions) }
        let examples = keys["examples"].map(examples) ?? []
        let skipped = keys["skip_mutations"].map(skippedMutations) ?? [:]
        guard let id, let title, let description, let match else { return nil }
        var rule = Rule(id: id, title: title, description: description, references: references, action: action,
                        score: score, category: category, packID: packID, match: match, evasions: evasions,
                        examples: examples, location: location(node))
        rule.skippedMutations = skipped
        return rule
    }

    /// `skip_mutations:` — mutation name → the reason the rule's match examples are not run with it.
    func skippedMutations(_ node: Node) -> [ExampleChecker.Mutation: String] {
        let names = ExampleChecker.Mutation.allCases.map(\.key)
        guard let entries = mapping(node, "skip_mutations", allowed: names, required: []) else { return [:] }
        var result: [ExampleChecker.Mutation: String] = [:]
        for (name, value) in entries {
            guard let mutation = ExampleChecker.Mutation.allCases.first(where: { $0.key == name }),
                  let reason = string(value, "the reason for skipping '\(name)' (say why the rule cannot survive it)") else { continue }
            result[mutation] = reason
        }
        return result
    }

    /// The ways of writing each numeral (normalized scalars): digit, Chinese numeral, financial form.
    static let numeralClasses: [[UInt32]] = [
        [0x30, 0x3007, 0x96F6], [0x31, 0x4E00, 0x58F9], [0x32, 0x4E8C, 0x8D30], [0x33, 0x4E09, 0x53C1],
        [0x34, 0x56DB, 0x8086], [0x35, 0x4E94, 0x4F0D], [0x36, 0x516D, 0x9646], [0x37, 0x4E03, 0x67D2],
        [0x38, 0x516B, 0x634C], [0x39, 0x4E5D, 0x7396], [0x5341, 0x62FE], [0x767E, 0x4F70], [0x5343, 0x4EDF],
    ]
    static let numeralClassOf: [UInt32: Int] = {
        var table: [UInt32: Int] = [:]
        for (k, members) in numeralClasses.enumerated() { for m in members { table[m] = k } }
        return table
    }()
    /// 两 (two of something) in a word may be written 2, but 二 is never written 两.
    static let numeralSources: [UInt32: [UInt32]] = [0x4E24: [0x4E24, 0x32]]

    static func numeralForms(_ v: UInt32) -> [UInt32]? {
        if let k = numeralClassOf[v] { return numeralClasses[k] }
        return numeralSources[v]
    }

    /// `word` with its numerals written every other way (the word itself excluded). With more than 64
    /// combinations, only the words that write every numeral the same way (all digits, all Chinese, all
    /// financial, where a class has that form). A two-character word gets no variant with a digit.
    static func numeralVariants(_ word: [UInt32]) -> [[UInt32]] {
        let positions = word.indices.filter { numeralForms(word[$0]) != nil }
        guard !positions.isEmpty else { return [] }
        // Capped: a word of forty numerals has more combinations than an Int holds.
        let combinations = positions.reduce(1) { min($0 * numeralForms(word[$1])!.count, 65) }
        var variants: [[UInt32]] = []
        if combinations <= 64 {
            variants = [word]
            for p in positions {
                variants = variants.flatMap { v in numeralForms(word[p])!.map { m in var c = v; c[p] = m; return c } }
            }
        } else {
            for style in 0..<3 {
                var c = word
                for p in positions {
                    let members = numeralForms(word[p])!
                    c[p] = members[min(style, members.count - 1)]
                }
                variants.append(c)
            }
        }
        // A digit at the edge of a two-character word reads as list numbering: 二货 is not `2、货物`.
        func isDigit(_ v: UInt32) -> Bool { v >= 0x30 && v <= 0x39 }
        return variants.filter { $0 != word && !($0.count == 2 && (isDigit($0[0]) || isDigit($0[1]))) }
    }

    /// The `homophones` evasion applies to words of at least this many normalized characters.
    static let homophoneMinimumLength = 8

    /// Adds the words an evasion derives (e.g. pinyin initials) next to the words they come from.
    func expand(_ expression: MatchExpression, _ evasions: [Evasion]) -> MatchExpression {
        guard !evasions.isEmpty else { return expression }
        switch expression {
        case .words(let words):
            var result = words
            var seen = ScalarArraySet(words.map { $0.normalized })
            for word in words where evasions.contains(.pinyinInitials) {
                let initials = word.normalized.map { normalizer.tables.pinyinInitial(of: $0) }
                guard initials.count >= 2, initials.allSatisfy({ $0 != nil }) else { continue }
                let derived = initials.map { $0! }
                if seen.insert(derived).inserted {
                    let text = Word.text(of: derived)
                    result.append(Word(text: text, normalized: derived, location: word.location))
                }
            }
            for word in words where evasions.contains(.pinyin) {
                // Chinese characters spelled out, anything else (Latin letters, digits) kept as it is.
                let scalars = word.normalized
                guard scalars.count >= 2, scalars.contains(where: Normalizer.isHan) else { continue }
                var derived: [UInt32] = []
                var complete = true
                for v in scalars {
                    if Normalizer.isHan(v) {
                        guard let syllable = normalizer.tables.pinyin(of: v) else { complete = false; break }
                        derived += syllable
                    } else {
                        derived.append(v)
                    }
                }
                if complete, seen.insert(derived).inserted {
                    let text = Word.text(of: derived)
                    result.append(Word(text: text, normalized: derived, location: word.location))
                }
            }
            for word in words where evasions.contains(.numerals) {
                for derived in YAMLReader.numeralVariants(word.normalized) where seen.insert(derived).inserted {
                    let text = Word.text(of: derived)
                    result.append(Word(text: text, normalized: derived, location: word.location))
                }
            }
            if evasions.contains(.stretchedLetters) {
                // After the other evasions: their Latin words (initials, pinyin) stretch too.
                for word in result where word.stretchRuns == nil && word.normalized.contains(where: Engine.isLatinLetter) {
                    var derived: [UInt32] = [], runs: [UInt8] = []
                    for v in word.normalized {
                        if Engine.isLatinLetter(v), derived.last == v | Engine.shadow, runs[runs.count - 1] < 255 {
                            runs[runs.count - 1] += 1
                        } else {
                            derived.append(Engine.isLatinLetter(v) ? v | Engine.shadow : v)
                            runs.append(1)
                        }
                    }
                    if seen.insert(derived).inserted {
                        var stretched = Word(text: word.text, normalized: derived, location: word.location)
                        stretched.stretchRuns = runs
                        result.append(stretched)
                    }
                }
            }
            if evasions.contains(.homophones) {
                // The words as written (not the forms other evasions derive), when long enough that one
                // swapped character leaves a near-duplicate of a known line rather than another phrase.
                for word in words where word.normalized.count >= YAMLReader.homophoneMinimumLength && word.normalized.contains(where: Normalizer.isHan) {
                    let derived = word.normalized.map { $0 | Engine.homophoneShadow }
                    if seen.insert(derived).inserted {
                        var variant = Word(text: word.text, normalized: derived, location: word.location)
                        variant.homophone = true
                        result.append(variant)
                    }
                }
            }
            expandFamilies(words, evasions, into: &result, seen: &seen)
            return .words(result)
        case .regex: return expression
        case .any(let children): return .any(children.map { expand($0, evasions) })
        case .all(let children, let within): return .all(children.map { expand($0, evasions) }, within: within)
        case .not(let child): return .not(expand(child, evasions))
        case .distinct(let child, let count): return .distinct(expand(child, evasions), count: count)
        }
    }

    /// Variants of a word per evasion of the families of issue 17, at most this many.
    static let familyVariantLimit = 64

    /// The words the evasion families of issue 17 derive (split characters, emoji, mixed pinyin,
    /// sound-alikes, reversed), from the words as written; each adds at most ``familyVariantLimit``.
    func expandFamilies(_ words: [Word], _ evasions: [Evasion], into result: inout [Word], seen: inout ScalarArraySet) {
        let tables = normalizer.tables
        func add(_ derived: [UInt32], from word: Word, emoji: Bool = false) {
            guard seen.insert(derived).inserted else { return }
            let text = emoji ? word.text : Word.text(of: derived)
            var variant = Word(text: text, normalized: derived, location: word.location)
            variant.emoji = emoji
            result.append(variant)
        }
        for word in words where word.normalized.count >= 2 {
            let scalars = word.normalized
            if evasions.contains(.splitCharacters) {
                let positions = scalars.indices.filter { tables.components(of: scalars[$0]) != nil }
                for subset in YAMLReader.subsets(of: positions, limit: YAMLReader.familyVariantLimit) {
                    var derived: [UInt32] = []
                    for (i, v) in scalars.enumerated() { derived += subset.contains(i) ? tables.components(of: v)! : [v] }
                    add(derived, from: word)
                }
            }
            if evasions.contains(.emoji) {
                // One character, or two, as an emoji; at least one stays as written.
                let choices = scalars.indices.map { tables.emojiStandIns(for: scalars[$0]) }
                let positions = scalars.indices.filter { !choices[$0].isEmpty }
                var count = 0
                // Stops at the limit: a word of a thousand such characters has half a million pairs.
                for subset in YAMLReader.subsets(of: positions, limit: .max) where subset.count <= 2 && subset.count < scalars.count {
                    guard count < YAMLReader.familyVariantLimit else { break }
                    var variants: [[UInt32]] = [scalars]
                    for p in subset { variants = variants.flatMap { v in choices[p].map { var c = v; c[p] = $0; return c } } }
                    for derived in variants where count < YAMLReader.familyVariantLimit {
                        add(derived, from: word, emoji: true)
                        count += 1
                    }
                }
            }
            if evasions.contains(.pinyinMixed), scalars.contains(where: Normalizer.isHan) {
                let positions = scalars.indices.filter { Normalizer.isHan(scalars[$0]) && tables.pinyin(of: scalars[$0]) != nil }
                // Some spelled out, not all the Chinese characters (that is `pinyin`).
                let han = scalars.indices.filter { Normalizer.isHan(scalars[$0]) }
                for subset in YAMLReader.subsets(of: positions, limit: YAMLReader.familyVariantLimit) where subset.count < han.count {
                    var derived: [UInt32] = []
                    for (i, v) in scalars.enumerated() { derived += subset.contains(i) ? tables.pinyin(of: v)! : [v] }
                    add(derived, from: word)
                }
            }
            if evasions.contains(.soundAlikes), (3..<YAMLReader.homophoneMinimumLength).contains(scalars.count),
               scalars.contains(where: Normalizer.isHan) {
                // Another character than the most frequent ones must stay besides the swap: 你去死 is 你去 and
                // one character, and 你去四 is ordinary text.
                for p in scalars.indices where Normalizer.isHan(scalars[p])
                    && scalars.indices.contains(where: { $0 != p && !tables.isMostFrequent(scalars[$0]) }) {
                    for swap in tables.soundAlikes(of: scalars[p]) {
                        var derived = scalars
                        derived[p] = swap
                        add(derived, from: word)
                    }
                }
            }
            // Not a word of numerals only: 二百五 backwards is the number 五百二.
            if evasions.contains(.reversed), scalars.count >= 3, scalars.contains(where: Normalizer.isHan),
               scalars.contains(where: { Normalizer.isHan($0) && YAMLReader.numeralForms($0) == nil }) {
                add(scalars.reversed(), from: word)
            }
        }
    }

    /// The non-empty subsets of `positions` (as sets), smallest first: all of them for up to four
    /// positions, else each position alone, each pair and all of them; at most `limit`.
    static func subsets(of positions: [Int], limit: Int) -> [Set<Int>] {
        var result: [Set<Int>] = []
        if positions.count <= 4 {
            for mask in 1..<(1 << positions.count) {
                result.append(Set(positions.indices.filter { mask >> $0 & 1 != 0 }.map { positions[$0] }))
            }
            result.sort { $0.count < $1.count }
            return Array(result.prefix(limit))
        }
        // Built only up to the limit (a word of a thousand positions has half a million pairs).
        for x in positions where result.count < limit { result.append([x]) }
        pairs: for (a, x) in positions.enumerated() {
            for y in positions[(a + 1)...] {
                guard result.count < limit else { break pairs }
                result.append([x, y])
            }
        }
        if result.count < limit { result.append(Set(positions)) }
        return result
    }

    func examples(_ node: Node) -> [RuleExample] {
        guard let keys = mapping(node, "examples", allowed: ["match", "no_match"], required: ["match", "no_match"]) else { return [] }
        var result: [RuleExample] = []
        for item in list(keys["match"], "examples.match") ?? [] {
            guard let text = string(item, "a match example") else { continue }
            let example = RuleExample(kind: .match, marked: text, location: location(item))
            if !YAMLReader.markersBalanced(text) {
                problem(item, "match example must mark the expected span with ⟦…⟧ (balanced, not nested)")
            } else if example.textAndSpans.spans.isEmpty {
                problem(item, "match example must mark the expected span with ⟦…⟧")
            } else if example.textAndSpans.spans.contains(where: \.isEmpty) {
                // No hit is empty (and the `spaced` mutation could not place one).
                problem(item, "match example marks an empty span ⟦⟧; mark the text the rule matches")
            }
            result.append(example)
        }
        for item in list(keys["no_match"], "examples.no_match") ?? [] {
            guard let text = string(item, "a no_match example") else { continue }
            // Scalar by scalar (Foundation's `contains` cost 15 M instructions over the shipped examples).
            if text.unicodeScalars.contains(where: { $0 == "⟦" || $0 == "⟧" }) { problem(item, "no_match examples must not contain ⟦…⟧ markers") }
            result.append(RuleExample(kind: .noMatch, marked: text, location: location(item)))
        }
        return result
    }

    static func markersBalanced(_ text: String) -> Bool {
        var open = false
        for scalar in text.unicodeScalars {
            if scalar == "⟦" { if open { return false }; open = true }
            if scalar == "⟧" { if !open { return false }; open = false }
        }
        return !open
    }

    // MARK: Expressions

    static let expressionKinds = ["words", "words_file", "regex", "any", "all", "not"]

    /// The largest `distinct:` count (more different hits of one list than a message plausibly holds).
    static let maxDistinct = 100

    func expression(_ node: Node, insideAll: Bool) -> MatchExpression? {
        guard let keys = mapping(node, "a match expression", allowed: YAMLReader.expressionKinds + ["within", "on", "validate", "fillers", "distinct"], required: []) else { return nil }
        let kinds = YAMLReader.expressionKinds.filter { keys[$0] != nil }
        guard kinds.count == 1, let kind = kinds.first else {
            problem(node, "a match expression needs exactly one of words, words_file, regex, any, all, not (found \(kinds.isEmpty ? "none" : kinds.joined(separator: ", ")))")
            return nil
        }
        if let distinct = keys["distinct"] {
            // `distinct: N` asks for N different hits of this child of an `all` (see ``MatchExpression/distinct(_:count:)``).
            guard insideAll, kind != "not" else {
                problem(distinct, "'distinct' only goes on a child directly inside 'all' that is not 'not' (e.g. all: [{words: [某甲, 某乙], distinct: 2}, {words: [同台]}])")
                return nil
            }
            guard let count = int(distinct, "distinct", min: 2, max: YAMLReader.maxDistinct) else { return nil }
            var plain = keys
            plain["distinct"] = nil
            return expressionBody(node, kind: kind, keys: plain, insideAll: insideAll).map { .distinct($0, count: count) }
        }
        return expressionBody(node, kind: kind, keys: keys, insideAll: insideAll)
    }

    /// ``expression(_:insideAll:)`` once its kind is known and `distinct` is handled.
    private func expressionBody(_ node: Node, kind: String, keys: [String: Node], insideAll: Bool) -> MatchExpression? {
        if keys["within"] != nil && kind != "all" { problem(keys["within"], "'within' only goes with 'all'") }
        if keys["on"] != nil && kind != "regex" { problem(keys["on"], "'on' only goes with 'regex'") }
        if keys["validate"] != nil && kind != "regex" { problem(keys["validate"], "'validate' only goes with 'regex'") }
        if keys["fillers"] != nil && kind != "regex" { problem(keys["fillers"], "'fillers' only goes with 'regex' (words allow fillers anyway)") }
        let value = keys[kind]!
        switch kind {
        case "words":
            var words: [Word] = []
            for item in list(value, "words") ?? [] {
                guard let text = string(item, "a word") else { continue }
                let normalized = normalizer.keptScalars(of: text, in: workspace)
                if normalized.isEmpty {
                    problem(item, "word '\(text)' normalizes to nothing (only spaces, punctuation, symbols or emoji); use a regex with on: original")
                    continue
                }
                words.append(Word(text: text, normalized: normalized, location: location(item)))
            }
            return words.isEmpty ? nil : .words(words)
        case "words_file":
            let paths: [Node]
            if case .sequence = value { paths = list(value, "words_file") ?? [] } else { paths = [value] }
            var words: [Word] = []
            for node in paths {
                guard let path = string(node, "words_file") else { continue }
                words += wordList(path, node)
            }
            return words.isEmpty ? nil : .words(words)
        case "regex":
            guard let pattern = string(value, "regex") else { return nil }
            var view = RegexView.folded
            if let on = keys["on"].flatMap({ string($0, "on") }) {
                guard let parsed = RegexView(rawValue: on) else { problem(keys["on"], "'on' must be 'folded' or 'original', not '\(on)'"); return nil }
                view = parsed
            }
            var validator: Validator?
            if let name = keys["validate"].flatMap({ string($0, "validate") }) {
                guard let parsed = Validator(rawValue: name) else {
                    problem(keys["validate"], "unknown validator '\(name)'; known: \(Validator.allCases.map(\.rawValue).joined(separator: ", "))")
                    return nil
                }
                validator = parsed
            }
            var literals = false
            if let text = keys["fillers"].flatMap({ string($0, "fillers") }) {
                guard text == "literals" else {
                    problem(keys["fillers"], "'fillers' must be 'literals' (fillers between the letters and digits the pattern spells out), not '\(text)'; write \\F for fillers anywhere else")
                    return nil
                }
                literals = true
            }
            return compileRegex(pattern, view: view, validator: validator, literals: literals, node: value)
        case "any", "all":
            let children = (list(value, kind) ?? []).compactMap { expression($0, insideAll: kind == "all") }
            guard !children.isEmpty else { return nil }
            if kind == "any" { return .any(children) }
            if children.allSatisfy({ if case .not = $0 { return true } else { return false } }) {
                problem(value, "'all' needs at least one child that is not 'not'")
                return nil
            }
            let within = keys["within"].flatMap { int($0, "within", min: 1) }
            return .all(children, within: within)
        default: // not
            guard insideAll else {
                problem(node, "'not' is only allowed directly inside 'all' (e.g. all: [{words: [网传]}, {not: {words: [辟谣]}}])")
                return nil
            }
            return expression(value, insideAll: false).map { .not($0) }
        }
    }

    /// A rule's regex compiled with each `\F` expanded for ``maxFiller`` fillers (nil and a problem when it
    /// does not compile: the caret points into the pattern as written where it can).
    func compileRegex(_ source: String, view: RegexView, validator: Validator?, literals: Bool, node: Node) -> MatchExpression? {
        let expanded: (pattern: String, count: Int)
        switch RegexFillers.expand(source, maxFiller: maxFiller, literals: literals) {
        case .success(let result): expanded = result
        case .failure(let error):
            let byteOffset = String(String.UnicodeScalarView(source.unicodeScalars.prefix(error.scalarOffset))).utf8.count
            problem(node, "regex: \(error.message)", detail: [source, YAMLReader.caret(under: source, byteOffset: byteOffset)])
            return nil
        }
        do {
            let compiled = try RegexFillers.compile(source, expanded: expanded.pattern, count: expanded.count, maxFiller: maxFiller, literals: literals)
            var spec = RegexSpec(pattern: compiled, view: view, validator: validator, location: location(node), source: source)
            spec.fillerSlots = expanded.count
            spec.fillerLiterals = literals
            return .regex(spec)
        } catch {
            if expanded.count == 0 {
                problem(node, "regex does not compile: \(error.message) (byte \(error.offset))",
                        detail: [source, YAMLReader.caret(under: source, byteOffset: error.offset)])
            } else {
                // The offset is in the expanded pattern: show that one.
                problem(node, "regex does not compile: \(error.message) (byte \(error.offset) of the pattern with \\F expanded)",
                        detail: [expanded.pattern, YAMLReader.caret(under: expanded.pattern, byteOffset: error.offset)])
            }
            return nil
        }
    }

    /// The words of a word-list file: one per line, UTF-8, blank lines and lines starting with `#` skipped,
    /// surrounding whitespace trimmed. Every bad entry is a problem at `file:line` (fail closed).
    func wordList(_ path: String, _ node: Node) -> [Word] {
        let resolved = files.resolve(path, in: directory)
        if let cached = wordLists[resolved] { return cached }
        switch files.kind(resolved) {
        case .missing(let reason): problem(node, "words_file '\(path)' not found (looked for \(resolved): \(reason))"); return []
        case .directory, .other: problem(node, "words_file '\(path)' is not a regular file"); return []
        case .regular(let size) where size > YAMLReader.maxWordListBytes:
            problem(node, "words_file '\(path)' is larger than \(YAMLReader.maxWordListBytes >> 20) MB; split it")
            return []
        case .regular: break
        }
        guard case .success(let data) = read(resolved) else { problem(node, "words_file '\(path)' cannot be read"); return [] }
        includedBytes += Array(path.utf8) + [0] + data + [0]
        var words: [Word] = []
        var seen = Set<[UInt32]>()
        let before = problems.count
        for (index, raw) in data.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            let line = index + 1
            func bad(_ message: String) { problems.append(RuleProblem(file: resolved, line: line, message: message)) }
            guard let text = String(validating: raw, as: UTF8.self) else { bad("not valid UTF-8"); continue }
            let word = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if word.isEmpty || word.hasPrefix("#") { continue }
            let normalized = normalizer.keptScalars(of: word, in: workspace)
            if normalized.isEmpty { bad("word '\(word)' normalizes to nothing (only spaces, punctuation, symbols or emoji)"); continue }
            if seen.insert(normalized).inserted {
                words.append(Word(text: word, normalized: normalized, location: SourceLocation(file: resolved, line: line, column: 1)))
            }
        }
        if words.isEmpty && problems.count == before { problem(node, "words_file '\(path)' has no words") }
        wordLists[resolved] = words
        return words
    }

    /// Largest model file read (bytes).
    static let maxModelBytes = 256 << 20

    /// The model file a pack names (relative to the pack's directory), read fail-closed: every problem
    /// at the model file's line. Its bytes join the policy digest.
    func packModel(_ path: String, _ node: Node, category: String?) -> PackModel? {
        let resolved = files.resolve(path, in: directory)
        switch files.kind(resolved) {
        case .missing(let reason): problem(node, "model file '\(path)' not found (looked for \(resolved): \(reason))"); return nil
        case .directory, .other: problem(node, "model file '\(path)' is not a regular file"); return nil
        case .regular(let size) where size > YAMLReader.maxModelBytes:
            problem(node, "model file '\(path)' is larger than \(YAMLReader.maxModelBytes >> 20) MB"); return nil
        case .regular: break
        }
        guard case .success(let bytes) = read(resolved) else { problem(node, "model file '\(path)' cannot be read"); return nil }
        includedBytes += Array(path.utf8) + [0] + bytes + [0]
        let (model, modelProblems) = NGramModel.parse(bytes, file: resolved,
                                                      verifyChecksum: !(trustVerifiedEmbedded && files.isVerifiedAtBuild(resolved)))
        problems += modelProblems
        guard let model else { return nil }
        if let category, model.category != category {
            problem(node, "model file '\(path)' scores category '\(model.category)', but the pack's category is '\(category)'")
            return nil
        }
        return PackModel(path: resolved, model: model, location: location(node))
    }

    /// A line with `^` under the scalar at `byteOffset`, counting East Asian wide characters as 2 columns.
    static func caret(under pattern: String, byteOffset: Int) -> String {
        var columns = 0
        var bytes = 0
        for scalar in pattern.unicodeScalars {
            if bytes >= byteOffset { break }
            bytes += String(scalar).utf8.count
            columns += DisplayWidth.of(scalar)
        }
        return String(repeating: " ", count: columns) + "^"
    }

    // MARK: Policy

    static let policyKeys = ["version", "extends", "packs", "thresholds", "fallback_reply", "holding_reply", "fallback_replies", "mask_with",
                             "exceptions", "normalization", "limits", "reported_speech", "review", "models"]

    func policy(_ root: Node, packs: [RulePack]) -> Policy? {
        guard let keys = mapping(root, "the policy", allowed: YAMLReader.policyKeys, required: []) else { return nil }
        var policy = extendedPolicy(keys["extends"], packs: packs) ?? Policy.builtIn
        policy.file = file
        if let node = keys["version"], node.scalar?.string != "1" {
            problem(node, "policy version '\(node.scalar?.string ?? "?")' is not supported: this replyguard reads version 1")
        }
        let categories = Set(packs.flatMap { [$0.category] + $0.rules.map(\.category) })
        if let node = keys["packs"], let ids = list(node, "packs") { policy.packs = enabledPackIDs(ids, packs: packs) }
        if let node = keys["thresholds"], let entries = mapping(node, "thresholds", allowed: categories.sorted(), required: []) {
            readThresholds(entries, into: &policy)
        }
        if let reply = string(keys["fallback_reply"], "fallback_reply") { policy.publishing.fallbackReply = reply }
        if let reply = string(keys["holding_reply"], "holding_reply") { policy.publishing.holdingReply = reply }
        if let node = keys["fallback_replies"], let entries = mapping(node, "fallback_replies", allowed: categories.sorted(), required: []) {
            for (category, value) in entries { policy.publishing.fallbackReplies[category] = string(value, "fallback_replies.\(category)") }
        }
        if let node = keys["normalization"], let entries = mapping(node, "normalization", allowed: ["max_filler"], required: []) {
            policy.maxFiller = int(entries["max_filler"], "max_filler") ?? policy.maxFiller
        }
        if let node = keys["limits"], let entries = mapping(node, "limits", allowed: ["match_limit", "depth_limit"], required: []) {
            if let v = int(entries["match_limit"], "match_limit", min: 1000, max: Int(UInt32.max)) { policy.limits.matchLimit = UInt32(clamping: v) }
            if let v = int(entries["depth_limit"], "depth_limit", min: 100, max: Int(UInt32.max)) { policy.limits.depthLimit = UInt32(clamping: v) }
        }
        if let node = keys["reported_speech"] { readReportedSpeech(node, into: &policy) }
        if let text = string(keys["mask_with"], "mask_with") {
            if text.contains(where: \.isNewline) { problem(keys["mask_with"], "mask_with must not contain a line break") } else { policy.publishing.maskWith = text }
        }
        if let node = keys["review"], let entries = mapping(node, "review", allowed: ["expire_after_minutes"], required: []) {
            if let node = entries["expire_after_minutes"] {
                policy.publishing.reviewExpiryMinutes = node.scalar?.string == "never" ? nil : int(node, "expire_after_minutes (or 'never')", min: 1, max: .max)
            }
        }
        if let node = keys["models"], let entries = mapping(node, "models", allowed: packs.filter { $0.model != nil }.map(\.id).sorted(), required: []) {
            readModelThresholds(entries, into: &policy)
        }
        policy.exceptions += policyExceptions(keys["exceptions"], packs: packs)
        return policy
    }

    /// The policy an `extends:` names, read (with its own problems and included bytes) relative to
    /// this file's directory; nil without `extends`, or when the base cannot be read.
    /// A profile states only what differs: every other setting (and every exception) comes from the base.
    private func extendedPolicy(_ node: Node?, packs: [RulePack]) -> Policy? {
        guard let text = string(node, "extends") else { return nil }
        let path = files.resolve(text, in: directory)
        if extendsDepth >= 4 {
            problem(node, "extends is nested more than 4 deep (a loop?)")
            return nil
        }
        let base = YAMLReader(file: path, normalizer: normalizer, directory: RuleFiles.directory(of: path), files: files)
        base.extendsDepth = extendsDepth + 1
        base.trustVerifiedEmbedded = trustVerifiedEmbedded
        var policy: Policy?
        if let (root, bytes) = base.compose(path: path), let loaded = base.policy(root, packs: packs) {
            policy = loaded
            includedBytes += Array(text.utf8) + [0] + bytes + base.includedBytes
        }
        if base.readUnverifiedFile { readUnverifiedFile = true }
        problems += base.problems
        return policy
    }

    /// The pack ids of `packs:`, each checked against the rules directory's packs.
    private func enabledPackIDs(_ ids: [Node], packs: [RulePack]) -> [String] {
        let packIDs = Set(packs.map(\.id))
        return ids.compactMap { item in
            guard let id = string(item, "a pack id") else { return nil }
            if !packIDs.contains(id) { problem(item, "policy enables pack '\(id)', which is not in the rules directory (have: \(packIDs.sorted().joined(separator: ", ")))") }
            return id
        }
    }

    /// `thresholds:` per category: escalate and block scores (escalate not above block).
    private func readThresholds(_ entries: [String: Node], into policy: inout Policy) {
        for (category, value) in entries {
            guard let limits = mapping(value, "thresholds.\(category)", allowed: ["escalate", "block"], required: []) else { continue }
            let thresholds = Thresholds(escalate: int(limits["escalate"], "escalate", min: 1, max: .max), block: int(limits["block"], "block", min: 1, max: .max))
            if let e = thresholds.escalate, let b = thresholds.block, e > b {
                problem(value, "thresholds.\(category): escalate (\(e)) must not be above block (\(b))")
            }
            policy.thresholds[category] = thresholds
        }
    }

    /// `reported_speech:` — `off`, or the action, cues and window that replace the standard ones.
    private func readReportedSpeech(_ node: Node, into policy: inout Policy) {
        if node.scalar?.string == "off" {
            policy.reportedSpeech = nil
        } else if let entries = mapping(node, "reported_speech (or 'off')", allowed: ["action", "cues", "window"], required: []) {
            var speech = ReportedSpeech.standard
            if let text = string(entries["action"], "reported_speech.action") {
                if let verdict = Verdict(rawValue: text), verdict != .block { speech.action = verdict } else {
                    problem(entries["action"], "reported_speech.action must be 'escalate' or 'allow', not '\(text)'")
                }
            }
            if let cues = stringList(entries["cues"], "reported_speech.cues") { speech.cues = cues }
            if let window = int(entries["window"], "reported_speech.window", min: 1) { speech.window = window }
            policy.reportedSpeech = speech
        }
    }

    /// `models:` per model pack: escalate and block probabilities (0 < P ≤ 1, escalate not above block).
    private func readModelThresholds(_ entries: [String: Node], into policy: inout Policy) {
        for (packID, value) in entries {
            guard let limits = mapping(value, "models.\(packID)", allowed: ["escalate", "block"], required: []) else { continue }
            func probability(_ key: String) -> Double? {
                guard let node = limits[key] else { return nil }
                guard let v = node.scalar.flatMap({ Double($0.string) }), v > 0, v <= 1 else {
                    problem(node, "models.\(packID).\(key) must be a probability, 0 < P ≤ 1"); return nil
                }
                return v
            }
            let thresholds = ModelThresholds(escalate: probability("escalate"), block: probability("block"))
            if let e = thresholds.escalate, let b = thresholds.block, e > b {
                problem(value, "models.\(packID): escalate (\(e)) must not be above block (\(b))")
            }
            policy.modelThresholds[packID] = thresholds
        }
    }

    /// The valid entries of `exceptions:`, in order; each names existing rules (or model packs).
    private func policyExceptions(_ node: Node?, packs: [RulePack]) -> [PolicyException] {
        let ruleIDs = packs.flatMap(\.rules).map(\.id) + packs.filter { $0.model != nil }.map { $0.id + ".model" }
        var found: [PolicyException] = []
        for item in list(node, "exceptions", allowEmpty: true) ?? [] {
            guard let entry = mapping(item, "an exception", allowed: ["rules", "match", "scope", "reason", "expires"], required: ["rules", "reason"]) else { continue }
            let rules = stringList(entry["rules"], "rules") ?? []
            for pattern in rules {
                let probe = PolicyException(rules: [pattern], match: nil, scope: .hit, reason: "", expires: nil, location: location(item))
                if !ruleIDs.contains(where: probe.covers) { problem(entry["rules"], "exception names '\(pattern)', which matches no rule") }
            }
            let match = entry["match"].flatMap { expression($0, insideAll: false) }
            let reason = string(entry["reason"], "reason")
            var scope = ExceptionScope.hit
            if let text = string(entry["scope"], "scope") {
                if let parsed = ExceptionScope(rawValue: text) { scope = parsed } else { problem(entry["scope"], "scope must be 'hit' or 'message', not '\(text)'") }
                if entry["match"] == nil { problem(entry["scope"], "'scope' only goes with 'match' (without match an exception covers the whole message)") }
            }
            var expires: String?
            if let text = string(entry["expires"], "expires") {
                if YAMLReader.isDate(text) { expires = text } else { problem(entry["expires"], "expires must be a date YYYY-MM-DD, not '\(text)'") }
            }
            if let reason, !rules.isEmpty, entry["match"] == nil || match != nil {
                found.append(PolicyException(rules: rules, match: match, scope: scope, reason: reason, expires: expires, location: location(item)))
            }
        }
        return found
    }

    static func isDate(_ text: String) -> Bool {
        let parts = text.split(separator: "-")
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let m = Int(parts[1]), let d = Int(parts[2]), Int(parts[0]) != nil else { return false }
        return (1...12).contains(m) && (1...31).contains(d)
    }
}

/// Terminal column widths, for carets and underlines under CJK text.
public enum DisplayWidth {
    public static func of(_ scalar: Unicode.Scalar) -> Int {
        switch scalar.value {
        case 0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF,
             0xA000...0xA4CF, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60,
             0xFFE0...0xFFE6, 0x1F300...0x1F64F, 0x1F900...0x1F9FF, 0x20000...0x3FFFD:
            return 2
        default:
            switch scalar.properties.generalCategory {
            case .nonspacingMark, .enclosingMark, .format: return 0
            default: return 1
            }
        }
    }

    public static func of<S: Sequence>(_ scalars: S) -> Int where S.Element == Unicode.Scalar {
        scalars.reduce(0) { $0 + of($1) }
    }
}
