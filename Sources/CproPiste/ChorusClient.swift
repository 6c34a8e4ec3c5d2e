import CproCore
import CproHTTP
import Foundation
import Logging

/// An answer from the Chorus Pro API with its `codeRetour` envelope read.
public struct ChorusAnswer: @unchecked Sendable {
    public let status: Int
    public let body: [UInt8]
    public let object: [String: Any]
    public var codeRetour: Int? { Self.code(object["codeRetour"]) }
    public var libelle: String? { object["libelle"] as? String }

    public static func code(_ v: Any?) -> Int? {
        if let n = v as? Int { return n }
        if let s = v as? String { return Int(s.trimmingCharacters(in: .whitespaces)) }
        return nil
    }
}

/// The one place that builds a Chorus Pro request: both authentications
/// (`Authorization: Bearer` and `cpro-account`), a JSON body, retries on 5xx and
/// 429, one token refresh on a 401, and every failure as a `PisteError`.
public struct ChorusClient: Sendable {
    let transport: HTTPTransport
    let tokens: TokenProvider
    let endpoints: Endpoints
    let cproAccount: SecretBytes
    let policy: RetryPolicy
    let logger: Logger

    public init(transport: HTTPTransport, tokens: TokenProvider, endpoints: Endpoints, cproAccount: SecretBytes,
                policy: RetryPolicy = .standard, logger: Logger = Logger(label: "cpro.api")) {
        self.transport = transport
        self.tokens = tokens
        self.endpoints = endpoints
        self.cproAccount = cproAccount
        self.policy = policy
        self.logger = logger
    }

    /// POSTs `body` (JSON) to `path` under the API base. Throws `chorus_error`
    /// when codeRetour is not 0.
    public func post(_ path: String, json body: [UInt8]) async throws -> ChorusAnswer {
        try await call("POST", path, body: body)
    }

    public func get(_ path: String) async throws -> ChorusAnswer {
        try await call("GET", path, body: [])
    }

    /// The API a path belongs to (factures, structures, utilisateurs, transverses).
    public static func apiName(_ path: String) -> String {
        let parts = path.split(separator: "/")
        return parts.first.map(String.init) ?? path
    }

    func call(_ method: String, _ path: String, body: [UInt8]) async throws -> ChorusAnswer {
        var token = try await tokens.token()
        var response = try await send(method, path, body: body, token: token)
        if response.status == 401 && !Self.namesTechnicalAccount(response) {
            // The gateway refused the token (expired early, revoked): drop it,
            // fetch one new token, and try once more.
            logger.debug("api: 401 for the bearer token; refreshing it and retrying once")
            try tokens.invalidate(token)
            token = try await tokens.token(refresh: true)
            response = try await send(method, path, body: body, token: token)
        }
        return try interpret(response, path: path)
    }

    func send(_ method: String, _ path: String, body: [UInt8], token: AccessToken) async throws -> HTTPResponse {
        var headers: [(String, String)] = [
            ("Authorization", "Bearer " + token.value.unprotectedString),
            ("cpro-account", cproAccount.unprotectedString),
            ("Accept", "application/json"),
        ]
        if method == "POST" { headers.append(("Content-Type", "application/json;charset=utf-8")) }
        let url = endpoints.apiURL(path: path)
        logger.debug("api: \(method) \(url)")
        let (response, attempts) = try await sendWithRetries(
            transport, HTTPRequest(method: method, url: url, headers: headers, body: body), policy: policy
        ) { logger.debug("api: \($0)") }
        logger.debug("api: HTTP \(response.status) after \(attempts) attempt(s)")
        if RetryPolicy.isRetryable(status: response.status) {
            throw PisteError(
                .unreachable, "\(url) answered HTTP \(response.status) \(attempts) time(s)",
                fr: "\(url) a répondu HTTP \(response.status) \(attempts) fois", status: response.status)
        }
        return response
    }

    /// PISTE names a rejected technical account in WWW-Authenticate (e.g.
    /// error_description="login or password incorrects"), not in the body.
    static func namesTechnicalAccount(_ r: HTTPResponse) -> Bool {
        let h = (r.header("www-authenticate") ?? "").lowercased()
        return h.contains("login") || h.contains("password") || h.contains("mot de passe") || h.contains("cpro-account")
    }

    func interpret(_ r: HTTPResponse, path: String) throws -> ChorusAnswer {
        let api = Self.apiName(path)
        switch r.status {
        case 401:
            let reason = (r.header("www-authenticate")).map { ServerText.oneLine($0) } ?? ""
            if Self.namesTechnicalAccount(r) || !reason.lowercased().contains("invalid_token") {
                throw PisteError(
                    .techAccountRejected,
                    "the API refused the technical account (cpro-account)\(reason.isEmpty ? "" : ": " + reason). Check tech-login and tech-password; a new technical account can take up to an hour to become active",
                    fr: "l'API a refusé le compte technique (cpro-account)\(reason.isEmpty ? "" : " : " + reason). Vérifiez tech-login et tech-password ; un compte technique récent peut mettre jusqu'à une heure à devenir actif",
                    status: 401)
            }
            throw PisteError(
                .oauthRejected,
                "the gateway refused a freshly issued token for \(api) (\(reason)): check that the PISTE application is active in this environment",
                fr: "la passerelle a refusé un jeton tout juste délivré pour \(api) (\(reason)) : vérifiez que l'application PISTE est active dans cet environnement",
                status: 401)
        case 403:
            throw PisteError(
                .apiAccessDenied,
                "the gateway refused the \(api) API (HTTP 403): accept its terms (CGU) for this environment on PISTE, and select it in the application",
                fr: "la passerelle a refusé l'API \(api) (HTTP 403) : acceptez ses conditions (CGU) pour cet environnement sur PISTE, et sélectionnez-la dans l'application",
                status: 403, api: api)
        default:
            break
        }
        let parsed = try? JSONSerialization.jsonObject(with: Data(r.body))
        guard let object = parsed as? [String: Any] else {
            throw PisteError(
                .unexpectedResponse,
                "\(path) answered HTTP \(r.status) with \(r.body.isEmpty ? "an empty body" : "a body that is not a JSON object")",
                fr: "\(path) a répondu HTTP \(r.status) avec \(r.body.isEmpty ? "un corps vide" : "un corps qui n'est pas un objet JSON")",
                status: r.status)
        }
        let answer = ChorusAnswer(status: r.status, body: r.body, object: object)
        if let code = answer.codeRetour, code != 0 {
            let libelle = ServerText.oneLine(answer.libelle ?? "")
            throw PisteError(
                .chorusError, "Chorus Pro answered codeRetour \(code): \(libelle)",
                fr: "Chorus Pro a répondu codeRetour \(code) : \(libelle)", status: r.status, libelle: answer.libelle, body: r.body)
        }
        guard (200...299).contains(r.status) else {
            throw PisteError(
                .unexpectedResponse, "\(path) answered HTTP \(r.status)", fr: "\(path) a répondu HTTP \(r.status)", status: r.status)
        }
        return answer
    }
}
