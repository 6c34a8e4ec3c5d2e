import ArgumentParser
import CproCore
import CproHTTP
import CproOnboarding
import CproPiste
import CproVault
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

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

    @Flag(name: [.long, .customShort("y")], help: "Go on to production without asking. The production raccordement, which cpro cannot see, is still asked.")
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
        var wizard = try Wizard(ctx: ctx, tty: tty, yes: yes)
        tty.onInterrupt(say: "cpro: " + Wizard.Quit(selection: ctx.selection).message(ctx.lang))
        var ready = try await wizard.guarded { try await $0.run(ctx.pisteEnvironment) }
        if !explicitEnv && ctx.pisteEnvironment == .sandbox {
            var production = yes
            if !production {
                production = try await wizard.guarded { try $0.confirm(ctx.lang.pick("Set up production now?", "Configurer la production maintenant ?")) }
            }
            if production {
                wizard.ctx = ctx.with(environment: .production)
                tty.onInterrupt(say: "cpro: " + Wizard.Quit(selection: wizard.selection).message(ctx.lang))
                let productionReady = try await wizard.guarded { try await $0.run(.production) }
                ready = productionReady && ready
            } else {
                wizard.say("Later: cpro onboard \(Selection(ctx.profile, .production).options)",
                           "Plus tard : cpro onboard \(Selection(ctx.profile, .production).options)")
            }
        }
        wizard.suggestUnlock()
        if !ready { throw ExitCode(1) }
    }

    func report(_ ctx: Context) async throws {
        let store = try ctx.store()
        let r = await runCheck(ctx, store, ctx.selection, onboarding: true)
        if ctx.output.json { ctx.output.json(r.onboardingJSON(ctx.lang)) } else { printHuman(r, ctx, steps: true) }
        if r.status != .ok { throw ExitCode(r.status.exitCode) }
    }
}

/// The interactive walk through the steps, on the terminal.
///
/// What the store holds (`stored`, read back after every write) is kept apart
/// from what was typed and not saved yet (`typed`): "ready" and "saved" are
/// said only of values the store was seen to hold.
struct Wizard {
    var ctx: Context
    let tty: Terminal
    let yes: Bool
    /// Opened once per run, so production after the sandbox asks for no
    /// second passphrase (the env backend is per selection: reopened).
    let store: CredentialStore
    var lang: Language { ctx.lang }
    var selection: Selection { ctx.selection }

    init(ctx: Context, tty: Terminal, yes: Bool) throws {
        self.ctx = ctx
        self.tty = tty
        self.yes = yes
        store = try ctx.store()
    }

    /// The run stops (q, Ctrl-D, three refused answers); Ctrl-C says the same.
    struct Quit: CproError {
        let selection: Selection
        var diagnosis: Diagnosis? { nil }
        func message(_ l: Language) -> String {
            l.pick("stopped; what was verified is saved. Run `cpro onboard \(selection.options)` again to resume.",
                   "arrêté ; ce qui a été vérifié est enregistré. Relancez `cpro onboard \(selection.options)` pour reprendre.")
        }
    }

    /// Ctrl-D at a prompt ends the run as `q` does: values may have been
    /// saved already, so "nothing was changed" would be false.
    mutating func guarded<T>(_ body: (inout Wizard) async throws -> T) async throws -> T {
        do {
            return try await body(&self)
        } catch is Terminal.Cancelled {
            throw Quit(selection: selection)
        }
    }

    func say(_ en: String, _ fr: String) { tty.writeWrapped(lang.pick(en, fr) + "\n") }
    func line(_ text: String) { tty.writeWrapped(text + "\n") }

    var marks: Marks { Marks(ctx.environment) }

    func confirm(_ question: String) throws -> Bool {
        let a = try tty.prompt(question + lang.pick(" [y/N] ", " [o/N] "), echo: true).unprotectedString.lowercased()
        return a == "y" || a == "yes" || a == "o" || a == "oui"
    }

    enum Choice { case again, edit, save, quit }

