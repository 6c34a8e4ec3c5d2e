import CproCore
import Logging

/// The one place a backend is built from settings, for the CLI and the
/// library alike: the same paths, lock files, agent and KDF settings.
package enum Backends {
    /// What building a backend needs besides the settings.
    package struct Options: Sendable {
        /// Where the file vault's passphrase comes from when the agent has no key.
        package var passphrases: any PassphraseSource
        /// Ask the session agent first (false: `--no-agent`, `agent = false`).
        /// CPRO_VAULT_PASSPHRASE in the environment wins over it anyway.
        package var agent: Bool
        package var logger: Logger
        /// Warnings for a person (a vault readable by others).
        package var notice: @Sendable (Failure) -> Void
        /// The file vault's key derivation for new key slots.
        package var kdf: VaultFormat.KDFParams

        package init(passphrases: any PassphraseSource, agent: Bool = true, logger: Logger = Logger(label: "cpro.vault"),
                    notice: @escaping @Sendable (Failure) -> Void = { _ in }, kdf: VaultFormat.KDFParams = .standard) {
            self.passphrases = passphrases
            self.agent = agent
            self.logger = logger
            self.notice = notice
            self.kdf = kdf
        }
    }

    /// The selected backend. Never falls back to another one.
    package static func make(_ kind: BackendKind, settings: Settings, selection: Selection,
                            environment: [String: String], options: Options) throws -> any CredentialStore {
        switch kind {
        case .file:
            return fileStore(settings: settings, environment: environment, options: options)
        case .env:
            return EnvStore(variables: environment, profile: selection.profile, environment: selection.environment)
        case .secretService:
            #if canImport(CLibSecret)
            return SecretServiceStore(environment: environment, logger: options.logger,
                                      lockPath: settings.paths.dataDirectory + "/secret-service.lock")
            #else
            throw Failure("the secret-service backend exists on Linux only (libsecret)",
                          fr: "le backend secret-service n'existe que sous Linux (libsecret)")
            #endif
        case .openbao:
            return OpenBaoStore(settings: try settings.openbao(), environment: environment, logger: options.logger)
        }
    }

    package static func fileStore(settings: Settings, environment: [String: String], options: Options) -> FileStore {
        FileStore(
            path: settings.paths.vaultFile, lockPath: settings.paths.vaultLock, passphrases: options.passphrases,
            params: options.kdf, environment: environment, logger: options.logger, trustRoots: settings.paths.trustRoots,
            agent: agent(settings: settings, environment: environment, wanted: options.agent), notice: options.notice)
    }

    /// The session agent of this vault, unless it is turned off; an explicit
    /// CPRO_VAULT_PASSPHRASE wins, so a CI job says which passphrase opens it.
    package static func agent(settings: Settings, environment: [String: String], wanted: Bool) -> AgentClient? {
        guard wanted, settings.config.bool("agent") != false, (environment["CPRO_VAULT_PASSPHRASE"] ?? "").isEmpty else { return nil }
        return AgentClient.of(settings.paths)
    }
}
