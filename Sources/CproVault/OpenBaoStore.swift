import CproCore
import CproHTTP
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging

/// OpenBao (or HashiCorp Vault) KV version 2, for teams and CI fleets. One
/// secret per profile and environment, at `MOUNT/PREFIX/PROFILE/ENVIRONMENT`,
/// whose keys are the field names (`client-id`, ...), so
/// `bao kv get -mount=secret cpro/default/sandbox` shows what cpro stores and
/// `bao kv put` can provision it. When each value was set lives in the
/// secret's custom metadata (`set_at.FIELD`, Unix seconds), never in the data.
///
/// Writes change only the fields named (a JSON merge patch) under check-and-set
/// on the secret's version, so concurrent writers never undo each other, and
/// values written by other tools are left alone. A removal destroys the older
/// versions too: KV history would otherwise keep the removed value.
///
/// The token comes from `BAO_TOKEN`, `VAULT_TOKEN`, or the file `bao login`
/// writes (~/.vault-token); never from the config or an argument.
package struct OpenBaoStore: CredentialStore {
    package let kind = BackendKind.openbao
    let settings: OpenBaoSettings
    let environment: [String: String]
    let transport: HTTPTransport
    let logger: Logger

    package init(settings: OpenBaoSettings, environment: [String: String], transport: HTTPTransport? = nil,
                logger: Logger = Logger(label: "cpro.openbao")) {
        self.settings = settings
        self.environment = environment
        self.transport = transport ?? AHCTransport(environment: environment, caFileVariables: ["BAO_CACERT", "VAULT_CACERT"])
        self.logger = logger
    }

    /// How many times a write starts over when another writer changed the
    /// secret between reading its version and writing.
    static let casAttempts = 8

    // MARK: errors

    static let sealed = Failure.vaultLocked("OpenBao is sealed: unseal it (bao operator unseal)", fr: "OpenBao est scellé : descellez-le (bao operator unseal)")

    var location: String {
        guard let a = settings.address else { return "OpenBao (no address set)" }
        return "\(a) \(settings.mount)/\(settings.prefix)" + (settings.namespace.map { " (namespace \($0))" } ?? "")
    }

    func address() throws -> String {
        guard let a = settings.address else {
            throw Failure.vaultLocked(
                "no OpenBao server is set: export BAO_ADDR (or VAULT_ADDR), or set openbao_addr in the config",
                fr: "aucun serveur OpenBao n'est défini : exportez BAO_ADDR (ou VAULT_ADDR), ou définissez openbao_addr dans la configuration",
                state: .absent)
        }
        return a
    }

    struct Token {
        let value: String
        let source: String
    }

    func token() throws -> Token {
        for name in ["BAO_TOKEN", "VAULT_TOKEN"] {
            if let v = environment[name], !v.isEmpty { return try checked(v, source: name) }
        }
        if let home = environment["HOME"], !home.isEmpty {
            let path = home + "/.vault-token"
            if let bytes = try? SecureFiles.read(path, limit: 4096), var text = String(validating: bytes, as: UTF8.self) {
                text = text.trimmed(newlines: true)
                if !text.isEmpty { return try checked(text, source: path) }
            }
        }
        throw Failure.vaultLocked(
            "no OpenBao token: export BAO_TOKEN (or VAULT_TOKEN), or run `bao login`, which writes ~/.vault-token",
            fr: "aucun jeton OpenBao : exportez BAO_TOKEN (ou VAULT_TOKEN), ou lancez `bao login`, qui écrit ~/.vault-token")
    }

    /// A token goes into a header: anything but visible ASCII would let it
    /// split the request, and is no token OpenBao issues.
    func checked(_ value: String, source: String) throws -> Token {
        guard value.utf8.count <= 4096, value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw Failure.vaultLocked(
                "the OpenBao token in \(source) contains spaces or control characters; it is not a token",
                fr: "le jeton OpenBao de \(source) contient des espaces ou des caractères de contrôle ; ce n'est pas un jeton")
        }
        return Token(value: value, source: source)
    }

    // MARK: the wire

    struct Answer {
        let status: Int
        let json: [String: Any]?
        var errors: String {
            let list = (json?["errors"] as? [Any])?.compactMap { $0 as? String } ?? []
            return ServerText.oneLine(list.joined(separator: "; "), limit: 300)
        }
        var data: [String: Any]? { json?["data"] as? [String: Any] }
    }

    /// One call. `body` is JSON bytes and is wiped after sending: a write's
    /// body holds secret values.
    func call(_ method: String, _ path: String, body: inout [UInt8], patch: Bool = false, token: Token? = nil) async throws -> Answer {
        defer { Sodium.memzero(&body) }
        let base = try address()
        var headers: [(String, String)] = [("X-Vault-Request", "true")]
        if let token { headers.append(("X-Vault-Token", token.value)) }
        if let ns = settings.namespace { headers.append(("X-Vault-Namespace", ns)) }
        if !body.isEmpty { headers.append(("Content-Type", patch ? "application/merge-patch+json" : "application/json")) }
        let response: HTTPResponse
        do {
            response = try await transport.send(HTTPRequest(method: method, url: base + "/v1/" + path, headers: headers, body: body))
        } catch let e as TransportError {
            throw Failure.vaultLocked(
                "OpenBao at \(base) cannot be reached (\(Self.describe(e.kind, en: true))): start it, or check BAO_ADDR",
                fr: "OpenBao à \(base) est injoignable (\(Self.describe(e.kind, en: false))) : démarrez-le, ou vérifiez BAO_ADDR",
                state: .unreachable)
        }
        var raw = response.body
        defer { Sodium.memzero(&raw) }
        let json = raw.isEmpty ? nil : JSONValue.parse(raw)?.anyValue as? [String: Any]
        if !raw.isEmpty && json == nil {
            throw Failure(
                "OpenBao at \(base) answered \(method) \(path) with HTTP \(response.status) and a body that is not JSON; is BAO_ADDR an OpenBao server?",
                fr: "OpenBao à \(base) a répondu à \(method) \(path) par HTTP \(response.status) et un corps qui n'est pas du JSON ; BAO_ADDR désigne-t-il un serveur OpenBao ?")
        }
        return Answer(status: response.status, json: json)
    }

    func call(_ method: String, _ path: String, token: Token? = nil) async throws -> Answer {
        var none: [UInt8] = []
        return try await call(method, path, body: &none, token: token)
    }

    static func describe(_ kind: TransportError.Kind, en: Bool) -> String {
        switch kind {
        case .dns: en ? "host name not found" : "nom d'hôte introuvable"
        case .refused: en ? "connection refused" : "connexion refusée"
        case .timeout: en ? "timed out" : "délai dépassé"
        case .tls: en ? "TLS failed; for a private CA set BAO_CACERT" : "échec TLS ; pour une autorité privée définissez BAO_CACERT"
        case .other: en ? "network error" : "erreur réseau"
        }
    }

    /// The error for an answer that is not the expected one, named precisely:
    /// sealed, a refused token, a policy that lacks a capability, or the
    /// server's own words.
    func failure(_ answer: Answer, doing what: String, capability: String, path: String, token: Token) async -> Error {
        switch answer.status {
        case 503 where answer.errors.contains("sealed"):
            return Self.sealed
        case 403:
            // The same answer for a dead token and a narrow policy: ask the
            // token about itself to tell them apart.
            let me = try? await call("GET", "auth/token/lookup-self", token: token)
            if me?.status == 403 {
                return Failure.vaultLocked(
                    "OpenBao refused the token from \(token.source) (expired, revoked or mistyped): log in again or export a valid BAO_TOKEN",
                    fr: "OpenBao a refusé le jeton de \(token.source) (expiré, révoqué ou mal saisi) : reconnectez-vous ou exportez un BAO_TOKEN valide")
            }
            return Failure.vaultLocked(
                "OpenBao refused \(what): the token's policies lack \"\(capability)\" on \(path) (see docs/backends.md for the policy cpro needs)",
                fr: "OpenBao a refusé \(what) : les politiques du jeton n'accordent pas « \(capability) » sur \(path) (voir docs/backends.md pour la politique nécessaire)")
        default:
            let said = answer.errors.isEmpty ? "" : ": \(answer.errors)"
            return Failure("OpenBao answered HTTP \(answer.status) to \(what)\(said)", fr: "OpenBao a répondu HTTP \(answer.status) à \(what)\(said)")
        }
    }

    // MARK: paths

    func secretPath(_ profile: ProfileName, _ env: PisteEnvironment) -> String {
        "\(settings.prefix)/\(profile.value)/\(env.rawValue)"
    }
    func dataPath(_ p: String) -> String { "\(settings.mount)/data/\(p)" }
    func metadataPath(_ p: String) -> String { "\(settings.mount)/metadata/\(p)" }

    /// Writing to a KV version 1 mount through `data/` would create a secret
    /// literally named `data/...`; every write checks the engine first.
    func checkEngine(_ token: Token) async throws {
        let path = "sys/internal/ui/mounts/\(settings.mount)"
        let a = try await call("GET", path, token: token)
        let notKV2 = Failure.vaultLocked(
            "no KV version 2 secrets engine is mounted at '\(settings.mount)/': enable one (bao secrets enable -path=\(settings.mount) kv-v2) or set CPRO_OPENBAO_MOUNT / openbao_mount",
            fr: "aucun moteur KV version 2 n'est monté sur « \(settings.mount)/ » : activez-en un (bao secrets enable -path=\(settings.mount) kv-v2) ou définissez CPRO_OPENBAO_MOUNT / openbao_mount",
            state: .absent)
        if a.status == 403 && a.errors.contains("preflight") { throw notKV2 }
        guard a.status == 200, let d = a.data else {
            throw await failure(a, doing: "the engine check of \(settings.mount)/", capability: "read", path: "\(settings.mount)/*", token: token)
        }
        let version = (d["options"] as? [String: Any])?["version"] as? String
        guard d["type"] as? String == "kv", version == "2" else { throw notKV2 }
    }

    /// The secret's current version (0 when there is none) and whether that
    /// version holds data (not deleted or destroyed).
    func currentVersion(_ path: String, token: Token) async throws -> (version: Int, live: Bool) {
        let a = try await call("GET", metadataPath(path), token: token)
        if a.status == 404 { return (0, false) }
        guard a.status == 200, let d = a.data else {
            throw await failure(a, doing: "reading the metadata of \(path)", capability: "read", path: metadataPath(path), token: token)
        }
        let version = d["current_version"] as? Int ?? 0
        let info = (d["versions"] as? [String: Any])?[String(version)] as? [String: Any]
        let live = version > 0 && (info?["destroyed"] as? Bool) != true && ((info?["deletion_time"] as? String) ?? "").isEmpty
        return (version, live)
    }

    struct Secret {
        var values: [String: SecretBytes] = [:]
        var setAt: [String: Int64] = [:]
        var otherKeys = 0
        var version = 0
    }

    func fetch(_ path: String, token: Token) async throws -> Secret {
        let a = try await call("GET", dataPath(path), token: token)
        if a.status == 404 {
            // Not there, or deleted; or no such engine, which must not read as "nothing set".
            if a.errors.contains("no handler for route") { try await checkEngine(token) }
            return Secret()
        }
        guard a.status == 200, let d = a.data else {
            throw await failure(a, doing: "reading \(path)", capability: "read", path: dataPath(path), token: token)
        }
        var out = Secret()
        let meta = d["metadata"] as? [String: Any]
        out.version = meta?["version"] as? Int ?? 0
        for (k, v) in (meta?["custom_metadata"] as? [String: Any]) ?? [:] where k.hasPrefix("set_at.") {
            if let s = v as? String, let t = Int64(s) { out.setAt[String(k.dropFirst(7))] = t }
        }
        for (k, v) in (d["data"] as? [String: Any]) ?? [:] {
            guard StoredField(rawValue: k) != nil else {
                out.otherKeys += 1
                continue
            }
            guard let s = v as? String else {
                throw Failure(
                    "OpenBao secret \(path): the value of '\(k)' is not a string; store it as text (bao kv put ... \(k)=VALUE)",
                    fr: "secret OpenBao \(path) : la valeur de « \(k) » n'est pas une chaîne ; enregistrez-la en texte (bao kv put ... \(k)=VALEUR)")
            }
            if !s.isEmpty { out.values[k] = SecretBytes(utf8: s) }
        }
        return out
    }

    /// `{"data": {...}, "options": {"cas": N}}` with each value as a JSON
    /// string, or null to delete it; built in bytes, wiped by `call`.
    static func body(_ values: [(String, SecretBytes?)], cas: Int) -> [UInt8] {
        var out = Array(#"{"data":{"#.utf8)
        for (i, (k, v)) in values.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out += Exporter.jsonString(Array(k.utf8)) + [UInt8(ascii: ":")]
            if let v {
                var quoted = v.withUnsafeBytes { Exporter.jsonString(Array($0)) }
                out += quoted
                Sodium.memzero(&quoted)
            } else {
                out += Array("null".utf8)
            }
        }
        out += Array(#"},"options":{"cas":\#(cas)}}"#.utf8)
        return out
    }

    func isCASConflict(_ a: Answer) -> Bool { a.status == 400 && a.errors.contains("check-and-set") }

    /// Sets or deletes (nil) these keys of one secret, under check-and-set.
    /// Returns the version written.
    @discardableResult
    func patch(_ path: String, _ values: [(String, SecretBytes?)], token: Token) async throws -> Int {
        for _ in 0..<Self.casAttempts {
            let (version, live) = try await currentVersion(path, token: token)
            #if DEBUG
            // Tests (debug builds only) widen the window between reading the
            // version and writing, so concurrent writers are sure to collide.
            if let ms = environment["CPRO_TEST_OPENBAO_HOLD_MS"].flatMap(UInt64.init), ms > 0 {
                try await Task.sleep(nanoseconds: ms * 1_000_000)
            }
            #endif
            // A merge patch needs a live version to merge into; otherwise write
            // a whole new version (deletions then mean nothing to keep).
            let creating = !live
            let fields = creating ? values.filter { $0.1 != nil } : values
            if fields.isEmpty { return version }
            var body = Self.body(fields, cas: version)
            let a = try await call(creating ? "POST" : "PATCH", dataPath(path), body: &body, patch: !creating, token: token)
            if a.status == 200 || a.status == 204 { return (a.data?["version"] as? Int) ?? version + 1 }
            if isCASConflict(a) || (a.status == 404 && !creating) {
                logger.debug("openbao: \(path) changed meanwhile; starting over")
                try await Task.sleep(nanoseconds: UInt64.random(in: 5_000_000...50_000_000))
                continue
            }
            throw await failure(
                a, doing: "writing \(path)", capability: creating ? "create" : "patch", path: dataPath(path), token: token)
        }
        throw Failure(
            "OpenBao secret \(path) kept changing while cpro wrote it (\(Self.casAttempts) attempts); try again",
            fr: "le secret OpenBao \(path) a changé sans cesse pendant l'écriture (\(Self.casAttempts) tentatives) ; réessayez")
    }

    /// Merges `set_at.FIELD` into the secret's custom metadata (nil removes it).
    func noteSetAt(_ path: String, _ times: [(String, Int64?)], token: Token) async throws {
        var fields: [String] = []
        for (k, t) in times {
            fields.append("\"set_at.\(k)\":" + (t.map { "\"\($0)\"" } ?? "null"))
        }
        var body = Array("{\"custom_metadata\":{\(fields.joined(separator: ","))}}".utf8)
        let a = try await call("PATCH", metadataPath(path), body: &body, patch: true, token: token)
        guard a.status == 200 || a.status == 204 || (a.status == 404 && times.allSatisfy { $0.1 == nil }) else {
            throw await failure(a, doing: "noting when \(path) was set", capability: "patch", path: metadataPath(path), token: token)
        }
    }

    // MARK: CredentialStore

    package func read(_ profile: ProfileName, _ env: PisteEnvironment) async throws -> Credentials {
        let token = try token()
        let secret = try await fetch(secretPath(profile, env), token: token)
        var out = Credentials()
        for (k, v) in secret.values {
            guard let f = StoredField(rawValue: k) else { continue }
            out.values[f] = StoredValue(v, setAt: secret.setAt[k] ?? 0)
        }
        return try out.checked(kind)
    }

    package func write(_ values: [CredentialKey: StoredValue]) async throws {
        let token = try token()
        try await checkEngine(token)
        let groups = Dictionary(grouping: values) { $0.key.selection }
        for (_, group) in groups.sorted(by: { $0.key < $1.key }) {
            let first = group[0].key
            let path = secretPath(first.profile, first.environment)
            let sorted = group.sorted { $0.key < $1.key }
            try await patch(path, sorted.map { ($0.key.field.rawValue, $0.value.secret) }, token: token)
            try await noteSetAt(path, sorted.map { ($0.key.field.rawValue, $0.value.setAt) }, token: token)
            logger.debug("openbao: stored \(sorted.map(\.key.description).joined(separator: ", "))")
        }
    }

    package func remove(_ keys: [CredentialKey]) async throws -> [CredentialKey] {
        let token = try token()
        try await checkEngine(token)
        var removed: [CredentialKey] = []
        let groups = Dictionary(grouping: keys) { $0.selection }
        for (_, group) in groups.sorted(by: { $0.key < $1.key }) {
            let path = secretPath(group[0].profile, group[0].environment)
            let secret = try await fetch(path, token: token)
            let present = Set(group.filter { secret.values[$0.field.rawValue] != nil })
            let setAtOnly = group.filter { secret.values[$0.field.rawValue] == nil && secret.setAt[$0.field.rawValue] != nil }
            if present.isEmpty {
                if !setAtOnly.isEmpty { try await noteSetAt(path, setAtOnly.map { ($0.field.rawValue, nil) }, token: token) }
                continue
            }
            // Under check-and-set, always: a new version without these keys
            // (a value set meanwhile makes the write fail and start over), then
            // the older versions destroyed. Never a DELETE of the metadata, which
            // has no check-and-set and would take a concurrent write with it; a
            // secret left empty reads as no values.
            let version = try await patch(path, present.sorted().map { ($0.field.rawValue, nil) }, token: token)
            try await destroyVersions(before: version, path, token: token)
            try await noteSetAt(path, present.sorted().map { ($0.field.rawValue, nil) }, token: token)
            removed += present
        }
        return removed.sorted()
    }

    /// Destroys the data of every version older than `version`, which still
    /// hold the removed values.
    func destroyVersions(before version: Int, _ path: String, token: Token) async throws {
        let a = try await call("GET", metadataPath(path), token: token)
        guard a.status == 200, let versions = a.data?["versions"] as? [String: Any] else { return }
        let old = versions.compactMap { (k, v) -> Int? in
            guard let n = Int(k), n < version, (v as? [String: Any])?["destroyed"] as? Bool != true else { return nil }
            return n
        }.sorted()
        guard !old.isEmpty else { return }
        var body = Array("{\"versions\":[\(old.map(String.init).joined(separator: ","))]}".utf8)
        let d = try await call("POST", "\(settings.mount)/destroy/\(path)", body: &body, token: token)
        guard d.status == 204 || d.status == 200 else {
            throw await failure(
                d, doing: "destroying the older versions of \(path) (the value is gone from the current version, but older versions still hold it)",
                capability: "update", path: "\(settings.mount)/destroy/\(path)", token: token)
        }
    }

    func listKeys(_ path: String, token: Token) async throws -> [String] {
        // GET ?list=true rather than the LIST verb, which some proxies refuse.
        let a = try await call("GET", metadataPath(path) + "/?list=true", token: token)
        if a.status == 404 { return [] }
        guard a.status == 200 else {
            throw await failure(a, doing: "listing \(path)", capability: "list", path: metadataPath(path), token: token)
        }
        return (a.data?["keys"] as? [Any])?.compactMap { $0 as? String } ?? []
    }

    package func list() async throws -> [CredentialKey: Int64?] {
        let token = try token()
        var out: [CredentialKey: Int64?] = [:]
        for p in try await listKeys(settings.prefix, token: token) where p.hasSuffix("/") {
            guard let profile = try? ProfileName(String(p.dropLast())) else { continue }
            for e in try await listKeys("\(settings.prefix)/\(profile.value)", token: token) {
                guard let env = PisteEnvironment(rawValue: e) else { continue }
                let secret = try await fetch(secretPath(profile, env), token: token)
                for k in secret.values.keys {
                    guard let f = StoredField(rawValue: k) else { continue }
                    out[CredentialKey(profile, env, f)] = secret.setAt[k]
                }
            }
        }
        return out
    }

    package func status() async -> BackendStatus {
        var details: [String: String] = ["mount": settings.mount, "prefix": settings.prefix]
        if let ns = settings.namespace { details["namespace"] = ns }
        if let s = settings.addressSource { details["address_from"] = s }
        func report(_ state: BackendStatus.State, _ error: Error?) -> BackendStatus {
            BackendStatus(backend: kind, location: location, state: state, details: details,
                          problem: error.map { ($0 as? CproError) ?? Failure("\($0)", fr: "\($0)") })
        }
        do {
            _ = try address()
        } catch {
            return report(.absent, error)
        }
        do {
            let h = try await call("GET", "sys/health?standbyok=true&perfstandbyok=true&sealedcode=200&uninitcode=200")
            if let v = h.json?["version"] as? String { details["server_version"] = v }
            if h.json?["initialized"] as? Bool == false {
                return report(.absent, Failure("OpenBao is not initialized (bao operator init)", fr: "OpenBao n'est pas initialisé (bao operator init)"))
            }
            if h.json?["sealed"] as? Bool == true {
                details["sealed"] = "true"
                return report(.locked, Self.sealed)
            }
            details["sealed"] = "false"
            let token = try token()
            details["token_from"] = token.source
            let me = try await call("GET", "auth/token/lookup-self", token: token)
            guard me.status == 200 else {
                return report(.locked, await failure(me, doing: "looking up the token", capability: "read", path: "auth/token/lookup-self", token: token))
            }
            if let ttl = me.data?["ttl"] as? Int { details["token_ttl_seconds"] = String(ttl) }
            try await checkEngine(token)
            return report(.ready, nil)
        } catch let e as Failure where e.backendState != nil {
            return report(e.backendState ?? .locked, e)
        } catch {
            return report(.damaged, error)
        }
    }
}
