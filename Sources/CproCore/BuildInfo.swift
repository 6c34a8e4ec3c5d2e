import CCproBuild

/// What `--version` says: the release number, and the commit when the
/// binary was stamped by scripts/package.
public enum BuildInfo {
    public static let version = CPRO_VERSION

    /// nil in a build from source that was not stamped.
    public static var commit: String? {
        let text = String(cString: cpro_build_commit())
        return text.isEmpty ? nil : text
    }

    public static func line(_ tool: String) -> String {
        "\(tool) \(version) (\(commit.map { "commit \($0)" } ?? "commit not recorded: a build from source"))"
    }
}