    /// After a failed check: try again with the same values (an outage, a fix
    /// made on a portal), edit the failing step's values, save unverified, or
    /// quit. Enter picks the first choice shown.
    func choose(canEdit: Bool) throws -> Choice {
        // (key in English, key in French, label in English, label in French)
        let all: [(Choice, String, String, String, String)] = [
            (.edit, "e", "m", "[e]dit the values", "[m]odifier les valeurs"),
            (.again, "t", "r", "[t]ry again", "[r]éessayer"),
            (.save, "s", "s", "[s]ave without verification", "[s]auvegarder sans vérification"),
            (.quit, "q", "q", "[q]uit", "[q]uitter"),
        ]
        let options = all.filter { canEdit || $0.0 != .edit }
        let keys = options.map { lang.pick($0.1, $0.2) }
        let question = options.map { lang.pick($0.3, $0.4) }.joined(separator: ", ")
            + lang.pick(" (Enter: \(keys[0])): ", " (Entrée : \(keys[0])) : ")
        for _ in 0..<3 {
            let a = try tty.prompt(question, echo: true).unprotectedString.lowercased().trimmed()
            if a.isEmpty { return options[0].0 }
            if let i = keys.firstIndex(of: a) { return options[i].0 }
            line(lang.pick("   answer \(keys.joined(separator: ", "))", "   répondez \(keys.joined(separator: ", "))"))
        }
        return .quit
    }

    func step(_ n: Int, _ id: StepID, _ env: PisteEnvironment) {
        tty.writeWrapped("\n\(n). \(id.title(lang))\n   \(Advice.instructions(id, env, lang))\n")
    }

    /// The fields a step's edit asks again; none for a step fixed elsewhere
    /// (terms on PISTE, the network).
    static func fields(of step: StepID?) -> [StoredField] {
        switch step {
        case .pisteApplication: [.clientID, .clientSecret]
        case .technicalAccount: [.techLogin, .techPassword]
        default: []
        }
    }

    /// How to fix a failure from inside the wizard: a wrong value is edited
    /// here, not with a command to run later.
    func fix(_ d: Diagnosis, fields: [StoredField]) -> String {
        guard !fields.isEmpty, [.oauthInvalidClient, .techAccountRejected, .credentialsMissing].contains(d) else {
            return Advice.fix(d, selection, lang)
        }
        let names = fields.map(\.rawValue).joined(separator: lang.pick(" and ", " et "))
        return d == .oauthInvalidClient
            ? lang.pick("Copy \(names) again from the application's page in \(Portals.space(ctx.pisteEnvironment, lang)) of PISTE (the application must belong to this environment), then choose edit.",
                        "Recopiez \(names) depuis la page de l'application dans \(Portals.space(ctx.pisteEnvironment, lang)) de PISTE (l'application doit appartenir à cet environnement), puis choisissez modifier.")
            : lang.pick("Check \(names) (a technical account created less than an hour ago may not be active yet), then choose edit.",
                        "Vérifiez \(names) (un compte technique créé il y a moins d'une heure peut ne pas être encore actif), puis choisissez modifier.")
    }

    func failed(_ step: StepID?, _ message: Text) {
        let name = step.map { $0.title(lang) + lang.pick(": ", " : ") } ?? ""
        line("\(marks.failed) \(name)\(message(lang))")
    }

