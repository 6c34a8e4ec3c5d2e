#if canImport(Glibc)
import Glibc
#endif

/// Where cpro keeps its state. With `CPRO_HOME` everything (config, vault, token
/// cache, locks) lives under that one folder, which is what tests, CI jobs and
/// users with several isolated setups want; otherwise the XDG base directories.
package struct Paths: Sendable, Equatable {
    package let configDirectory: String
    package let dataDirectory: String
    package let cacheDirectory: String

    package var configFile: String { configDirectory + "/config.toml" }
    package var configLock: String { configDirectory + "/config.lock" }
    package var vaultFile: String { dataDirectory + "/vault.cpro" }
    package var vaultLock: String { dataDirectory + "/vault.lock" }
    package var tokenDirectory: String { cacheDirectory + "/tokens" }
    /// Where the token cache's key lives: the per-user runtime folder (memory
    /// only, emptied at logout and reboot) when there is one, else beside the tokens.
    package var tokenKeyDirectory: String { runtimeDirectory.map { $0 + "/cpro" } ?? tokenDirectory }
    package var runtimeDirectory: String?
    /// The session agent's socket, one agent per vault file: in the runtime
    /// folder when there is one (memory only, the user's alone, removed at
    /// logout), else beside the vault.
    package var agentSocket: String {
        guard let run = runtimeDirectory else { return dataDirectory + "/agent.sock" }
        // Named from the vault's real path, so that a symlinked data folder
        // names the same agent. FNV-1a only tells vault files apart in a file
        // name; nothing secret rests on it.
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in Self.realPath(vaultFile).utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return run + "/cpro/agent-" + String(h, radix: 16) + ".sock"
    }
    /// The folders up to which state must be the user's (`SecureFiles.checkOwnership`):
    /// CPRO_HOME, or the home folder and the runtime folder.
    package var trustRoots: [String] = []

    package init(configDirectory: String, dataDirectory: String, cacheDirectory: String) {
        self.configDirectory = configDirectory
        self.dataDirectory = dataDirectory
        self.cacheDirectory = cacheDirectory
    }

    package static func resolve(environment env: [String: String]) throws -> Paths {
        if let home = env["CPRO_HOME"], !home.isEmpty {
            let root = try absolute(home, variable: "CPRO_HOME")
            // Everything under CPRO_HOME, the token cache's key included.
            var paths = Paths(configDirectory: root, dataDirectory: root, cacheDirectory: root + "/cache")
            paths.trustRoots = [root]
            return paths
        }
        let home = try homeDirectory(env)
        // The XDG spec says a relative value is invalid and must be ignored.
        func xdg(_ name: String, _ fallback: String) -> String {
            if let v = env[name], v.hasPrefix("/") { return v }
            return home + "/" + fallback
        }
        var paths = Paths(
            configDirectory: xdg("XDG_CONFIG_HOME", ".config") + "/cpro",
            dataDirectory: xdg("XDG_DATA_HOME", ".local/share") + "/cpro",
            cacheDirectory: xdg("XDG_CACHE_HOME", ".cache") + "/cpro")
        // The XDG spec: a runtime folder that is not the user's alone (0700)
        // is ignored; state then goes beside the vault.
        if let run = env["XDG_RUNTIME_DIR"], run.hasPrefix("/") {
            var st = stat()
            if lstat(run, &st) == 0, st.st_uid == geteuid(), (st.st_mode & S_IFMT) == S_IFDIR, st.st_mode & 0o077 == 0 {
                paths.runtimeDirectory = trimmed(run)
            }
        }
        paths.trustRoots = [home] + (paths.runtimeDirectory.map { [$0] } ?? [])
        return paths
    }

    static func absolute(_ path: String, variable: String) throws -> String {
        if path.hasPrefix("/") { return trimmed(path) }
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buf, buf.count) != nil else {
            throw Failure("\(variable) is relative and the current folder is unknown",
                          fr: "\(variable) est relatif et le dossier courant est inconnu")
        }
        let cwd = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return trimmed(cwd + "/" + path)
    }

    static func trimmed(_ path: String) -> String {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        return p
    }

    static func homeDirectory(_ env: [String: String]) throws -> String {
        if let h = env["HOME"], h.hasPrefix("/") { return trimmed(h) }
        if let pw = getpwuid(geteuid()), let dir = pw.pointee.pw_dir {
            return String(cString: dir)
        }
        throw Failure("cannot tell the home folder: set HOME or CPRO_HOME",
                      fr: "dossier personnel introuvable : définissez HOME ou CPRO_HOME")
    }

    /// The path with its symbolic links resolved (the folder's, when the file
    /// does not exist yet); the text itself when neither resolves.
    static func realPath(_ path: String) -> String {
        func resolve(_ p: String) -> String? {
            guard let r = realpath(p, nil) else { return nil }
            defer { free(r) }
            return String(cString: r)
        }
        if let r = resolve(path) { return r }
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex, let dir = resolve(String(path[..<slash])) else { return path }
        return dir + String(path[slash...])
    }
}
