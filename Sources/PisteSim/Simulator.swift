import Foundation

/// A local stand-in for PISTE's OAuth endpoint and the Chorus Pro endpoints cpro
/// uses. Every variant in shared/spec/piste-facts.md can be switched on at run
/// time through `/_sim/config`, so one running simulator serves a whole test.
///
/// It has its own request and answer types and imports nothing from cpro.
package actor Simulator {
    package struct Request: Sendable {
        package var method: String
        package var path: String
        package var headers: [String: String]  // lower-cased names
        package var body: [UInt8]
        package init(method: String, path: String, headers: [String: String], body: [UInt8]) {
            self.method = method
            self.path = path
            self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { a, _ in a })
            self.body = body
        }
    }

    package struct Response: Sendable {
        package var status: Int
        package var headers: [String: String]
        package var body: [UInt8]
        package var delayMs: Int = 0
        /// Drop the connection after part of the body: a reset mid-answer.
        package var resetAfterBytes: Int? = nil

        static func json(_ status: Int, _ object: Any, headers: [String: String] = [:]) -> Response {
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
            return Response(status: status, headers: headers.merging(["content-type": "application/json;charset=utf-8"]) { a, _ in a }, body: Array(data))
        }
        static func text(_ status: Int, _ text: String, headers: [String: String] = [:]) -> Response {
            Response(status: status, headers: headers, body: Array(text.utf8))
        }
    }

    /// The switchable behaviours. Names are documented in docs/piste-sim.md.
    package struct Behaviour: Sendable, Equatable {
        /// normal, invalid_client_400, invalid_client_401, no_subscription_401,
        /// invalid_grant, malformed, no_expiry
        package var token = "normal"
        /// The next `count` token requests fail with `status` (5xx or 429).
        package var tokenFailStatus = 0
        package var tokenFailCount = 0
        package var tokenRetryAfter: Int? = nil
        package var tokenDelayMs = 0
        package var tokenLifetime = 3600
        /// Per API (factures, structures, utilisateurs, transverses): normal,
        /// forbidden_403, tech_rejected, code_retour_200, code_retour_400,
        /// server_error, malformed, token_rejected, unknown_path.
        package var api: [String: String] = [:]
        /// What a refused bearer token gets in WWW-Authenticate: piste
        /// (`Bearer realm="PISTE"`), invalid_token (adds error="invalid_token"), none.
        package var tokenChallenge = "piste"
        package var apiFailStatus = 0
        package var apiFailCount = 0
        package var apiFailRetryAfter: Int? = nil
        /// The failure comes after the request was received and authenticated,
        /// as a gateway timing out on a slow back end does.
        package var apiFailAfterReceipt = false
        /// With `api_fail`'s status 0: the connection is dropped instead.
        package var apiDelayMs = 0
        /// How many linked structures the rattachements call returns.
        package var structures = 3
        /// statutRattachementStructure and statutUtilisateur of every structure.
        package var structureStatus = "ACTIF"
        package var userStatus = "ACTIF"
        /// The technical password's expiry answered by structures/v1/consulter:
        /// a string as given, or epoch milliseconds.
        package var passwordExpiry: String? = nil
        package var passwordExpiryMs: Int64? = nil
        package init() {}
    }

    package private(set) var clients: [String: String]
    package private(set) var accounts: [String: String]
    package private(set) var behaviour = Behaviour()
    private var tokens: [String: (client: String, expires: Date)] = [:]
    package private(set) var tokenRequests = 0
    package private(set) var apiRequests = 0
    private var inFlight = 0
    package private(set) var maxInFlight = 0
    private var byPath: [String: Int] = [:]
    /// Requests that passed both authentications, per path: what a back end
    /// would have acted on.
    private var receipts: [String: Int] = [:]

    package static let defaultClientID = "5e1f0c2a-6b3d-4c8e-9a7f-0d1e2f3a4b5c"
    package static let defaultClientSecret = "sim-client-secret-8c41"
    package static let defaultTechLogin = "TECH_1_00000000000000@cpro.fr"
    package static let defaultTechPassword = "sim-tech-password-Ü7"

    package init(
        clients: [String: String] = [defaultClientID: defaultClientSecret],
        accounts: [String: String] = [defaultTechLogin: defaultTechPassword]
    ) {
        self.clients = clients
        self.accounts = accounts
    }

    package func handle(_ r: Request) -> Response {
        if r.path.hasPrefix("/_sim/") { return admin(r) }
        if r.path == "/api/oauth/token" { return token(r) }
        if r.path.hasPrefix("/cpro/") { return api(r) }
        return Self.unknownPath
    }

    /// PISTE's answer for a path that no API serves: 401, DefaultRealm, empty body.
    static let unknownPath = Response.text(401, "", headers: ["www-authenticate": "Bearer realm=\"DefaultRealm\""])

    static let knownPaths: Set<String> = [
        "/cpro/utilisateurs/v1/monCompte/recuperer/rattachements", "/cpro/structures/v1/consulter",
        "/cpro/structures/v1/rechercher", "/cpro/transverses/v1/recuperer/structures/actives/fournisseur",
        "/cpro/factures/v1/rechercher/fournisseur", "/cpro/transverses/v1/health-check", "/cpro/factures/v1/deposer/flux",
    ]

    // MARK: OAuth

    func token(_ r: Request) -> Response {
        tokenRequests += 1
        var response = tokenAnswer(r)
        response.delayMs = behaviour.tokenDelayMs
        return response
    }

    private func tokenAnswer(_ r: Request) -> Response {
        guard r.method == "POST" else { return .json(405, ["error": "invalid_request"]) }
        if behaviour.tokenFailCount > 0 {
            behaviour.tokenFailCount -= 1
            var headers: [String: String] = [:]
            if let after = behaviour.tokenRetryAfter { headers["retry-after"] = String(after) }
            return .text(behaviour.tokenFailStatus, "<html>gateway error</html>", headers: headers)
        }
        let contentType = r.headers["content-type"] ?? ""
        guard contentType.lowercased().hasPrefix("application/x-www-form-urlencoded") else {
            return .json(400, ["error": "invalid_request", "error_description": "expected a form body"])
        }
        let form = Self.parseForm(r.body)
        guard form["grant_type"] == "client_credentials" else {
            return .json(400, ["error": "unsupported_grant_type"])
        }
        if r.headers["authorization"] != nil && form["client_id"] == nil {
            return .json(400, ["error": "invalid_request", "error_description": "credentials expected in the body"])
        }
        switch behaviour.token {
        case "invalid_client_400":
            return .json(400, ["error": "invalid_client", "error_description": "Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method)."])
        case "invalid_client_401":
            return .json(401, ["error": "invalid_client", "error_description": "Client authentication failed"])
        case "no_subscription_401":
            return .json(401, ["error": "access_denied", "error_description": "The application has no subscription to any API"])
        case "invalid_grant":
            return .json(400, ["error": "invalid_grant", "error_description": "scope not allowed"])
        case "malformed":
            return .text(200, "<html>not json</html>", headers: ["content-type": "text/html"])
        default:
            break
        }
        guard let id = form["client_id"], let secret = form["client_secret"], clients[id] == secret else {
            return .json(401, ["error": "invalid_client", "error_description": "Client authentication failed"])
        }
        let token = "sim-" + UUID().uuidString.lowercased()
        tokens[token] = (id, Date().addingTimeInterval(Double(behaviour.tokenLifetime)))
        var answer: [String: Any] = ["access_token": token, "token_type": "Bearer", "scope": form["scope"] ?? "openid"]
        if behaviour.token != "no_expiry" { answer["expires_in"] = behaviour.tokenLifetime }
        return .json(200, answer)
    }

    static func parseForm(_ body: [UInt8]) -> [String: String] {
        var out: [String: String] = [:]
        for pair in String(decoding: body, as: UTF8.self).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String {
                (String(s).replacingOccurrences(of: "+", with: " ")).removingPercentEncoding ?? String(s)
            }
            out[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return out
    }

    // MARK: API

    func api(_ r: Request) -> Response {
        apiRequests += 1
        byPath[r.path, default: 0] += 1
        var response = apiAnswer(r)
        response.delayMs = behaviour.apiDelayMs
        return response
    }

    private func apiAnswer(_ r: Request) -> Response {
        let rest = r.path.dropFirst("/cpro/".count)
        let apiName = String(rest.prefix { $0 != "/" })
        let mode = behaviour.api[apiName] ?? "normal"
        guard Self.knownPaths.contains(r.path), mode != "unknown_path" else { return Self.unknownPath }
        func gatewayFailure() -> Response {
            behaviour.apiFailCount -= 1
            if behaviour.apiFailStatus == 0 {
                var cut = Response.json(200, ["codeRetour": 0, "libelle": "GCU_MSG_01_000", "numeroFluxDepot": "cut"])
                cut.resetAfterBytes = 8
                return cut
            }
            var headers: [String: String] = [:]
            if let after = behaviour.apiFailRetryAfter { headers["retry-after"] = String(after) }
            return .text(behaviour.apiFailStatus, "<html>gateway error</html>", headers: headers)
        }
        if behaviour.apiFailCount > 0 && !behaviour.apiFailAfterReceipt { return gatewayFailure() }

        // The gateway: the bearer token first.
        let auth = r.headers["authorization"] ?? ""
        let bearer = auth.lowercased().hasPrefix("bearer ") ? String(auth.dropFirst(7)) : ""
        guard mode != "token_rejected", let entry = tokens[bearer], entry.expires > Date() else {
            switch behaviour.tokenChallenge {
            case "none": return .text(401, "")
            case "invalid_token": return .text(401, "", headers: ["www-authenticate": "Bearer realm=\"PISTE\", error=\"invalid_token\""])
            default: return .text(401, "", headers: ["www-authenticate": "Bearer realm=\"PISTE\""])
            }
        }
        // Then the application's subscription and the terms: 403, empty body.
        if mode == "forbidden_403" { return .text(403, "") }
        // Then the technical account.
        let techRejected = Response.text(401, "", headers: [
            "www-authenticate": "Bearer realm=\"PISTE\",error=\"Unauthorized\",error_description=\"login or password incorrects\""
        ])
        guard mode != "tech_rejected", let account = r.headers["cpro-account"],
              let decoded = Data(base64Encoded: account).flatMap({ String(data: $0, encoding: .utf8) }),
              let colon = decoded.firstIndex(of: ":"),
              accounts[String(decoded[..<colon])] == String(decoded[decoded.index(after: colon)...])
        else { return techRejected }
        receipts[r.path, default: 0] += 1
        if behaviour.apiFailCount > 0 { return gatewayFailure() }

        switch mode {
        case "code_retour_200":
            return .json(200, ["codeRetour": 20001, "libelle": "GCU_MSG_05_001 Les paramètres de recherche sont invalides"])
        case "code_retour_400":
            return .json(400, ["codeRetour": 20003, "libelle": "GCU_MSG_05_003 Erreur de validation des données"])
        case "server_error":
            return .text(500, "<html>Internal Server Error</html>")
        case "malformed":
            return .text(200, "{\"codeRetour\": 0, \"truncated", headers: ["content-type": "application/json"])
        default:
            break
        }
        if r.method == "GET" && r.path == "/cpro/transverses/v1/health-check" {
            return .json(200, ["codeRetour": 0, "libelle": "OK"])
        }
        guard r.method == "POST" else { return .json(405, ["codeRetour": 1, "libelle": "POST expected"]) }
        guard (r.headers["content-type"] ?? "").lowercased().hasPrefix("application/json"),
              let body = try? JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any]
        else {
            return .json(400, ["codeRetour": 10, "libelle": "Le corps de la requête n'est pas un JSON valide"])
        }
        switch r.path {
        case "/cpro/utilisateurs/v1/monCompte/recuperer/rattachements":
            return rattachements(body)
        case "/cpro/structures/v1/consulter":
            var info: [String: Any] = ["designationStructure": "Structure de test 1", "identifiantStructure": Self.siret(1)]
            if let expiry = behaviour.passwordExpiry { info["dateExpirationMotPasseCompteTech"] = expiry }
            if let ms = behaviour.passwordExpiryMs { info["dateExpirationMotPasseCompteTech"] = ms }
            return .json(200, ["codeRetour": 0, "libelle": "TRA_MSG_00.000", "informationGenerales": info])
        case "/cpro/factures/v1/deposer/flux":
            return .json(200, ["codeRetour": 0, "libelle": "GCU_MSG_01_000", "numeroFluxDepot": "SIM-\(receipts[r.path] ?? 0)"])
        case "/cpro/structures/v1/rechercher", "/cpro/transverses/v1/recuperer/structures/actives/fournisseur",
             "/cpro/factures/v1/rechercher/fournisseur":
            return .json(200, ["codeRetour": 0, "libelle": "TRA_MSG_00.000", "listeStructures": [] as [Any], "parametresRetour": ["total": 0, "pages": 0]])
        default:
            return .json(404, ["codeRetour": 404, "libelle": "service inconnu"])
        }
    }

    func rattachements(_ body: [String: Any]) -> Response {
        let params = body["parametresRecherche"] as? [String: Any] ?? [:]
        let perPage = max(1, min(100, params["nbResultatsParPage"] as? Int ?? 10))
        let page = max(1, params["pageResultatDemandee"] as? Int ?? 1)
        let total = behaviour.structures
        let pages = total == 0 ? 0 : (total + perPage - 1) / perPage
        let from = (page - 1) * perPage
        let items: [[String: Any]] = (from..<min(total, from + perPage)).map { i in
            [
                "idStructure": 25_000_000 + i, "identifiantStructure": Self.siret(i + 1),
                "typeIdentifiantStructure": "SIRET", "designationStructure": "Structure de test \(i + 1)",
                "statutUtilisateur": behaviour.userStatus, "statutRattachementStructure": behaviour.structureStatus,
                "roleUtilisateur": "UTILISATEUR", "listeServicesRattache": [] as [Any],
            ]
        }
        return .json(200, [
            "codeRetour": 0, "libelle": "TRA_MSG_00.000", "listeStructureRattachement": items,
            "parametresRetour": ["pageCourante": page, "pages": pages, "nbResultatsParPage": perPage, "total": total],
        ])
    }

    /// Valid SIRETs for the test data set: a SIREN and a SIRET that both pass Luhn.
    package static func siret(_ n: Int) -> String {
        func withCheckDigit(_ base: String) -> String {
            var sum = 0
            for (i, d) in base.compactMap(\.wholeNumberValue).reversed().enumerated() {
                var v = d
                if i % 2 == 0 { v *= 2; if v > 9 { v -= 9 } }
                sum += v
            }
            return base + String((10 - sum % 10) % 10)
        }
        let siren = withCheckDigit(String(format: "%08d", 10_000_000 + n / 10_000))
        return withCheckDigit(siren + String(format: "%04d", n % 10_000))
    }

    /// Called by the server around each request, delays included, so
    /// `max_in_flight` shows whether a client ran its calls concurrently.
    package func enter() {
        inFlight += 1
        maxInFlight = max(maxInFlight, inFlight)
    }
    package func leave() { inFlight -= 1 }

    // MARK: admin

    func admin(_ r: Request) -> Response {
        switch r.path {
        case "/_sim/stats":
            return .json(200, [
                "token_requests": tokenRequests, "api_requests": apiRequests, "tokens_live": tokens.count, "paths": byPath,
                "receipts": receipts,
                "max_in_flight": maxInFlight,
            ])
        case "/_sim/reset":
            behaviour = Behaviour()
            tokenRequests = 0
            apiRequests = 0
            maxInFlight = 0
            byPath = [:]
            receipts = [:]
            return .json(200, ["reset": true])
        case "/_sim/revoke":
            let n = tokens.count
            tokens = [:]
            return .json(200, ["revoked": n])
        case "/_sim/config":
            guard r.method == "POST", let patch = try? JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any] else {
                return .json(400, ["error": "POST a JSON object"])
            }
            return configure(patch)
        default:
            return .json(404, ["error": "unknown admin path"])
        }
    }

    /// Applies a settings patch given as JSON (the body of POST /_sim/config).
    @discardableResult
    package func configure(json: Data) -> (ok: Bool, message: String) {
        guard let patch = try? JSONSerialization.jsonObject(with: json) as? [String: Any] else { return (false, "not a JSON object") }
        let r = configure(patch)
        return (r.status == 200, String(decoding: r.body, as: UTF8.self))
    }

    static let tokenModes: Set<String> = ["normal", "invalid_client_400", "invalid_client_401", "no_subscription_401", "invalid_grant", "malformed", "no_expiry"]
    static let apis: Set<String> = ["factures", "structures", "utilisateurs", "transverses"]
    static let apiModes: Set<String> = ["normal", "forbidden_403", "tech_rejected", "code_retour_200", "code_retour_400", "server_error",
                                        "malformed", "token_rejected", "unknown_path"]

    func configure(_ patch: [String: Any]) -> Response {
        var b = behaviour
        for (key, value) in patch {
            switch (key, value) {
            // A misspelt API or behaviour is refused, not taken as "normal":
            // a test that thinks it set a failure must not pass for it.
            case ("token", let v as String) where Self.tokenModes.contains(v): b.token = v
            case ("api", let v as [String: String]) where !v.keys.allSatisfy(Self.apis.contains) || !v.values.allSatisfy(Self.apiModes.contains):
                let wrong = v.filter { !Self.apis.contains($0.key) || !Self.apiModes.contains($0.value) }.map { "\($0.key)=\($0.value)" }.sorted()
                return .json(400, ["error": "unknown API or behaviour in api: \(wrong.joined(separator: ", ")); APIs: \(Self.apis.sorted().joined(separator: ", ")); behaviours: \(Self.apiModes.sorted().joined(separator: ", "))"])
            case ("token_fail", let v as [String: Any]):
                b.tokenFailStatus = v["status"] as? Int ?? 503
                b.tokenFailCount = v["count"] as? Int ?? 1
                b.tokenRetryAfter = v["retry_after"] as? Int
            case ("token_delay_ms", let v as Int): b.tokenDelayMs = v
            case ("token_lifetime", let v as Int): b.tokenLifetime = v
            case ("api", let v as [String: String]): b.api.merge(v) { $1 }
            case ("api_fail", let v as [String: Any]):
                b.apiFailStatus = v["status"] as? Int ?? 503  // 0: drop the connection
                b.apiFailCount = v["count"] as? Int ?? 1
                b.apiFailRetryAfter = v["retry_after"] as? Int
                b.apiFailAfterReceipt = v["after_receipt"] as? Bool ?? false
            case ("token_challenge", let v as String) where ["piste", "invalid_token", "none"].contains(v): b.tokenChallenge = v
            case ("structure_status", let v as String): b.structureStatus = v
            case ("user_status", let v as String): b.userStatus = v
            case ("password_expiry_ms", let v as Int): (b.passwordExpiry, b.passwordExpiryMs) = (nil, Int64(v))
            case ("api_delay_ms", let v as Int): b.apiDelayMs = v
            case ("structures", let v as Int): b.structures = v
            case ("password_expiry", let v as String): (b.passwordExpiry, b.passwordExpiryMs) = (v, nil)
            case ("clients", let v as [String: String]): clients = v
            case ("accounts", let v as [String: String]): accounts = v
            default:
                let known: Set<String> = ["token", "token_fail", "token_delay_ms", "token_lifetime", "api", "api_fail", "token_challenge",
                                          "structure_status", "user_status", "password_expiry_ms", "api_delay_ms", "structures",
                                          "password_expiry", "clients", "accounts"]
                return .json(400, ["error": known.contains(key) ? "the value of \(key) has the wrong type or is unknown (docs/piste-sim.md)" : "unknown setting: \(key)"])
            }
        }
        behaviour = b
        return .json(200, ["ok": true])
    }
}
