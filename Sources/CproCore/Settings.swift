/// The effective, non-secret settings: the config file, then the variables of
/// the contract on top. Environment variables win, so CI and tests can point a
/// configured profile at piste-sim without editing anything.
package struct Settings: Sendable {
    package let paths: Paths
    package let config: Config
    package let environment: [String: String]

    package static let maxConfigBytes = 1 << 20

    package init(paths: Paths, config: Config, environment: [String: String]) {
        self.paths = paths
        self.config = config
        self.environment = environment
    }

    package static func load(environment env: [String: String]) throws -> Settings {
        let paths = try Paths.resolve(environment: env)
        return Settings(paths: paths, config: try loadConfig(paths), environment: env)
    }

    package static func loadConfig(_ paths: Paths) throws -> Config {
        try SecureFiles.checkOwnership(paths.configFile, roots: paths.trustRoots)
        guard let bytes = try SecureFiles.read(paths.configFile, limit: maxConfigBytes) else { return try Config() }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw Failure("\(paths.configFile) is not UTF-8 text", fr: "\(paths.configFile) n'est pas du texte UTF-8")
        }
        return try Config(text: text, path: paths.configFile)
    }

    /// Reads, changes and writes the config under its lock, so two processes
    /// that change different settings both land.
    @discardableResult
    package static func updateConfig(_ paths: Paths, _ change: (inout Config) throws -> Void) throws -> Config {
        try SecureFiles.ensurePrivateDirectory(paths.configDirectory)
        return try SecureFiles.withLock(paths.configLock) {
            SecureFiles.removeStaleTemporaries(of: paths.configFile)
            var config = try loadConfig(paths)
            try change(&config)
            try SecureFiles.atomicWrite(paths.configFile, bytes: Array(config.text.utf8))
            return config
        }
    }

    /// The backend chosen by the user: variable, then config, then `file`.
    package func backend(override: String?) throws -> BackendKind {
        let chosen = override ?? environment["CPRO_BACKEND"].flatMap { $0.isEmpty ? nil : $0 } ?? config.backend
        guard let name = chosen else { return .file }
        guard let kind = BackendKind(rawValue: name) else {
            throw Failure(
                "unknown backend; backends are \(BackendKind.allCases.map(\.rawValue).joined(separator: ", "))",
                fr: "backend inconnu ; les backends sont \(BackendKind.allCases.map(\.rawValue).joined(separator: ", "))").usage
        }
        return kind
    }

    /// The effective endpoints, each in its canonical form (`Endpoints.oauthBase`,
    /// `Endpoints.apiBase`): the variables, then the config, then PISTE's hosts.
    package func endpoints(_ profile: ProfileName, _ env: PisteEnvironment) throws -> Endpoints {
        var e = Endpoints.defaults(env)
        if case .string(let s)? = config.environmentValue(profile, env, "oauth_url") {
            (e.oauthURL, e.oauthSource) = (try Endpoints.oauthBase(s, name: "oauth_url"), .config("oauth_url"))
        }
        if case .string(let s)? = config.environmentValue(profile, env, "api_url") {
            (e.apiURL, e.apiSource) = (try Endpoints.apiBase(s, name: "api_url"), .config("api_url"))
        }
        if let s = environment["PISTE_OAUTH_URL"], !s.isEmpty {
            (e.oauthURL, e.oauthSource) = (try Endpoints.oauthBase(s, name: "PISTE_OAUTH_URL"), .variable("PISTE_OAUTH_URL"))
        }
        if let s = environment["CPRO_API_URL"], !s.isEmpty {
            (e.apiURL, e.apiSource) = (try Endpoints.apiBase(s, name: "CPRO_API_URL"), .variable("CPRO_API_URL"))
        }
        return e
    }
}

/// Where the OpenBao backend keeps credentials. Nothing here is secret (the
/// token never is a setting), so it may live in the config; the standard
/// variables win, as they do for the `bao` command.
package struct OpenBaoSettings: Sendable, Equatable {
    /// nil when neither a variable nor the config names a server.
    package var address: String?
    package var addressSource: String?
    /// The KV version 2 mount and the folder under it.
    package var mount: String
    package var prefix: String
    package var namespace: String?

    package static let defaultMount = "secret"
    package static let defaultPrefix = "cpro"

    /// A path under the server (mount, prefix, namespace): segments of
    /// letters, digits, `.`, `_`, `-`, separated by `/`; outer slashes dropped.
    package static func path(_ text: String, name: String) throws -> String {
        let trimmed = text.split(separator: "/", omittingEmptySubsequences: false)
        let segments = trimmed.drop { $0.isEmpty }.reversed().drop { $0.isEmpty }.reversed()
        let ok = !segments.isEmpty && segments.allSatisfy { s in
            !s.isEmpty && s != "." && s != ".." && s.unicodeScalars.allSatisfy {
                $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0))
            }
        }
        guard ok else {
            throw Failure(
                "\(name) must be a path like 'secret' or 'teams/billing' (letters, digits, '.', '_', '-', separated by '/')",
                fr: "\(name) doit être un chemin comme « secret » ou « equipes/facturation » (lettres, chiffres, « . », « _ », « - », séparés par « / »)")
        }
        return segments.joined(separator: "/")
    }
}

extension Settings {
    package func openbao() throws -> OpenBaoSettings {
        func variable(_ names: String...) -> (String, String)? {
            for n in names { if let v = environment[n], !v.isEmpty { return (n, v) } }
            return nil
        }
        var address: (String, String)? = variable("BAO_ADDR", "VAULT_ADDR")
        if address == nil, let s = config.string("openbao_addr") { address = ("openbao_addr", s) }
        if let (name, value) = address { try Endpoints.validate(value, name: name) }
        let mount = try variable("CPRO_OPENBAO_MOUNT").map { try OpenBaoSettings.path($0.1, name: $0.0) }
            ?? config.string("openbao_mount") ?? OpenBaoSettings.defaultMount
        let prefix = try variable("CPRO_OPENBAO_PREFIX").map { try OpenBaoSettings.path($0.1, name: $0.0) }
            ?? config.string("openbao_prefix") ?? OpenBaoSettings.defaultPrefix
        let namespace = try variable("BAO_NAMESPACE", "VAULT_NAMESPACE").map { try OpenBaoSettings.path($0.1, name: $0.0) }
            ?? config.string("openbao_namespace")
        var trimmed = address?.1
        while trimmed?.hasSuffix("/") == true { trimmed?.removeLast() }
        return OpenBaoSettings(address: trimmed, addressSource: address?.0, mount: mount, prefix: prefix, namespace: namespace)
    }
}
