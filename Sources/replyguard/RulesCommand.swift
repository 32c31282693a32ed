import ArgumentParser
import Foundation
import ReplyGuard

/// `replyguard rules …`: the rule set built into the binary.
struct RulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules",
        abstract: "The rule packs built into this binary: list them, or export them to a directory to edit.",
        discussion: """
        Commands that load rules use --rules DIR, else $REPLYGUARD_RULES (when set and not empty), else \
        ./rules (anything by that name), else the rule set built into this binary: rules/ as it was when \
        the binary was built (packs, policy.yaml, profiles, models; with LICENSE and NOTICE). A directory named by --rules or \
        $REPLYGUARD_RULES that does not exist is an error, never a reason to use the built-in set. \
        `check` prints which set it used ("rules: embedded (replyguard …)" or the directory); explain \
        prints it after the policy digest. The digest depends only on the files' contents and the paths \
        written in them, so the built-in set and its export have the same digest.
        """,
        subcommands: [List.self, Export.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the built-in rule set's files and sizes, and which rule set commands here would use.")

        @OptionGroup var ruleOptions: RuleOptions

        func run() throws {
            let embedded = RuleLocation.embedded
            let out = Terminal.standardOutput
            var total = 0
            for path in embedded.paths {
                let size = embedded.size(of: path) ?? 0
                total += size
                out.write("\(String(repeating: " ", count: max(0, 10 - String(size).count)))\(size)  \(EmbeddedRuleSet.root)/\(path)\n")
            }
            out.write("\(embedded.label): \(embedded.paths.count) files, \(total) bytes\n")
            out.write("commands here use: \(ruleOptions.location.label)\n")
            out.flush()
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the built-in rule set to DIR (created if needed) to edit; then use --rules DIR.",
            discussion: "Refuses to overwrite an existing file unless --force (nothing is written then). Exit 0, 2 when a file exists or cannot be written.")

        @Argument(help: ArgumentHelp("Directory to write the packs, policy.yaml, profiles/, models/, LICENSE and NOTICE into.", valueName: "dir"))
        var directory: String

        @Flag(name: .long, help: "Overwrite files that exist.")
        var force = false

        func run() throws {
            let embedded = RuleLocation.embedded
            let targets = embedded.paths.map { (relative: $0, path: (directory as NSString).appendingPathComponent($0)) }
            if !force {
                var info = stat()
                let existing = targets.filter { lstat($0.path, &info) == 0 }
                if !existing.isEmpty {
                    for file in existing { Terminal.standardError.write("replyguard: \(file.path): file exists (pass --force to overwrite)\n") }
                    Terminal.standardError.write("replyguard: nothing written\n")
                    throw ExitCode(2)
                }
            }
            for target in targets {
                let parent = (target.path as NSString).deletingLastPathComponent
                do {
                    try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
                } catch {
                    throw fileFailure(parent, error)
                }
                do {
                    try Data(embedded.contents(of: target.relative) ?? []).write(to: URL(fileURLWithPath: target.path), options: .atomic)
                } catch {
                    throw fileFailure(target.path, error)
                }
            }
            Terminal.standardOutput.write("wrote \(targets.count) files (\(embedded.label)) to \(directory); use them with: replyguard check --rules \(directory)\n")
            Terminal.standardOutput.flush()
        }
    }
}
