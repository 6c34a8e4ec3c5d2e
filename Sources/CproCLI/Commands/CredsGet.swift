import ArgumentParser
import CproCore
import CproVault

struct CredsGet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Print one field's value alone, with a newline.",
        discussion: "cpro-account prints the ready `cpro-account` header value (base64 of login:password).")

    @OptionGroup var globals: GlobalOptions

    @Argument(help: "client-id, client-secret, tech-login, tech-password or cpro-account.",
              completion: .list(Field.all.map(\.name)))
    var field: String

    func run() async throws {
        let ctx = try Context(globals)
        let wanted = try Field.parse(field)
        let store = try ctx.store()
        let creds = try await store.read(ctx.profile, ctx.pisteEnvironment)
        let value: SecretBytes
        switch wanted {
        case .stored(let f):
            guard let v = creds[f] else { throw NotSet(field: f.rawValue, selection: ctx.selection, backend: store.kind) }
            value = v
        case .cproAccount:
            for f in [StoredField.techLogin, .techPassword] where creds[f] == nil {
                throw NotSet(field: f.rawValue, selection: ctx.selection, backend: store.kind)
            }
            value = try creds.cproAccount()
        }
        if ctx.output.json {
            ctx.output.json(CredsValueJSON(
                field: wanted.name, value: value.unprotectedString,
                profile: ctx.profile.value, environment: ctx.pisteEnvironment.rawValue))
        } else {
            ctx.output.data(secret: value)
        }
    }
}
