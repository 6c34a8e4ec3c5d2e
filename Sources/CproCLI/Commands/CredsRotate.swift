import ArgumentParser
import CproCore
import CproPiste
import CproVault
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The 424-day chore made safe: the new value is tried against PISTE with the
/// other stored fields first, and replaces the stored one only if it works.
struct CredsRotate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Replace client-secret or tech-password, only after PISTE accepted the new value.",
        discussion: """
            client-secret is tried by getting a token with the stored client ID; tech-password by listing \
            the linked structures with the stored login and a token. Refused: the old value stays, the \
            diagnosis is shown, and the exit status is 1. A rotated tech-password also records today as \
            tech_password_changed_at. The new value comes from a no-echo prompt (asked twice) or, with \
            --stdin, from standard input.
            """)

    @OptionGroup var globals: GlobalOptions

    @Flag(name: .long, help: "Read the new value from standard input.")
    var stdin = false

    @Argument(help: "client-secret or tech-password.", completion: .list(["client-secret", "tech-password"]))
    var field: String

    func run() async throws {
        let ctx = try Context(globals)
        let target: StoredField
        switch try Field.parse(field) {
        case .stored(.clientSecret): target = .clientSecret
        case .stored(.techPassword): target = .techPassword
        default:
            throw Failure("only client-secret and tech-password can be rotated", fr: "seuls client-secret et tech-password peuvent être renouvelés")
        }
        let store = try ctx.store()
        try store.prepareForWrite()
        let creds = try await store.read(ctx.profile, ctx.pisteEnvironment)
        let needed: [StoredField] = target == .clientSecret ? [.clientID] : [.clientID, .clientSecret, .techLogin]
        for f in needed where creds[f] == nil { throw NotSet(field: f.rawValue, selection: ctx.selection, backend: store.kind) }
        let fresh = try newValue(target, ctx)
        try Validation.check(target, fresh).forEach(ctx.output.warn)
        if creds[target] == fresh {
            throw Failure("the new \(target.rawValue) is the stored one; nothing was changed",
                          fr: "le nouveau \(target.rawValue) est celui déjà enregistré ; rien n'a été modifié")
        }
        let endpoints = try ctx.endpoints()
        do {
            try await verify(target, fresh, creds, ctx, store: store, endpoints: endpoints)
        } catch let e as Failure where e.diagnosis != nil {
            ctx.output.say("The new \(target.rawValue) was refused; the stored one is unchanged.",
                           "Le nouveau \(target.rawValue) a été refusé ; celui enregistré est inchangé.")
            throw e
        }
        let now = ctx.now
        try await store.write([ctx.key(target): StoredValue(fresh, setAt: now)])
        if target == .techPassword {
            let (profile, env) = (ctx.profile, ctx.pisteEnvironment)
            try Settings.updateConfig(ctx.settings.paths) { config in
                try config.set("tech_password_changed_at", .string(String(now.rfc3339.prefix(10))), in: Config.section(profile, env))
            }
        }
        if ctx.output.json {
            ctx.output.json(CredsRotatedJSON(rotated: target.rawValue, profile: ctx.profile.value, environment: ctx.pisteEnvironment.rawValue, verified: true))
        } else {
            ctx.output.say("PISTE accepted the new \(target.rawValue); stored for \(ctx.selection).",
                           "PISTE a accepté le nouveau \(target.rawValue) ; enregistré pour \(ctx.selection).")
        }
    }

    func newValue(_ field: StoredField, _ ctx: Context) throws -> SecretBytes {
        if stdin { return try StandardInput.readSecret(limit: Validation.maxValueBytes) }
        guard let tty = Terminal.open() else {
            throw Failure("no terminal to prompt on: pipe the new value with `cpro creds rotate --stdin \(field.rawValue)`",
                          fr: "aucun terminal pour la saisie : envoyez la nouvelle valeur par `cpro creds rotate --stdin \(field.rawValue)`")
        }
        let first = try tty.prompt(ctx.lang.pick("New \(field.label(ctx.lang)): ", "Nouveau \(field.label(ctx.lang)) : "), echo: false)
        let second = try tty.prompt(ctx.lang.pick("Same again: ", "Le même à nouveau : "), echo: false)
        guard first == second, first.count > 0 else {
            throw Failure("the two values differ or are empty; nothing was changed", fr: "les deux valeurs diffèrent ou sont vides ; rien n'a été modifié")
        }
        return first
    }

    /// Throws the Failure that refused the new value.
    func verify(_ field: StoredField, _ value: SecretBytes, _ creds: Credentials, _ ctx: Context, store: CredentialStore, endpoints: Endpoints) async throws {
        guard let id = creds[.clientID] else { return }
        if field == .clientSecret {
            // Straight to the token endpoint: the shared cache holds tokens of the old secret.
            _ = try await TokenClient(transport: ctx.transport, logger: ctx.logger).fetch(clientID: id, clientSecret: value, endpoints: endpoints)
            return
        }
        guard let login = creds[.techLogin] else { return }
        let chorus = ChorusClient(
            transport: ctx.transport, tokens: ctx.tokenProvider(store, endpoints: endpoints), endpoints: endpoints,
            cproAccount: try CproAccount.encode(login: login, password: value), logger: ctx.logger)
        let body = #"{"parametresRecherche":{"nbResultatsParPage":1,"pageResultatDemandee":1}}"#
        _ = try await chorus.post("utilisateurs/v1/monCompte/recuperer/rattachements", json: Array(body.utf8))
    }
}

