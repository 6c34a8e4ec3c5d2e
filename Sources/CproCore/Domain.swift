import CSodium

/// PISTE's two gateways. The raw values are the contract's words.
public enum PisteEnvironment: String, Sendable, CaseIterable, Codable, Comparable {
    case sandbox, production

    public static func < (a: Self, b: Self) -> Bool { a.order < b.order }
    private var order: Int { self == .sandbox ? 0 : 1 }

    /// The names people use: Chorus Pro calls the sandbox "qualification".
    static let aliases: [String: PisteEnvironment] = [
        "sandbox": .sandbox, "qualif": .sandbox, "qualification": .sandbox,
        "production": .production, "prod": .production,
    ]

    public static func parse(_ text: String) throws -> PisteEnvironment {
        guard let env = aliases[text.lowercased()] else {
            // The value is not repeated: it came from argv or the environment,
            // where a misplaced secret is not unheard of.
            throw Failure(
                "unknown environment: use 'sandbox' (or 'qualif') or 'production' (or 'prod')",
                fr: "environnement inconnu : utilisez « sandbox » (ou « qualif ») ou « production » (ou « prod »)").usage
        }
        return env
    }
}

/// A named set of credentials: one company, one PISTE application.
public struct ProfileName: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    public let value: String
    public static let `default` = ProfileName(unchecked: "default")
    public static let maxLength = 64

    /// Letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64
    /// bytes: safe as a file name, a Secret Service attribute and an OpenBao path.
    public init(_ text: String) throws {
        let bytes = Array(text.utf8)
        func allowed(_ b: UInt8) -> Bool {
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || b == 0x2E || b == 0x5F || b == 0x2D
        }
        guard !bytes.isEmpty, bytes.count <= Self.maxLength, bytes.allSatisfy(allowed),
              bytes[0] != 0x2E, bytes[0] != 0x5F, bytes[0] != 0x2D
        else {
            throw Failure(
                "invalid profile name: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
                fr: "nom de profil invalide : 1 à 64 lettres, chiffres, « . », « _ » ou « - », commençant par une lettre ou un chiffre").usage
        }
        value = text
    }

    private init(unchecked: String) { value = unchecked }

    public var description: String { value }
    public static func < (a: Self, b: Self) -> Bool { a.value < b.value }

    public init(from decoder: Decoder) throws {
        try self.init(try decoder.singleValueContainer().decode(String.self))
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(value)
    }
}

/// The four stored values. `cpro-account` is derived and lives in `Field`.
package enum StoredField: String, Sendable, CaseIterable, Codable, Comparable {
    case clientID = "client-id"
    case clientSecret = "client-secret"
    case techLogin = "tech-login"
    case techPassword = "tech-password"

    package static func < (a: Self, b: Self) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// Secrets are prompted without echo; the other two are identifiers.
    package var isSecret: Bool { self == .clientSecret || self == .techPassword }

    /// The variable name of the export contract, also read by the env backend.
    package var variableName: String {
        switch self {
        case .clientID: "PISTE_CLIENT_ID"
        case .clientSecret: "PISTE_CLIENT_SECRET"
        case .techLogin: "CPRO_TECH_LOGIN"
        case .techPassword: "CPRO_TECH_PASSWORD"
        }
    }

    package func label(_ lang: Language) -> String {
        switch self {
        case .clientID: lang.pick("PISTE client ID", "identifiant client PISTE (client ID)")
        case .clientSecret: lang.pick("PISTE client secret", "secret client PISTE (client secret)")
        case .techLogin: lang.pick("Chorus Pro technical account login", "login du compte technique Chorus Pro")
        case .techPassword: lang.pick("Chorus Pro technical account password", "mot de passe du compte technique Chorus Pro")
        }
    }
}