    /// One environment, from the PISTE application to the first request.
    /// True when it ends ready (every check passed, the raccordement
    /// confirmed in production).
    mutating func run(_ env: PisteEnvironment) async throws -> Bool {
        let store = ctx.backend == .env ? try ctx.store() : self.store
        say("\n== Chorus Pro API set-up: \(selection) (\(store.kind.rawValue) backend) ==",
            "\n== Configuration de l'API Chorus Pro : \(selection) (backend \(store.kind.rawValue)) ==")
        try store.prepareForWrite()
        let endpoints = try ctx.settings.endpoints(ctx.profile, env)  // the final check reports a retired host
        if !endpoints.arePISTEDefaults(env) {
            say("Endpoints: \(endpoints.tokenEndpointNote.en); \(endpoints.apiEndpointNote.en)",
                "Points d'accès : \(endpoints.tokenEndpointNote.fr) ; \(endpoints.apiEndpointNote.fr)")
        }
        var pending = Pending(stored: try await store.read(ctx.profile, env))

        // Steps 1 to 3: the PISTE side, checked by getting a token.
        let piste: [StoredField] = [.clientID, .clientSecret]
        if piste.contains(where: { pending.stored[$0] == nil }) {
            step(1, .pisteAccount, env)
            step(2, .cguConsent, env)
            step(3, .pisteApplication, env)
        } else {
            say("Client ID and secret already stored: checking them.", "Client ID et secret déjà enregistrés : vérification.")
        }
        pistePhase: while true {
            for f in piste where pending.value(f) == nil { pending.typed[f] = try ask(f) }
            try await remarkOnSharedClientID(pending.value(.clientID), env)
            ctx = ctx.withFreshBudget()
            do {
                _ = try await TokenClient(transport: ctx.transport, logger: ctx.logger)
                    .fetch(clientID: pending.value(.clientID)!, clientSecret: pending.value(.clientSecret)!, endpoints: endpoints)
                try await save(piste, &pending, store: store, verified: true)
                line("\(marks.ok) " + lang.pick("PISTE accepted the client ID and secret.", "PISTE a accepté le client ID et le secret."))
                break
            } catch let e as Failure where e.diagnosis != nil {
                let d = e.diagnosis!
                let failing = Advice.step(for: d) == .pisteApplication || d == .credentialsMissing ? StepID.pisteApplication : Advice.step(for: d)
                let editable = Self.fields(of: failing)
                failed(failing, e.text)
                line("   " + fix(d, fields: editable))
                switch try choose(canEdit: !editable.isEmpty) {
                case .again: continue
                case .edit: try edit(editable, &pending)
                case .save:
                    try await save(piste, &pending, store: store, verified: false)
                    break pistePhase
                case .quit: throw Quit(selection: selection)
                }
            }
        }

        // Step 4: the technical account, checked with both authentications.
        let tech: [StoredField] = [.techLogin, .techPassword]
        if tech.contains(where: { pending.value($0) == nil }) { step(4, .technicalAccount, env) }
        var typedPassword = pending.stored[.techPassword] == nil
        while true {
            for f in tech where pending.value(f) == nil { pending.typed[f] = try ask(f) }
            let now = ctx.now
            var candidate = Credentials()
            for f in StoredField.allCases {
                if let v = pending.value(f) { candidate.values[f] = StoredValue(v, setAt: pending.stored.values[f]?.setAt ?? now) }
            }
            let snapshot = SnapshotStore.of(candidate, ctx.profile, env, kind: store.kind, stamp: nil)
            say("Checking both authentications (token + cpro-account)…", "Vérification des deux authentifications (jeton + cpro-account)…")
            ctx = ctx.withFreshBudget()
            let report = await runCheck(ctx, snapshot, selection, onboarding: true)
            if report.ready {
                try await save(StoredField.allCases, &pending, store: store, verified: true)
                line("\(marks.ok) " + report.message(lang))
                for s in report.structures ?? [] { tty.write("   \(ServerText.oneLine(s.identifiantStructure, limit: 40))  \(ServerText.oneLine(s.designationStructure))\n") }
                for w in report.warnings { line("   ! \(w(lang))") }
                for n in report.notes { line("   \(n(lang))") }
                if typedPassword, let changed = try askPasswordDate(env), try !passwordStillValid(changed, env) { return false }
                guard try raccordement(env) else { return false }
                say("Done: \(selection) is ready. `cpro health \(selection.options)` checks it any time.",
                    "Terminé : \(selection) est prêt. `cpro health \(selection.options)` le vérifie à tout moment.")
                return true
            }
            let failing = report.failedStep
            let editable = Self.fields(of: failing)
            failed(failing, report.message)
            line("   " + fix(report.diagnosis, fields: editable))
            switch try choose(canEdit: !editable.isEmpty) {
            case .again: continue
            case .edit:
                try edit(editable, &pending)
                if editable.contains(.techPassword) { typedPassword = true }
            case .save:
                let unsaved = StoredField.allCases.filter { pending.typed[$0] != nil }
                try await save(unsaved, &pending, store: store, verified: false)
                say("Not ready: \(selection) fails at \(failing?.rawValue ?? "a step"). Fix it, then `cpro health \(selection.options)` checks it (or run `cpro onboard \(selection.options)` again).",
                    "Pas prêt : \(selection) échoue à l'étape \(failing?.rawValue ?? "?"). Corrigez-la, puis `cpro health \(selection.options)` la vérifie (ou relancez `cpro onboard \(selection.options)`).")
                return false
            case .quit: throw Quit(selection: selection)
            }
        }
    }

