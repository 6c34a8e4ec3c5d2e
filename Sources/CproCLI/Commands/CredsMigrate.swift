import ArgumentParser
import CproCore
import CproVault

struct CredsMigrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Copy a profile's credentials to another backend, verify the copy, and only then remove the source if asked.",
        discussion: """
            The source is the selected backend (--backend, CPRO_BACKEND or the config). Both \
            environments of the selected profile are copied with their set-at dates. The copy is read \
            back and compared before anything is removed; --remove-source removes the source's values \
            only after that. Use `cpro vault init --backend NAME` to make the target the default.
            """)

    @OptionGroup var globals: GlobalOptions

    @Option(help: "The target backend: file, secret-service or openbao.")
    var to: String

    @Flag(help: "Remove the values from the source once the copy is verified.")
    var removeSource = false

    func run() async throws {
        let ctx = try Context(globals)
        guard let target = BackendKind(rawValue: to), target != .env else {
            throw Failure("--to takes file, secret-service or openbao", fr: "--to prend file, secret-service ou openbao")
        }
        guard target != ctx.backend else {
            throw Failure("the source and the target are the same backend", fr: "la source et la cible sont le même backend")
        }
        let source = try ctx.store()
        let destination = try ctx.store(target)
        var values: [CredentialKey: StoredValue] = [:]
        for env in PisteEnvironment.allCases {
            for (field, value) in try await source.read(ctx.profile, env).values {
                values[CredentialKey(ctx.profile, env, field)] = value
            }
        }
        guard !values.isEmpty else {
            throw Failure("nothing stored for profile \(ctx.profile) in the \(source.kind.rawValue) backend",
                          fr: "rien d'enregistré pour le profil \(ctx.profile) dans le backend \(source.kind.rawValue)")
        }
        try await destination.write(values)
        // Verify by reading back every value before touching the source.
        for env in PisteEnvironment.allCases {
            let copied = try await destination.read(ctx.profile, env)
            for (key, value) in values where key.environment == env {
                guard copied[key.field] == value.secret else {
                    throw Failure(
                        "the copy of \(key) in \(target.rawValue) does not read back the same; the source was left untouched",
                        fr: "la copie de \(key) dans \(target.rawValue) ne se relit pas à l'identique ; la source n'a pas été touchée")
                }
            }
        }
        let names = values.keys.sorted().map(\.description)
        ctx.output.say("Copied and verified: \(names.joined(separator: ", ")) (\(source.kind.rawValue) -> \(target.rawValue)).",
                       "Copié et vérifié : \(names.joined(separator: ", ")) (\(source.kind.rawValue) -> \(target.rawValue)).")
        if removeSource {
            let removed = try await source.remove(Array(values.keys))
            ctx.output.say("Removed \(removed.count) value(s) from the \(source.kind.rawValue) backend.",
                           "\(removed.count) valeur(s) supprimée(s) du backend \(source.kind.rawValue).")
        }
        if ctx.output.json {
            ctx.output.json(CredsMigratedJSON(copied: names, from: source.kind.rawValue, to: target.rawValue, removedSource: removeSource))
        }
    }
}
