import Foundation
import PackagePlugin

/// Embeds the package's `rules/` directory (packs, policy, profiles, word lists, models) into the target
/// it is applied to: `Scripts/embed-rules` writes every file under `rules/` as a base64 string literal
/// into one Swift source, re-run whenever one of those files (or the script) changes. A file added to or
/// removed from `rules/` is seen because the target's directory holds a symlink to `rules/` (excluded from
/// its sources): SwiftPM re-plans the build, and so re-runs this plugin, when a target directory's
/// structure changes. The binary then carries the shipped rule set and works with no files next to it.
@main
struct EmbedRules: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let package = context.package.directoryURL
        let rules = package.appendingPathComponent("rules")
        let script = package.appendingPathComponent("Scripts/embed-rules")
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("generated")
        let inputs = try EmbedRules.files(under: rules)
        // The licence and the notices (the models' data attributions) travel with the embedded set.
        let notices = ["LICENSE", "NOTICE"].map { package.appendingPathComponent($0) }
        return [.buildCommand(
            displayName: "Embedding rules/ (\(inputs.count) files), LICENSE and NOTICE into \(target.name)",
            executable: URL(fileURLWithPath: "/bin/sh"),
            arguments: [script.path, rules.path, output.path] + notices.map(\.path),
            inputFiles: [script] + inputs + notices,
            outputFiles: [output.appendingPathComponent("EmbeddedRulesData.swift")]
        )]
    }

    /// Every file under `directory` (recursively; hidden files and directories skipped) — the files the
    /// script embeds.
    static func files(under directory: URL) throws -> [URL] {
        guard let walker = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: [.isDirectoryKey],
                                                          options: [.skipsHiddenFiles]) else { return [] }
        var result: [URL] = []
        for case let url as URL in walker where (try? url.resourceValues(forKeys: [.isDirectoryKey]).isDirectory) != true {
            result.append(url)
        }
        return result.sorted { $0.path < $1.path }
    }
}
