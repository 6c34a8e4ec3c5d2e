import ArgumentParser
import CproCore
import CproHTTP
import CproVault
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

struct CredsImport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Store the credentials of a `cpro creds export --format json` read from standard input.",
        discussion: """
            The object's keys are the export variables. PISTE_CLIENT_ID, PISTE_CLIENT_SECRET, \
            CPRO_TECH_LOGIN and CPRO_TECH_PASSWORD are stored (CPRO_ACCOUNT stands in for the last two); \
            a token is never imported. PISTE_OAUTH_URL and CPRO_API_URL are ignored unless \
            --with-endpoints is given, since a crafted file could otherwise send every later token \
            request and API call elsewhere: then they are shown and confirmed on the terminal, and \
            without one accepted only for PISTE's own hosts or this machine. Everything is checked \
            before anything is stored.
            """)

    @OptionGroup var globals: GlobalOptions

    @Flag(help: "Also record the file's PISTE_OAUTH_URL and CPRO_API_URL in the config (confirmed on the terminal).")
    var withEndpoints = false

    /// Where endpoints may point without a person confirming them.
    static let pisteHosts: Set<String> = ["oauth.piste.gouv.fr", "sandbox-oauth.piste.gouv.fr", "api.piste.gouv.fr", "sandbox-api.piste.gouv.fr"]

    /// A token is never imported: it belongs to the machine that fetched it.
    static let ignored = Set(HandedVariables.tokenNames)
    static let accepted = HandedVariables.allNames.filter { !ignored.contains($0) }

    func run() async throws {
        let ctx = try Context(globals)
        let text = try StandardInput.readText(limit: 1 << 20)
        guard let object = JSONValue.parse(Array(text.utf8))?.object else {
            throw Failure("standard input is not a JSON object", fr: "l'entrée standard n'est pas un objet JSON")
        }
        var strings: [String: String] = [:]
        for (key, value) in object {
            guard Self.accepted.contains(key) || Self.ignored.contains(key) else {
                let known = Self.accepted.joined(separator: ", ")
                throw Failure(
                    "unknown key \(key) in the import; keys are \(known)",
                    fr: "clé inconnue \(key) dans l'import ; les clés sont \(known)")
            }
            guard case .string(let s) = value else {
                throw Failure("\(key) must be a string", fr: "\(key) doit être une chaîne")
            }
            strings[key] = s
        }

        var values: [StoredField: SecretBytes] = [:]
        for field in StoredField.allCases {
            if let s = strings[field.variableName] { values[field] = SecretBytes(utf8: s) }
        }
        if let account = strings["CPRO_ACCOUNT"] {
            let given = SecretBytes(utf8: account)
            if let l = values[.techLogin], let p = values[.techPassword] {
                guard try CproAccount.encode(login: l, password: p) == given else {
                    throw Failure(
                        "CPRO_ACCOUNT does not match CPRO_TECH_LOGIN and CPRO_TECH_PASSWORD; nothing was stored",
                        fr: "CPRO_ACCOUNT ne correspond pas à CPRO_TECH_LOGIN et CPRO_TECH_PASSWORD ; rien n'a été enregistré")
                }
            } else if values[.techLogin] == nil && values[.techPassword] == nil {
                let (login, password) = try CproAccount.decode(given)
                values[.techLogin] = login
                values[.techPassword] = password
            }
        }
        guard !values.isEmpty else {
            throw Failure("the import holds no credential", fr: "l'import ne contient aucun identifiant")
        }
        for (field, value) in values {
            try Validation.check(field, value).forEach(ctx.output.warn)
        }
        var endpointChanges: [(String, String)] = []
        let given = ["PISTE_OAUTH_URL", "CPRO_API_URL"].filter { strings[$0] != nil }
        if withEndpoints {
            let current = try ctx.settings.endpoints(ctx.profile, ctx.pisteEnvironment)
            // Checked in the shapes the config accepts, before anything is stored.
            if let url = strings["PISTE_OAUTH_URL"], try Endpoints.oauthBase(url, name: "PISTE_OAUTH_URL") != current.oauthURL {
                endpointChanges.append(("oauth_url", url))
            }
            if let url = strings["CPRO_API_URL"], try Endpoints.apiBase(url, name: "CPRO_API_URL") != current.apiURL {
                endpointChanges.append(("api_url", url))
            }
            try confirmEndpoints(endpointChanges, ctx)
        } else if !given.isEmpty {
            ctx.output.say(
                "Ignored \(given.joined(separator: ", ")) of the import (endpoints are recorded only with --with-endpoints).",
                "\(given.joined(separator: ", ")) de l'import ignoré(s) (les points d'accès ne sont enregistrés qu'avec --with-endpoints).")
        }

        let store = try ctx.store()
        let now = ctx.now
        try await store.write(Dictionary(uniqueKeysWithValues: values.map { (ctx.key($0.key), StoredValue($0.value, setAt: now)) }))
        if !endpointChanges.isEmpty {
            try Settings.updateConfig(ctx.settings.paths) { config in
                for (key, url) in endpointChanges {
                    try config.set(key, .string(url), in: Config.section(ctx.profile, ctx.pisteEnvironment))
                }
            }
        }
        let names = values.keys.sorted().map(\.rawValue)
        if ctx.output.json {
            ctx.output.json(CredsImportedJSON(
                stored: names, endpoints: endpointChanges.map(\.0), profile: ctx.profile.value, environment: ctx.pisteEnvironment.rawValue))
        } else {
            ctx.output.say(
                "Imported \(names.joined(separator: ", ")) for \(ctx.selection).",
                "Importé : \(names.joined(separator: ", ")) pour \(ctx.selection).")
            for (key, url) in endpointChanges {
                ctx.output.say("Recorded \(key) = \(url) in \(ctx.settings.paths.configFile).",
                               "Enregistré \(key) = \(url) dans \(ctx.settings.paths.configFile).")
            }
        }
    }

    /// A person confirms endpoints on the terminal; without one, only PISTE's
    /// hosts and this machine are accepted.
    func confirmEndpoints(_ changes: [(String, String)], _ ctx: Context) throws {
        guard !changes.isEmpty else { return }
        let hosts = try changes.map { try WebURL.parse($0.1, name: $0.0).host }
        if let tty = Terminal.open() {
            tty.write(ctx.lang.pick("The import sets these endpoints for \(ctx.selection):\n", "L'import définit ces points d'accès pour \(ctx.selection) :\n"))
            for (key, url) in changes { tty.write("  \(key) = \(ServerText.oneLine(url))\n") }
            let a = try tty.prompt(ctx.lang.pick("Every token request and API call will go there. Record them? [y/N] ",
                                                 "Chaque demande de jeton et appel d'API ira là. Les enregistrer ? [o/N] "), echo: true)
                .unprotectedString.lowercased()
            guard ["y", "yes", "o", "oui"].contains(a) else {
                throw Failure("endpoints not confirmed; nothing was stored", fr: "points d'accès non confirmés ; rien n'a été enregistré")
            }
            return
        }
        for host in hosts where !(Self.pisteHosts.contains(host) || WebURL.isLoopback(host)) {
            throw Failure(
                "the import points an endpoint at \(host), which is neither PISTE's nor this machine's; without a terminal to confirm it, nothing was stored (set it with `cpro config set` instead)",
                fr: "l'import dirige un point d'accès vers \(host), qui n'est ni PISTE ni cette machine ; sans terminal pour le confirmer, rien n'a été enregistré (définissez-le plutôt avec `cpro config set`)")
        }
    }
}
