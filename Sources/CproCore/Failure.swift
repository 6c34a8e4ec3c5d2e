/// What a backend reports about itself (`vault status`), and what a
/// `vault_locked` failure says of the backend it could not open.
public enum BackendState: String, Sendable, Codable {
    case ready        // can be used now (env vars present, keyring unlocked)
    case locked       // exists, needs a passphrase or an unlock
    case absent       // nothing created yet
    case unreachable  // service not running or not answering
    case damaged      // exists but cannot be read
}

/// The error of cpro's core: a text in both languages and, for the failures
/// of the contract, a diagnosis code with what the caller may need to act
/// on (the HTTP status, Chorus Pro's libelle, the refused API, the answer).
/// A bad flag and a refused token are the same kind of value; only the
/// fields set differ. No message contains a secret.
public struct Failure: CproError, CustomStringConvertible {
    public let diagnosis: Diagnosis?
    public let en: String
    public let fr: String
    /// The HTTP status, when there was an answer.
    public var status: Int? = nil
    /// Chorus Pro's libelle, for chorus_error.
    public var libelle: String? = nil
    /// Which API was refused, for api_access_denied.
    public var api: String? = nil
    /// The answer's body, for chorus_error (the caller may still want it).
    public var body: [UInt8]? = nil
    /// For vault_locked: the state `vault status` shows for the backend.
    public var backendState: BackendState? = nil
    /// A mistake on the command line (a misspelt field name): the CLI exits
    /// 64 (EX_USAGE), as for a flag the parser refused.
    package var isUsage = false

    /// The same failure, as a command-line mistake (exit 64).
    package var usage: Failure {
        var copy = self
        copy.isUsage = true
        return copy
    }

    /// A failure outside the contract's diagnoses (input, files, usage).
    public init(_ en: String, fr: String) {
        self.diagnosis = nil
        self.en = en
        self.fr = fr
    }

    public init(_ diagnosis: Diagnosis, _ en: String, fr: String, status: Int? = nil, libelle: String? = nil, api: String? = nil, body: [UInt8]? = nil) {
        self.diagnosis = diagnosis
        self.en = en
        self.fr = fr
        self.status = status
        self.libelle = libelle
        self.api = api
        self.body = body
    }

    /// A backend that cannot be opened (passphrase, keyring, server).
    public static func vaultLocked(_ en: String, fr: String, state: BackendState = .locked) -> Failure {
        var f = Failure(.vaultLocked, en, fr: fr)
        f.backendState = state
        return f
    }

    public func message(_ lang: Language) -> String { lang.pick(en, fr) }
}
