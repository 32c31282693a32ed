// swift-tools-version:6.0
import PackageDescription

/// The matching hot path (and scan's batching) is single-threaded per scanner and keeps its state in
/// final classes; dynamic exclusivity checks on those accesses cost about a tenth of scan time in
/// release builds.
let hotPathSettings: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]
/// Debug builds (the test suite) optimize the engine and the embedded rules: every CLI test starts the
/// binary, and unoptimized generic code made each start-up about ten times slower than release.
let debugOptimized: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]

let package = Package(
    name: "replyguard",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "ReplyGuard", targets: ["ReplyGuard"]),
        .library(name: "ReplyGuardGate", targets: ["ReplyGuardGate"]),
        .executable(name: "replyguard", targets: ["ReplyGuardCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        // HTTP/1.1 for `replyguard serve` (NIOCore, NIOPosix, NIOHTTP1 only: far fewer packages to build than a framework).
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        // TLS for the outbound client (`serve --upstream https://…`: DeepSeek, Qwen and most hosted models are HTTPS only).
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        // WeChat safe mode's AES-256-CBC and SHA-1 are in-tree (Sources/ReplyGuardServer/WeChat/WeChatCipher.swift):
        // swift-crypto would compile a second BoringSSL, about half the clean build.
    ],
    targets: [
        .systemLibrary(
            name: "CPCRE2",
            pkgConfig: "libpcre2-8",
            providers: [.apt(["libpcre2-dev"]), .brew(["pcre2"])]
        ),
        .target(name: "ReplyGuardPCRE2", dependencies: ["CPCRE2"]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"]), .brew(["sqlite"])]),
        .target(name: "ReplyGuardGate", dependencies: ["CSQLite", "ReplyGuard"]),
        .target(name: "CSpawn"),
        // The version baked in at build time: GitVersion runs Scripts/version (git describe) before every build
        // and gives the executable a strong `rg_build_version`; the library's weak default (CBuildVersion)
        // yields to it at link time, so a new commit relinks the library instead of recompiling it.
        .plugin(name: "GitVersion", capability: .buildTool()),
        .target(name: "CBuildVersion"),
        // `replyguard serve`: the HTTP service and the reviewer's page on the reply gate (the library does not depend on NIO).
        .target(
            name: "ReplyGuardServer",
            dependencies: ["ReplyGuard", "ReplyGuardGate",
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "NIOHTTP1", package: "swift-nio"),
                           .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                           .product(name: "NIOSSL", package: "swift-nio-ssl")]
        ),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]),
        .target(
            name: "ReplyGuard",
            dependencies: ["ReplyGuardPCRE2", "CZlib", "CBuildVersion", .product(name: "Yams", package: "Yams")],
            swiftSettings: hotPathSettings + debugOptimized
        ),
        // The shipped rules/ (packs, policy, profiles, word lists, models) compiled into the binary: the
        // EmbedRules build tool plugin runs Scripts/embed-rules on rules/ when any file there changes, so a
        // copied binary works with no files next to it and the embedded set is never staler than the
        // build. Sources/ReplyGuardEmbeddedRules/rules is a symlink to rules/, excluded from the sources:
        // it makes SwiftPM re-plan (and re-run the plugin) when a file is added to or removed from rules/.
        .plugin(name: "EmbedRules", capability: .buildTool()),
        .target(name: "ReplyGuardEmbeddedRules", exclude: ["rules"], swiftSettings: debugOptimized, plugins: ["EmbedRules"]),
        .executableTarget(
            name: "ReplyGuardCLI",
            dependencies: ["ReplyGuard", "ReplyGuardGate", "ReplyGuardServer", "ReplyGuardEmbeddedRules", "CSpawn", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Sources/replyguard",
            swiftSettings: hotPathSettings,
            plugins: ["GitVersion"]
        ),
        // Fuzz targets (Scripts/fuzz builds them with libFuzzer); a plain build replays saved inputs.
        .executableTarget(name: "replyguard-fuzz", dependencies: ["ReplyGuard"], path: "Sources/ReplyGuardFuzz"),
        .testTarget(name: "ReplyGuardPCRE2Tests", dependencies: ["ReplyGuardPCRE2"]),
        .testTarget(name: "ReplyGuardTests", dependencies: ["ReplyGuard"]),
        .testTarget(name: "ReplyGuardGateTests", dependencies: ["ReplyGuardGate", "ReplyGuard"]),
        .testTarget(name: "ReplyGuardCLITests", dependencies: ["ReplyGuard", "ReplyGuardGate", "ReplyGuardServer", "ReplyGuardCLI"]),
    ]
)