    /// What the store holds and what was typed on top of it, not saved yet.
    struct Pending {
        var stored: Credentials
        var typed: [StoredField: SecretBytes] = [:]
        func value(_ f: StoredField) -> SecretBytes? { typed[f] ?? stored[f] }
    }

    /// PISTE gives production an application of its own: the sandbox's client
    /// ID in production is almost always a copy-paste slip.
    func remarkOnSharedClientID(_ id: SecretBytes?, _ env: PisteEnvironment) async throws {
        guard env == .production, let id, let sandbox = try? await store.read(ctx.profile, .sandbox)[.clientID], sandbox == id else { return }
        line("   ! " + lang.pick(
            "this is the sandbox application's client ID: PISTE gives production an application of its own (see step 3).",
            "c'est le client ID de l'application sandbox : PISTE donne à la production une application distincte (voir l'étape 3)."))
    }

    /// Asks `fields` again, each with its current value as the default
    /// (Enter keeps it; a secret is shown masked).
    func edit(_ fields: [StoredField], _ pending: inout Pending) throws {
        for f in fields { pending.typed[f] = try ask(f, current: pending.value(f)) }
    }

    /// When the technical password was set on Chorus Pro, for the 424-day
    /// reminder when Chorus Pro does not say. Enter records today, since the
    /// account was usually created just before the wizard runs.
    /// A declared change date more than the rotation period ago: the password
    /// has expired, whatever the check just said (Chorus Pro may still take it
    /// for a while). Said, and not ready.
    func passwordStillValid(_ changed: Int64, _ env: PisteEnvironment) throws -> Bool {
        var days = 424
        if case .integer(let n)? = try Settings.loadConfig(ctx.settings.paths).environmentValue(ctx.profile, env, "tech_password_rotation_days") { days = n }
        let expiry = changed + Int64(days) * 86_400
        guard expiry <= ctx.now else { return true }
        say("Not ready: a technical password set on \(changed.rfc3339.prefix(10)) expired on \(expiry.rfc3339.prefix(10)) (every \(days) days). The structure's main manager changes it on \(Portals.chorus(env)); then `cpro creds set tech-password \(selection.options)`.",
            "Pas prêt : un mot de passe technique défini le \(changed.rfc3339.prefix(10)) a expiré le \(expiry.rfc3339.prefix(10)) (tous les \(days) jours). Le gestionnaire principal de la structure le change sur \(Portals.chorus(env)) ; puis `cpro creds set tech-password \(selection.options)`.")
        return false
    }

    @discardableResult
    func askPasswordDate(_ env: PisteEnvironment) throws -> Int64? {
        for _ in 0..<3 {
            let answer = try tty.prompt(lang.pick(
                "   When was this technical password set on Chorus Pro? (YYYY-MM-DD; Enter for today): ",
                "   Quand ce mot de passe technique a-t-il été défini sur Chorus Pro ? (AAAA-MM-JJ ; Entrée pour aujourd'hui) : "), echo: true)
                .unprotectedString.trimmed()
            let when: Int64
            if answer.isEmpty {
                when = ctx.now
            } else {
                guard let parsed = DateText.parse(answer), parsed <= ctx.now + 86_400 else {
                    tty.write(lang.pick("   a date such as 2026-03-31, not in the future\n", "   une date comme 2026-03-31, pas dans le futur\n"))
                    continue
                }
                when = parsed
            }
            let (profile, value) = (ctx.profile, String(when.rfc3339.prefix(10)))
            try Settings.updateConfig(ctx.settings.paths) { config in
                try config.set("tech_password_changed_at", .string(value), in: Config.section(profile, env))
            }
            line(lang.pick("   recorded: \(value) (`cpro config set tech_password_changed_at DATE \(selection.options)` corrects it)",
                           "   enregistré : \(value) (`cpro config set tech_password_changed_at DATE \(selection.options)` le corrige)"))
            return when
        }
        return nil
    }

