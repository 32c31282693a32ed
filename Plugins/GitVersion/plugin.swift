import Foundation
import PackagePlugin

/// Bakes the version into the target it is applied to (the `replyguard` executable): before every build
/// `Scripts/version --swift-file` writes a Swift source defining `rg_build_version` from `git describe`
/// (see the script for the rules and the fallback outside a git checkout), rewritten only when the
/// version changed, so an unchanged version recompiles nothing. The library (`ReplyGuardVersion.string`)
/// reads it through a weak C default that this strong definition replaces at link time, so a new commit
/// recompiles only the executable's module, never the library.
@main
struct GitVersion: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let package = context.package.directoryURL
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("generated")
        var environment: [String: String] = [:]
        if let pinned = ProcessInfo.processInfo.environment["REPLYGUARD_VERSION"], !pinned.isEmpty { environment["REPLYGUARD_VERSION"] = pinned }
        return [.prebuildCommand(
            displayName: "Version of \(target.name) (Scripts/version)",
            executable: URL(fileURLWithPath: "/bin/sh"),
            arguments: [package.appendingPathComponent("Scripts/version").path, "--swift-file",
                        output.appendingPathComponent("BuildVersion.swift").path, package.path],
            environment: environment,
            outputFilesDirectory: output
        )]
    }
}
