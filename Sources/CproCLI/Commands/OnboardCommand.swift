import ArgumentParser
import CproCore
import CproHTTP
import CproOnboarding
import CproPiste
import CproVault
import Foundation

struct Onboard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "onboard",
        abstract: "The guided set-up: walks the steps, asks for what is missing, verifies, saves.",
        discussion: """
            Each credential is verified as soon as it can be (the client ID and secret by getting a \
            token, the technical account by listing the linked structures) and saved only then, so an \
            interrupted run resumes where it stopped. The sandbox comes first; production is offered \
            after. With --check, or without a terminal, it only checks and reports (exit status as \
            for `cpro health`).
            """)

    @OptionGroup var globals: GlobalOptions

    @Flag(help: "Check and report only; never prompt.")
    var check = false

    @Flag(name: [.long, .customShort("y")], help: "Answer yes to confirmations (go on to production); never blocks without a terminal.")
    var yes = false

    func run() async throws {
        let ctx = try Context(globals)
        guard !check, let tty = Terminal.open() else {
            if !check {
                ctx.output.say("No terminal: checking only (cpro onboard --check).", "Pas de terminal : vérification seule (cpro onboard --check).")
            }
            return try await report(ctx)
        }
        let explicitEnv = globals.environment != nil || !(ctx.environment["CPRO_ENV"] ?? "").isEmpty
        var wizard = Wizard(ctx: ctx, tty: tty, yes: yes)
        try await wizard.run(ctx.pisteEnvironment)
        if !explicitEnv && ctx.pisteEnvironment == .sandbox {
            if try yes || wizard.confirm(ctx.lang.pick("Set up production now?", "Configurer la production maintenant ?")) {
                wizard.ctx = ctx.with(environment: .production)
                try await wizard.run(.production)
            } else {
                tty.write(ctx.lang.pick("Later: cpro onboard --env production\n", "Plus tard : cpro onboard --env production\n"))
            }
        }
    }

    func report(_ ctx: Context) async throws {
        let store = try ctx.store()
        let r = await runCheck(ctx, store, ctx.selection, onboarding: true)
        if ctx.output.json { ctx.output.json(r.onboardingJSON(ctx.lang)) } else { printHuman(r, ctx, steps: true) }
        if r.status != .ok { throw ExitCode(r.status.exitCode) }
    }
}

/// The interactive walk through the steps, on the terminal.
struct Wizard {
    var ctx: Context
    let tty: Terminal
    let yes: Bool
    var lang: Language { ctx.lang }

    struct Quit: CproError {
        var diagnosis: Diagnosis? { nil }
        func message(_ l: Language) -> String {
            l.pick("stopped; what was verified is saved. Run `cpro onboard` again to resume.",
                   "arrêté ; ce qui a été vérifié est enregistré. Relancez `cpro onboard` pour reprendre.")
        }
    }

    func say(_ en: String, _ fr: String) { tty.write(lang.pick(en, fr) + "\n") }

    func confirm(_ question: String) throws -> Bool {
        let a = try tty.prompt(question + lang.pick(" [y/N] ", " [o/N] "), echo: true).unprotectedString.lowercased()
        return a == "y" || a == "yes" || a == "o" || a == "oui"
    }

    /// r(etry), s(ave unverified), q(uit).
    func choose() throws -> Character {
        for _ in 0..<3 {
            let a = try tty.prompt(lang.pick("[r]etype, [s]ave without verification, [q]uit: ", "[r]essaisir, [e]nregistrer sans vérification, [q]uitter : "), echo: true)
                .unprotectedString.lowercased()
            switch a {
            case "r", "": return "r"
            case "s", "e": return "s"
            case "q": return "q"
            default: continue
            }
        }
        return "q"
    }

    func step(_ n: Int, _ id: StepID, _ env: PisteEnvironment) {
        tty.write("\n\(n). \(id.title(lang))\n   \(Advice.instructions(id, env, lang))\n")
    }

