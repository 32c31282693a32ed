import CBuildVersion

/// The version of replyguard, as `--version`, SARIF's tool version and every decision record's `engine`
/// report it.
public enum ReplyGuardVersion {
    /// The release this source tree is working towards: the repository's `VERSION` file (a test keeps
    /// them equal).
    public static let base = "0.1.0"

    /// The running binary's version: for the `replyguard` executable, `git describe` when it was built
    /// (`0.1.0-dev-189-gabc1234`, `0.2.0`, `0.2.0-3-gabc1234-dirty`; see `Scripts/version`); for the library
    /// linked into another program, ``base``.
    public static let string: String = {
        let built = String(cString: rg_build_version())
        return built.isEmpty ? base : built
    }()
}
