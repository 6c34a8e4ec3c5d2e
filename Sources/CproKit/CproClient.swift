@_exported import CproCore
import AsyncHTTPClient
import CproHTTP
@_exported import struct CproPiste.AccessToken
@_exported import struct CproPiste.ChorusAnswer
@_exported import enum CproPiste.JSONScalar
@_exported import struct CproPiste.LinkedStructure
@_exported import struct CproPiste.LinkedStructuresPage
@_exported import struct CproPiste.LinkedStructuresRequest
import CproPiste
import CproVault
import Foundation
import Logging

/// Chorus Pro calls for a Swift server, with the credentials and the token
/// cache of the `cpro` command: the same settings (`CPRO_HOME`/XDG, config,
/// profile, environment, backend, endpoints), the same token shared with every
/// `cpro` process of the user, the same request pipeline, retries and
/// diagnoses. docs/library.md has examples.
///
/// Safe under concurrency: one token fetch at a time per client (every caller
/// waits for it without holding a thread), the token and the technical
/// account kept in memory while the backend's change stamp says they did not
/// change, and every blocking step (file locks, the vault's key derivation,
/// D-Bus) on threads of its own. It never prints, never reads a terminal and
/// never configures logging: errors are thrown (`message(.en)` or `.fr`
/// renders one), logs go to the `Logger` given.
public final class CproClient: Sendable {
    public let selection: Selection
    public let backend: BackendKind
    let environment: [String: String]
    let store: any CredentialStore
    let endpoints: Endpoints
    let tokens: TokenProvider
    let httpClient: HTTPClient?
    let logger: Logger
    let account: AccountCache

    /// Reads the settings exactly as `cpro` does.
    ///
    /// - Parameters:
    ///   - profile, environment: the selection; nil means `CPRO_PROFILE` /
    ///     `CPRO_ENV`, then `default` / `sandbox`.
    ///   - backend: nil means `CPRO_BACKEND`, then the config, then `file`.
    ///   - processEnvironment: where the variables come from.
    ///   - passphrase: the file vault's passphrase when neither the session
    ///     agent (`cpro vault unlock`) nor `CPRO_VAULT_PASSPHRASE` gives the key.
    ///   - httpClient: the application's own client, used as it is configured;
    ///     nil for cpro's (proxy variables, `CPRO_CA_FILE`, `CPRO_HTTP_TIMEOUT`).
    public init(
        profile: String? = nil, environment: String? = nil, backend: BackendKind? = nil,
        processEnvironment: [String: String] = ProcessInfo.processInfo.environment,
        passphrase: (@Sendable () throws -> SecretBytes)? = nil,
        httpClient: HTTPClient? = nil, logger: Logger = Logger(label: "cpro")
    ) throws {
        let settings = try Settings.load(environment: processEnvironment)
        selection = try Selection.resolve(profile: profile, environment: environment, from: processEnvironment)
        self.backend = try backend ?? settings.backend(override: nil)
        _ = try AHCTransport.budgetSeconds(processEnvironment)
        endpoints = try settings.endpoints(selection.profile, selection.environment)
        self.environment = processEnvironment
        self.httpClient = httpClient
        self.logger = logger
        store = try Backends.make(
            self.backend, settings: settings, selection: selection, environment: processEnvironment,
            options: Backends.Options(passphrases: LibraryPassphrases(environment: processEnvironment, provided: passphrase), logger: logger))
        tokens = TokenProvider(
            store: store, profile: selection.profile, environment: selection.environment, endpoints: endpoints,
            directory: settings.paths.tokenDirectory, keyDirectory: settings.paths.tokenKeyDirectory,
            trustRoots: settings.paths.trustRoots,
            margin: Int64(settings.config.integer("token_refresh_margin") ?? Int(TokenProvider.defaultMargin)),
            client: TokenClient(transport: AHCTransport(environment: processEnvironment, client: httpClient), logger: logger),
            logger: logger)
        account = AccountCache(store: store, selection: selection)
    }

    /// Each call has its own time budget (`CPRO_TIMEOUT`, retries included),
    /// as each `cpro` command has.
    func transport() -> AHCTransport { AHCTransport(environment: environment, client: httpClient) }

