import CproCore
import CproHTTP
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging

/// An answer from the Chorus Pro API with its `codeRetour` envelope read;
/// the rest is decoded by the caller into the type it expects.
public struct ChorusAnswer: Sendable {
    public let status: Int
    public let body: [UInt8]
    public let path: String
    public let codeRetour: Int?
    public let libelle: String?

    /// The envelope's two fields, whatever else the object holds. A field
    /// of an unexpected type is read as absent, as before any decoding.
    struct Envelope: Decodable {
        let codeRetour: Int?
        let libelle: String?
        enum CodingKeys: String, CodingKey { case codeRetour, libelle }
        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            codeRetour = (try? c.decodeIfPresent(JSONScalar.self, forKey: .codeRetour))??.integer
            libelle = (try? c.decodeIfPresent(JSONScalar.self, forKey: .libelle))??.string
        }
    }

    /// The answer as `T`; a different shape is `unexpected_response`, naming
    /// where it differs (never a value).
    public func decode<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(body))
        } catch {
            let what = Self.describe(error)
            throw Failure(
                .unexpectedResponse,
                "the answer of \(path) does not have the expected shape (\(what))",
                fr: "la réponse de \(path) n'a pas la forme attendue (\(what))", status: status)
        }
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let c): "no \(where_(c.codingPath + [key]))"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c): "wrong type at \(where_(c.codingPath))"
        case DecodingError.dataCorrupted(let c): c.codingPath.isEmpty ? "not JSON" : "bad value at \(where_(c.codingPath))"
        default: "\(type(of: error))"
        }
    }

    static func where_(_ keys: [CodingKey]) -> String {
        keys.isEmpty ? "the top level" : keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
}

