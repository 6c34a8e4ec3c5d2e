import CCproBuild

/// What `--version` says: the release number, and the commit when the
/// binary was stamped by scripts/package.
package enum BuildInfo {
    package static let version = CPRO_VERSION

    /// nil in a build from source that was not stamped.
    package static var commit: String? {
        let text = String(cString: cpro_build_commit())
        return text.isEmpty ? nil : text
    }

    package static func line(_ tool: String) -> String {
        "\(tool) \(version) (\(commit.map { "commit \($0)" } ?? "commit not recorded: a build from source"))"
    }
}