    /// A valid access token: from memory or the shared cache while it is
    /// valid, else fetched once for every caller and process asking.
    public func token(refresh: Bool = false) async throws -> AccessToken {
        try await tokens.token(refresh: refresh, using: TokenClient(transport: transport(), logger: logger))
    }

    /// POSTs `request` as JSON to `path` under the API base (for example
    /// `utilisateurs/v1/monCompte/recuperer/rattachements`) with both
    /// authentications, and decodes the answer. A `codeRetour` other than 0
    /// throws `Failure` with the diagnosis `chorus_error`.
    ///
    /// - Parameter retry: nil retries read-only services (rechercher,
    ///   consulter, recuperer) and sends every other POST at most once.
    public func send<Request: Encodable, Response: Decodable>(
        _ path: String, _ request: Request, as type: Response.Type = Response.self, retry: Bool? = nil
    ) async throws -> Response {
        let body: Data
        do {
            body = try JSONEncoder().encode(request)
        } catch {
            throw Failure("the request for \(path) cannot be encoded as JSON: \(error)",
                          fr: "la requête pour \(path) ne peut pas être encodée en JSON : \(error)")
        }
        return try await call(path, json: Array(body), retry: retry).decode(Response.self)
    }

    /// The same call with the body as bytes, and the answer's bytes back.
    public func sendRaw(_ path: String, json body: [UInt8], retry: Bool? = nil) async throws -> [UInt8] {
        try await call(path, json: body, retry: retry).body
    }

    /// The call itself: its answer, envelope checked, for the caller to decode.
    public func call(_ path: String, json body: [UInt8], retry: Bool? = nil) async throws -> ChorusAnswer {
        let client = ChorusClient(
            transport: transport(), tokens: tokens, endpoints: endpoints,
            cproAccount: try await account.current(), logger: logger)
        let trimmed = path.hasPrefix("/") ? String(path.dropFirst()) : path
        return try await client.post(trimmed, json: body, repeatability: retry.map { $0 ? .idempotent : .atMostOnce })
    }
}

/// The `cpro-account` header value, read again when the backend's change
/// stamp moves (a technical password changed with `cpro creds set` is used by
/// the next call), or every 30 s on a backend without a stamp.
actor AccountCache {
    let store: any CredentialStore
    let selection: Selection
    private var cached: (stamp: [UInt8]?, at: Double, value: SecretBytes)?
    private var inFlight: Task<SecretBytes, Error>?

    init(store: any CredentialStore, selection: Selection) {
        self.store = store
        self.selection = selection
    }

    func current() async throws -> SecretBytes {
        let stamp = store.changeStamp()
        let now = Date().timeIntervalSince1970
        if let c = cached, stamp != nil ? c.stamp == stamp : now - c.at < 30 { return c.value }
        if let inFlight { return try await inFlight.value }
        let task = Task { [store, selection] in
            try await store.read(selection.profile, selection.environment).cproAccount()
        }
        inFlight = task
        defer { inFlight = nil }
        let value = try await task.value
        cached = (stamp, now, value)
        return value
    }
}

/// The file vault's passphrase for a library: CPRO_VAULT_PASSPHRASE, else
/// the application's source; never a prompt. (The session agent is asked
/// before either.)
struct LibraryPassphrases: PassphraseSource {
    let environment: [String: String]
    let provided: (@Sendable () throws -> SecretBytes)?

    func passphrase(_ purpose: PassphrasePurpose) throws -> SecretBytes {
        guard case .unlock = purpose else {
            throw Failure("CproKit reads the vault; create it or change its passphrase with the cpro command",
                          fr: "CproKit lit le coffre ; créez-le ou changez sa phrase de passe avec la commande cpro")
        }
        if let v = environment["CPRO_VAULT_PASSPHRASE"], !v.isEmpty { return SecretBytes(utf8: v) }
        if let provided { return try provided() }
        throw Failure.vaultLocked(
            "the file vault is locked: run `cpro vault unlock` in the session, set CPRO_VAULT_PASSPHRASE, or give CproClient a passphrase source",
            fr: "le coffre est verrouillé : lancez `cpro vault unlock` dans la session, définissez CPRO_VAULT_PASSPHRASE, ou donnez une source de phrase de passe à CproClient")
    }
}
