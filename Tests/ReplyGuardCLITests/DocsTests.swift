import Foundation
import Testing

/// The documentation a user reads: every relative link and `#anchor` in README.md, docs/ and the pack
/// and corpus READMEs resolves, README's command table names every subcommand the binary has, and every
/// option a command's `--help` lists is documented in that command's section of docs/commands.md (or a
/// docs page that section links to).
@Suite struct DocsTests {
    static let pages: [String] = {
        let docs = (try? FileManager.default.contentsOfDirectory(atPath: CLI.root + "/docs")) ?? []
        let extra = ["rules/README.md", "corpus/README.md", "examples/pack-repo/README.md"]
            .filter { FileManager.default.fileExists(atPath: CLI.root + "/" + $0) }
        return ["README.md", "CHANGELOG.md"] + docs.filter { $0.hasSuffix(".md") }.sorted().map { "docs/" + $0 } + extra
    }()

    /// The lines of a Markdown file outside fenced code blocks, numbered from 1.
    static func proseLines(_ path: String) throws -> [(number: Int, text: String)] {
        let text = try String(contentsOfFile: CLI.root + "/" + path, encoding: .utf8)
        var fenced = false
        var out: [(Int, String)] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.hasPrefix("```") {
                fenced.toggle()
                continue
            }
            if !fenced { out.append((index + 1, String(line))) }
        }
        return out
    }

    /// GitHub's anchor for a heading: lower case, punctuation other than `-` and `_` dropped, spaces to
    /// `-`; a repeated heading gets `-1`, `-2`, ….
    static func anchors(_ path: String) throws -> Set<String> {
        var seen: [String: Int] = [:]
        var out: Set<String> = []
        for (_, line) in try proseLines(path) {
            guard let hashes = line.firstIndex(where: { $0 != "#" }), hashes != line.startIndex,
                  line[hashes] == " ", line.distance(from: line.startIndex, to: hashes) <= 6
            else { continue }
            let title = line[line.index(after: hashes)...].trimmingCharacters(in: .whitespaces).lowercased()
            let slug = String(title.unicodeScalars.compactMap { scalar -> Character? in
                if scalar == " " { return "-" }
                if scalar == "-" || scalar == "_" || CharacterSet.alphanumerics.contains(scalar) { return Character(scalar) }
                return nil
            })
            let count = seen[slug, default: 0]
            seen[slug] = count + 1
            out.insert(count == 0 ? slug : "\(slug)-\(count)")
        }
        return out
    }

    @Test func everyRelativeLinkAndAnchorResolves() throws {
        #expect(Self.pages.contains("docs/commands.md"))
        let link = /\]\(([^)\s]+)\)/
        var broken: [String] = []
        var checked = 0
        for page in Self.pages {
            for (number, line) in try Self.proseLines(page) {
                for match in line.matches(of: link) {
                    let target = String(match.output.1)
                    if target.contains("://") || target.hasPrefix("mailto:") { continue }
                    let parts = target.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)
                    let file = parts[0].isEmpty
                        ? page
                        : URL(fileURLWithPath: CLI.root + "/" + page).deletingLastPathComponent()
                            .appendingPathComponent(String(parts[0])).standardized.path
                            .replacingOccurrences(of: CLI.root + "/", with: "")
                    checked += 1
                    guard FileManager.default.fileExists(atPath: CLI.root + "/" + file) else {
                        broken.append("\(page):\(number): \(target): no such file")
                        continue
                    }
                    if parts.count == 2, file.hasSuffix(".md"), try !Self.anchors(file).contains(String(parts[1])) {
                        broken.append("\(page):\(number): \(target): no heading with that anchor in \(file)")
                    }
                }
            }
        }
        #expect(checked > 30, "only \(checked) links found: the link pattern no longer matches")
        #expect(broken.isEmpty, "\(broken.joined(separator: "\n"))")
    }

    /// The subcommands `replyguard --help` lists.
    static func subcommands() throws -> [String] {
        let help = try CLI.run(["--help"]).stdout
        guard let start = help.range(of: "SUBCOMMANDS:") else { return [] }
        return help[start.upperBound...].split(separator: "\n").compactMap { line in
            guard line.hasPrefix("  "), !line.hasPrefix("   ") else { return nil }
            return line.split(separator: " ").first.map(String.init)
        }.filter { $0 != "See" }
    }

    @Test func readmeTableNamesEveryCommandAndTheReferenceDocumentsEveryOption() throws {
        let commands = try Self.subcommands()
        #expect(commands.count >= 9, "\(commands)")
        let readme = try String(contentsOfFile: CLI.root + "/README.md", encoding: .utf8)
        let reference = try String(contentsOfFile: CLI.root + "/docs/commands.md", encoding: .utf8)
        let sections = reference.components(separatedBy: "\n## ")
        // The reference's introduction documents the options every command shares (--rules, --policy,
        // --profile, --color); `wrap` takes `filter`'s options.
        let shared = sections[0]
        func section(_ name: String) -> String? { sections.first { $0.hasPrefix(name + "\n") } }
        // A section may leave a front end's options to its own page (serve → wechat.md).
        func linked(from section: String) -> [String] {
            section.matches(of: /\]\(([a-z0-9-]+\.md)(?:#[^)]*)?\)/).compactMap {
                try? String(contentsOfFile: CLI.root + "/docs/" + $0.output.1, encoding: .utf8)
            }
        }
        for command in commands {
            #expect(readme.contains("](docs/commands.md#\(command))"), "README's command table has no row for \(command)")
            guard let own = section(command) else {
                Issue.record("docs/commands.md has no section `## \(command)`")
                continue
            }
            let help = try CLI.run([command, "--help"]).stdout
            let options = Set(help.matches(of: /(?m)^\s+(?:-\w, )?(--[a-z0-9-]+)/).map { String($0.output.1) })
            #expect(!options.isEmpty || command == "rules" || command == "review", "\(command) --help lists no options")
            for option in options.subtracting(["--help", "--version"]) {
                let documented = ([own, shared, command == "wrap" ? section("filter") ?? "" : ""] + linked(from: own)).contains { $0.contains(option) }
                #expect(documented, "docs/commands.md § \(command) does not document \(option)")
            }
        }
    }
}
