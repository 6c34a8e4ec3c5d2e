import ArgumentParser
import CproCore
import CproVault

#if canImport(Glibc)
import Glibc
#endif

struct VaultInit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create the file vault (the passphrase is asked twice), or record --backend as the default.")

    @OptionGroup var globals: GlobalOptions

    func run() async throws {
        let ctx = try Context(globals)
        switch ctx.backend {
        case .file:
            let store = ctx.fileStore()
            try store.initialise()
            ctx.output.say("Created the vault \(store.path).", "Coffre créé : \(store.path).")
        case .env:
            throw Failure(
                "the env backend reads variables and has nothing to create",
                fr: "le backend env lit des variables et n'a rien à créer")
        case .secretService, .openbao:
            // Nothing to create (cpro never creates a collection or an engine):
            // check that it can be used before recording it as the default.
            let status = try await ctx.store().status()
            guard status.state == .ready else {
                throw status.problem ?? Failure("the \(ctx.backend.rawValue) backend is not usable",
                                                fr: "le backend \(ctx.backend.rawValue) n'est pas utilisable")
            }
            if ctx.backend == .openbao {
                ctx.output.say("OpenBao at \(status.location) is reachable, unsealed, and the token can use it.",
                               "OpenBao (\(status.location)) est joignable, descellé, et le jeton peut s'en servir.")
            } else {
                ctx.output.say("The Secret Service's default collection is reachable and unlocked.",
                               "La collection par défaut du Secret Service est joignable et déverrouillée.")
            }
        }
        if globals.backend != nil {
            try Settings.updateConfig(ctx.settings.paths) { try $0.set("backend", .string(ctx.backend.rawValue)) }
            ctx.output.say(
                "Recorded \(ctx.backend.rawValue) as the default backend in \(ctx.settings.paths.configFile).",
                "Backend par défaut \(ctx.backend.rawValue) enregistré dans \(ctx.settings.paths.configFile).")
        }
        if ctx.output.json {
            ctx.output.json(VaultCreatedJSON(backend: ctx.backend.rawValue, created: true))
        }
    }
}

struct VaultStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the backend, where it stores, and whether it can be opened; asks for nothing.")

    @OptionGroup var globals: GlobalOptions

    func run() async throws {
        let ctx = try Context(globals)
        let store = try ctx.store()
        var status = await store.status()
        if store.kind == .file {
            let source = ctx.environment["CPRO_VAULT_PASSPHRASE"].map { !$0.isEmpty } == true
                ? "CPRO_VAULT_PASSPHRASE" : (Terminal.open() != nil ? "prompt" : "none")
            status.details["passphrase_source"] = source
            let client = AgentClient.of(ctx.settings.paths)
            if ctx.agentRefused {
                status.details["agent"] = "off"
            } else if let agent = client.status(), SecureFiles.sameFile(agent.vault, ctx.settings.paths.vaultFile) {
                status.details["agent"] = agent.unlocked ? "unlocked" : "locked"
                status.details["agent_pid"] = String(agent.pid)
                if agent.unlocked {
                    status.details["agent_idle"] = agent.idleSeconds == 0 ? "until logout" : VaultUnlock.text(agent.idleSeconds)
                    if let r = agent.remainingSeconds { status.details["agent_expires"] = Self.isoTime(ctx.now + r) }
                    if let locked = agent.keyLockedInMemory {
                        // RLIMIT_MEMLOCK 0: the key may be written to swap (docs/security.md).
                        status.details["agent_key_in_locked_memory"] = locked ? "yes" : "no (mlock failed: the key may reach swap)"
                    }
                    if status.state == .locked { status.state = .ready }
                    // The explicit passphrase wins over the agent (Backends.agent).
                    if source != "CPRO_VAULT_PASSPHRASE" { status.details["passphrase_source"] = "agent" }
                }
            } else {
                status.details["agent"] = "not running"
            }
        }
        if ctx.output.json {
            ctx.output.json(VaultStatusJSON(
                backend: status.backend.rawValue, location: status.location, state: status.state.rawValue,
                details: status.details, config: ctx.settings.paths.configFile, message: status.message(ctx.lang)))
            return
        }
        // Keys as in --json, aligned; the values in the reader's language.
        var rows: [(String, String)] = [("backend", status.backend.rawValue), ("location", status.location),
                                        ("state", Self.describe(status.state, ctx.lang))]
        rows += status.details.keys.sorted().map { ($0, Self.word(status.details[$0]!, ctx.lang)) }
        rows.append(("config", ctx.settings.paths.configFile))
        let width = rows.map(\.0.count).max() ?? 0
        for (key, value) in rows {
            ctx.output.data(key + ":" + String(repeating: " ", count: width - key.count + 1) + value + "\n")
        }
        if let m = status.message(ctx.lang) { ctx.output.data("\(m)\n") }
    }

    /// The words among the details' values, in French for a French reader.
    static func word(_ value: String, _ lang: Language) -> String {
        guard lang == .fr else { return value }
        let french = ["not running": "arrêté", "unlocked": "déverrouillé", "locked": "verrouillé", "off": "désactivé",
                      "until logout": "jusqu'à la déconnexion", "prompt": "saisie au terminal", "none": "aucune", "agent": "agent",
                      "yes": "oui", "no (mlock failed: the key may reach swap)": "non (mlock a échoué : la clé peut aller en swap)"]
        return french[value] ?? value
    }

    static func isoTime(_ t: Int64) -> String {
        var now = time_t(t)
        var parts = tm()
        gmtime_r(&now, &parts)
        var buf = [CChar](repeating: 0, count: 32)
        let n = strftime(&buf, buf.count, "%Y-%m-%dT%H:%M:%SZ", &parts)
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func describe(_ state: BackendStatus.State, _ lang: Language) -> String {
        switch state {
        case .ready: lang.pick("ready", "prêt")
        case .locked: lang.pick("locked (opens with the passphrase)", "verrouillé (s'ouvre avec la phrase de passe)")
        case .absent: lang.pick("not created yet", "pas encore créé")
        case .unreachable: lang.pick("unreachable", "injoignable")
        case .damaged: lang.pick("damaged", "abîmé")
        }
    }
}

struct VaultPasswd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "passwd",
        abstract: "Change the file vault's passphrase, with a new master key: every value is encrypted again.",
        discussion: """
            An old copy of the vault and the old passphrase then open nothing written afterwards. \
            --rewrap-only keeps the master key (faster, but an old copy plus the old passphrase still \
            opens later writes). The KDF settings never weaken. Non-interactive: the current passphrase \
            in CPRO_VAULT_PASSPHRASE, the new one in CPRO_VAULT_NEW_PASSPHRASE.
            """)

    @OptionGroup var globals: GlobalOptions

    @Flag(help: "Keep the master key; only wrap it under the new passphrase (see docs/vault-format.md).")
    var rewrapOnly = false

    func run() async throws {
        let ctx = try Context(globals)
        let store = ctx.fileStore()
        try store.changePassphrase(rewrapOnly: rewrapOnly)
        if rewrapOnly {
            ctx.output.say("Changed the passphrase of \(store.path) (same master key).", "Phrase de passe de \(store.path) changée (même clé maîtresse).")
        } else {
            ctx.output.say("Changed the passphrase and the master key of \(store.path).", "Phrase de passe et clé maîtresse de \(store.path) changées.")
        }
    }
}
