import Foundation
import PackagePlugin

/// Embeds the package's `rules/` directory (packs, policy, profiles, word lists, models) into the target
/// it is applied to: at every build it lists the files under `rules/` and, when any of them (or the list)
/// changed, runs `replyguard-embed-rules` to write them out as one Swift source of string literals. The
/// binary then carries the shipped rule set and works with no files next to it; the data can never be
/// staler than the build.
@main
struct EmbedRules: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let rules = context.package.directoryURL.appendingPathComponent("rules")
        let inputs = try EmbedRules.files(under: rules)
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("EmbeddedRulesData.swift")
        return [.buildCommand(
            displayName: "Embedding \(inputs.count) files of rules/ into \(target.name)",
            executable: try context.tool(named: "replyguard-embed-rules").url,
            arguments: [rules.path, output.path],
            inputFiles: inputs,
            outputFiles: [output]
        )]
    }

    /// Every regular file under `directory` (recursively), hidden files and directories skipped — the
    /// same selection the generator makes.
    static func files(under directory: URL) throws -> [URL] {
        guard let walker = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: [.isRegularFileKey],
                                                          options: [.skipsHiddenFiles]) else { return [] }
        var result: [URL] = []
        for case let url as URL in walker where (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
            result.append(url)
        }
        return result.sorted { $0.path < $1.path }
    }
}
