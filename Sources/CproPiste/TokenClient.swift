import CproCore
import CproHTTP
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging

/// An access token as received. `expiresAt` is the local clock at receipt plus
/// the server's `expires_in`, so a skewed server clock does not matter.
public struct AccessToken: Sendable {
    public let value: SecretBytes
    public let type: String
    public let obtainedAt: Int64
    public let expiresAt: Int64

    public init(value: SecretBytes, type: String, obtainedAt: Int64, expiresAt: Int64) {
        self.value = value
        self.type = type
        self.obtainedAt = obtainedAt
        self.expiresAt = expiresAt
    }

    public var lifetime: Int64 { expiresAt - obtainedAt }
}

/// The client-credentials grant as PISTE takes it: a form body with
/// grant_type, client_id, client_secret and scope=openid (not HTTP Basic).
package struct TokenClient: Sendable {
    let transport: HTTPTransport
    let policy: RetryPolicy
    let logger: Logger
    let clock: @Sendable () -> Int64

    package init(transport: HTTPTransport, policy: RetryPolicy = .standard, logger: Logger = Logger(label: "cpro.oauth"),
                clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }) {
        self.transport = transport
        self.policy = policy
        self.logger = logger
        self.clock = clock
    }

    package func fetch(clientID: SecretBytes, clientSecret: SecretBytes, endpoints: Endpoints) async throws -> AccessToken {
        if Endpoints.isRetired(endpoints.tokenURL) { throw Failure.refusingRetiredGateway(endpoints.tokenURL) }
        var body = Array("grant_type=client_credentials&client_id=".utf8)
        body += FormEncoding.encode(clientID)
        body += Array("&client_secret=".utf8)
        body += FormEncoding.encode(clientSecret)
        body += Array("&scope=openid".utf8)
        defer { Sodium.memzero(&body) }
        let request = HTTPRequest(
            method: "POST", url: endpoints.tokenURL,
            headers: [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")],
            body: body)
        logger.debug("oauth: POST \(endpoints.tokenURL)")
        let (response, attempts) = try await sendWithRetries(transport, request, policy: policy, endpoint: endpoints.tokenEndpointNote) { logger.debug("oauth: \($0)") }
        let receivedAt = clock()
        logger.debug("oauth: HTTP \(response.status) after \(attempts) attempt(s)")
        return try Self.interpret(response, receivedAt: receivedAt, host: endpoints.oauthURL, attempts: attempts)
    }

    package static func interpret(_ response: HTTPResponse, receivedAt: Int64, host: String, attempts: Int) throws -> AccessToken {
        // JSON is UTF-8 (RFC 8259): a body that is not is no answer at all.
        let answer = String(validating: response.body, as: UTF8.self) == nil ? nil
            : try? JSONDecoder().decode(TokenAnswer.self, from: Data(response.body))
        switch response.status {
        case 200:
            guard let answer, let token = answer.accessToken, !token.isEmpty,
                  token.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
            else {
                throw Failure(
                    .unexpectedResponse,
                    "the token endpoint \(host) answered 200 without a usable access_token",
                    fr: "le point d'accès jeton \(host) a répondu 200 sans access_token exploitable", status: 200)
            }
            let type = answer.tokenType ?? "Bearer"
            guard type.lowercased() == "bearer" else {
                throw Failure(.unexpectedResponse, "the token endpoint returned a token of type \(ServerText.oneLine(type, limit: 20)), not Bearer",
                                 fr: "le point d'accès jeton a renvoyé un jeton de type \(ServerText.oneLine(type, limit: 20)), pas Bearer", status: 200)
            }
            // PISTE's documented lifetime when a server omits it; anything
            // present must be a whole number of seconds (`true`, `1e30`,
            // 3600.5 or "soon" are refused, not guessed at).
            guard let expiresIn = answer.hasLifetime ? answer.lifetime : 3600, expiresIn > 0 && expiresIn <= 86_400 * 30 else {
                throw Failure(.unexpectedResponse, "the token endpoint answered an implausible expires_in",
                                 fr: "le point d'accès jeton a répondu un expires_in invraisemblable", status: 200)
            }
            return AccessToken(value: SecretBytes(utf8: token), type: "Bearer", obtainedAt: receivedAt, expiresAt: receivedAt + expiresIn)
        case 400, 401, 403:
            let error = answer?.error.map { ServerText.oneLine($0, limit: 60) }
            let description = answer?.errorDescription.map { ServerText.oneLine($0) }
            let said = [error, description].compactMap { $0 }.joined(separator: ": ")
            if error == "invalid_client" {
                throw Failure(
                    .oauthInvalidClient,
                    "PISTE refused the client ID or secret (HTTP \(response.status), invalid_client): check both on the application's page, and that the application exists in this environment",
                    fr: "PISTE a refusé l'identifiant ou le secret client (HTTP \(response.status), invalid_client) : vérifiez-les sur la page de l'application, et que l'application existe dans cet environnement",
                    status: response.status)
            }
            throw Failure(
                .oauthRejected,
                "PISTE refused the token request (HTTP \(response.status)\(said.isEmpty ? "" : ", " + said)); a 401 can also mean the application has no API subscription left",
                fr: "PISTE a refusé la demande de jeton (HTTP \(response.status)\(said.isEmpty ? "" : ", " + said)) ; un 401 peut aussi signifier que l'application n'a plus d'abonnement à une API",
                status: response.status)
        default:
            if RetryPolicy.isRetryable(status: response.status) {
                throw Failure(
                    .unreachable, "the token endpoint \(host) answered HTTP \(response.status) \(attempts) time(s)",
                    fr: "le point d'accès jeton \(host) a répondu HTTP \(response.status) \(attempts) fois", status: response.status)
            }
            throw Failure(
                .unexpectedResponse, "the token endpoint \(host) answered HTTP \(response.status)",
                fr: "le point d'accès jeton \(host) a répondu HTTP \(response.status)", status: response.status)
        }
    }
}