    mutating func run(_ env: PisteEnvironment) async throws {
        let store = try ctx.store()
        say("\n== Chorus Pro API set-up: \(ctx.profile) / \(env.rawValue) (\(store.kind.rawValue) backend) ==",
            "\n== Configuration de l'API Chorus Pro : \(ctx.profile) / \(env.rawValue) (backend \(store.kind.rawValue)) ==")
        try store.prepareForWrite()
        let endpoints = try ctx.settings.endpoints(ctx.profile, env)  // the final check reports a retired host
        var creds = try await store.read(ctx.profile, env)
        let now = ctx.now

        // Steps 1 to 3: the PISTE side, checked by getting a token.
        if creds[.clientID] == nil || creds[.clientSecret] == nil {
            step(1, .pisteAccount, env)
            step(2, .cguConsent, env)
            step(3, .pisteApplication, env)
        } else {
            say("Client ID and secret already stored: checking them.", "Client ID et secret déjà enregistrés : vérification.")
        }
        var asked = false
        while true {
            let id = try creds[.clientID] ?? ask(.clientID)
            let secret = try creds[.clientSecret] ?? ask(.clientSecret)
            asked = asked || creds[.clientID] == nil || creds[.clientSecret] == nil
            ctx = ctx.withFreshBudget()
            do {
                _ = try await TokenClient(transport: ctx.transport, logger: ctx.logger).fetch(clientID: id, clientSecret: secret, endpoints: endpoints)
                say("✓ PISTE accepted the client ID and secret.", "✓ PISTE a accepté le client ID et le secret.")
                try await save([.clientID: id, .clientSecret: secret], store: store, creds: &creds, verified: true, now: now)
                break
            } catch let e as Failure where e.diagnosis != nil {
                say("✗ " + e.message(lang), "✗ " + e.message(lang))
                tty.write("   " + Advice.fix(e.diagnosis!, env, lang) + "\n")
                switch try choose() {
                case "s":
                    try await save([.clientID: id, .clientSecret: secret], store: store, creds: &creds, verified: false, now: now)
                case "q":
                    throw Quit()
                default:
                    creds.values[.clientID] = nil
                    creds.values[.clientSecret] = nil
                    continue
                }
                break
            }
        }

        // Step 4: the technical account, checked with both authentications.
        if creds[.techLogin] == nil || creds[.techPassword] == nil { step(4, .technicalAccount, env) }
        while true {
            let login = try creds[.techLogin] ?? ask(.techLogin)
            let typedPassword = creds[.techPassword] == nil
            let password = try creds[.techPassword] ?? ask(.techPassword)
            var candidate = creds
            candidate.values[.techLogin] = StoredValue(login, setAt: creds.values[.techLogin]?.setAt ?? now)
            candidate.values[.techPassword] = StoredValue(password, setAt: creds.values[.techPassword]?.setAt ?? now)
            let snapshot = SnapshotStore.of(candidate, ctx.profile, env, kind: store.kind, stamp: nil)
            say("Checking both authentications (token + cpro-account)…", "Vérification des deux authentifications (jeton + cpro-account)…")
            ctx = ctx.withFreshBudget()
            let report = await runCheck(ctx, snapshot, Selection(ctx.profile, env), onboarding: true)
            if report.ready {
                try await save([.techLogin: login, .techPassword: password], store: store, creds: &creds, verified: true, now: now)
                say("✓ " + report.message.en, "✓ " + report.message.fr)
                for s in report.structures ?? [] { tty.write("   \(ServerText.oneLine(s.identifiantStructure, limit: 40))  \(ServerText.oneLine(s.designationStructure))\n") }
                for w in report.warnings { tty.write("   ! \(w(lang))\n") }
                for n in report.notes { tty.write("   \(n(lang))\n") }
                if typedPassword { try askPasswordDate(env) }
                try raccordement(env)
                say("Done: \(ctx.profile) / \(env.rawValue) is ready. `cpro health --env \(env.rawValue)` checks it any time.",
                    "Terminé : \(ctx.profile) / \(env.rawValue) est prêt. `cpro health --env \(env.rawValue)` le vérifie à tout moment.")
                return
            }
            say("✗ \(report.failedStep?.rawValue ?? ""): " + report.message.en, "✗ \(report.failedStep?.rawValue ?? "") : " + report.message.fr)
            tty.write("   " + Advice.fix(report.diagnosis, env, lang) + "\n")
            let techAtFault = report.failedStep == .technicalAccount
            switch try choose() {
            case "s":
                try await save([.techLogin: login, .techPassword: password], store: store, creds: &creds, verified: false, now: now)
                return
            case "q":
                throw Quit()
            default:
                if techAtFault {
                    creds.values[.techLogin] = nil
                    creds.values[.techPassword] = nil
                } else {
                    // Fixed on the portal (terms, APIs): keep the values and check again.
                    creds.values[.techLogin] = StoredValue(login, setAt: now)
                    creds.values[.techPassword] = StoredValue(password, setAt: now)
                }
            }
        }
    }

