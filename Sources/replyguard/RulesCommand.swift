import ArgumentParser
import Foundation
import ReplyGuard

/// `replyguard rules …`: the rule set built into the binary.
struct RulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules",
        abstract: "The rule packs built into this binary: list them, or export them to a directory to edit; seal model files.",
        discussion: """
        Commands that load rules use --rules DIR, else $REPLYGUARD_RULES (when set and not empty), else \
        ./rules (anything by that name), else the rule set built into this binary: rules/ as it was when \
        the binary was built (packs, policy.yaml, profiles, models; with LICENSE and NOTICE). A directory named by --rules or \
        $REPLYGUARD_RULES that does not exist is an error, never a reason to use the built-in set. \
        `check` prints which set it used ("rules: embedded (replyguard …)" or the directory); explain \
        prints it after the policy digest. The digest depends only on the files' contents and the paths \
        written in them, so the built-in set and its export have the same digest.
        """,
        subcommands: [List.self, Export.self, Seal.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
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
            commandName: "export",
            abstract: "Write the built-in rule set to DIR (created if needed) to edit; then use --rules DIR.",
            discussion: """
            Refuses to overwrite an existing file unless --force (nothing is written then). All or nothing: a \
            new DIR is built in a temporary sibling directory and renamed into place; into an existing DIR, \
            every file is written beside its target first and renamed over it once all are written. A failure \
            (a subdirectory that cannot be created, a full disk) leaves nothing behind. Exit 0, 2 when a file \
            exists or cannot be written.
            """)

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
            let export = AtomicExport(files: embedded.paths.map { ($0, embedded.contents(of: $0) ?? []) })
            do { try export.write(into: directory) } catch {
                Terminal.standardError.write(FileErrors.line(error.path, error.error))
                Terminal.standardError.write("replyguard: nothing written\n")
                throw ExitCode(2)
            }
            Terminal.standardOutput.write("wrote \(targets.count) files (\(embedded.label)) to \(directory); use them with: replyguard check --rules \(directory)\n")
            Terminal.standardOutput.flush()
        }
    }

    struct Seal: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "seal",
            abstract: "Convert model files of format 1 to format 2: add the end line (weight count and SHA-256) that loading verifies.",
            discussion: """
            A format-1 model file has no end marker, so a copy cut short at a line boundary loaded as a weaker \
            model; this replyguard refuses it. Seal a file only if it is complete as `learn` wrote it (compare \
            it with the original): sealing vouches for the bytes it is given. The first line becomes \
            `replyguard-model 2`, every other byte stays, and `end COUNT sha256:HEX` is appended; the file is \
            replaced atomically. A file that does not read cleanly, or does not end with a line break, is \
            refused and left as it is; a sealed file whose end line checks out is left as it is. Exit 0, 2 \
            when a file cannot be read, sealed or written.
            """)

        @Argument(help: ArgumentHelp("Model files to seal.", valueName: "file"))
        var files: [String]

        func validate() throws {
            if files.isEmpty { throw ValidationError("give the model files to seal, e.g. replyguard rules seal my-rules/models/offensive.model") }
        }

        func run() throws {
            var failed = false
            let out = Terminal.standardOutput
            for path in files {
                let bytes: [UInt8]
                do { bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) } catch {
                    Terminal.standardError.write(FileErrors.line(path, error)); failed = true; continue
                }
                switch NGramModel.sealed(bytes, file: path) {
                case .failure(let failure):
                    Terminal.standardError.write(failure.description + "\n")
                    Terminal.standardError.write("replyguard: \(path): not sealed (unchanged)\n")
                    failed = true
                case .success(.alreadySealed(let weightLines)):
                    out.write("\(path): already sealed (\(weightLines) weight lines, checksum verified); unchanged\n")
                case .success(.converted(let sealed, let weightLines)):
                    do { try Data(sealed).write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
                        Terminal.standardError.write(FileErrors.line(path, error)); failed = true; continue
                    }
                    out.write("\(path): sealed (\(weightLines) weight lines, \(sealed.count) bytes)\n")
                }
            }
            out.flush()
            if failed { throw ExitCode(2) }
        }
    }
}