/// The token endpoint's JSON answer (RFC 6749 5.1 and 5.2). A field of an
/// unexpected type reads as absent; `expires_in` is a JSON integer or a
/// string of digits, anything else present is no lifetime at all.
struct TokenAnswer: Decodable {
    let accessToken: String?
    let tokenType: String?
    let hasLifetime: Bool
    let lifetime: Int64?
    let error: String?
    let errorDescription: String?

    enum Key: String, CodingKey {
        case accessToken = "access_token", tokenType = "token_type", expiresIn = "expires_in"
        case error, errorDescription = "error_description"
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        func text(_ key: Key) -> String? { (try? c.decodeIfPresent(String.self, forKey: key)) ?? nil }
        accessToken = text(.accessToken)
        tokenType = text(.tokenType)
        error = text(.error)
        errorDescription = text(.errorDescription)
        hasLifetime = c.contains(.expiresIn)
        if let n = try? c.decode(Int64.self, forKey: .expiresIn) {
            lifetime = n
        } else if let s = text(.expiresIn), !s.isEmpty, s.utf8.allSatisfy({ (0x30...0x39).contains($0) }) {
            lifetime = Int64(s)
        } else {
            lifetime = nil
        }
    }
}

/// application/x-www-form-urlencoded, byte by byte, so a secret with any
/// character arrives unchanged.
enum FormEncoding {
    static func encode(_ value: SecretBytes) -> [UInt8] {
        value.withUnsafeBytes { raw in
            var out: [UInt8] = []
            out.reserveCapacity(raw.count * 3)
            let hex = Array("0123456789ABCDEF".utf8)
            for b in raw {
                switch b {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                     UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "*"):
                    out.append(b)
                case UInt8(ascii: " "):
                    out.append(UInt8(ascii: "+"))
                default:
                    out += [UInt8(ascii: "%"), hex[Int(b >> 4)], hex[Int(b & 15)]]
                }
            }
            return out
        }
    }
}
