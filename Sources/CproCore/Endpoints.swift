/// The two base URLs of one environment, always in their canonical form:
/// the OAuth base without the token path, the API base ending in `/cpro`.
package struct Endpoints: Sendable, Equatable, Codable {
    /// OAuth base; the token path is appended.
    package var oauthURL: String
    /// API base, e.g. https://api.piste.gouv.fr/cpro; service paths are appended.
    package var apiURL: String
    /// Where each URL came from (`PISTE_OAUTH_URL`, the config, PISTE's
    /// default), so that a failure can say where cpro was talking to and why.
    /// Not part of the value: two Endpoints with the same URLs are equal.
    package var oauthSource: Source = .default
    package var apiSource: Source = .default

    package enum Source: Sendable, Equatable {
        case `default`
        case variable(String)
        case config(String)

        package var text: Text {
            switch self {
            case .default: Text("PISTE's default", fr: "la valeur par défaut de PISTE")
            case .variable(let name): Text("from \(name)", fr: "d'après \(name)")
            case .config(let key): Text("from the config (\(key))", fr: "d'après la configuration (\(key))")
            }
        }
    }

    enum CodingKeys: String, CodingKey { case oauthURL, apiURL }

    package static func == (a: Self, b: Self) -> Bool { a.oauthURL == b.oauthURL && a.apiURL == b.apiURL }

    /// Both URLs are PISTE's for `env`: nothing to point out.
    package func arePISTEDefaults(_ env: PisteEnvironment) -> Bool { self == Self.defaults(env) }

    /// "token endpoint https://…/api/oauth/token, from PISTE_OAUTH_URL": what a
    /// failure to reach it names.
    package var tokenEndpointNote: Text {
        Text("token endpoint \(tokenURL), \(oauthSource.text.en)", fr: "point d'accès jeton \(tokenURL), \(oauthSource.text.fr)")
    }
    package var apiEndpointNote: Text {
        Text("API \(apiURL), \(apiSource.text.en)", fr: "API \(apiURL), \(apiSource.text.fr)")
    }

    package static let tokenPath = "/api/oauth/token"
    package static let apiPath = "/cpro"

    package init(oauthURL: String, apiURL: String) {
        self.oauthURL = oauthURL
        self.apiURL = apiURL
    }

    package static func defaults(_ env: PisteEnvironment) -> Endpoints {
        switch env {
        case .sandbox:
            Endpoints(oauthURL: "https://sandbox-oauth.piste.gouv.fr", apiURL: "https://sandbox-api.piste.gouv.fr/cpro")
        case .production:
            Endpoints(oauthURL: "https://oauth.piste.gouv.fr", apiURL: "https://api.piste.gouv.fr/cpro")
        }
    }

    package var tokenURL: String { oauthURL + Self.tokenPath }

    package func apiURL(path: String) -> String {
        apiURL + (path.hasPrefix("/") ? path : "/" + path)
    }

    /// The OAuth base from what people copy: a host (`https://oauth.piste.gouv.fr`)
    /// or the full token URL (`.../api/oauth/token`). Any other path is refused.
    package static func oauthBase(_ text: String, name: String) throws -> String {
        let url = try WebURL.parse(text, name: name)
        switch url.path {
        case "", tokenPath: return url.origin
        default:
            throw Failure(
                "\(name) has an unexpected path; write the host (https://oauth.piste.gouv.fr) or the token URL (https://oauth.piste.gouv.fr/api/oauth/token)",
                fr: "\(name) a un chemin inattendu ; écrivez l'hôte (https://oauth.piste.gouv.fr) ou l'URL du jeton (https://oauth.piste.gouv.fr/api/oauth/token)")
        }
    }

    /// The API base from what people copy: a host (`/cpro` is appended, as the
    /// well-known integrations write it) or a URL ending in `/cpro`.
    package static func apiBase(_ text: String, name: String) throws -> String {
        let url = try WebURL.parse(text, name: name)
        switch url.path {
        case "", apiPath: return url.origin + apiPath
        default:
            throw Failure(
                "\(name) has an unexpected path; write the host (https://api.piste.gouv.fr) or the API base (https://api.piste.gouv.fr/cpro)",
                fr: "\(name) a un chemin inattendu ; écrivez l'hôte (https://api.piste.gouv.fr) ou la base de l'API (https://api.piste.gouv.fr/cpro)")
        }
    }

    /// Refuses what would leak a credential: see `WebURL.parse`.
    package static func validate(_ url: String, name: String) throws {
        _ = try WebURL.parse(url, name: name)
    }

    /// The gateway at *.aife.economie.gouv.fr was shut down in September 2023.
    package var usesRetiredGateway: Bool {
        Self.isRetired(oauthURL) || Self.isRetired(apiURL)
    }

    /// A URL whose host is on the retired gateway (the host itself, not a
    /// path or query that happens to name it).
    package static func isRetired(_ url: String) -> Bool {
        guard let host = (try? WebURL.parse(url, name: "url"))?.host else {
            return url.lowercased().contains("aife.economie.gouv.fr")
        }
        return host == "aife.economie.gouv.fr" || host.hasSuffix(".aife.economie.gouv.fr")
    }
}

