import ArgumentParser
import CproCore
import CproHTTP
import CproPiste
import CproVault
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Everything a command needs from the outside world, resolved once: the
/// variables, settings, selection, output and stores. Commands take it from
/// here and nowhere else, so tests can drive them with another environment.
package struct Context: Sendable {
    package let environment: [String: String]
    package let settings: Settings
    package private(set) var profile: ProfileName
    package private(set) var pisteEnvironment: PisteEnvironment
    package let backend: BackendKind
    package let output: Output
    package let logger: Logger
    package var lang: Language { output.lang }
    /// `--no-agent` or `agent = false` in the config.
    let agentRefused: Bool

    package init(_ options: GlobalOptions, environment env: [String: String] = ProcessInfo.processInfo.environment) throws {
        try self.init(
            Globals(profile: options.profile, environment: options.environment, backend: options.backend, lang: options.lang,
                    json: options.json, verbose: options.verbose, noAgent: options.noAgent),
            environment: env)
        for w in settings.config.warnings { output.warn(w) }
    }

    /// The global options as plain values: from the argument parser, or from
    /// the fast path (FastPath.swift), which must not touch the parser.
    struct Globals {
        var profile, environment, backend, lang: String?
        var json = false, verbose = false, noAgent = false
    }

    /// Everything but the config's warnings, which the caller prints (the fast
    /// path leaves a config with warnings to the full path, which prints them once).
    init(_ options: Globals, environment env: [String: String]) throws {
        environment = env
        let lang: Language
        if let l = options.lang {
            guard let parsed = Language(rawValue: l.lowercased()) else {
                throw Failure("--lang takes 'en' or 'fr'", fr: "--lang prend « en » ou « fr »").usage
            }
            lang = parsed
        } else {
            lang = Language.from(environment: env)
        }
        output = Output(lang: lang, json: options.json)
        var logger = Logger(label: "cpro")
        logger.logLevel = options.verbose ? .debug : .warning
        self.logger = logger
        settings = try Settings.load(environment: env)
        let selected = try Selection.resolve(profile: options.profile, environment: options.environment, from: env)
        profile = selected.profile
        pisteEnvironment = selected.environment
        backend = try settings.backend(override: options.backend)
        agentRefused = options.noAgent || settings.config.bool("agent") == false
        _ = try AHCTransport.budgetSeconds(env)
        transport = AHCTransport(environment: env)
        logger.debug("selected profile \(profile), environment \(pisteEnvironment.rawValue), backend \(backend.rawValue)")
    }

    package var now: Int64 { Int64(time(nil)) }

    /// The same context for another selection (health --all, the wizard's
    /// second environment).
    package func with(profile: ProfileName? = nil, environment: PisteEnvironment? = nil) -> Context {
        var copy = self
        if let profile { copy.profile = profile }
        if let environment { copy.pisteEnvironment = environment }
        return copy
    }

    package func key(_ field: StoredField) -> CredentialKey { CredentialKey(profile, pisteEnvironment, field) }

    package var passphrases: CLIPassphrases { CLIPassphrases(environment: environment, lang: lang) }

    /// The session agent, unless refused; CPRO_VAULT_PASSPHRASE wins over it.
    var agent: AgentClient? { Backends.agent(settings: settings, environment: environment, wanted: !agentRefused) }

    /// The weakest key derivation this build opens (see fileStore()).
    var vaultParams: VaultFormat.KDFParams {
        #if DEBUG
        // Test hook, compiled into debug builds only: scripts/prove opens
        // vaults thousands of times. A release build refuses such a vault.
        if environment["CPRO_TEST_WEAK_KDF"] == "1" { return .testOnlyWeak }
        #endif
        return .standard
    }

    func backendOptions(agent useAgent: Bool = true) -> Backends.Options {
        let out = output
        return Backends.Options(passphrases: passphrases, agent: useAgent && !agentRefused, logger: logger,
                                notice: { out.warn($0) }, kdf: vaultParams)
    }

    package func fileStore(agent useAgent: Bool = true) -> FileStore {
        Backends.fileStore(settings: settings, environment: environment, options: backendOptions(agent: useAgent))
    }

    /// The selected backend. Never falls back to another one.
    package func store() throws -> CredentialStore {
        try store(backend)
    }

    package func store(_ kind: BackendKind) throws -> CredentialStore {
        try Backends.make(kind, settings: settings, selection: Selection(profile, pisteEnvironment),
                          environment: environment, options: backendOptions())
    }

    /// The selection's endpoints, with a warning for the retired gateway.
    /// Commands resolve them once and pass them on; health and onboarding
    /// report that warning themselves and use `settings.endpoints` directly.
    package func endpoints() throws -> Endpoints {
        let e = try settings.endpoints(profile, pisteEnvironment)
        if e.usesRetiredGateway {
            output.warn(Failure(
                "the configured host *.aife.economie.gouv.fr was shut down in September 2023; use the PISTE hosts (see `cpro vault status`)",
                fr: "l'hôte configuré *.aife.economie.gouv.fr est fermé depuis septembre 2023 ; utilisez les hôtes PISTE"))
        }
        return e
    }

    /// One per command, so that every request of the command shares one time
    /// budget (`CPRO_TIMEOUT`); `withFreshBudget()` for each step of a long,
    /// interactive run.
    package private(set) var transport: HTTPTransport

    package func withFreshBudget() -> Context {
        var copy = self
        copy.transport = AHCTransport(environment: environment)
        return copy
    }

    /// `readsBeforeLock` left nil is worked out (mayPrompt), which opens the
    /// terminal and asks the agent: the fast path, which never takes the
    /// lock, says false.
    package func tokenProvider(_ store: CredentialStore, endpoints: Endpoints, readsBeforeLock: Bool? = nil) -> TokenProvider {
        TokenProvider(
            store: store, profile: profile, environment: pisteEnvironment, endpoints: endpoints,
            directory: settings.paths.tokenDirectory, keyDirectory: settings.paths.tokenKeyDirectory,
            trustRoots: settings.paths.trustRoots, readsBeforeLock: readsBeforeLock ?? mayPrompt(store),
            margin: Int64(settings.config.integer("token_refresh_margin") ?? Int(TokenProvider.defaultMargin)),
            client: TokenClient(transport: transport, logger: logger), logger: logger)
    }

    /// Whether opening this store may wait on a person: the file vault without
    /// CPRO_VAULT_PASSPHRASE at a terminal, or a keyring that may show an
    /// unlock prompt on a desktop.
    func mayPrompt(_ store: CredentialStore) -> Bool {
        switch store.kind {
        case .file: (environment["CPRO_VAULT_PASSPHRASE"] ?? "").isEmpty && Terminal.open() != nil && agent?.status()?.unlocked != true
        case .secretService: !(environment["DISPLAY"] ?? "").isEmpty || !(environment["WAYLAND_DISPLAY"] ?? "").isEmpty
        case .openbao, .env: false
        }
    }

    /// The profile and environment chosen; in messages "default / sandbox".
    package var selection: Selection { Selection(profile, pisteEnvironment) }
}