/// Every field a user may name: the four stored ones and the derived header value.
package enum Field: Hashable, Sendable {
    case stored(StoredField)
    case cproAccount

    package static let all: [Field] = StoredField.allCases.map(Field.stored) + [.cproAccount]

    package var name: String {
        switch self {
        case .stored(let f): f.rawValue
        case .cproAccount: "cpro-account"
        }
    }

    /// Parses a field name. The message never repeats the argument: a user who
    /// typed a secret where a field name belongs must not see it echoed into
    /// their terminal scrollback or CI log.
    package static func parse(_ text: String) throws -> Field {
        if let f = StoredField(rawValue: text) { return .stored(f) }
        if text == "cpro-account" { return .cproAccount }
        // A near miss of a field name is a typo, not a secret: it may be shown.
        if let near = Suggestion.closest(to: text, among: all.map(\.name)) {
            var f = Failure("'\(text)' is not a field name; did you mean '\(near)'? (fields: \(all.map(\.name).joined(separator: ", ")))",
                            fr: "« \(text) » n'est pas un nom de champ ; vouliez-vous dire « \(near) » ? (champs : \(all.map(\.name).joined(separator: ", ")))")
            f.isUsage = true
            throw f
        }
        var f = Failure.notAFieldName
        f.isUsage = true
        throw f
    }
}

/// "Did you mean": the word of a known list nearest to what was typed, when
/// it is near enough to be a typo of it (case, `_` for `-`, or at most two
/// edits for words of five letters or more, one for shorter ones).
package enum Suggestion {
    package static func closest(to typed: String, among words: [String]) -> String? {
        let t = typed.lowercased().replacing("_", with: "-")
        guard !t.isEmpty, t.count <= 40, !words.contains(typed) else { return nil }
        var best: (word: String, distance: Int)?
        for w in words {
            let d = distance(Array(t), Array(w.lowercased()))
            let allowed = w.count >= 5 ? 2 : 1
            if d <= allowed, d < (best?.distance ?? .max) { best = (w, d) }
        }
        return best?.word
    }

    /// Levenshtein distance, with a swap of two neighbours counting one.
    static func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var rows = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { rows[i][0] = i }
        for j in 0...b.count { rows[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                rows[i][j] = min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { rows[i][j] = min(rows[i][j], rows[i - 2][j - 2] + 1) }
            }
        }
        return rows[a.count][b.count]
    }
}

extension Failure {
    package static let notAFieldName = Failure(
        "an argument is not a field name (fields: client-id, client-secret, tech-login, tech-password, cpro-account). "
            + "cpro never takes a secret as an argument, since other users can read a command line: "
            + "run `cpro creds set FIELD` to be prompted, or pipe the value into `cpro creds set --stdin FIELD`",
        fr: "un argument n'est pas un nom de champ (champs : client-id, client-secret, tech-login, tech-password, cpro-account). "
            + "cpro ne prend jamais un secret en argument, car d'autres utilisateurs peuvent lire une ligne de commande : "
            + "lancez `cpro creds set CHAMP` pour une saisie masquée, ou envoyez la valeur par `cpro creds set --stdin CHAMP`")
}

/// Where one value lives: profile x environment x field.
/// What a command or a library client works on: a profile in one environment.
public struct Selection: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var profile: ProfileName
    public var environment: PisteEnvironment

    public init(_ profile: ProfileName, _ environment: PisteEnvironment) {
        self.profile = profile
        self.environment = environment
    }

    /// As the CLI resolves it: the given names, else CPRO_PROFILE and
    /// CPRO_ENV, else `default` and `sandbox`. Invalid names are errors.
    public static func resolve(profile: String? = nil, environment: String? = nil, from env: [String: String]) throws -> Selection {
        func nonEmpty(_ s: String?) -> String? { s.flatMap { $0.isEmpty ? nil : $0 } }
        return Selection(
            try ProfileName(profile ?? nonEmpty(env["CPRO_PROFILE"]) ?? "default"),
            try PisteEnvironment.parse(environment ?? nonEmpty(env["CPRO_ENV"]) ?? "sandbox"))
    }

    /// "default / sandbox", as messages show it.
    public var description: String { "\(profile) / \(environment.rawValue)" }

    /// By profile, then sandbox before production.
    public static func < (a: Self, b: Self) -> Bool { (a.profile, a.environment) < (b.profile, b.environment) }
}

extension Selection {
    /// The options a suggested command needs to act on this selection, so that
    /// following a suggestion never lands on `default`: `--env sandbox`, after
    /// `--profile NAME` unless the profile is `default`.
    package var options: String { profileOption + "--env \(environment.rawValue)" }
    /// `--profile NAME ` (with its trailing space) unless the profile is `default`.
    package var profileOption: String { profile == .default ? "" : "--profile \(profile) " }
}

