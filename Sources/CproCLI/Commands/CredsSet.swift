import ArgumentParser
import CproCore
import CproVault

struct CredsSet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set",
        abstract: "Store fields of the selected profile and environment.",
        discussion: """
            Without --stdin, prompts on the terminal for each FIELD (all four when none is named); \
            secrets are typed without echo, and Enter keeps a value already set. With --stdin and one \
            FIELD, reads that value from standard input (one trailing newline dropped). A value is never \
            taken as an argument.
            """)

    @OptionGroup var globals: GlobalOptions

    @Flag(name: .long, help: "Read the value of the one FIELD named from standard input.")
    var stdin = false

    @Argument(help: "client-id, client-secret, tech-login, tech-password (default: all four).",
              completion: .list(StoredField.allCases.map(\.rawValue)))
    var fields: [String] = []

    func run() async throws {
        let ctx = try Context(globals)
        let targets = try storedFields(fields, allWhenEmpty: true)
        let store = try ctx.store()
        var values: [CredentialKey: StoredValue] = [:]

        if stdin {
            guard targets.count == 1, fields.count == 1 else {
                throw Failure("--stdin reads one value: name exactly one field", fr: "--stdin lit une seule valeur : nommez exactement un champ")
            }
            let value = try StandardInput.readSecret(limit: Validation.maxValueBytes)
            try Validation.check(targets[0], value).forEach(ctx.output.warn)
            values[ctx.key(targets[0])] = StoredValue(value, setAt: ctx.now)
        } else {
            guard let tty = Terminal.open() else {
                throw Failure(
                    "no terminal to prompt on: pipe each value with `cpro creds set --stdin FIELD`",
                    fr: "aucun terminal pour la saisie : envoyez chaque valeur par `cpro creds set --stdin CHAMP`")
            }
            // Check the vault passphrase first: a typo there must not cost the user
            // the values they are about to type.
            try store.prepareForWrite()
            let current = try await store.read(ctx.profile, ctx.pisteEnvironment)
            tty.write(ctx.lang.pick(
                "Credentials for \(ctx.selection) (\(store.kind.rawValue) backend). Enter keeps a value already set.\n",
                "Identifiants pour \(ctx.selection) (backend \(store.kind.rawValue)). Entrée garde une valeur déjà enregistrée.\n"))
            for field in targets {
                if let value = try ask(field, isSet: current[field] != nil, tty: tty, lang: ctx.lang) {
                    values[ctx.key(field)] = StoredValue(value, setAt: ctx.now)
                }
            }
        }
        guard !values.isEmpty else {
            ctx.output.say("Nothing changed.", "Rien n'a changé.")
            return
        }
        try await store.write(values)
        let names = values.keys.sorted().map(\.field.rawValue)
        ctx.logger.debug("stored \(names.joined(separator: ", ")) for \(ctx.selection)")
        if ctx.output.json {
            ctx.output.json(CredsStoredJSON(
                stored: names, profile: ctx.profile.value, environment: ctx.pisteEnvironment.rawValue, backend: store.kind.rawValue))
        } else {
            ctx.output.say(
                "Stored \(names.joined(separator: ", ")) for \(ctx.selection) (\(store.kind.rawValue) backend).",
                "Enregistré : \(names.joined(separator: ", ")) pour \(ctx.selection) (backend \(store.kind.rawValue)).")
        }
    }

    /// One field at the prompt; a refused value is asked again, three times at most.
    func ask(_ field: StoredField, isSet: Bool, tty: Terminal, lang: Language) throws -> SecretBytes? {
        let state = isSet ? lang.pick(" [set]", " [enregistré]") : ""
        for _ in 0..<3 {
            let value = try tty.prompt("\(field.label(lang))\(state): ", echo: !field.isSecret)
            if value.count == 0 {
                if !isSet {
                    tty.write(lang.pick("  (left unset)\n", "  (laissé vide)\n"))
                }
                return nil
            }
            do {
                for w in try Validation.check(field, value) {
                    tty.write(lang.pick("  warning: ", "  attention : ") + w.message(lang) + "\n")
                }
                return value
            } catch let e as CproError {
                tty.write("  " + e.message(lang) + "\n")
            }
        }
        throw Failure("\(field.rawValue): three refused values; nothing was changed",
                      fr: "\(field.rawValue) : trois valeurs refusées ; rien n'a été modifié")
    }
}

/// Parses field names for commands that act on stored fields only.
func storedFields(_ names: [String], allWhenEmpty: Bool) throws -> [StoredField] {
    var out: [StoredField] = []
    for name in names {
        switch try Field.parse(name) {
        case .stored(let f):
            if !out.contains(f) { out.append(f) }
        case .cproAccount:
            throw Failure(
                "cpro-account is derived from tech-login and tech-password: set those two instead",
                fr: "cpro-account est dérivé de tech-login et tech-password : enregistrez ces deux-là")
        }
    }
    return out.isEmpty && allWhenEmpty ? StoredField.allCases : out
}

/// A field the user asked for is not stored.
struct NotSet: CproError {
    let field: String
    let selection: Selection
    let backend: BackendKind
    var diagnosis: Diagnosis? { .credentialsMissing }
    func message(_ lang: Language) -> String {
        lang.pick(
            "\(field) is not set for \(selection) in the \(backend.rawValue) backend: run `cpro creds set \(field) \(selection.options)`",
            "\(field) n'est pas enregistré pour \(selection) dans le backend \(backend.rawValue) : lancez `cpro creds set \(field) \(selection.options)`")
    }
}