/// The vault passphrase: CPRO_VAULT_PASSPHRASE (CPRO_VAULT_NEW_PASSPHRASE for a
/// change), else a no-echo prompt on the terminal, else an immediate error.
package struct CLIPassphrases: PassphraseSource {
    let environment: [String: String]
    let lang: Language

    func unlockHint(_ purpose: PassphrasePurpose) -> String {
        if case .unlock = purpose { return ", or unlock the vault for this session from a terminal: cpro vault unlock" }
        return ""
    }

    func unlockHintFR(_ purpose: PassphrasePurpose) -> String {
        if case .unlock = purpose { return ", ou déverrouillez le coffre pour la session depuis un terminal : cpro vault unlock" }
        return ""
    }

    package func passphrase(_ purpose: PassphrasePurpose) throws -> SecretBytes {
        let variable: String
        switch purpose {
        case .unlock, .create: variable = "CPRO_VAULT_PASSPHRASE"
        case .change: variable = "CPRO_VAULT_NEW_PASSPHRASE"
        }
        if let v = environment[variable], !v.isEmpty {
            if case .unlock = purpose {} else if let last = v.unicodeScalars.last, last == " " || last.properties.isWhitespace {
                // Typed at a terminal later, the passphrase would have no such ending.
                Output(lang: lang, json: false).warn(Failure(
                    "\(variable) ends in a space or a line break, which becomes part of the new passphrase (`printf %s`, not `echo`, writes it without)",
                    fr: "\(variable) se termine par une espace ou un saut de ligne, qui fera partie de la nouvelle phrase de passe (`printf %s`, et non `echo`, l'écrit sans)"))
            }
            return SecretBytes(utf8: v)
        }
        guard let tty = Terminal.open() else {
            throw Failure.vaultLocked(
                "the file vault needs its passphrase and no terminal is attached: set \(variable) for non-interactive use\(unlockHint(purpose))",
                fr: "le coffre a besoin de sa phrase de passe et aucun terminal n'est attaché : définissez \(variable) pour un usage non interactif\(unlockHintFR(purpose))")
        }
        switch purpose {
        case .unlock(let path):
            return try tty.prompt(lang.pick("Passphrase for \(path): ", "Phrase de passe de \(path) : "), echo: false)
        case .create(let path), .change(let path):
            if case .create = purpose {
                tty.write(lang.pick(
                    "Creating the vault \(path). Choose a passphrase (8 bytes or more); it cannot be recovered.\n",
                    "Création du coffre \(path). Choisissez une phrase de passe (8 octets ou plus) ; elle ne peut pas être récupérée.\n"))
            }
            // A passphrase too short is refused before its confirmation is
            // asked, and a confirmation that differs asks both again: three
            // tries, as passwd(1) gives.
            for _ in 0..<3 {
                let first = try tty.prompt(lang.pick("New vault passphrase: ", "Nouvelle phrase de passe : "), echo: false)
                guard first.count >= Self.minimumLength else {
                    tty.write(lang.pick("Too short: at least \(Self.minimumLength) bytes. Try again.\n",
                                        "Trop courte : \(Self.minimumLength) octets au moins. Recommencez.\n"))
                    continue
                }
                let second = try tty.prompt(lang.pick("Same passphrase again: ", "La même phrase de passe : "), echo: false)
                guard first == second else {
                    tty.write(lang.pick("The two passphrases differ. Try again.\n", "Les deux phrases de passe diffèrent. Recommencez.\n"))
                    continue
                }
                return first
            }
            throw Failure("no passphrase chosen after three tries; nothing was changed",
                          fr: "aucune phrase de passe choisie après trois essais ; rien n'a été modifié")
        }
    }

    /// What FileStore requires of a new passphrase, checked here first so the
    /// prompt can ask again.
    static let minimumLength = 8

    /// Three tries at a terminal, as sudo gives; one for a variable.
    package var unlockAttempts: Int {
        (environment["CPRO_VAULT_PASSPHRASE"] ?? "").isEmpty && Terminal.open() != nil ? 3 : 1
    }

    package func wrongPassphrase(path: String, attemptsLeft: Int) {
        Terminal.open()?.write(lang.pick("Wrong passphrase; try again (\(attemptsLeft) more).\n",
                                         "Phrase de passe incorrecte ; réessayez (encore \(attemptsLeft)).\n"))
    }
}