    /// When the technical password was set on Chorus Pro, for the 424-day
    /// reminder when Chorus Pro does not say (optional: Enter skips it, and the
    /// date it was stored in cpro is used as an estimate).
    func askPasswordDate(_ env: PisteEnvironment) throws {
        for _ in 0..<3 {
            let answer = try tty.prompt(lang.pick(
                "   When was this technical password set on Chorus Pro? (YYYY-MM-DD, Enter if today): ",
                "   Quand ce mot de passe technique a-t-il été défini sur Chorus Pro ? (AAAA-MM-JJ, Entrée si aujourd'hui) : "), echo: true)
                .unprotectedString.trimmingCharacters(in: .whitespaces)
            if answer.isEmpty { return }
            guard let when = DateText.parse(answer), when <= ctx.now + 86_400 else {
                tty.write(lang.pick("   a date such as 2026-03-31, not in the future\n", "   une date comme 2026-03-31, pas dans le futur\n"))
                continue
            }
            let (profile, value) = (ctx.profile, String(when.rfc3339.prefix(10)))
            try Settings.updateConfig(ctx.settings.paths) { config in
                try config.set("tech_password_changed_at", .string(value), in: Config.section(profile, env))
            }
            return
        }
    }

    /// The one step cpro cannot observe: explained, and confirmed in production.
    func raccordement(_ env: PisteEnvironment) throws {
        step(5, .raccordement, env)
        guard env == .production, !yes else { return }
        if try !confirm(lang.pick("Is the raccordement declared on Chorus Pro for this PISTE application?",
                                  "Le raccordement est-il déclaré sur Chorus Pro pour cette application PISTE ?")) {
            say("Declare it before sending invoices: production calls are refused without it. Then run `cpro health --env production`.",
                "Déclarez-le avant d'envoyer des factures : sans lui, la production refuse les appels. Lancez ensuite `cpro health --env production`.")
        }
    }

    func ask(_ field: StoredField) throws -> SecretBytes {
        for _ in 0..<3 {
            let v = try tty.prompt("   \(field.label(lang)): ", echo: !field.isSecret)
            if v.count == 0 { continue }
            do {
                for w in try Validation.check(field, v) { tty.write(lang.pick("   warning: ", "   attention : ") + w.message(lang) + "\n") }
                return v
            } catch let e as CproError {
                tty.write("   " + e.message(lang) + "\n")
            }
        }
        throw Quit()
    }

    /// Saves values; those that could not be verified are recorded as such in
    /// the config (`unverified`), which a later successful check clears.
    func save(_ values: [StoredField: SecretBytes], store: CredentialStore, creds: inout Credentials, verified: Bool, now: Int64) async throws {
        var changed: [CredentialKey: StoredValue] = [:]
        for (f, v) in values where creds[f] != v {
            changed[CredentialKey(ctx.profile, ctx.pisteEnvironment, f)] = StoredValue(v, setAt: now)
        }
        if !changed.isEmpty { try await store.write(changed) }
        for (f, v) in values { creds.values[f] = StoredValue(v, setAt: creds.values[f]?.setAt ?? now) }
        // Read the mark under the config's lock: the context's copy of the
        // config predates this run's earlier saves.
        let names = values.keys.map(\.rawValue)
        let (profile, env) = (ctx.profile, ctx.pisteEnvironment)
        let current: String
        if case .string(let s)? = try Settings.loadConfig(ctx.settings.paths).environmentValue(profile, env, "unverified") { current = s } else { current = "" }
        var marked = Set(current.split(separator: ",").map(String.init))
        if verified { marked.subtract(names) } else { marked.formUnion(names) }
        if marked.sorted().joined(separator: ",") != current {
            try Settings.updateConfig(ctx.settings.paths) { config in
                var latest = Set<String>()
                if case .string(let s)? = config.environmentValue(profile, env, "unverified") { latest = Set(s.split(separator: ",").map(String.init)) }
                if verified { latest.subtract(names) } else { latest.formUnion(names) }
                let value = latest.sorted().joined(separator: ",")
                try config.set("unverified", value.isEmpty ? nil : .string(value), in: Config.section(profile, env))
            }
        }
        if !verified {
            say("Saved without verification: \(names.joined(separator: ", ")) (marked unverified).",
                "Enregistré sans vérification : \(names.joined(separator: ", ")) (marqué non vérifié).")
        }
    }
}