/// A URL that may carry credentials, parsed strictly: `https://`, or plain
/// `http://` to this machine's loopback only; no user-info, query, fragment,
/// backslash, space or control character, so that what cpro checks is what
/// the HTTP client connects to.
package struct WebURL: Sendable, Equatable {
    package let scheme: String
    /// Lower-cased; an IPv6 literal without its brackets.
    package let host: String
    package let port: Int?
    /// Without trailing slashes; "" for none.
    package let path: String

    package var origin: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return "\(scheme)://\(h)\(port.map { ":\($0)" } ?? "")"
    }

    package static func parse(_ text: String, name: String) throws -> WebURL {
        func refuse(_ en: String, _ fr: String) -> Failure {
            Failure("\(name) \(en)", fr: "\(name) \(fr)")
        }
        guard text.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F && $0 != "\\" && $0.isASCII }) else {
            throw refuse("contains spaces, control or non-ASCII characters, or a backslash",
                         "contient des espaces, des caractères de contrôle ou non ASCII, ou une barre oblique inverse")
        }
        let lower = text.lowercased()
        let scheme: String
        if lower.hasPrefix("https://") { scheme = "https" } else if lower.hasPrefix("http://") { scheme = "http" } else {
            throw refuse("must start with https:// (got something else)", "doit commencer par https:// (valeur reçue différente)")
        }
        let rest = text.dropFirst(scheme.count + 3)
        guard !rest.contains("?"), !rest.contains("#") else {
            throw refuse("must not have a query (?) or a fragment (#)", "ne doit avoir ni requête (?) ni fragment (#)")
        }
        let authority = rest.prefix { $0 != "/" }
        var path = String(rest.dropFirst(authority.count))
        while path.hasSuffix("/") { path.removeLast() }
        guard !authority.contains("@") else {
            throw refuse("must not contain a user name or password (user@host): credentials never go in a URL",
                         "ne doit pas contenir de nom d'utilisateur ni de mot de passe (utilisateur@hôte) : les identifiants ne vont jamais dans une URL")
        }
        var host: Substring
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                throw refuse("has an unterminated IPv6 address", "a une adresse IPv6 non terminée")
            }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw refuse("has text after its IPv6 address", "a du texte après son adresse IPv6") }
                portText = after.dropFirst()
            }
            guard !host.isEmpty, host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                throw refuse("has an invalid IPv6 address", "a une adresse IPv6 invalide")
            }
        } else {
            let parts = authority.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            host = parts[0]
            if parts.count == 2 { portText = parts[1] }
            guard !host.isEmpty, host.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." }),
                  !host.hasPrefix("."), !host.hasPrefix("-"), !host.contains("..")
            else {
                throw refuse("has no host, or an invalid one", "n'a pas d'hôte, ou un hôte invalide")
            }
        }
        var port: Int?
        if let portText {
            guard let p = Int(portText), portText.allSatisfy(\.isNumber), (1...65535).contains(p) else {
                throw refuse("has an invalid port", "a un port invalide")
            }
            port = p
        }
        let url = WebURL(scheme: scheme, host: host.lowercased(), port: port, path: path)
        if scheme == "http" && !isLoopback(url.host) {
            throw refuse("uses plain http to a host other than this machine; credentials would travel unencrypted: use https",
                         "utilise http en clair vers une autre machine ; les identifiants circuleraient en clair : utilisez https")
        }
        return url
    }

    /// `localhost`, an IPv4 address in 127.0.0.0/8, or `::1`: compared on the
    /// parsed host, never on a prefix of the text.
    package static func isLoopback(_ host: String) -> Bool {
        let h = host.lowercased()
        if h == "localhost" || h == "::1" || h == "0:0:0:0:0:0:0:1" { return true }
        let octets = h.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4 else { return false }
        let values = octets.map { o -> Int? in
            guard !o.isEmpty, o.count <= 3, o.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            return Int(o).flatMap { $0 <= 255 ? $0 : nil }
        }
        return values.allSatisfy { $0 != nil } && values[0] == 127
    }
}