    /// The one step cpro cannot observe: explained, and confirmed in
    /// production, where an undeclared raccordement means not ready.
    func raccordement(_ env: PisteEnvironment) throws -> Bool {
        step(5, .raccordement, env)
        // Asked even with --yes: cpro cannot see it, and "ready" rests on it.
        guard env == .production else { return true }
        if try confirm(lang.pick("Is the raccordement declared on Chorus Pro for this PISTE application?",
                                 "Le raccordement est-il déclaré sur Chorus Pro pour cette application PISTE ?")) {
            return true
        }
        say("Not ready: both authentications work, but production refuses invoices until the raccordement is declared (step 5 above). Declare it, then `cpro health \(selection.options)`.",
            "Pas prêt : les deux authentifications fonctionnent, mais la production refuse les factures tant que le raccordement n'est pas déclaré (étape 5 ci-dessus). Déclarez-le, puis `cpro health \(selection.options)`.")
        return false
    }

    /// At the end: the file vault can stay open for the session.
    func suggestUnlock() {
        guard store.kind == .file, ctx.environment["CPRO_VAULT_PASSPHRASE"]?.isEmpty ?? true,
              ctx.agent?.status()?.unlocked != true else { return }
        say("Tip: `cpro vault unlock` asks the passphrase once for the next commands of this session.",
            "Astuce : `cpro vault unlock` demande la phrase de passe une fois pour les commandes suivantes de la session.")
    }

    func ask(_ field: StoredField, current: SecretBytes? = nil) throws -> SecretBytes {
        let shown = current.map { field.isSecret ? "********" : ServerText.oneLine($0.unprotectedString, limit: 60) }
        let prompt = "   \(field.label(lang))" + (shown.map { " [\($0)]" } ?? "") + lang.pick(": ", " : ")
        for _ in 0..<3 {
            let v = try tty.prompt(prompt, echo: !field.isSecret)
            if v.count == 0 {
                if let current { return current }
                continue
            }
            do {
                for w in try Validation.check(field, v) { tty.write(lang.pick("   warning: ", "   attention : ") + w.message(lang) + "\n") }
                return v
            } catch let e as CproError {
                tty.write("   " + e.message(lang) + "\n")
            }
        }
        throw Quit(selection: selection)
    }

    /// Writes `fields` where the store does not already hold the value, reads
    /// the store back and fails unless it holds every one of them; then
    /// records in the config which are unverified (`unverified`), which a
    /// later successful check clears.
    func save(_ fields: [StoredField], _ pending: inout Pending, store: CredentialStore, verified: Bool) async throws {
        let now = ctx.now
        var changed: [CredentialKey: StoredValue] = [:]
        for f in fields {
            if let v = pending.typed[f], pending.stored[f] != v { changed[ctx.key(f)] = StoredValue(v, setAt: now) }
        }
        if !changed.isEmpty { try await store.write(changed) }
        let readBack = try await store.read(ctx.profile, ctx.pisteEnvironment)
        let lost = fields.filter { f in pending.value(f).map { readBack[f] != $0 } ?? false }
        guard lost.isEmpty else {
            throw Failure(
                "the \(store.kind.rawValue) backend does not hold \(lost.map(\.rawValue).joined(separator: ", ")) after writing it; nothing is ready: run `cpro onboard \(selection.options)` again, or `cpro creds set \(selection.options)`",
                fr: "le backend \(store.kind.rawValue) ne contient pas \(lost.map(\.rawValue).joined(separator: ", ")) après l'écriture ; rien n'est prêt : relancez `cpro onboard \(selection.options)`, ou `cpro creds set \(selection.options)`")
        }
        pending.stored = readBack
        for f in fields { pending.typed[f] = nil }
        let names = fields.filter { pending.stored[$0] != nil }.map(\.rawValue)
        // Read the mark under the config's lock: the context's copy of the
        // config predates this run's earlier saves.
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
        if !verified && !names.isEmpty {
            say("Saved without verification: \(names.joined(separator: ", ")) (marked unverified).",
                names.count > 1 ? "Enregistrés sans vérification : \(names.joined(separator: ", ")) (marqués non vérifiés)."
                    : "Enregistré sans vérification : \(names.joined(separator: ", ")) (marqué non vérifié).")
        }
    }
}
