import Foundation
import PackagePlugin

/// Bakes the version into the target it is applied to (the `replyguard` executable): `Scripts/version
/// --swift-file` writes a Swift source defining `rg_build_version` from `git describe` (see the script for
/// the rules and the fallback outside a git checkout), rewritten only when the version changed, so an
/// unchanged version recompiles nothing. The library (`ReplyGuardVersion.string`) reads it through a weak
/// C default that this strong definition replaces at link time, so a new commit recompiles only the
/// executable's module, never the library.
///
/// A build command, not a prebuild command: SwiftPM 6 runs prebuild commands only when it plans the build
/// anew, not on every build. The command's inputs are what `git describe` reads — HEAD, the branch's ref,
/// packed refs, the tags, the index — and the package's sources (an edit makes the tree dirty), so it runs
/// again when any of them changes.
@main
struct GitVersion: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let package = context.package.directoryURL
        let script = package.appendingPathComponent("Scripts/version")
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("generated/BuildVersion.swift")
        var environment: [String: String] = [:]
        if let pinned = ProcessInfo.processInfo.environment["REPLYGUARD_VERSION"], !pinned.isEmpty { environment["REPLYGUARD_VERSION"] = pinned }
        var inputs = [script, package.appendingPathComponent("VERSION"), package.appendingPathComponent("Package.swift")]
        inputs += GitVersion.gitFiles(package)
        for directory in ["Sources", "Plugins", "Scripts", "rules"] {
            inputs += GitVersion.files(under: package.appendingPathComponent(directory))
        }
        let existing = inputs.filter { FileManager.default.fileExists(atPath: $0.path) }
        return [.buildCommand(
            displayName: "Baking git describe into \(target.name) (Scripts/version)",
            executable: URL(fileURLWithPath: "/bin/sh"),
            arguments: [script.path, "--swift-file", output.path, package.path],
            environment: environment,
            inputFiles: existing,
            outputFiles: [output]
        )]
    }

    /// The files `git describe --dirty` depends on: HEAD, the checked-out branch's ref, packed-refs, the
    /// tags directory and the index, in a repository or a worktree (`.git` a file naming the git dir).
    static func gitFiles(_ package: URL) -> [URL] {
        let dotGit = package.appendingPathComponent(".git")
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dotGit.path, isDirectory: &isDirectory) else { return [] }
        var gitDir = dotGit
        if !isDirectory.boolValue {
            guard let text = try? String(contentsOf: dotGit, encoding: .utf8), text.hasPrefix("gitdir:") else { return [] }
            let path = text.dropFirst("gitdir:".count).trimmingCharacters(in: .whitespacesAndNewlines)
            gitDir = path.hasPrefix("/") ? URL(fileURLWithPath: path) : package.appendingPathComponent(path)
        }
        var commonDir = gitDir
        if let common = try? String(contentsOf: gitDir.appendingPathComponent("commondir"), encoding: .utf8) {
            let path = common.trimmingCharacters(in: .whitespacesAndNewlines)
            commonDir = path.hasPrefix("/") ? URL(fileURLWithPath: path) : gitDir.appendingPathComponent(path).standardizedFileURL
        }
        var files = [gitDir.appendingPathComponent("HEAD"), gitDir.appendingPathComponent("index"),
                     commonDir.appendingPathComponent("packed-refs"), commonDir.appendingPathComponent("refs/tags")]
        if let head = try? String(contentsOf: gitDir.appendingPathComponent("HEAD"), encoding: .utf8), head.hasPrefix("ref:") {
            let ref = head.dropFirst("ref:".count).trimmingCharacters(in: .whitespacesAndNewlines)
            files.append(commonDir.appendingPathComponent(ref))
        }
        return files
    }

    /// Every regular file under `directory` (recursively; hidden files and directories and symlinks skipped).
    static func files(under directory: URL) -> [URL] {
        guard let walker = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: [.isRegularFileKey],
                                                          options: [.skipsHiddenFiles]) else { return [] }
        var result: [URL] = []
        for case let url as URL in walker where (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
            result.append(url)
        }
        return result
    }
}
