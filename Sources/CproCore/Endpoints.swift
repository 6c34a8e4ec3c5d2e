/// The two base URLs of one environment.
public struct Endpoints: Sendable, Equatable, Codable {
    /// OAuth base; the token path is appended.
    public var oauthURL: String
    /// API base, e.g. https://api.piste.gouv.fr/cpro; service paths are appended.
    public var apiURL: String

    public static let tokenPath = "/api/oauth/token"

    public init(oauthURL: String, apiURL: String) {
        self.oauthURL = oauthURL
        self.apiURL = apiURL
    }

    public static func defaults(_ env: PisteEnvironment) -> Endpoints {
        switch env {
        case .sandbox:
            Endpoints(oauthURL: "https://sandbox-oauth.piste.gouv.fr", apiURL: "https://sandbox-api.piste.gouv.fr/cpro")
        case .production:
            Endpoints(oauthURL: "https://oauth.piste.gouv.fr", apiURL: "https://api.piste.gouv.fr/cpro")
        }
    }

    public var tokenURL: String { Self.stripSlash(oauthURL) + Self.tokenPath }

    public func apiURL(path: String) -> String {
        let p = path.hasPrefix("/") ? path : "/" + path
        return Self.stripSlash(apiURL) + p
    }

    static func stripSlash(_ s: String) -> String {
        var s = s
        while s.hasSuffix("/") { s.removeLast() }
        return s
    }

    /// Refuses what would leak a client secret: anything but https, except plain
    /// http to this machine's loopback (piste-sim, local proxies).
    public static func validate(_ url: String, name: String) throws {
        let lower = url.lowercased()
        let rest: Substring
        if lower.hasPrefix("https://") {
            rest = lower.dropFirst(8)
        } else if lower.hasPrefix("http://") {
            rest = lower.dropFirst(7)
            let hostPort = rest.prefix { $0 != "/" }
            let host: Substring
            if hostPort.hasPrefix("[") {
                host = hostPort.prefix { $0 != "]" }.dropFirst()
            } else {
                host = hostPort.prefix { $0 != ":" }
            }
            guard host == "localhost" || host.hasPrefix("127.") || host == "::1" else {
                throw Failure(
                    "\(name) uses plain http to a host other than this machine; credentials would travel unencrypted: use https",
                    fr: "\(name) utilise http en clair vers une autre machine ; les identifiants circuleraient en clair : utilisez https")
            }
        } else {
            throw Failure("\(name) must start with https:// (got something else)",
                          fr: "\(name) doit commencer par https:// (valeur reçue différente)")
        }
        guard !rest.isEmpty, !rest.hasPrefix("/"), !url.contains(where: { $0 == " " || $0.isNewline }) else {
            throw Failure("\(name) has no host or contains spaces", fr: "\(name) n'a pas d'hôte ou contient des espaces")
        }
    }

    /// The gateway at *.aife.economie.gouv.fr was shut down in September 2023.
    public var usesRetiredGateway: Bool {
        oauthURL.lowercased().contains("aife.economie.gouv.fr") || apiURL.lowercased().contains("aife.economie.gouv.fr")
    }
}
