import CproCore

/// The one protocol every backend implements. Batches (several keys at once)
/// because opening some backends is costly: the file vault pays Argon2id once
/// per call, however many values change.
package protocol CredentialStore: Sendable {
    var kind: BackendKind { get }

    /// The values set for one profile and environment (missing ones are absent).
    func read(_ profile: ProfileName, _ environment: PisteEnvironment) async throws -> Credentials

    /// Sets these values; every other value stays as it was.
    func write(_ values: [CredentialKey: StoredValue]) async throws

    /// Removes these values; returns the ones that were there.
    func remove(_ keys: [CredentialKey]) async throws -> [CredentialKey]

    /// Which values exist and when each was set (nil when the backend does not
    /// know). Never the values themselves.
    func list() async throws -> [CredentialKey: Int64?]

    /// Where the backend stores and in what state, without unlocking anything.
    func status() async -> BackendStatus

    /// A cheap value, read without unlocking anything, that differs whenever a
    /// stored value may have changed. The token cache compares it to decide
    /// whether a cached token still belongs to the stored credentials. nil when
    /// the backend has none; readers then compare the credentials themselves.
    func changeStamp() -> [UInt8]?

    /// Asks now for what a write will need (the file vault's passphrase,
    /// checked, or a new vault's, confirmed), so an interactive command fails
    /// before the user types values. Most backends need nothing.
    func prepareForWrite() throws
}

extension CredentialStore {
    package func changeStamp() -> [UInt8]? { nil }
    package func prepareForWrite() throws {}
}

/// A store whose opening failed: every use throws that failure, so a checker
/// reports it as its own step (health --all over several selections).
package struct FailingStore: CredentialStore {
    package let kind: BackendKind
    let error: Error & Sendable
    package init(kind: BackendKind, error: Error) {
        self.kind = kind
        self.error = (error as? CproError) ?? Failure("\(error)", fr: "\(error)")
    }
    package func read(_ p: ProfileName, _ e: PisteEnvironment) async throws -> Credentials { throw error }
    package func write(_ values: [CredentialKey: StoredValue]) async throws { throw error }
    package func remove(_ keys: [CredentialKey]) async throws -> [CredentialKey] { throw error }
    package func list() async throws -> [CredentialKey: Int64?] { throw error }
    package func status() async -> BackendStatus { BackendStatus(backend: kind, location: "", state: .locked) }
}

package struct BackendStatus: Sendable, Equatable {
    package typealias State = BackendState

    package var backend: BackendKind
    package var location: String
    package var state: State
    package var details: [String: String]
    /// What is wrong, as an error value: the caller renders it in its
    /// reader's language (`vault status --lang fr`).
    package var problem: (any CproError)?

    package init(backend: BackendKind, location: String, state: State, details: [String: String] = [:], problem: (any CproError)? = nil) {
        self.backend = backend
        self.location = location
        self.state = state
        self.details = details
        self.problem = problem
    }

    package func message(_ lang: Language) -> String? { problem?.message(lang) }

    package static func == (a: BackendStatus, b: BackendStatus) -> Bool {
        a.backend == b.backend && a.location == b.location && a.state == b.state && a.details == b.details
            && a.message(.en) == b.message(.en)
    }
}

package enum PassphrasePurpose: Sendable, Equatable {
    case unlock(path: String)
    /// A new passphrase: asked twice on a terminal.
    case create(path: String)
    case change(path: String)
}

/// Where the file vault's passphrase comes from (prompt, variable, test).
package protocol PassphraseSource: Sendable {
    func passphrase(_ purpose: PassphrasePurpose) throws -> SecretBytes
    /// How many unlock passphrases may be tried before a wrong one fails
    /// (a person at a terminal gets several; a variable, one).
    var unlockAttempts: Int { get }
    /// Told before the passphrase is asked again.
    func wrongPassphrase(path: String, attemptsLeft: Int)
}

extension PassphraseSource {
    package var unlockAttempts: Int { 1 }
    package func wrongPassphrase(path: String, attemptsLeft: Int) {}
}

package enum StoreError {
    package static func readOnly(_ kind: BackendKind) -> Failure {
        Failure(
            "the \(kind.rawValue) backend is read-only; choose a writable backend with --backend file (or secret-service, openbao)",
            fr: "le backend \(kind.rawValue) est en lecture seule ; choisissez un backend modifiable avec --backend file (ou secret-service, openbao)")
    }
}

extension Credentials {
    /// Values read from a backend are checked like values typed in: a value
    /// written by another tool (a keyring browser, `bao kv put`, a variable)
    /// with a NUL, a line break or invalid UTF-8 would otherwise end up in a
    /// header or an exported variable. The error names the field and backend.
    package func checked(_ backend: BackendKind) throws -> Credentials {
        for (field, value) in values.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            do {
                try Validation.check(field, value.secret)
            } catch let f as Failure {
                throw Failure(
                    "the \(field.rawValue) read from the \(backend.rawValue) backend is unusable (\(f.en)); store it again with `cpro creds set \(field.rawValue)`",
                    fr: "le \(field.rawValue) lu dans le backend \(backend.rawValue) est inutilisable (\(f.fr)) ; enregistrez-le à nouveau avec `cpro creds set \(field.rawValue)`")
            }
        }
        return self
    }
}