package struct CredentialKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    package let profile: ProfileName
    package let environment: PisteEnvironment
    package let field: StoredField

    package init(_ profile: ProfileName, _ environment: PisteEnvironment, _ field: StoredField) {
        self.profile = profile
        self.environment = environment
        self.field = field
    }

    package static func < (a: Self, b: Self) -> Bool {
        (a.profile, a.environment, a.field) < (b.profile, b.environment, b.field)
    }

    package var description: String { "\(profile)/\(environment.rawValue)/\(field.rawValue)" }

    package var selection: Selection { Selection(profile, environment) }
}

/// A stored value and when it was last set (the technical password's rotation
/// warning counts from that date).
package struct StoredValue: Sendable {
    package let secret: SecretBytes
    package let setAt: Int64  // seconds since 1970, UTC

    package init(_ secret: SecretBytes, setAt: Int64) {
        self.secret = secret
        self.setAt = setAt
    }
}

/// The four values of one profile and environment, as far as they are set.
package struct Credentials: Sendable {
    package var values: [StoredField: StoredValue]

    package init(_ values: [StoredField: StoredValue] = [:]) { self.values = values }

    package subscript(field: StoredField) -> SecretBytes? { values[field]?.secret }

    package var missing: [StoredField] { StoredField.allCases.filter { values[$0] == nil } }

    /// The `cpro-account` header value: base64 (standard alphabet, padded) of the
    /// UTF-8 bytes `login:password`, assembled in protected memory.
    package func cproAccount() throws -> SecretBytes {
        guard let login = self[.techLogin], let password = self[.techPassword] else {
            throw Failure(
                "cpro-account needs both tech-login and tech-password to be set",
                fr: "cpro-account a besoin de tech-login et de tech-password")
        }
        return try CproAccount.encode(login: login, password: password)
    }
}

package enum CproAccount {
    package static func encode(login: SecretBytes, password: SecretBytes) throws -> SecretBytes {
        let plainCount = login.count + 1 + password.count
        let plain = try SecretBytes(count: plainCount) { buf in
            login.withUnsafeBytes { buf.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: login.count) }
            buf[login.count] = UInt8(ascii: ":")
            password.withUnsafeBytes {
                (buf.baseAddress! + login.count + 1).copyMemory(from: $0.baseAddress!, byteCount: password.count)
            }
        }
        let variant = Int32(sodium_base64_VARIANT_ORIGINAL)
        let encodedMax = sodium_base64_encoded_len(plainCount, variant)  // includes the NUL
        return try SecretBytes(count: encodedMax - 1) { out in
            let scratch = sodium_malloc(encodedMax)!
            defer { sodium_free(scratch) }
            plain.withUnsafeBytes { p in
                _ = sodium_bin2base64(
                    scratch.assumingMemoryBound(to: CChar.self), encodedMax,
                    p.baseAddress!.assumingMemoryBound(to: UInt8.self), plainCount, variant)
            }
            out.baseAddress!.copyMemory(from: scratch, byteCount: encodedMax - 1)
        }
    }

    /// Splits a header value back into login and password (used by import).
    package static func decode(_ value: SecretBytes) throws -> (login: SecretBytes, password: SecretBytes) {
        let bad = Failure(
            "CPRO_ACCOUNT is not base64 of 'login:password'",
            fr: "CPRO_ACCOUNT n'est pas le base64 de « login:mot-de-passe »")
        let variant = Int32(sodium_base64_VARIANT_ORIGINAL)
        var binLen = 0
        let decoded = try SecretBytes(count: value.count) { out in
            let rc = value.withUnsafeBytes { v in
                sodium_base642bin(
                    out.baseAddress!.assumingMemoryBound(to: UInt8.self), value.count,
                    v.baseAddress!.assumingMemoryBound(to: CChar.self), value.count,
                    nil, &binLen, nil, variant)
            }
            if rc != 0 { throw bad }
        }
        return try decoded.withUnsafeBytes { raw in
            let bytes = UnsafeRawBufferPointer(rebasing: raw[0..<binLen])
            guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")) else { throw bad }
            return (SecretBytes(copying: bytes[0..<colon]), SecretBytes(copying: bytes[(colon + 1)...]))
        }
    }
}