/// The one place that builds a Chorus Pro request: both authentications
/// (`Authorization: Bearer` and `cpro-account`), a JSON body, retries on 5xx and
/// 429, one token refresh on a 401, and every failure as a `Failure` with its diagnosis.
package struct ChorusClient: Sendable {
    let transport: HTTPTransport
    let tokens: TokenProvider
    let endpoints: Endpoints
    let cproAccount: SecretBytes
    let policy: RetryPolicy
    let logger: Logger

    package init(transport: HTTPTransport, tokens: TokenProvider, endpoints: Endpoints, cproAccount: SecretBytes,
                policy: RetryPolicy = .standard, logger: Logger = Logger(label: "cpro.api")) {
        self.transport = transport
        self.tokens = tokens
        self.endpoints = endpoints
        self.cproAccount = cproAccount
        self.policy = policy
        self.logger = logger
    }

    /// POSTs `body` (JSON) to `path` under the API base. Throws `chorus_error`
    /// when codeRetour is not 0. `repeatability` nil: read-only paths are
    /// retried, every other POST reaches the server at most once.
    package func post(_ path: String, json body: [UInt8], repeatability: Repeatability? = nil) async throws -> ChorusAnswer {
        try await call("POST", path, body: body, repeatability: repeatability ?? Self.repeatability(post: path))
    }

    package func get(_ path: String) async throws -> ChorusAnswer {
        try await call("GET", path, body: [], repeatability: .idempotent)
    }

    /// The API a path belongs to (factures, structures, utilisateurs, transverses).
    package static func apiName(_ path: String) -> String {
        let parts = path.split(separator: "/")
        return parts.first.map(String.init) ?? path
    }

    /// Chorus Pro's read-only services are named by their verb: rechercher,
    /// consulter, recuperer. Everything else may change something.
    package static func repeatability(post path: String) -> Repeatability {
        let readVerbs = ["rechercher", "consulter", "recuperer"]
        let segments = path.lowercased().split(separator: "/")
        return segments.contains { seg in readVerbs.contains { seg.hasPrefix($0) } } ? .idempotent : .atMostOnce
    }

    /// What a 401's `WWW-Authenticate` says. PISTE names a refused technical
    /// account in its error_description ("login or password incorrects"),
    /// answers `realm="DefaultRealm"` for a path no API serves, and anything
    /// else is about the bearer token.
    package enum Challenge: Sendable, Equatable {
        case technicalAccount, unknownPath, token
    }

    package static func challenge(_ r: HTTPResponse) -> Challenge {
        let header = r.header("www-authenticate") ?? ""
        if let d = parameter("error_description", in: header)?.lowercased(),
           d.contains("login") || d.contains("password") || d.contains("mot de passe") {
            return .technicalAccount
        }
        if parameter("realm", in: header)?.lowercased() == "defaultrealm" { return .unknownPath }
        return .token
    }

    /// One auth-param of a challenge (RFC 9110: name=token or name="quoted").
    static func parameter(_ name: String, in header: String) -> String? {
        var rest = Substring(header)
        while let range = rest.asciiCaseInsensitiveRange(of: name) {
            let before = rest[..<range.lowerBound].last
            var after = rest[range.upperBound...].drop { $0 == " " }
            rest = rest[range.upperBound...]
            guard before == nil || before == " " || before == "," || before == "\t", after.first == "=" else { continue }
            after = after.dropFirst().drop { $0 == " " }
            if after.first == "\"" {
                var out = ""
                var escaped = false
                for c in after.dropFirst() {
                    if escaped { out.append(c); escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { return out } else { out.append(c) }
                }
                return out
            }
            return String(after.prefix { $0 != "," && $0 != " " })
        }
        return nil
    }

    func call(_ method: String, _ path: String, body: [UInt8], repeatability: Repeatability) async throws -> ChorusAnswer {
        // The token request shares this call's transport, so its time budget.
        let tokenClient = TokenClient(transport: transport, logger: logger)
        var token = try await tokens.token(using: tokenClient)
        var response = try await send(method, path, body: body, token: token, repeatability: repeatability)
        if response.status == 401 && Self.challenge(response) == .token {
            // The gateway refused the token before the call reached Chorus Pro
            // (expired early, revoked): drop it, take a new one (another task
            // may have fetched it already), and try once more.
            logger.debug("api: 401 for the bearer token; refreshing it and retrying once")
            try await tokens.invalidate(token)
            token = try await tokens.token(using: tokenClient)
            response = try await send(method, path, body: body, token: token, repeatability: repeatability)
        }
        if response.status == 401, let challenge = response.header("www-authenticate") {
            // The raw challenge helps a support request, not a first reading.
            logger.debug("api: HTTP 401, WWW-Authenticate: \(ServerText.oneLine(challenge))")
        }
        return try Self.interpret(response, path: path, endpoints: endpoints)
    }

    func send(_ method: String, _ path: String, body: [UInt8], token: AccessToken, repeatability: Repeatability) async throws -> HTTPResponse {
        var headers: [(String, String)] = [
            ("Authorization", "Bearer " + token.value.unprotectedString),
            ("cpro-account", cproAccount.unprotectedString),
            ("Accept", "application/json"),
        ]
        if method == "POST" { headers.append(("Content-Type", "application/json;charset=utf-8")) }
        let url = endpoints.apiURL(path: path)
        if Endpoints.isRetired(url) { throw Failure.refusingRetiredGateway(url) }
        logger.debug("api: \(method) \(url)")
        let (response, attempts) = try await sendWithRetries(
            transport, HTTPRequest(method: method, url: url, headers: headers, body: body), policy: policy,
            repeatability: repeatability, endpoint: endpoints.apiEndpointNote
        ) { logger.debug("api: \($0)") }
        logger.debug("api: HTTP \(response.status) after \(attempts) attempt(s)")
        if RetryPolicy.isRetryable(status: response.status) {
            // A 429 or 503 with Retry-After means the server did not act on it.
            let refusedBeforeActing = (response.status == 429 || response.status == 503) && response.header("retry-after") != nil
            let note = repeatability == .atMostOnce && !refusedBeforeActing ? Failure.mayHaveArrived : (en: "", fr: "")
            throw Failure(
                .unreachable, "\(url) answered HTTP \(response.status) \(attempts) time(s)\(note.en)",
                fr: "\(url) a répondu HTTP \(response.status) \(attempts) fois\(note.fr)", status: response.status)
        }
        return response
    }

    package static func interpret(_ r: HTTPResponse, path: String, endpoints: Endpoints) throws -> ChorusAnswer {
        let api = Self.apiName(path)
        switch r.status {
        case 401:
            let reason = (r.header("www-authenticate")).map { ServerText.oneLine($0) } ?? ""
            switch Self.challenge(r) {
            case .technicalAccount:
                throw Failure(
                    .techAccountRejected,
                    "the API refused the technical login or password (HTTP 401). Check tech-login and tech-password; a new technical account can take up to an hour to become active (--verbose shows the server's challenge)",
                    fr: "l'API a refusé le login ou le mot de passe technique (HTTP 401). Vérifiez tech-login et tech-password ; un compte technique récent peut mettre jusqu'à une heure à devenir actif (--verbose montre la réponse du serveur)",
                    status: 401)
            case .unknownPath:
                let url = endpoints.apiURL(path: path)
                throw Failure(
                    .wrongEndpoint,
                    "PISTE has no API at \(url) (HTTP 401, realm DefaultRealm): the API base must look like https://api.piste.gouv.fr/cpro and the path like utilisateurs/v1/monCompte/recuperer/rattachements",
                    fr: "PISTE n'a pas d'API à \(url) (HTTP 401, realm DefaultRealm) : la base de l'API doit ressembler à https://api.piste.gouv.fr/cpro et le chemin à utilisateurs/v1/monCompte/recuperer/rattachements",
                    status: 401, api: api)
            case .token:
                throw Failure(
                    .oauthRejected,
                    "the gateway refused a freshly issued token for \(api) (HTTP 401\(reason.isEmpty ? "" : ": " + reason)): check that the PISTE application is active in this environment and subscribed to this API",
                    fr: "la passerelle a refusé un jeton tout juste délivré pour \(api) (HTTP 401\(reason.isEmpty ? "" : " : " + reason)) : vérifiez que l'application PISTE est active dans cet environnement et abonnée à cette API",
                    status: 401, api: api)
            }
        case 403:
            throw Failure(
                .apiAccessDenied,
                "the gateway refused the \(api) API (HTTP 403): accept its terms (CGU) for this environment on PISTE, and select it in the application",
                fr: "la passerelle a refusé l'API \(api) (HTTP 403) : acceptez ses conditions (CGU) pour cet environnement sur PISTE, et sélectionnez-la dans l'application",
                status: 403, api: api)
        default:
            break
        }
        // JSON is UTF-8 (RFC 8259); the decoder checks only the strings it
        // reads, so the whole body is checked first.
        guard String(validating: r.body, as: UTF8.self) != nil,
              let envelope = try? JSONDecoder().decode(ChorusAnswer.Envelope.self, from: Data(r.body))
        else {
            throw Failure(
                .unexpectedResponse,
                "\(path) answered HTTP \(r.status) with \(r.body.isEmpty ? "an empty body" : "a body that is not a JSON object")",
                fr: "\(path) a répondu HTTP \(r.status) avec \(r.body.isEmpty ? "un corps vide" : "un corps qui n'est pas un objet JSON")",
                status: r.status)
        }
        let answer = ChorusAnswer(status: r.status, body: r.body, path: path, codeRetour: envelope.codeRetour, libelle: envelope.libelle)
        if let code = answer.codeRetour, code != 0 {
            let libelle = ServerText.oneLine(answer.libelle ?? "")
            throw Failure(
                .chorusError, "Chorus Pro answered codeRetour \(code): \(libelle)",
                fr: "Chorus Pro a répondu codeRetour \(code) : \(libelle)", status: r.status, libelle: answer.libelle, body: r.body)
        }
        guard (200...299).contains(r.status) else {
            throw Failure(
                .unexpectedResponse, "\(path) answered HTTP \(r.status)", fr: "\(path) a répondu HTTP \(r.status)", status: r.status)
        }
        return answer
    }
}
